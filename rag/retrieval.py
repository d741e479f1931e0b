"""Question -> ranked chunks: dense (Chroma), BM25, reciprocal-rank fusion, date boost, rerank.

Configs (`--retriever`): dense | bm25 | hybrid | hybrid+rerank. No cross-encoder ships in a PyPI
package here, so "rerank" re-scores the fused candidates by their best-matching *sentence* under the
same MiniLM embedder (a chunk often answers in one sentence that a whole-chunk vector dilutes), and
fuses that ranking with the hybrid one.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import date, datetime

import numpy as np
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from rag.chunking import sentence_texts
from rag.config import Settings
from rag.embedding import get_embedder
from rag.errors import RagError
from rag.store import StoreError, all_nodes, guarded, open_collection, sentence_vectors, vector_store, where

logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s forces DEBUG on import

RETRIEVERS = ("dense", "bm25", "hybrid", "hybrid+rerank")
MAX_QUESTION_CHARS = 2000
MAX_K = 50
CANDIDATES = 20  # per retriever, before fusion
RRF_K = 60  # the usual reciprocal-rank-fusion constant
MONTHS = {
    m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}
DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]{3})[a-z]*\.?(?:,?\s+(\d{4}))?", re.I)
MONTH_DAY = re.compile(r"\b([a-z]{3})[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?", re.I)


class RetrievalError(RagError):
    pass


class Retriever:
    """Loads the index, BM25 and embedder once; `retrieve` is then fast."""

    def __init__(self, settings: Settings) -> None:
        collection = open_collection(settings)
        if collection is None:
            raise StoreError(f"there is no index in {where(settings)} yet; run `rag ingest`")
        self.settings = settings
        self.nodes = all_nodes(settings, collection)
        self.embedder = get_embedder(settings)
        index = VectorStoreIndex.from_vector_store(vector_store(collection), embed_model=self.embedder)
        self.dense = index.as_retriever(similarity_top_k=CANDIDATES)
        # A small collection of your own has fewer chunks than CANDIDATES: BM25 would warn on every start.
        top = max(1, min(CANDIDATES, len(self.nodes)))
        self.bm25 = BM25Retriever.from_defaults(nodes=self.nodes, similarity_top_k=top, language="en")
        # num_queries=1: no query rewriting, so the LLM it insists on is never called.
        self.hybrid = QueryFusionRetriever(
            [self.dense, self.bm25],
            mode="reciprocal_rerank",
            num_queries=1,
            similarity_top_k=CANDIDATES,
            llm=MockLLM(),
            use_async=False,
        )
        self._sentence_vectors = sentence_vectors(settings)  # stored at ingest

    def retrieve(self, question: str, k: int | None = None, mode: str | None = None) -> list[NodeWithScore]:
        question = check_question(question)
        k = check_k(self.settings.top_k if k is None else k)
        mode = mode or self.settings.retriever
        base: dict[str, BaseRetriever] = {"dense": self.dense, "bm25": self.bm25, "hybrid": self.hybrid}
        if mode not in RETRIEVERS:
            raise RetrievalError(f"unknown retriever {mode!r}; choose one of: {', '.join(RETRIEVERS)}")
        with guarded(self.settings):  # the dense half queries Chroma, which may be a server that went away
            hits = base.get(mode, self.hybrid).retrieve(question)
        hits = boost_dates(question, hits)
        if mode == "hybrid+rerank":
            hits = self.rerank(question, hits)
        return hits[:k]

    def rerank(self, question: str, hits: list[NodeWithScore]) -> list[NodeWithScore]:
        if not hits:
            return hits
        query = np.asarray(self.embedder.get_query_embedding(question))
        best = [float((self.sentence_vectors(hit.node) @ query).max()) for hit in hits]
        order = np.argsort(best)[::-1]
        rerank_rank = {int(i): r for r, i in enumerate(order)}
        fused = [
            NodeWithScore(node=hit.node, score=1 / (RRF_K + i) + 1 / (RRF_K + rerank_rank[i]))
            for i, hit in enumerate(hits)
        ]
        return sorted(fused, key=lambda h: h.score or 0.0, reverse=True)

    def sentence_vectors(self, node: TextNode) -> np.ndarray:
        """One vector per sentence of the chunk (embedded with its post title), as stored at ingest."""
        found = self._sentence_vectors.get(node.node_id)
        if found is None:  # e.g. a node from another index: embed it now (two threads may both; same result)
            found = np.asarray(self.embedder.get_text_embedding_batch(sentence_texts(node)))
            self._sentence_vectors[node.node_id] = found
        return found


def boost_dates(question: str, hits: list[NodeWithScore]) -> list[NodeWithScore]:
    """A question naming a day ("on 11 November") moves passages from that day up, in order."""
    days = mentioned_days(question)
    if not days:
        return hits

    def on_day(hit: NodeWithScore) -> bool:
        when = hit.node.metadata.get("date")
        if not when:
            return False
        d = datetime.fromisoformat(str(when)).date()
        return any(d.month == m and d.day == day and (y is None or d.year == y) for y, m, day in days)

    return [h for h in hits if on_day(h)] + [h for h in hits if not on_day(h)]


def mentioned_days(question: str) -> list[tuple[int | None, int, int]]:
    """(year or None, month, day) for each date named in the question."""
    found = []
    for match in DAY_MONTH.finditer(question):
        day, month, year = match.group(1), match.group(2), match.group(3)
        found.append((year, month, day))
    for match in MONTH_DAY.finditer(question):
        month, day, year = match.group(1), match.group(2), match.group(3)
        found.append((year, month, day))
    days = []
    for year, month, day in found:
        m = MONTHS.get(month.lower())
        if m and 1 <= int(day) <= 31:
            try:
                date(int(year or 2000), m, int(day))
            except ValueError:
                continue
            days.append((int(year) if year else None, m, int(day)))
    return days


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


_retrievers: dict[str, Retriever] = {}
_retrievers_lock = threading.Lock()  # several UI sessions ask at once: load each index once


def retriever_key(settings: Settings) -> str:
    return f"{settings.chroma_url or settings.index_dir}|{settings.collection}|{settings.embed_model}"


def get_retriever(settings: Settings) -> Retriever:
    """One Retriever per index location, collection and embedder, loaded once per process."""
    key = retriever_key(settings)
    with _retrievers_lock:
        if key not in _retrievers:
            _retrievers[key] = Retriever(settings)
        return _retrievers[key]


def refresh_retriever(settings: Settings) -> None:
    """Forget the loaded retriever of this collection (after an upload or a removal): the next question
    loads the changed index, BM25 included."""
    with _retrievers_lock:
        _retrievers.pop(retriever_key(settings), None)
