"""What the page shows about a collection, and the Documents tab's actions, without Gradio: uploads
(limits, copy, ingest) and removals. After a change the collection's retriever is reloaded, so the
documents are askable at once.

Uploads are copied to `<index_dir>/uploads/<collection>/` (the source path the index names, and the
original a citation opens); removing a document deletes its copy.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from rag.config import DEFAULT_COLLECTION, Settings, collection_name
from rag.errors import RagError
from ui import render

log = logging.getLogger(__name__)


class UploadError(RagError):
    pass


def uploads_dir(settings: Settings) -> Path:
    return settings.index_dir / "uploads" / settings.collection


def profile(settings: Settings, rows: list[dict[str, Any]], titles: list[str]) -> tuple[str, str, list[str]]:
    """(heading, description, example questions) of a collection: settings first, else drawn from it."""
    default = settings.collection == DEFAULT_COLLECTION
    heading = settings.ui_title or ("Ask the documents" if default else f"Ask {settings.collection}")
    count = f"{len(rows)} document{'s' if len(rows) != 1 else ''}"
    description = settings.ui_description or (
        f"Answers come only from the {count} in this collection; every claim links to the passage it comes from."
        if rows
        else "This collection has no documents yet: add some in the Documents tab."
    )
    examples = list(settings.ui_example_questions) or [
        f"What do the documents say about {title}?" for title in titles[: settings.ui_examples]
    ]
    return heading, description, examples


def check_uploads(files: list[Path], settings: Settings) -> tuple[list[Path], list[str]]:
    """The files within the limits, and one message per file that is not."""
    if len(files) > settings.upload_max_files:
        raise UploadError(f"too many files at once ({len(files)}); the limit is {settings.upload_max_files}")
    accepted, problems = [], []
    for path in files:
        size_mb = path.stat().st_size / 1_000_000
        if path.suffix.lower() not in settings.upload_types:
            problems.append(
                f"{path.name}: {path.suffix or 'no'} type not accepted ({', '.join(settings.upload_types)})"
            )
        elif size_mb > settings.upload_max_mb:
            problems.append(f"{path.name}: {size_mb:.1f} MB is over the {settings.upload_max_mb:g} MB limit")
        else:
            accepted.append(path)
    return accepted, problems


def add_uploads(files: list[Path], settings: Settings) -> list[str]:
    """Copy the accepted files into the collection's uploads folder and ingest them; returns the messages
    to show (one per rejected or skipped file, then the summary)."""
    from rag.ingest import ingest
    from rag.retrieval import refresh_retriever

    accepted, problems = check_uploads(files, settings)
    if not accepted:
        return problems or ["no files to add"]
    target = uploads_dir(settings)
    target.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in accepted:
        copy = target / Path(path.name).name  # the name only: an upload cannot write outside its folder
        shutil.copyfile(path, copy)
        copies.append(copy)
    report = ingest(settings, progress=True, paths=copies)
    refresh_retriever(settings)
    for warning in report.warnings:  # an unreadable upload is not kept
        for copy in copies:
            if copy.name in warning:
                copy.unlink(missing_ok=True)
    added = f"Added {len(copies) - len(report.warnings)} of {len(files)} files ({report.added} new passages)."
    return [*problems, *report.warnings, added]


def remove_documents(paths: list[str], settings: Settings) -> str:
    from rag.ingest import remove
    from rag.retrieval import refresh_retriever

    if not paths:
        return "Choose the documents to remove first."
    removed = remove(settings, paths)
    refresh_retriever(settings)
    uploads = uploads_dir(settings).resolve()
    for source in removed:
        if Path(source).parent == uploads:
            Path(source).unlink(missing_ok=True)
    return f"Removed {len(removed)} document{'s' if len(removed) != 1 else ''}."


def servable(path: str, settings: Settings) -> bool:
    """Whether the app may serve this original: an ingested upload of this collection."""
    return Path(path).parent == uploads_dir(settings).resolve() and Path(path).is_file()


def checked_name(name: str) -> str:
    try:
        return collection_name(name)
    except ValueError as exc:
        raise RagError(f"invalid collection name {name!r}: {exc}") from None


def collection_view(settings: Settings) -> dict:
    """Everything the page shows about a collection, read from the index."""
    from rag.ingest import summarize_sources
    from rag.store import collections, open_collection, stored_metadata

    try:
        collection = open_collection(settings)
        # Metadata only: a big collection's chunk texts stay in Chroma (the page starts fast).
        metas = list(stored_metadata(settings, collection).values()) if collection is not None else []
        rows = summarize_sources(metas)  # from the same read, not a second pass over the collection
        names = collections(settings)
    except RagError as exc:
        metas, rows, names = [], [], []
        about = render.error(str(exc))
    else:
        about = render.about_html(metas) if metas else render.error("no documents in this collection yet")
    titles = list(dict.fromkeys(str(m["title"]) for m in metas if m.get("title")))
    title, description, examples = profile(settings, rows, titles)
    return {
        "title": title,
        "head": render.head_html(title, description),
        "examples": [{"text": q} for q in examples],
        "documents": render.documents_html(rows),
        "paths": [(str(r["file"]), str(r["path"])) for r in rows],
        "about": about,
        "collections": sorted({*names, settings.collection}),
    }


def servable_paths(settings: Settings) -> list[str]:
    """What a citation may open: the uploads folder and the PDFs ingested into any collection (as of start)."""
    from rag.ingest import list_sources
    from rag.store import collections

    paths = [str(settings.index_dir.resolve() / "uploads")]
    try:
        for name in collections(settings):
            rows = list_sources(settings.model_copy(update={"collection": name}))
            paths += [r["path"] for r in rows if r["format"] == "pdf" and Path(r["path"]).is_file()]
    except RagError as exc:  # the chat still works; opening an original PDF does not
        log.warning("cannot list the ingested PDFs: %s", exc)
    return paths
