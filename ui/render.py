"""Answers and sources -> HTML for the chat and the sources panel. Pure functions, no Gradio.

Everything from the documents or the model is HTML-escaped here, once, before any markup is added.
A citation `[n]` of answer number `turn` links to the source card `id="src-{turn}-{n}"`; the card
shows the whole chunk with the cited passage in a <mark>.
"""

from __future__ import annotations

import re
from collections import defaultdict
from html import escape
from urllib.parse import quote

from llama_index.core.schema import NodeWithScore, TextNode

from rag.answer import Answer
from rag.evidence import Passage

MARKER = re.compile(r"&#91;(\d+)&#93;")  # a citation [n] after `safe`
# The chat renders Markdown: text from the model or the documents must not become a link, an image
# (which would fetch an attacker's URL, leaking data) or emphasis. Entities are shown, never parsed.
MARKDOWN = str.maketrans({c: f"&#{ord(c)};" for c in "[]()!*_`#~|:\\"})  # ":" stops autolinks

INTRO = (
    '<div class="sources-empty"><p><b>Sources</b> appear here as soon as a question is asked.</p>'
    "<p>Click a citation like <span class='cite-demo'>[1]</span> in an answer to jump to the passage "
    "it comes from, highlighted in its document.</p></div>"
)


# ---- the chat -------------------------------------------------------------------------------------


def safe(text: str) -> str:
    """HTML-escaped and Markdown-inert: for anything shown inside a chat message."""
    return escape(text, quote=False).translate(MARKDOWN)  # quote=False: no "&#x27;" for "#" to break


def pending(text: str) -> str:
    """The assistant's message while the model writes: its raw text (escaped), labelled a draft, because it is
    checked against the sources only when complete and may then be replaced by the passages themselves."""
    badge = '<div class="badges"><span class="badge draft">Draft: being checked against the sources</span></div>'
    draft = f'<span class="draft-text">{safe(text)}</span><span class="caret"></span>'
    return f'<div class="answer streaming">{badge}{draft}</div>'


def status(text: str) -> str:
    return f'<div class="answer streaming"><span class="status">{safe(text)}</span></div>'


def error(message: str) -> str:
    message = message[:1].upper() + message[1:]
    return f'<div class="answer failed"><span class="badge error">Error</span> {safe(message)}</div>'


