"""`rag` command line: parse arguments, call the library, print. No logic of its own."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from rag.config import Settings, get_settings
from rag.errors import RagError, fail_cleanly
from rag.options import collection_option


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    return get_settings(**ctx.obj, **overrides)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--chroma-url", help="Use a Chroma server (e.g. http://127.0.0.1:8000) instead of index/.")
@click.option("--index-dir", type=click.Path(path_type=Path), help="Embedded Chroma folder [default: index/].")
@click.option("--collection", help="Collection of documents [default: RAG_COLLECTION or rag_chunks, the seeds].")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.pass_context
def main(
    ctx: click.Context, chroma_url: str | None, index_dir: Path | None, collection: str | None, verbose: int
) -> None:
    """Ask questions about your documents (by default the news texts in seeds/) and get answers with
    checkable citations.

    \b
    rag ingest                      build or update the index from seeds/
    rag ingest PATH...              add or update files and folders (PDF, DOCX, HTML, Markdown, text)
    rag sources                     list the documents of a collection
    rag remove PATH...              remove documents
    rag retrieve "QUESTION"         show the passages the retriever finds
    rag ask "QUESTION"              answer with numbered citations
    rag chat                        chat in the terminal
    rag serve                       open the chat in a browser
    rag eval retrieval|answers      measure quality on eval/gold.jsonl

    Settings can also come from RAG_* environment variables (see rag/config.py).
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers", "transformers", "urllib3", "bm25s"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    ctx.obj = {"chroma_url": chroma_url, "index_dir": index_dir, "collection": collection}


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--seeds", "seeds_dir", type=click.Path(path_type=Path), help="Folder of seed documents [default: seeds/]."
)
@click.option("--include", multiple=True, help="Only files matching this glob (e.g. '*.pdf'); repeatable.")
@click.option("--exclude", multiple=True, help="Skip files matching this glob; repeatable.")
@collection_option
@click.option("--rebuild", is_flag=True, help="Rebuild from scratch (e.g. after changing the embedder).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@fail_cleanly
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    seeds_dir: Path | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    rebuild: bool,
    as_json: bool,
) -> None:
    """Build or update the index from the files and folders PATHS (recursive), leaving other documents alone.

    Without PATHS: sync the seeds folder (unchanged files are skipped; files gone from it are removed)."""
    from rag.ingest import ingest as run_ingest

    if (include or exclude) and not paths:
        raise RagError("--include/--exclude filter PATHS; give the files or folders to ingest")
    settings = settings_from(ctx, seeds_dir=seeds_dir)
    report = run_ingest(
        settings, rebuild=rebuild, progress=not as_json, paths=list(paths) or None, include=include, exclude=exclude
    )
    if as_json:
        click.echo(json.dumps(report.__dict__))
        return
    for name, count in report.chunks_per_file.items():
        click.echo(f"  {name}: {count} chunks")
    click.echo(report.summary())


