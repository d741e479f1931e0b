"""Chroma, embedded at index/ or a server at RAG_CHROMA_URL: open, check, read back all chunks.

The collection records which embedding model built it, so a query never mixes vector spaces.
Chroma's default embedding function (which downloads a model) is never used: we always pass vectors.
"""

from __future__ import annotations

import logging
import sqlite3
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.config import Settings
from rag.errors import RagError

log = logging.getLogger(__name__)


class StoreError(RagError):
    """The index cannot be used; the message says what to do."""


def where(settings: Settings) -> str:
    return settings.chroma_url or str(settings.index_dir)


def connect(settings: Settings) -> ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            if not url.hostname:
                raise StoreError(f"invalid Chroma URL {settings.chroma_url!r}; expected http://HOST:PORT")
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or 8000,
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings)
    except StoreError:
        raise
    except Exception as exc:  # chromadb raises many types (ValueError, sqlite3, Rust panics)
        raise StoreError(describe(exc, settings)) from exc


def describe(exc: Exception, settings: Settings) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    if settings.chroma_url:
        return f"cannot reach the Chroma server at {settings.chroma_url} ({text})"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return f"the index at {settings.index_dir} is locked by another process; retry when it finishes"
    return f"the index at {settings.index_dir} is unreadable ({text}); run `rag ingest --rebuild`"


def open_collection(settings: Settings, create: bool = False, name: str | None = None) -> Collection | None:
    """The collection, checked against the configured embedder; None if it does not exist yet."""
    client = connect(settings)
    name = name or settings.collection
    try:
        if create:
            collection = client.get_or_create_collection(
                name,
                metadata={"embed_model": settings.embed_model, "hnsw:space": "cosine"},
                embedding_function=None,
            )
        elif name in {c.name for c in client.list_collections()}:
            collection = client.get_collection(name, embedding_function=None)
        else:
            return None
    except Exception as exc:
        raise StoreError(describe(exc, settings)) from exc
    built_with = (collection.metadata or {}).get("embed_model")
    if built_with != settings.embed_model:
        raise StoreError(
            f"the index was built with embedding model {built_with!r} but {settings.embed_model!r} is "
            "configured; run `rag ingest --rebuild`"
        )
    return collection


def sentences_name(collection: str) -> str:
    """The companion collection of per-sentence vectors of a chunk collection."""
    return f"{collection}-sentences"


def sentence_vectors(settings: Settings) -> dict[str, np.ndarray]:
    """chunk id -> matrix of its sentence vectors, in sentence order (empty if not built yet)."""
    collection = open_collection(settings, name=sentences_name(settings.collection))
    if collection is None:
        return {}
    got = collection.get(include=["embeddings"])
    rows: dict[str, list[tuple[int, np.ndarray]]] = {}
    for sentence_id, vector in zip(got["ids"], got["embeddings"] if got["embeddings"] is not None else []):
        chunk, index = sentence_id.rsplit("#", 1)
        rows.setdefault(chunk, []).append((int(index), np.asarray(vector)))
    return {chunk: np.vstack([v for _, v in sorted(pairs, key=lambda p: p[0])]) for chunk, pairs in rows.items()}


def vector_store(collection: Collection) -> ChromaVectorStore:
    return ChromaVectorStore(chroma_collection=collection)


def all_nodes(collection: Collection) -> list[TextNode]:
    """Every stored chunk as the TextNode that was written (for BM25 and listings)."""
    got = collection.get(include=["documents", "metadatas"])
    nodes = []
    for text, meta in zip(got["documents"] or [], got["metadatas"] or []):
        node = metadata_dict_to_node(dict(meta))
        node.set_content(text or "")
        nodes.append(node)
    nodes.sort(key=lambda n: (n.metadata["file"], n.metadata["start"]))
    return nodes
