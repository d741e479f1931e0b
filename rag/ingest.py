"""Sources (the seeds folder, or files and folders named) -> chunks -> embeddings -> Chroma, idempotently.

Chunk ids derive from file + offsets + text, so the ids in the collection tell what is already there:
only new chunks are embedded and added, chunks that no longer exist (changed or deleted files) are
removed afterwards; a seeds sync removes the chunks of seeds that are gone, an ingest of named paths
touches only those sources. New vectors are computed before anything is written, so a failed ingest leaves
the previous index as it was. `rebuild` fills a new version and publishes it at the end (rag.store).
Each ingest ends by snapshotting BM25 (rag.lexical) and recording the content's fingerprint with the
version, so readers know which snapshot matches.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from llama_index.core.schema import MetadataMode, TextNode

from rag import extracted, lexical, store
from rag.chunking import chunk_documents, sentence_texts, sentences_of
from rag.config import DEFAULT_COLLECTION, Settings
from rag.documents import DocumentError, SourceDoc
from rag.embedding import embed_documents, model_dir
from rag.errors import RagError
from rag.loaders import find_files, load_all, load_seeds
from rag.store import StoreError

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    files: int = 0
    chunks: int = 0
    added: int = 0
    removed: int = 0
    files_changed: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunks_per_file: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.files} files, {self.chunks} chunks: {self.added} added, {self.removed} removed, "
            f"{len(self.files_changed)} files new/changed, {len(self.files_removed)} removed "
            f"in {self.seconds:.1f}s"
        )


class IngestBusy(RagError):
    pass


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingest at a time per index: a second one stops at once with a clear message. The OS drops
    the lock when the holder dies (even by SIGKILL), so a crash never leaves a stale lock behind. The
    holder deletes the lock file when it is done (one per index would pile up otherwise); a process that
    locked a file just deleted sees it is no longer the one at `path` and takes a fresh one."""
    key = hashlib.sha256(f"{store.where(settings)}|{settings.collection}".encode()).hexdigest()[:16]
    path = settings.cache_dir / "locks" / f"ingest-{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise IngestBusy(
                f"another `rag ingest` ({holder}) is updating {store.where(settings)}; wait for it to finish"
            ) from None
        if current(path, handle):
            break
        handle.close()  # its holder deleted it as we opened it
    with handle:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # still locked: nobody can take it between these two lines
            fcntl.flock(handle, fcntl.LOCK_UN)