@main.command()
@click.argument("paths", nargs=-1, required=True)
@collection_option
@click.pass_context
@fail_cleanly
def remove(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Remove documents from the index: files, folders (everything ingested under them) or names from `rag sources`."""
    from rag.ingest import remove as run_remove

    for source, count in run_remove(settings_from(ctx), list(paths)).items():
        click.echo(f"removed {source}: {count} chunks")


@main.command()
@collection_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per source.")
@click.pass_context
@fail_cleanly
def sources(ctx: click.Context, as_json: bool) -> None:
    """List the documents of the collection: format, pages, chunks and when they were ingested."""
    from rag.ingest import list_sources

    rows = list_sources(settings_from(ctx))
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            pages = f", {row['pages']} pages" if row["pages"] else ""
            click.echo(f"{row['path']}  [{row['format']}{pages}, {row['chunks']} chunks, ingested {row['ingested']}]")
    if not rows and not as_json:
        click.echo("no documents in this collection yet; add some with `rag ingest PATH`")


def hit_dict(rank: int, hit: Any) -> dict[str, Any]:
    meta = hit.node.metadata
    return {
        "rank": rank,
        "chunk_id": hit.node.node_id,
        "file": meta["file"],
        "page": meta.get("page"),
        "start": meta["start"],
        "end": meta["end"],
        "text": hit.node.get_content(),
        "score": round(float(hit.score or 0.0), 6),
        "title": meta.get("title"),
        "date": meta.get("date"),
    }


def read_batch(path: Path) -> Any:
    """Yield (item, error) per line of a JSONL file: a bad line gives an error, not an abort."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RagError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                raise ValueError('expected an object with a "question" string')
            yield item, None
        except ValueError as exc:
            yield {"id": None, "question": None}, f"line {number}: {exc}"


retriever_option = click.option(
    "--retriever",
    type=click.Choice(["dense", "bm25", "hybrid", "hybrid+rerank"]),
    help="Retrieval config [default: RAG_RETRIEVER or hybrid+rerank].",
)


@main.command()
@click.argument("question", required=False)
@click.option("-k", "k", type=int, default=None, help="Number of passages [default: 5].")
@retriever_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--batch", type=click.Path(path_type=Path), help='JSONL file of {"id", "question"}: JSONL out.')
@collection_option
@click.pass_context
@fail_cleanly
def retrieve(
    ctx: click.Context, question: str | None, k: int | None, retriever: str | None, as_json: bool, batch: Path | None
) -> None:
    """Show the passages the retriever finds for QUESTION (or for each line of --batch)."""
    from rag.limits import check_k, check_question

    if (question is None) == (batch is None):
        raise RagError("give either a QUESTION or --batch FILE")
    settings = settings_from(ctx)
    k = check_k(settings.top_k if k is None else k)
    if question is not None:
        check_question(question)  # fail before importing or loading any model
    from rag.ingest import ensure_index
    from rag.retrieval import get_retriever

    ensure_index(settings)
    engine = get_retriever(settings)
    if batch is not None:
        for item, error in read_batch(batch):
            out: dict[str, Any] = {"id": item.get("id"), "question": item.get("question")}
            try:
                if error:
                    raise RagError(error)
                out["results"] = [
                    hit_dict(r, h) for r, h in enumerate(engine.retrieve(out["question"], k, retriever), 1)
                ]
            except RagError as exc:
                out["results"], out["error"] = [], str(exc)
                click.echo(f"error: {exc}", err=True)
            click.echo(json.dumps(out, ensure_ascii=False))
        return
    hits = engine.retrieve(question or "", k, retriever)
    results = [hit_dict(r, h) for r, h in enumerate(hits, 1)]
    if as_json:
        click.echo(json.dumps({"id": None, "question": question, "results": results}, ensure_ascii=False))
        return
    for res in results:
        heading = " | ".join(str(x) for x in (res["title"], res["date"]) if x)
        page = f" p.{res['page']}" if res["page"] else ""
        click.secho(
            f"[{res['rank']}] {res['file']}{page} [{res['start']}:{res['end']}] score {res['score']:.4f}", bold=True
        )
        if heading:
            click.echo(f"    {heading}")
        click.echo(f"    {res['text'][:400]}{'…' if len(res['text']) > 400 else ''}\n")


def answer_dict(item_id: Any, question: str, ans: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "question": question,
        "answer": ans.text,
        "abstained": ans.abstained,
        "extractive": ans.extractive,
        "citations": [c.as_dict() for c in ans.citations],
        "notice": ans.notice,
        "confidence": round(ans.confidence, 4),  # P(the documents answer), rag.decision
        "timings": {
            "retrieve_ms": ans.timings.get("retrieve_ms"),
            "first_token_ms": ans.timings.get("first_token_ms"),
            "total_ms": ans.timings.get("total_ms"),
        },
    }


def draft(text: str, begun: bool) -> bool:
    """The model's raw text as it comes, dimmed, under a label: it is checked only when complete, and the
    checked answer (or the passages instead) follows it."""
    if not begun:
        click.secho("[draft, being checked against the sources]", fg="yellow")
    click.secho(text, nl=False, dim=True)
    return True


def print_answer(ans: Any, streamed: bool) -> None:
    """After streaming the raw text: the checked answer (if it changed) and its sources."""
    if ans.extractive:
        click.secho(f"\n[extracted from the sources: {ans.notice}]", fg="yellow")
        click.echo(ans.text)
    elif ans.abstained:  # the draft is not the answer: say so on a line of its own, then what is missing
        label = "[no answer in the documents]"
        click.secho(f"\n\n{label}" if streamed else label, fg="yellow")
        click.echo(ans.text)
    else:
        if streamed:
            click.secho("\n\n[checked answer]", fg="green")
        click.echo(ans.text)
    for c in ans.citations:
        meta = c.as_dict()
        where = " | ".join(str(x) for x in (meta["title"], meta["date"]) if x)
        page = f" p.{meta['page']}" if meta["page"] else ""
        click.secho(f"[{c.n}] {meta['file']}{page} [{meta['start']}:{meta['end']}] {where}", bold=True)
        click.echo(f"    {meta['text']}")


llm_option = click.option("--llm", type=click.Choice(["local", "openai"]), help="LLM backend [default: local].")


@main.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--batch", type=click.Path(path_type=Path), help='JSONL of {"id", "question", "history"?}: JSONL out.')
@click.option("-k", "k", type=int, default=None, help="Passages to retrieve [default: 5].")
@retriever_option
@llm_option
@collection_option
@click.pass_context
@fail_cleanly
def ask(
    ctx: click.Context,
    question: str | None,
    as_json: bool,
    batch: Path | None,
    k: int | None,
    retriever: str | None,
    llm: str | None,
) -> None:
    """Answer QUESTION from the documents, with numbered citations (streams the answer)."""
    from rag.limits import check_question

    if (question is None) == (batch is None):
        raise RagError("give either a QUESTION or --batch FILE")
    settings = settings_from(ctx, llm=llm)
    if question is not None:
        check_question(question)  # fail before importing, building or loading anything
    from rag.answer import Done, Token, answer, stream_answer
    from rag.ingest import ensure_index

    ensure_index(settings)
    if batch is not None:
        for item, error in read_batch(batch):
            try:
                if error:
                    raise RagError(error)
                history = item.get("history") or []
                out = answer_dict(
                    item.get("id"),
                    item["question"],
                    answer(item["question"], history, settings, k=k, retriever=retriever),
                )
            except RagError as exc:
                out = {"id": item.get("id"), "question": item.get("question"), "error": str(exc)}
                click.echo(f"error: {exc}", err=True)
            click.echo(json.dumps(out, ensure_ascii=False))
        return
    check_question(question or "")
    if as_json:
        result = answer(question or "", None, settings, k=k, retriever=retriever)
        click.echo(json.dumps(answer_dict(None, question or "", result), ensure_ascii=False))
        return
    drafted = False
    for event in stream_answer(question or "", None, settings, k=k, retriever=retriever):
        if isinstance(event, Token):
            drafted = draft(event.text, drafted)
        elif isinstance(event, Done):
            print_answer(event.answer, streamed=bool(event.answer.timings.get("first_token_ms")))


@main.command()
@retriever_option
@llm_option
@collection_option
@click.pass_context
@fail_cleanly
def chat(ctx: click.Context, retriever: str | None, llm: str | None) -> None:
    """Chat in the terminal; follow-up questions use the conversation so far. Ctrl-D to quit."""
    from rag.answer import Done, Token, stream_answer
    from rag.ingest import ensure_index

    settings = settings_from(ctx, llm=llm)
    ensure_index(settings)
    history: list[dict[str, str]] = []
    click.echo("Ask about the documents (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = input("\nyou> ").strip()
        except EOFError:
            break
        if not question:
            break
        try:
            drafted = False
            for event in stream_answer(question, history, settings, retriever=retriever):
                if isinstance(event, Token):
                    drafted = draft(event.text, drafted)
                elif isinstance(event, Done):
                    print_answer(event.answer, streamed=bool(event.answer.timings.get("first_token_ms")))
                    history += [
                        {"role": "user", "content": question},
                        {"role": "assistant", "content": event.answer.text},
                    ]
        except RagError as exc:
            click.echo(f"error: {exc}", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback by default).")
@click.option("--port", default=7860, show_default=True, type=int, help="Port.")
@click.option("--auth", help="Require a login, as USER:PASS.")
@click.option("--share", is_flag=True, help="Also open a public Gradio share link (off by default).")
@llm_option
@collection_option
@click.pass_context
@fail_cleanly
def serve(ctx: click.Context, host: str, port: int, auth: str | None, share: bool, llm: str | None) -> None:
    """Open the chat in a browser (builds the index first if needed)."""
    from ui.app import serve as run_server

    if auth is not None and ":" not in auth:
        raise RagError("--auth must look like USER:PASS")
    credentials = tuple(auth.split(":", 1)) if auth else None
    run_server(settings_from(ctx, llm=llm), host=host, port=port, auth=credentials, share=share)


@main.group()
def bench() -> None:
    """Benchmarks of the index at scale (reports in eval/reports/)."""


@bench.command("scale")
@click.option("--chunks", type=click.IntRange(10, 1_000_000), default=1000, show_default=True, help="Corpus size.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--details", is_flag=True, help="Also the write and embed rates and the builder's RSS.")
@click.option("--reuse", is_flag=True, help="Keep the index in ~/.cache/rag/bench and reuse it next time.")
@click.pass_context
@fail_cleanly
def bench_scale(ctx: click.Context, chunks: int, as_json: bool, details: bool, reuse: bool) -> None:
    """Build a temporary index of CHUNKS synthetic chunks; measure ingest, disk, start-up, latency, RSS."""
    from rag.bench import scale

    result = scale(settings_from(ctx), chunks, details=details, reuse=reuse)
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        click.echo(f"{key:>20}  {value}")


@bench.command("sweep")
@click.option("--sizes", default="1000,10000,100000", show_default=True, help="Comma-separated corpus sizes.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("eval/reports"), show_default=True)
@click.option("--reuse", is_flag=True, help="Reuse (or keep) each size's index in ~/.cache/rag/bench.")
@click.pass_context
@fail_cleanly
def bench_sweep(ctx: click.Context, sizes: str, out: Path, reuse: bool) -> None:
    """Run `bench scale` per size in a fresh process; write scale.json, scale.md and scale.png to OUT."""
    from rag.bench_report import sweep

    for path in sweep([int(s) for s in sizes.split(",")], out, ctx.obj, reuse):
        click.echo(f"wrote {path}")


from rag.evaluation.cli import eval_group  # noqa: E402

main.add_command(eval_group, "eval")
