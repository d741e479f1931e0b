"""Chroma, embedded at index/ or a server at RAG_CHROMA_URL: the only module that talks to it.

An index is a *version*: a chunk collection `<name>-v<N>` and its per-sentence companion
`<name>-v<N>-sentences`. A pointer collection `<name>-live` names the version readers use in its
metadata. Updating in place adds new chunks before removing stale ones; a rebuild fills a new version
and then moves the pointer (one metadata write), and only then deletes the old version. So a reader
never sees a missing or half-built index, on disk or on a server. An index from before versions
(a plain `<name>` collection, no pointer) is still read, and replaced by the next rebuild.

Each version records which embedding model built it, so a query never mixes vector spaces. Chroma's
default embedding function (which downloads a model) is never used: we always pass vectors. Every
Chroma call is wrapped: failures become a StoreError naming the server URL or the index folder.
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.client import SharedSystemClient
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.config import Settings
from rag.errors import RagError

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(RagError):
    """The index cannot be used; the message says what to do."""


class OtherEmbedder(StoreError):
    """The index was built with another embedding model than the one configured."""


def where(settings: Settings) -> str:
    return f"the Chroma server at {settings.chroma_url}" if settings.chroma_url else f"{settings.index_dir}"


def describe(exc: Exception, settings: Settings) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    if settings.chroma_url and type(exc).__name__ in ("NotFoundError", "AuthorizationError", "AuthError"):
        return (
            f"the Chroma server at {settings.chroma_url} refused ({text}); check RAG_CHROMA_HEADERS, "
            "RAG_CHROMA_TENANT and RAG_CHROMA_DATABASE"
        )
    if settings.chroma_url:
        return f"cannot reach the Chroma server at {settings.chroma_url} ({text})"
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return f"the index at {settings.index_dir} is locked by another process; retry when it finishes"
    return f"the index at {settings.index_dir} is unreadable ({text}); run `rag ingest --rebuild`"


@contextmanager
def guarded(settings: Settings) -> Iterator[None]:
    """Any Chroma failure (chromadb raises many types: ValueError, sqlite3, HTTP, Rust panics) -> StoreError."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(describe(exc, settings)) from exc


def call(settings: Settings, action: Callable[[], T]) -> T:
    with guarded(settings):
        return action()


def connect(settings: Settings) -> ClientAPI:
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    with guarded(settings):
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            if not url.hostname:
                raise StoreError(f"invalid Chroma URL {settings.chroma_url!r}; expected http://HOST:PORT")
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                headers=settings.chroma_headers or None,  # e.g. {"Authorization": "Bearer …"} for a hosted Chroma
                settings=chroma_settings,
                **tenancy(settings),
            )
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.index_dir), settings=chroma_settings, **tenancy(settings))


def tenancy(settings: Settings) -> dict[str, str]:
    """Chroma's tenant and database, when configured (otherwise Chroma's defaults)."""
    chosen = {"tenant": settings.chroma_tenant, "database": settings.chroma_database}
    return {k: v for k, v in chosen.items() if v}


# Versions and the pointer ---------------------------------------------------------------------------


def pointer_name(base: str) -> str:
    return f"{base}-live"


def version_name(base: str, n: int) -> str:
    return f"{base}-v{n}"


def sentences_name(collection: str) -> str:
    """The companion collection of per-sentence vectors of a chunk collection."""
    return f"{collection}-sentences"


def live_name(settings: Settings, client: ClientAPI | None = None) -> str | None:
    """The chunk collection readers should use: the pointer's target, or a pre-version index."""
    return live_state(settings, client)[0]


def live_state(settings: Settings, client: ClientAPI | None = None) -> tuple[str | None, str | None]:
    """(live chunk collection, fingerprint of its content) as the pointer names them; the fingerprint is
    None for an index written before fingerprints (or a pre-version index). Two cheap calls: a running
    Retriever polls this to notice another process's ingest."""
    client = client or connect(settings)
    base = settings.collection
    with guarded(settings):
        names = {c.name for c in client.list_collections()}
        if pointer_name(base) in names:
            meta = client.get_collection(pointer_name(base)).metadata or {}
            live = meta.get("live")
            if live in names:
                found = meta.get("fingerprint")
                return str(live), str(found) if found and meta.get("fingerprint_of") == live else None
        return (base, None) if base in names else (None, None)


def versions(settings: Settings, client: ClientAPI) -> list[int]:
    pattern = re.compile(rf"^{re.escape(settings.collection)}-v(\d+)$")
    with guarded(settings):
        return sorted(int(m.group(1)) for c in client.list_collections() if (m := pattern.match(c.name)))