def answer_html(answer: Answer, turn: int) -> str:
    """The verified answer: badges, text with clickable citations."""
    text = safe(answer.text)
    known = {c.n for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in known:
            return match.group(0)
        return f'<a href="#src-{turn}-{n}" class="cite" data-turn="{turn}" data-n="{n}">&#91;{n}&#93;</a>'

    text = MARKER.sub(link, text)
    notes = []
    if answer.notice:
        notes.append(f'<div class="notice">{safe(answer.notice[0].upper() + answer.notice[1:])}.</div>')
    return f'<div class="answer">{badges(answer)}<p>{text}</p>{"".join(notes)}</div>'


def badges(answer: Answer) -> str:
    out = []
    if answer.abstained:
        out.append('<span class="badge abstained">No answer in the documents</span>')
    if answer.extractive:
        out.append('<span class="badge extractive">Extractive: quoted from the sources</span>')
    return f'<div class="badges">{"".join(out)}</div>' if out else ""


# ---- the sources panel ----------------------------------------------------------------------------


def evidence_html(question: str, hits: list[NodeWithScore], passages: list[Passage]) -> str:
    """What the model is reading, shown while it writes: its numbered passages, then the other chunks."""
    cards = [card(p.node, [p.text], f"{i}", "") for i, p in enumerate(passages, 1)]
    used = {p.node.node_id for p in passages}
    others = [h.node for h in hits if h.node.node_id not in used]
    head = f'<div class="turn-head"><span class="q">{escape(question)}</span>'
    head += '<span class="state">reading these passages…</span></div>'
    if not passages:
        cards = ['<p class="none">No passage looks relevant.</p>']
    return f'<section class="turn live">{head}{"".join(cards)}{collapsed(others, "other retrieved")}</section>'


def sources_html(question: str, answer: Answer, turn: int) -> str:
    """Every cited passage as a card (id src-TURN-N), then the uncited retrieved chunks, collapsed."""
    marks: dict[str, list[str]] = defaultdict(list)
    for c in answer.citations:
        marks[c.passage.node.node_id].append(c.passage.text)
    cards = [
        card(c.passage.node, marks[c.passage.node.node_id], str(c.n), f"src-{turn}-{c.n}", c.passage.text)
        for c in answer.citations
    ]
    others = [h.node for h in answer.hits if h.node.node_id not in marks]
    head = f'<div class="turn-head"><span class="q">{escape(question)}</span>'
    head += f'<span class="state">{len(cards)} cited</span></div>' if cards else "</div>"
    if not cards:
        cards = ['<p class="none">Nothing cited: the retrieved passages are below.</p>']
    label = "retrieved, not cited" if answer.citations else "retrieved"
    return f'<section class="turn">{head}{"".join(cards)}{collapsed(others, label)}</section>'


def panel(turns: list[tuple[str, str]]) -> str:
    """(question, sources) per answer: the newest open, earlier ones collapsed but still linkable."""
    if not turns:
        return INTRO
    (_, newest), earlier = turns[-1], turns[-2::-1]
    older = "".join(
        f'<details class="earlier"><summary>Earlier: {escape(question)}</summary>{section}</details>'
        for question, section in earlier
    )
    return f'<div class="sources">{newest}{older}</div>'


def card(node: TextNode, highlights: list[str], label: str, anchor: str, focus: str | None = None) -> str:
    meta = node.metadata
    title = meta.get("title")
    when = meta.get("when") or str(meta.get("date") or "")[:10] or ("" if meta.get("page") else "undated")
    ident = f' id="{escape(anchor)}"' if anchor else ""
    heading = f'<div class="title">{escape(str(title))}</div>' if title else ""
    page = f' · <span class="page">p. {int(meta["page"])}</span>' if meta.get("page") else ""
    where = f'<span class="file">{escape(str(meta["file"]))}</span>{page}'
    where += (f" · {escape(str(when))}" if when else "") + open_link(meta)
    return (
        f'<article class="card"{ident} data-file="{escape(str(meta["file"]))}" data-page="{meta.get("page") or ""}">'
        f'<div class="card-head"><span class="num">{escape(label)}</span>{heading}</div>'
        f'<div class="meta">{where}</div>'
        f'<p class="chunk">{highlight(node.get_content(), highlights, focus)}</p></article>'
    )


def open_link(meta: dict) -> str:
    """A PDF opens at the cited page, served by the app (which serves ingested PDFs only, behind --auth)."""
    if meta.get("format") != "pdf" or not meta.get("page") or not str(meta.get("path", "")).startswith("/"):
        return ""
    href = f"/gradio_api/file={quote(str(meta['path']))}#page={int(meta['page'])}"
    return f' · <a class="open" href="{escape(href)}" target="_blank" rel="noopener">open page {int(meta["page"])}</a>'


def head_html(title: str, description: str) -> str:
    return f"<header class='app-head'><h1>{escape(title)}</h1><p>{escape(description)}</p></header>"


def documents_html(rows: list[dict]) -> str:
    """The collection's documents (rag.ingest.list_sources rows) as a table."""
    if not rows:
        return "<p class='none'>No documents in this collection yet.</p>"
    body = "".join(
        f"<tr><td class='file' title='{escape(str(r['path']))}'>{escape(str(r['file']))}</td>"
        f"<td>{escape(str(r['format']))}</td><td class='n'>{r['pages'] or ''}</td><td class='n'>{r['chunks']}</td>"
        f"<td>{escape(str(r['ingested'] or '')[:16].replace('T', ' '))}</td></tr>"
        for r in rows
    )
    return (
        "<div class='table-wrap'><table class='about documents'><thead><tr><th>File</th><th>Format</th>"
        f"<th>Pages</th><th>Chunks</th><th>Ingested (UTC)</th></tr></thead><tbody>{body}</tbody></table></div>"
    )


def messages_html(lines: list[str], failed: bool = False) -> str:
    css = "upload-status failed" if failed else "upload-status"
    return f"<div class='{css}'>" + "".join(f"<p>{escape(line)}</p>" for line in lines) + "</div>"


def highlight(text: str, spans: list[str], focus: str | None = None) -> str:
    """The chunk, escaped, with each passage (an exact substring of it) in a <mark>."""
    found = sorted({(text.find(s), s) for s in spans if s and text.find(s) >= 0})
    out, cursor = [], 0
    for start, span in found:
        if start < cursor:  # overlapping passages: the first one already covers it
            continue
        css = ' class="focus"' if span == focus else ""
        out += [escape(text[cursor:start]), f"<mark{css}>{escape(span)}</mark>"]
        cursor = start + len(span)
    out.append(escape(text[cursor:]))
    return "".join(out)


def collapsed(nodes: list[TextNode], label: str) -> str:
    if not nodes:
        return ""
    cards = "".join(card(n, [], "·", "") for n in nodes)
    return f'<details class="more"><summary>{len(nodes)} more {label}</summary>{cards}</details>'


# ---- the "About these documents" tab ---------------------------------------------------------------


def about_html(chunks: list[dict]) -> str:
    """One row per document: its dates, chunk count and a few post titles, from the stored chunks' metadata."""
    by_file: dict[str, list[dict]] = defaultdict(list)
    for meta in chunks:
        by_file[meta["file"]].append(meta)
    rows = []
    for file, metas in sorted(by_file.items()):
        days = sorted({str(m.get("when") or "") for m in metas if m.get("when")})
        titles = list(dict.fromkeys(str(m["title"]) for m in metas if m.get("title")))
        topics = "; ".join(escape(t) for t in titles[:3]) + (f" (+{len(titles) - 3} more)" if len(titles) > 3 else "")
        rows.append(
            f"<tr><td class='file'>{escape(file)}</td><td>{escape(', '.join(days) or 'undated')}</td>"
            f"<td class='n'>{len(metas)}</td><td>{topics or '—'}</td></tr>"
        )
    return (
        f"<p>{len(by_file)} documents, {len(chunks)} chunks in the index. Dates are those the documents "
        "state; undated documents give none.</p><div class='table-wrap'><table class='about'>"
        "<thead><tr><th>File</th><th>Date</th><th>Chunks</th><th>Some headlines</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
