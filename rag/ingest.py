"""Seeds -> chunks -> embeddings -> Chroma, idempotently.

Chunk ids derive from file + offsets + text, so the ids in the collection tell what is already there:
only new chunks are embedded and added, chunks that no longer exist (changed or deleted files) are
removed afterwards. New vectors are computed before anything is written, so a failed ingest leaves
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from llama_index.core.schema import MetadataMode, TextNode

from rag import lexical, store
from rag.chunking import chunk_documents, sentence_texts, sentences_of
from rag.config import Settings
from rag.documents import load_seeds
from rag.embedding import get_embedder, model_dir
from rag.errors import RagError

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
    the lock when the holder dies (even by SIGKILL), so a crash never leaves a stale lock behind."""
    key = hashlib.sha256(f"{store.where(settings)}|{settings.collection}".encode()).hexdigest()[:16]
    path = settings.cache_dir / "locks" / f"ingest-{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IngestBusy(
                f"another `rag ingest` ({holder}) is updating {store.where(settings)}; wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ingest(settings: Settings, rebuild: bool = False, progress: bool = True) -> IngestReport:
    with ingest_lock(settings):
        return _ingest(settings, rebuild, progress)


def _ingest(settings: Settings, rebuild: bool, progress: bool) -> IngestReport:
    started = time.perf_counter()
    docs, warnings = load_seeds(settings.seeds_dir)
    for warning in warnings:
        log.warning(warning)
    nodes = chunk_documents(docs, settings)
    model_dir(settings.embed_model)  # fail on a bad model before a collection gets tagged with its name
    collection = store.new_version(settings) if rebuild else store.open_collection(settings, create=True)
    assert collection is not None
    sentences = store.sentence_collection(settings, collection)
    stored = store.stored_files(settings, collection)
    new = [n for n in nodes if n.node_id not in stored]
    stale = [i for i in stored if i not in {n.node_id for n in nodes}]
    with_sentences = store.chunks_with_sentences(settings, sentences)
    embed(new, settings, progress)
    ids, vectors = embed_sentences([n for n in nodes if n.node_id not in with_sentences], settings, progress)
    store.add(settings, collection, new, sentences, ids, vectors)  # new before stale: never a gap
    store.delete(settings, collection, sentences, stale)
    lexical.sync(settings, collection, publish=rebuild)  # BM25 snapshot of what is now stored
    per_file = Counter(str(n.metadata["file"]) for n in nodes)
    touched = {str(n.metadata["file"]) for n in new} | {stored[i] for i in stale}
    return IngestReport(
        files=len(docs),
        chunks=len(nodes),
        added=len(new),
        removed=len(stale),
        files_changed=sorted(f for f in touched if f in per_file),
        files_removed=sorted(f for f in touched if f not in per_file),
        warnings=warnings,
        chunks_per_file=dict(sorted(per_file.items())),
        seconds=time.perf_counter() - started,
    )


def embed(nodes: list[TextNode], settings: Settings, progress: bool) -> None:
    if not nodes:
        return
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    vectors = get_embedder(settings).get_text_embedding_batch(texts, show_progress=progress)
    for node, vector in zip(nodes, vectors):
        node.embedding = vector


def embed_sentences(nodes: list[TextNode], settings: Settings, progress: bool) -> tuple[list[str], list[list[float]]]:
    """Per-sentence vectors (ids "<chunk id>#<i>"): passage selection and rerank use them at query time."""
    ids = [f"{n.node_id}#{i}" for n in nodes for i in range(len(sentences_of(n)))]
    if not ids:
        return [], []
    texts = [t for n in nodes for t in sentence_texts(n)]
    return ids, get_embedder(settings).get_text_embedding_batch(texts, show_progress=progress)


def ensure_index(settings: Settings, progress: bool = True) -> None:
    """Build the index on first use (any command that needs it calls this)."""
    collection = store.open_collection(settings)
    if collection is None or store.count(settings, collection) == 0:
        log.warning("no index at %s yet: building it from %s", store.where(settings), settings.seeds_dir)
        report = ingest(settings, progress=progress)
        log.warning("index ready: %s", report.summary())
