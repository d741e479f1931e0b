"""What a retrieval request may ask: checked before any model or index is loaded, so a bad question
fails in a fraction of a second (this module imports nothing heavy)."""

from __future__ import annotations

from rag.errors import RagError

MAX_QUESTION_CHARS = 2000
MAX_K = 50


class RetrievalError(RagError):
    pass


def check_question(question: str) -> str:
    question = " ".join((question or "").split())
    if not question:
        raise RetrievalError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise RetrievalError(
            f"the question is too long ({len(question)} characters; the limit is {MAX_QUESTION_CHARS})"
        )
    return question


def check_k(k: int) -> int:
    if k < 1 or k > MAX_K:
        raise RetrievalError(f"k must be between 1 and {MAX_K} (got {k})")
    return k
