"""The torch-free query embedder is the same model: its vectors equal sentence-transformers'."""

from __future__ import annotations

import numpy as np
import pytest

from rag.config import get_settings
from rag.embedding import get_embedder, get_query_embedder

TEXTS = [
    "When did Russia leave Kherson?",
    "x",
    "Ukraine's HIMARS strike on the Antonivskiy bridge — 11 November 2022, 5am; “quotes” and ünïcödé",
    # past MiniLM's 256 word pieces: both must truncate at the same place
    " ".join(f"word{i} Kherson withdrawal" for i in range(200)),
]


MINILM = "all-MiniLM-L6-v2"  # the default embedder is nomic; MiniLM is a setting and the relevance signal


@pytest.mark.parametrize("text", TEXTS)
def test_the_numpy_query_embedder_gives_the_same_vector_as_sentence_transformers(text: str) -> None:
    settings = get_settings(embed_model=MINILM)
    reference = np.asarray(get_embedder(settings).get_query_embedding(text))
    light = np.asarray(get_query_embedder(settings).get_query_embedding(text))
    assert light.shape == reference.shape == (384,)
    assert np.allclose(light, reference, atol=1e-5)
    assert abs(float(np.linalg.norm(light)) - 1.0) < 1e-5


def test_different_texts_get_different_vectors() -> None:
    embedder = get_query_embedder(get_settings(embed_model=MINILM))
    a, b = (np.asarray(embedder.get_query_embedding(t)) for t in TEXTS[:2])
    assert float(a @ b) < 0.9