def current(path: Path, handle: IO[str]) -> bool:
    """Is the open file still the one at `path`?"""
    try:
        return path.stat().st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def ingest(
    settings: Settings,
    rebuild: bool = False,
    progress: bool = True,
    paths: list[Path] | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> IngestReport:
    """Without `paths`: sync the seeds folder (its removed files lose their chunks). With `paths` (files
    or folders, filtered by `include`/`exclude` globs): add or update exactly those sources."""
    with ingest_lock(settings):
        if paths is None:
            docs, warnings = load_seeds(settings.seeds_dir)
            in_scope: Callable[[str], bool] = is_seed
        else:
            docs, warnings = load_all(find_files(paths, include, exclude))
            if not docs:
                for warning in warnings:
                    log.warning(warning)
                raise DocumentError(
                    f"nothing to ingest in {', '.join(map(str, paths))} ({len(warnings)} files skipped)"
                )
            chosen = {d.path for d in docs}
            in_scope = chosen.__contains__
        if rebuild:
            docs, warnings = keep_other_sources(settings, docs, warnings)
        return _ingest(settings, docs, warnings, in_scope, rebuild, progress)


def is_seed(source: str) -> bool:
    """Seeds are identified by their file name; every other source by its absolute path."""
    return not Path(source).is_absolute()


def keep_other_sources(settings: Settings, docs: list[SourceDoc], warnings: list[str]) -> tuple[list, list]:
    """A rebuild re-reads every source the index holds, not only the ones named: nothing is lost."""
    try:
        collection = store.open_collection(settings)
        held = set(store.stored_sources(settings, collection).values()) if collection else set()
    except StoreError:  # an unreadable index is rebuilt from what was named
        return docs, warnings
    named = {d.path for d in docs}
    more, more_warnings = load_all(sorted(Path(s) for s in held - named if not is_seed(s)))
    if any(is_seed(s) for s in held - named) and settings.seeds_dir.is_dir():  # `rag ingest PATH --rebuild`
        seeds, seed_warnings = load_seeds(settings.seeds_dir)
        more, more_warnings = more + seeds, more_warnings + seed_warnings
    return docs + more, warnings + more_warnings


def _ingest(
    settings: Settings,
    docs: list[SourceDoc],
    warnings: list[str],
    in_scope: Callable[[str], bool],
    rebuild: bool,
    progress: bool,
) -> IngestReport:
    started = time.perf_counter()
    for warning in warnings:
        log.warning(warning)
    nodes = chunk_documents(docs, settings)
    model_dir(settings.embed_model)  # fail on a bad model before a collection gets tagged with its name
    collection = store.new_version(settings) if rebuild else store.open_collection(settings, create=True)
    assert collection is not None
    sentences = store.sentence_collection(settings, collection)
    stored = store.stored_sources(settings, collection)
    current = {n.node_id for n in nodes}
    new = [n for n in nodes if n.node_id not in stored]
    stale = [i for i, source in stored.items() if i not in current and in_scope(source)]
    with_sentences = store.chunks_with_sentences(settings, sentences)
    embed(new, settings, progress)
    ids, vectors = embed_sentences([n for n in nodes if n.node_id not in with_sentences], settings, progress)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    for node in new:
        node.metadata["ingested"] = stamp
    for doc in docs:
        extracted.save(settings, doc)
    store.add(settings, collection, new, sentences, ids, vectors)  # new before stale: never a gap
    store.delete(settings, collection, sentences, stale)
    lexical.sync(settings, collection, publish=rebuild)  # BM25 snapshot of what is now stored
    per_source = Counter(str(n.metadata["path"]) for n in nodes)
    touched = {str(n.metadata["path"]) for n in new} | {stored[i] for i in stale}
    for source in touched - set(per_source):
        extracted.forget(settings, source)
    return IngestReport(
        files=len(docs),
        chunks=len(nodes),
        added=len(new),
        removed=len(stale),
        files_changed=sorted(f for f in touched if f in per_source),
        files_removed=sorted(f for f in touched if f not in per_source),
        warnings=warnings,
        chunks_per_file=dict(sorted(per_source.items())),
        seconds=time.perf_counter() - started,
    )


def remove(settings: Settings, targets: list[str]) -> dict[str, int]:
    """Remove the sources named by `targets` (a file, a folder holding sources, or a stored source or file
    name); returns source -> chunks removed. A target that matches nothing is an error."""
    with ingest_lock(settings):
        collection = store.open_collection(settings)
        if collection is None:
            raise StoreError(f"there is no index in {store.where(settings)} yet; nothing to remove")
        stored = store.stored_sources(settings, collection)
        doomed: dict[str, list[str]] = {}
        for target in targets:
            hits = matching_sources(target, set(stored.values()))
            if not hits:
                raise DocumentError(f"no ingested source matches {target}; see `rag sources`")
            for source in hits:
                doomed[source] = [i for i, s in stored.items() if s == source]
        sentences = store.sentence_collection(settings, collection)
        store.delete(settings, collection, sentences, [i for ids in doomed.values() for i in ids])
        lexical.sync(settings, collection, publish=False)  # BM25 forgets them too
        for source in doomed:
            extracted.forget(settings, source)
        return {source: len(ids) for source, ids in sorted(doomed.items())}


def matching_sources(target: str, sources: set[str]) -> set[str]:
    resolved = str(Path(target).resolve())
    folder = resolved.rstrip("/") + "/"
    return {
        s for s in sources if s in (target, resolved) or s.startswith(folder) or (is_seed(s) and s == Path(target).name)
    }


def list_sources(settings: Settings) -> list[dict[str, Any]]:
    """Each source of the collection: path, file, format, pages, chunks, when last ingested."""
    collection = store.open_collection(settings)
    if collection is None:
        return []
    return summarize_sources(store.stored_metadata(settings, collection).values())


def summarize_sources(chunks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per source from its chunks' metadata."""
    rows: dict[str, dict[str, Any]] = {}
    for meta in chunks:
        source = str(meta.get("path") or meta.get("file"))
        row = rows.setdefault(
            source,
            {"path": source, "file": meta.get("file"), "format": meta.get("format"), "pages": None, "chunks": 0,
             "ingested": None},
        )  # fmt: skip
        row["chunks"] += 1
        if meta.get("page") is not None:
            row["pages"] = max(row["pages"] or 0, int(meta["page"]))
        if meta.get("ingested"):
            row["ingested"] = max(row["ingested"] or "", str(meta["ingested"]))
    return [rows[s] for s in sorted(rows)]


def embed(nodes: list[TextNode], settings: Settings, progress: bool) -> None:
    if not nodes:
        return
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    vectors = embed_documents(settings, texts, progress)
    for node, vector in zip(nodes, vectors):
        node.embedding = vector


def embed_sentences(nodes: list[TextNode], settings: Settings, progress: bool) -> tuple[list[str], list[list[float]]]:
    """Per-sentence vectors (ids "<chunk id>#<i>"): passage selection and rerank use them at query time."""
    ids = [f"{n.node_id}#{i}" for n in nodes for i in range(len(sentences_of(n)))]
    if not ids:
        return [], []
    texts = [t for n in nodes for t in sentence_texts(n)]
    return ids, embed_documents(settings, texts, progress)


def ensure_index(settings: Settings, progress: bool = True) -> None:
    """Build the default collection from the seeds on first use (any command that needs it calls this);
    another collection must have been filled with `rag ingest PATH --collection NAME`."""
    try:
        collection = store.open_collection(settings)
    except store.OtherEmbedder:
        if settings.collection != DEFAULT_COLLECTION:
            raise  # its documents may be anywhere: the user rebuilds it
        log.warning("the seeds' index was built with another embedding model: rebuilding it")
        log.warning("index ready: %s", ingest(settings, rebuild=True, progress=progress).summary())
        return
    if collection is None or store.count(settings, collection) == 0:
        if settings.collection != DEFAULT_COLLECTION:
            raise StoreError(
                f"collection {settings.collection!r} is empty; add documents with "
                f"`rag ingest PATH --collection {settings.collection}`"
            )
        log.warning("no index at %s yet: building it from %s", store.where(settings), settings.seeds_dir)
        report = ingest(settings, progress=progress)
        log.warning("index ready: %s", report.summary())