def open_collection(settings: Settings, create: bool = False, name: str | None = None) -> Collection | None:
    """The live chunk collection (or `name`), checked against the configured embedder; None if there is none.

    With create=True a first version is made and published when there is no index yet."""
    client = connect(settings)
    name = name or live_name(settings, client)
    with guarded(settings):
        if name is None and create:
            name = version_name(settings.collection, 1)
            collection = create_collection(settings, client, name)
            create_collection(settings, client, sentences_name(name))
            publish(settings, name)
        elif name is None:
            return None
        elif create:
            collection = create_collection(settings, client, name)
        elif name in {c.name for c in client.list_collections()}:
            collection = client.get_collection(name, embedding_function=None)
        else:
            return None
    built_with = (collection.metadata or {}).get("embed_model")
    if built_with != settings.embed_model:
        raise OtherEmbedder(
            f"the index was built with embedding model {built_with!r} but {settings.embed_model!r} is "
            "configured; run `rag ingest --rebuild`"
        )
    return collection


def create_collection(settings: Settings, client: ClientAPI, name: str) -> Collection:
    return client.get_or_create_collection(
        name, metadata={"embed_model": settings.embed_model, "hnsw:space": "cosine"}, embedding_function=None
    )


def new_version(settings: Settings) -> Collection:
    """An empty next version for a rebuild; leftovers of failed rebuilds are removed, and an unreadable
    embedded index is moved aside to `<index>.broken-<time>` first."""
    try:
        client = connect(settings)
        live = live_name(settings, client)
    except StoreError:
        if settings.chroma_url:
            raise
        aside = settings.index_dir.with_name(f"{settings.index_dir.name}.broken-{int(time.time())}")
        log.warning("index at %s is unreadable; moved it to %s", settings.index_dir, aside)
        shutil.move(str(settings.index_dir), aside)
        SharedSystemClient.clear_system_cache()  # chroma caches one client per path, the broken one included
        client, live = connect(settings), None
    numbers = versions(settings, client)
    name = version_name(settings.collection, (numbers[-1] if numbers else 0) + 1)
    with guarded(settings):
        for n in numbers:  # unpublished versions are leftovers of a rebuild that did not finish
            old = version_name(settings.collection, n)
            if old != live:
                drop(client, old)
        create_collection(settings, client, sentences_name(name))
        return create_collection(settings, client, name)


def publish(settings: Settings, name: str, fingerprint: str | None = None) -> None:
    """Point readers at version `name` (one metadata write, with the fingerprint of its content when
    known: readers key their BM25 snapshot by it, rag.lexical), then delete every other version."""
    client = connect(settings)
    base = settings.collection
    meta = {"live": name, "fingerprint": fingerprint, "fingerprint_of": name} if fingerprint else {"live": name}
    with guarded(settings):
        pointer = client.get_or_create_collection(pointer_name(base), metadata=meta)
        pointer.modify(metadata=meta)  # type: ignore[arg-type]
        for n in versions(settings, client):
            if version_name(base, n) != name:
                drop(client, version_name(base, n))
        drop(client, base)  # a pre-version index


def set_fingerprint(settings: Settings, name: str, fingerprint: str) -> None:
    """Record the content fingerprint of the live version `name` after an update in place (readers key
    their BM25 snapshot by it). A pre-version index has no pointer and so no fingerprint."""
    client = connect(settings)
    with guarded(settings):
        if pointer_name(settings.collection) not in {c.name for c in client.list_collections()}:
            return
        pointer = client.get_collection(pointer_name(settings.collection))
        if (pointer.metadata or {}).get("live") == name:
            pointer.modify(metadata={"live": name, "fingerprint": fingerprint, "fingerprint_of": name})


def drop_index(settings: Settings) -> None:
    """Delete this index entirely: every version, its sentence vectors and the pointer (benchmarks)."""
    client = connect(settings)
    with guarded(settings):
        for n in versions(settings, client):
            drop(client, version_name(settings.collection, n))
        drop(client, settings.collection)
        if pointer_name(settings.collection) in {c.name for c in client.list_collections()}:
            client.delete_collection(pointer_name(settings.collection))


def drop(client: ClientAPI, name: str) -> None:
    names = {c.name for c in client.list_collections()}
    for doomed in (name, sentences_name(name)):
        if doomed in names:
            client.delete_collection(doomed)


# Reading and writing chunks --------------------------------------------------------------------------


def sentence_collection(settings: Settings, chunks: Collection) -> Collection:
    found = open_collection(settings, create=True, name=sentences_name(chunks.name))
    assert found is not None
    return found


def stored_metadata(settings: Settings, collection: Collection) -> dict[str, dict]:
    """chunk id -> its metadata, for everything in the collection."""
    got = call(settings, lambda: collection.get(include=["metadatas"]))
    return {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [])}


def stored_sources(settings: Settings, collection: Collection) -> dict[str, str]:
    """chunk id -> its source (path; the file name for chunks from before sources had paths)."""
    return {i: str(m.get("path") or m.get("file", "")) for i, m in stored_metadata(settings, collection).items()}


