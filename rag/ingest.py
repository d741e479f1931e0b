"""Seeds -> chunks -> embeddings -> Chroma, idempotently.

Chunk ids derive from file + offsets + text, so the ids in the collection tell what is already there:
only new chunks are embedded and added, chunks that no longer exist (changed or deleted files) are
removed afterwards. New vectors are computed before anything is written, so a failed ingest leaves
the previous index as it was. `rebuild` fills a fresh collection and swaps it in at the end.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field

from chromadb.api.client import SharedSystemClient
from llama_index.core.schema import MetadataMode, TextNode

from rag.chunking import chunk_documents, sentences_of
from rag.config import Settings
from rag.documents import load_seeds
from rag.embedding import get_embedder, model_dir
from rag.store import StoreError, connect, describe, open_collection, sentences_name, vector_store

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


def ingest(settings: Settings, rebuild: bool = False, progress: bool = True) -> IngestReport:
    started = time.perf_counter()
    docs, warnings = load_seeds(settings.seeds_dir)
    for warning in warnings:
        log.warning(warning)
    nodes = chunk_documents(docs, settings)
    model_dir(settings.embed_model)  # fail on a bad model before a collection gets tagged with its name
    if rebuild:
        collection = fresh_collection(settings)
    else:
        collection = open_collection(settings, create=True)
    assert collection is not None
    sentences = open_collection(settings, create=True, name=sentences_name(collection.name))
    assert sentences is not None
    stored = stored_files(collection)
    new = [n for n in nodes if n.node_id not in stored]
    stale = [i for i in stored if i not in {n.node_id for n in nodes}]
    with_sentences = {str(m["chunk"]) for m in sentences.get(include=["metadatas"])["metadatas"] or []}
    embed(new, settings, progress)
    ids, vectors = embed_sentences([n for n in nodes if n.node_id not in with_sentences], settings, progress)
    if new:
        vector_store(collection).add(new)
    if ids:
        sentences.add(ids=ids, embeddings=vectors, metadatas=[{"chunk": i.split("#")[0]} for i in ids])
    if stale:
        collection.delete(ids=stale)
        sentences.delete(where={"chunk": {"$in": stale}})
    if rebuild:
        swap_in(settings, collection.name, settings.collection)
        swap_in(settings, sentences.name, sentences_name(settings.collection))
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


def stored_files(collection) -> dict[str, str]:
    """chunk id -> file, for everything in the collection."""
    got = collection.get(include=["metadatas"])
    return {i: str((m or {}).get("file", "")) for i, m in zip(got["ids"], got["metadatas"] or [])}


def embed(nodes: list[TextNode], settings: Settings, progress: bool) -> None:
    if not nodes:
        return
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    vectors = get_embedder(settings).get_text_embedding_batch(texts, show_progress=progress)
    for node, vector in zip(nodes, vectors):
        node.embedding = vector


def sentence_texts(node: TextNode) -> list[str]:
    """What each sentence is embedded as: with its post title, so "It said ..." keeps its subject."""
    title = node.metadata.get("title")
    return [f"{title}. {s.text}" if title else s.text for s in sentences_of(node)]


def embed_sentences(nodes: list[TextNode], settings: Settings, progress: bool) -> tuple[list[str], list[list[float]]]:
    """Per-sentence vectors (ids "<chunk id>#<i>"): passage selection and rerank use them at query time."""
    ids = [f"{n.node_id}#{i}" for n in nodes for i in range(len(sentences_of(n)))]
    if not ids:
        return [], []
    texts = [t for n in nodes for t in sentence_texts(n)]
    return ids, get_embedder(settings).get_text_embedding_batch(texts, show_progress=progress)


def fresh_collection(settings: Settings):
    """An empty side collection for --rebuild; a corrupt embedded index is moved aside first."""
    try:
        client = connect(settings)
        client.list_collections()
    except StoreError:
        if settings.chroma_url:
            raise
        aside = settings.index_dir.with_name(f"{settings.index_dir.name}.broken-{int(time.time())}")
        log.warning("index at %s is unreadable; moved it to %s", settings.index_dir, aside)
        shutil.move(str(settings.index_dir), aside)
        SharedSystemClient.clear_system_cache()  # chroma caches one client per path, the broken one included
        client = connect(settings)
    name = f"{settings.collection}-rebuild"
    try:
        existing = {c.name for c in client.list_collections()}
        for leftover in (name, sentences_name(name)):
            if leftover in existing:
                client.delete_collection(leftover)
    except Exception as exc:
        raise StoreError(describe(exc, settings)) from exc
    return open_collection(settings, create=True, name=name)


def swap_in(settings: Settings, built: str, target: str) -> None:
    client = connect(settings)
    try:
        if target in {c.name for c in client.list_collections()}:
            client.delete_collection(target)
        client.get_collection(built, embedding_function=None).modify(name=target)
    except Exception as exc:
        raise StoreError(describe(exc, settings)) from exc


def ensure_index(settings: Settings, progress: bool = True) -> None:
    """Build the index on first use (any command that needs it calls this)."""
    collection = open_collection(settings)
    if collection is None or collection.count() == 0:
        log.warning(
            "no index at %s yet: building it from %s",
            settings.index_dir,
            settings.seeds_dir,
        )
        report = ingest(settings, progress=progress)
        log.warning("index ready: %s", report.summary())
