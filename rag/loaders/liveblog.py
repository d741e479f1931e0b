"""The Guardian live blog loader: recover the posts of a Guardian live blog that was pasted together with its page JSON.

Such a file holds two copies of the blog:
- a "key events" carousel in JSON (quotes turned curly by the paste): per post, text blocks and then
  the post's title and first-publication time (epoch ms), e.g. `”title”:”Russia defence ministry ...”`;
- the rendered page body after it: one line per post, "Title Author Body... Updated at 07.14 EST",
  with leftovers of embedded tweets (`”,”url”:”https://twitter...”}}”/>`).

The body is the cleaner copy, so its posts are kept and get title and time from their carousel twin;
carousel posts that are not in the body (older key events) are kept from their JSON text blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rag.documents import Section, Segment, SourceDoc

FORMAT = "liveblog"
Q = '["“”″]'  # a JSON quote after the paste's curly-quote substitution
ELEMENT = re.compile(rf"{Q}_type{Q}:{Q}model\.dotcomrendering\.pageElements\.(\w+){Q}")
HTML_OPEN = re.compile(rf"{Q}html{Q}:{Q}")
HTML_CLOSE = re.compile(rf"{Q},{Q}(?:elementId|url){Q}")
POST_META = re.compile(
    rf"{Q}blockFirstPublished{Q}:(\d+),{Q}blockFirstPublishedDisplay{Q}:{Q}[\d.]+ (\w+){Q}.*?"
    rf"{Q}title{Q}:{Q}(.*?){Q},{Q}contributors{Q}:\[(.*?)\],{Q}primaryDateLine{Q}:{Q}(.*?){Q}",
    re.DOTALL,
)
CONTRIBUTOR = re.compile(rf"{Q}name{Q}:{Q}(.*?){Q}")
CAROUSEL_END = re.compile(rf"{Q}id{Q}:{Q}key-events-carousel[^\n]*")
TWEET_LEFTOVER = re.compile(rf"{Q},{Q}url{Q}:.*?\}}\}}{Q}/?>")
UPDATED = re.compile(r"\s*Updated at (\d{2})\.(\d{2}) (\w+)\s*$")
LINE = re.compile(r"[^\n]+")
POST_OPENING = re.compile(r"[A-Z0-9\"“‘']")
PAGE_CHROME = re.compile(r"^(Key events|Show key events only.*)$")
TEXT_ELEMENTS = {"TextBlockElement", "BlockquoteBlockElement"}
ZONES = {
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "GMT": "Europe/London",
    "BST": "Europe/London",
}


@dataclass
class Post:
    segments: list[Segment]
    title: str | None = None
    date: str | None = None
    authors: tuple[str, ...] = ()


def looks_like_liveblog_json(text: str) -> bool:
    return bool(CAROUSEL_END.search(text)) and len(POST_META.findall(text)) >= 1


def parse(name: str, text: str) -> SourceDoc:
    """A .txt file that `looks_like_liveblog_json`; offsets are into the file."""
    return SourceDoc(name, text, *parse_liveblog_json(text), format=FORMAT)


def parse_liveblog_json(text: str) -> tuple[str | None, list[Section]]:
    """(the blog's day, its posts as sections)."""
    end = CAROUSEL_END.search(text)
    assert end is not None
    carousel, pinned = carousel_posts(text, end.start())
    day = blog_day(text)
    body = pinned + page_posts(text, end.end(), day)
    kept: list[Post] = []
    for post in body:
        twin = next(
            (p for p in carousel if norm(post.segments[0].text).startswith(norm(p.title or "-"))),
            None,
        )
        if twin:
            post = Post(strip_byline(post.segments, twin), twin.title, twin.date)
        kept = [p for p in kept if not same_post(p, post)] + [post]
    titles = {p.title for p in kept}
    kept += [p for p in carousel if p.title not in titles]
    kept.sort(key=lambda p: p.segments[0].start)
    return day, [Section(dedupe(p.segments), p.title, p.date) for p in kept]


def carousel_posts(text: str, end: int) -> tuple[list[Post], list[Post]]:
    """Carousel posts (text blocks + title/time), and any rendered post pasted before the JSON."""
    posts, pinned, blocks = [], [], []
    cursor = 0
    first = HTML_CLOSE.search(text, 0, end)
    if first:  # the paste cut the first element's opening: its html runs from the file start
        for para in paragraphs(text, 0, first.start()):
            (pinned if UPDATED.search(para.text) else blocks).append(para)
        cursor = first.end()
    metas = list(POST_META.finditer(text, cursor, end))
    for meta in metas:
        for element in ELEMENT.finditer(text, cursor, meta.start()):
            if element.group(1) in TEXT_ELEMENTS:
                blocks += element_text(text, element.end(), meta.start())
        authors = tuple(CONTRIBUTOR.findall(meta.group(4)))
        posts.append(
            Post(
                blocks,
                meta.group(3),
                post_time(int(meta.group(1)), meta.group(2)),
                authors,
            )
        )
        blocks, cursor = [], meta.end()
    return posts, [finish_page_post([p]) for p in pinned]


def element_text(text: str, start: int, limit: int) -> list[Segment]:
    opening = HTML_OPEN.match(text, start, limit) or HTML_OPEN.search(text, start, limit)
    closing = opening and HTML_CLOSE.search(text, opening.end(), limit)
    if not opening or not closing:
        return []
    return paragraphs(text, opening.end(), closing.start())


def page_posts(text: str, start: int, day: str | None) -> list[Post]:
    """Rendered posts: a line each; a line that starts with tweet leftovers continues the post."""
    posts: list[list[Segment]] = []
    for para in paragraphs(text, start, len(text)):
        if PAGE_CHROME.match(para.text):
            continue
        # Tweet leftovers, or a line that does not open like a sentence, continue the post above.
        continues = TWEET_LEFTOVER.match(para.text) or not POST_OPENING.match(para.text)
        pieces = split_leftovers(para)
        if continues and posts:
            posts[-1] += pieces
        elif pieces:
            posts.append(pieces)
    return [finish_page_post(segments, day) for segments in posts]


def finish_page_post(segments: list[Segment], day: str | None = None) -> Post:
    """Move the trailing "Updated at 07.14 EST" into the post's time."""
    last = segments[-1]
    updated = UPDATED.search(last.text)
    date = day
    if updated and day:
        zone = ZoneInfo(ZONES.get(updated.group(3), "UTC"))
        stamp = datetime.fromisoformat(f"{day}T{updated.group(1)}:{updated.group(2)}").replace(tzinfo=zone)
        date = stamp.isoformat()
    if updated:
        segments = segments[:-1] + [Segment(last.text[: updated.start()], last.start)]
    return Post([s for s in segments if s.text.strip()], None, date)


def split_leftovers(para: Segment) -> list[Segment]:
    pieces, cursor = [], 0
    for junk in [*TWEET_LEFTOVER.finditer(para.text), None]:
        stop = junk.start() if junk else len(para.text)
        piece = para.text[cursor:stop]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            pieces.append(Segment(piece.strip(), para.start + cursor + lead))
        cursor = junk.end() if junk else cursor
    return pieces


def paragraphs(text: str, start: int, end: int) -> list[Segment]:
    return [
        Segment(m.group().strip(), m.start() + len(m.group()) - len(m.group().lstrip()))
        for m in LINE.finditer(text, start, end)
        if m.group().strip()
    ]


def strip_byline(segments: list[Segment], twin: Post) -> list[Segment]:
    """Cut "Title Author " from the front of a rendered post (quote styles may differ: same length)."""
    first = segments[0]
    cut = len(twin.title or "")
    rest = first.text[cut:].lstrip()
    for author in twin.authors:
        if rest.startswith(author):
            rest = rest[len(author) :].lstrip()
    return [Segment(rest, first.end - len(rest))] + segments[1:]


def dedupe(segments: list[Segment]) -> list[Segment]:
    """Drop a segment that repeats earlier text of the same post (tweets are pasted twice)."""
    kept: list[Segment] = []
    for seg in segments:
        if seg.text.strip() and norm(seg.text) not in norm(" ".join(s.text for s in kept)):
            kept.append(seg)
    return kept


def same_post(a: Post, b: Post) -> bool:
    if a.title and b.title:
        return a.title == b.title
    return norm(a.segments[0].text)[:200] == norm(b.segments[0].text)[:200]


def norm(text: str) -> str:
    return re.sub(r"[\"'“”‘’″]", "", " ".join(text.lower().split()))


def post_time(epoch_ms: int, zone_name: str) -> str:
    zone = ZoneInfo(ZONES.get(zone_name, "UTC"))
    return datetime.fromtimestamp(epoch_ms / 1000, zone).replace(second=0).isoformat()


def blog_day(text: str) -> str | None:
    meta = POST_META.search(text)
    if not meta:
        return None
    return datetime.strptime(meta.group(5).rsplit(" ", 2)[0], "%a %d %b %Y").date().isoformat()