def collections(settings: Settings) -> list[str]:
    """The names of the collections that hold an index (what `--collection` can name)."""
    client = connect(settings)
    with guarded(settings):
        names = {c.name for c in client.list_collections()}
    live = {n.removesuffix("-live") for n in names if n.endswith("-live")}
    return sorted(live | {settings.collection} if settings.collection in names else live)


def chunks_with_sentences(settings: Settings, sentences: Collection) -> set[str]:
    got = call(settings, lambda: sentences.get(include=["metadatas"]))
    return {str(m["chunk"]) for m in got["metadatas"] or []}


def add(
    settings: Settings,
    collection: Collection,
    nodes: list[TextNode],
    sentences: Collection,
    sentence_ids: list[str],
    sentence_vectors: list[list[float]],
) -> None:
    with guarded(settings):
        if nodes:
            vector_store(collection).add(nodes)
        if sentence_ids:
            metadatas = [{"chunk": i.split("#")[0]} for i in sentence_ids]
            sentences.add(ids=sentence_ids, embeddings=sentence_vectors, metadatas=metadatas)  # type: ignore[arg-type]


def delete(settings: Settings, collection: Collection, sentences: Collection, ids: list[str]) -> None:
    if ids:
        with guarded(settings):
            collection.delete(ids=ids)
            sentences.delete(where={"chunk": {"$in": ids}})  # type: ignore[dict-item]


def count(settings: Settings, collection: Collection) -> int:
    return call(settings, collection.count)


def sentence_vectors_for(settings: Settings, sentences: Collection, chunk_ids: list[str]) -> dict[str, np.ndarray]:
    """chunk id -> matrix of its stored sentence vectors, for these chunks only (a query's top hits)."""
    if not chunk_ids:
        return {}
    where_chunks = {"chunk": {"$in": list(chunk_ids)}}
    got = call(settings, lambda: sentences.get(where=where_chunks, include=["embeddings"]))  # type: ignore[arg-type]
    return stack_sentences(got["ids"], got["embeddings"] if got["embeddings"] is not None else [])


def chunks_by_sentence(settings: Settings, sentences: Collection, vector: np.ndarray, n: int) -> list[str]:
    """The ids of the chunks holding the `n` sentences closest to `vector`, best first, each once."""
    got = call(
        settings, lambda: sentences.query(query_embeddings=[vector.tolist()], n_results=n, include=["metadatas"])
    )
    return list(dict.fromkeys(str(m["chunk"]) for m in (got["metadatas"] or [[]])[0]))


def stack_sentences(ids: list[str], vectors: Any) -> dict[str, np.ndarray]:
    rows: dict[str, list[tuple[int, np.ndarray]]] = {}
    for sentence_id, vector in zip(ids, vectors):
        chunk, index = sentence_id.rsplit("#", 1)
        rows.setdefault(chunk, []).append((int(index), np.asarray(vector)))
    return {chunk: np.vstack([v for _, v in sorted(pairs, key=lambda p: p[0])]) for chunk, pairs in rows.items()}


def vector_store(collection: Collection) -> ChromaVectorStore:
    return ChromaVectorStore(chroma_collection=collection)


def all_nodes(settings: Settings, collection: Collection) -> list[TextNode]:
    """Every stored chunk as the TextNode that was written (for BM25 and listings)."""
    got = call(settings, lambda: collection.get(include=["documents", "metadatas"]))
    nodes = as_nodes(got)
    nodes.sort(key=lambda n: (n.metadata["file"], n.metadata["start"]))
    return nodes


def as_nodes(got: Any) -> list[TextNode]:
    """A Chroma `get` result -> the TextNodes that were written, in the result's order."""
    nodes = []
    for text, meta in zip(got["documents"] or [], got["metadatas"] or []):
        node = metadata_dict_to_node(dict(meta))
        node.set_content(text or "")
        nodes.append(node)
    return nodes


def nodes_by_id(settings: Settings, collection: Collection, ids: list[str]) -> dict[str, TextNode]:
    """The stored chunks with these ids (e.g. BM25's hits); ids no longer stored are absent."""
    if not ids:
        return {}
    got = call(settings, lambda: collection.get(ids=list(ids), include=["documents", "metadatas"]))
    return dict(zip(got["ids"], as_nodes(got)))


FIELDS: Any = ["documents", "metadatas"]


def iter_nodes(settings: Settings, collection: Collection, page: int) -> Iterator[list[TextNode]]:
    """Every stored chunk, `page` at a time: building BM25 never holds Chroma's whole answer at once."""
    offset = 0
    while True:
        got = call(settings, lambda at=offset: collection.get(include=FIELDS, limit=page, offset=at))
        if not got["ids"]:
            return
        yield as_nodes(got)
        offset += len(got["ids"])
