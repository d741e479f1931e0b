"""BM25 persisted on disk and memory-mapped, so no process loads the corpus to answer a question.

Where the BM25 state lives: **each app host keeps a snapshot, keyed by the live collection version and a
fingerprint of its content** (sha256 of its sorted chunk ids). Ingest computes the fingerprint, builds
the snapshot beside itself, and records the fingerprint in the pointer collection in Chroma (rag.store)
in the same write that publishes the version. A reader (`rag serve`, `rag retrieve`, on this machine or
another behind the same Chroma server) looks for a snapshot with the pointer's fingerprint; when it has
none (a new host, or another host ingested) it builds one once by paging through Chroma, saves it
(atomically, one builder per host at a time) and memory-maps it from then on. Chroma stays the single
source of truth and no shared file system is needed beside the server; the price is one rebuild per host
per content change (about a minute at 100k chunks, see eval/reports/scale.md).

Snapshots live in `index/lexical/` for an embedded index and in `~/.cache/rag/lexical/<server>/` for a
server (`RAG_LEXICAL_DIR` overrides). The scoring is llama-index's BM25Retriever's, unchanged: the same
bm25s defaults, tokenizer, stop words, stemmer and chunk text (title and day included), so rankings match.
One addition: a query word the index lacks is read as the indexed word it is a misspelling of ("wagnr").
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer
from chromadb.api.models.Collection import Collection
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from rag import store
from rag.config import Settings
from rag.terms import closest

logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s forces DEBUG on import
log = logging.getLogger(__name__)

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # llama-index BM25Retriever's default
IDS_FILE = "chunk_ids.npy"


def fingerprint(chunk_ids: Iterable[str]) -> str:
    """What a collection holds, in 16 hex digits: the same ids give the same fingerprint anywhere."""
    digest = hashlib.sha256()
    for chunk_id in sorted(chunk_ids):
        digest.update(chunk_id.encode() + b"\n")
    return digest.hexdigest()[:16]


def root(settings: Settings) -> Path:
    if settings.lexical_dir:
        return settings.lexical_dir
    if settings.chroma_url:
        return settings.cache_dir / "lexical" / hashlib.sha256(settings.chroma_url.encode()).hexdigest()[:12]
    return settings.index_dir / "lexical"


def snapshot_dir(settings: Settings, collection: str, fp: str) -> Path:
    return root(settings) / f"{collection}-{fp}"


def stemmer() -> Any:
    return Stemmer.Stemmer("english")


def build(settings: Settings, collection: Collection) -> tuple[str, Path]:
    """Snapshot the collection's BM25 index (unless one with its fingerprint exists): (fingerprint, dir)."""
    ids: list[str] = []
    texts: list[str] = []
    for nodes in store.iter_nodes(settings, collection, settings.lexical_page_size):
        ids += [n.node_id for n in nodes]
        texts += [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    fp = fingerprint(ids)
    target = snapshot_dir(settings, collection.name, fp)
    with build_lock(settings):
        if not target.exists():
            save(target, ids, texts)
        prune(settings, keep=target)
    return fp, target


def sync(settings: Settings, collection: Collection, publish: bool = False) -> str:
    """After any write to `collection` (ingest, removing a source): snapshot BM25 and record the content's
    fingerprint with the version, publishing the version too when it is a rebuild. Returns the fingerprint."""
    fp, _ = build(settings, collection)
    if publish:
        store.publish(settings, collection.name, fp)
    else:
        store.set_fingerprint(settings, collection.name, fp)
    return fp


def save(target: Path, ids: list[str], texts: list[str]) -> None:
    """Index and write to a temporary folder, then rename it into place: readers never see half a snapshot."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        index = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(
                texts, stopwords="en", stemmer=stemmer(), token_pattern=TOKEN_PATTERN, show_progress=False
            )
            index.index(tokens, show_progress=False)
            index.save(str(tmp), show_progress=False)
        np.save(tmp / IDS_FILE, np.asarray(ids, dtype=str))
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prune(settings: Settings, keep: Path) -> None:
    """Snapshots of other versions or older content of this index are garbage (a reader that still maps
    one keeps its open files; the reader reloads when it sees the new version)."""
    ours = re.compile(rf"^{re.escape(settings.collection)}(-v\d+)?-[0-9a-f]{{16}}$")  # not another index's
    for path in keep.parent.iterdir():
        if path != keep and path.is_dir() and ours.match(path.name):
            shutil.rmtree(path, ignore_errors=True)


class build_lock:  # noqa: N801 (used as a context manager)
    """One snapshot builder per host and index at a time; the others wait, then find it built."""

    def __init__(self, settings: Settings) -> None:
        self.path = root(settings) / f".{settings.collection}.lock"

    def __enter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("a+")
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


class Snapshot:
    """A loaded BM25 snapshot: the score matrix memory-mapped, the chunk ids in index order."""

    def __init__(self, path: Path, typo_similarity: float = 0.8) -> None:
        self.path, self.typo_similarity = path, typo_similarity
        self.ids = np.load(path / IDS_FILE, mmap_mode="r")
        self.index = bm25s.BM25.load(str(path), mmap=True, show_progress=False) if len(self.ids) else None
        self.stemmer = stemmer()

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first, as llama-index's BM25Retriever would rank them."""
        if self.index is None:
            return []
        words = bm25s.tokenize(query, stemmer=self.stemmer, token_pattern=TOKEN_PATTERN, return_ids=False,
                               show_progress=False)  # fmt: skip
        tokens = [[self.spelled(word) for word in words[0]]]
        found, scores = self.index.retrieve(tokens, k=min(k, len(self.ids)), show_progress=False)
        return [(str(self.ids[int(i)]), float(s)) for i, s in zip(found[0], scores[0])]

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one snapshot per index version; a few thousand words)
    def spelled(self, word: str) -> str:
        """A query word the index lacks, as the indexed word it misspells ("wagnr", "anounce"); see
        rag.terms.closest, the claim check's rule too."""
        return closest(word, self.index.vocab_dict, self.typo_similarity)


def open_snapshot(settings: Settings, collection: Collection, fp: str | None) -> Snapshot:
    """The snapshot for this content, built now if this host has none (see the module docstring)."""
    if fp is not None and snapshot_dir(settings, collection.name, fp).exists():
        return Snapshot(snapshot_dir(settings, collection.name, fp), settings.typo_similarity)
    log.warning("building the BM25 snapshot of %s from %s", collection.name, store.where(settings))
    _, path = build(settings, collection)
    return Snapshot(path, settings.typo_similarity)


class LexicalRetriever(BaseRetriever):
    """BM25 over a snapshot; only the hits' texts and metadata are read from Chroma."""

    def __init__(self, settings: Settings, collection: Collection, snapshot: Snapshot, top_k: int) -> None:
        super().__init__()
        self.settings, self.collection, self.snapshot, self.top_k = settings, collection, snapshot, top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        ranked = self.snapshot.search(query_bundle.query_str, self.top_k)
        nodes = store.nodes_by_id(self.settings, self.collection, [chunk_id for chunk_id, _ in ranked])
        # a chunk deleted since the snapshot (an ingest in progress elsewhere) is skipped, not an error
        return [NodeWithScore(node=nodes[i], score=score) for i, score in ranked if i in nodes]
