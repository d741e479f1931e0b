"""Question -> ranked chunks: dense (Chroma), BM25, reciprocal-rank fusion, date boost, rerank.

Configs (`--retriever`): dense | bm25 | hybrid | hybrid+rerank. Fusion is llama-index's
QueryFusionRetriever over its Chroma vector retriever and our persisted BM25 (rag.lexical).
No cross-encoder ships in a PyPI package here, so "rerank" re-scores the fused candidates by their
best-matching *sentence* under the same embedder (a chunk often answers in one sentence that a
whole-chunk vector dilutes), and fuses that ranking with the hybrid one.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from datetime import date, datetime

import numpy as np
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.chunking import sentence_texts, sentences_of
from rag.config import Settings
from rag.embedding import get_query_embedder, get_relevance_embedder
from rag.evidence import MONTHS, Passage
from rag.lexical import LexicalRetriever, open_snapshot
from rag.limits import MAX_K, MAX_QUESTION_CHARS, RetrievalError, check_k, check_question  # noqa: F401 (API)
from rag.store import (
    StoreError,
    chunks_by_sentence,
    guarded,
    live_state,
    nodes_by_id,
    open_collection,
    sentence_vectors_for,
    sentences_name,
    vector_store,
    where,
)

RETRIEVERS = ("dense", "bm25", "hybrid", "hybrid+rerank")
CANDIDATES = 20  # per retriever, before fusion
RRF_K = 60  # the usual reciprocal-rank-fusion constant
DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]{3})[a-z]*\.?(?:,?\s+(\d{4}))?", re.I)
MONTH_DAY = re.compile(r"\b([a-z]{3})[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?", re.I)


class Retriever:
    """Opens the live index version. Nothing is loaded per chunk: dense search is Chroma's, BM25 reads its
    memory-mapped snapshot (rag.lexical), sentence vectors are fetched for the hits only, and the question
    is embedded once, without torch (llama.cpp for nomic, numpy for MiniLM)."""

    def __init__(self, settings: Settings, embedder: BaseEmbedding | None = None) -> None:
        name, fp = live_state(settings)
        collection = open_collection(settings, name=name) if name else None
        if collection is None or name is None:
            raise StoreError(f"there is no index in {where(settings)} yet; run `rag ingest`")
        self.settings = settings
        self.collection = collection
        self.version = (name, fp)
        self.checked = time.monotonic()
        self.embedder = embedder or get_query_embedder(settings)
        self.relevance = get_relevance_embedder(settings)  # None: the same embedder
        index = VectorStoreIndex.from_vector_store(vector_store(collection), embed_model=self.embedder)
        self.dense = index.as_retriever(similarity_top_k=CANDIDATES)
        self.bm25 = LexicalRetriever(settings, collection, open_snapshot(settings, collection, fp), CANDIDATES)
        # num_queries=1: no query rewriting, so the LLM it insists on is never called.
        self.hybrid = QueryFusionRetriever(
            [self.dense, self.bm25],
            mode="reciprocal_rerank",
            num_queries=1,
            similarity_top_k=CANDIDATES,
            llm=MockLLM(),
            use_async=False,
        )
        self.sentences = open_collection(settings, name=sentences_name(name))
        self._sentence_vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # recent hits', stored at ingest
        self._relevance_vectors: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()  # per sentence
        self._lock = threading.Lock()

    def current(self) -> bool:
        """False once another process has ingested or rebuilt (checked at most every index_check_seconds)."""
        if time.monotonic() - self.checked < self.settings.index_check_seconds:
            return True
        self.checked = time.monotonic()
        return live_state(self.settings) == self.version

    def embed_query(self, question: str) -> np.ndarray:
        return np.asarray(self.embedder.get_query_embedding(check_question(question)))

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        mode: str | None = None,
        query_vector: np.ndarray | None = None,
        sentences: int = 0,
    ) -> list[NodeWithScore]:
        """The k best chunks; pass `query_vector` (embed_query of the same text) to embed the question once.
        With `sentences` (hybrid+rerank only), the chunks of that many best-matching single sentences join in
        (Settings.sentence_hits)."""
        question = check_question(question)
        k = check_k(self.settings.top_k if k is None else k)
        mode = mode or self.settings.retriever
        base: dict[str, BaseRetriever] = {"dense": self.dense, "bm25": self.bm25, "hybrid": self.hybrid}
        if mode not in RETRIEVERS:
            raise RetrievalError(f"unknown retriever {mode!r}; choose one of: {', '.join(RETRIEVERS)}")
        if query_vector is None and mode != "bm25":
            query_vector = self.embed_query(question)
        bundle = QueryBundle(question, embedding=None if query_vector is None else query_vector.tolist())
        with guarded(self.settings):  # the dense half queries Chroma, which may be a server that went away
            hits = base.get(mode, self.hybrid).retrieve(bundle)
        hits = boost_dates(question, hits)
        if mode == "hybrid+rerank" and query_vector is not None:
            hits = self.rerank(query_vector, hits)
            if sentences and self.sentences is not None:
                hits = self.with_sentence_hits(query_vector, hits, sentences)
        return hits[:k]

    def with_sentence_hits(self, query: np.ndarray, hits: list[NodeWithScore], n: int) -> list[NodeWithScore]:
        """The hits fused (reciprocal rank) with the chunks of the `n` sentences closest to the question."""
        assert self.sentences is not None
        ranked = chunks_by_sentence(self.settings, self.sentences, query, n)
        nodes = {hit.node.node_id: hit.node for hit in hits}
        nodes |= nodes_by_id(self.settings, self.collection, [c for c in ranked if c not in nodes])
        return fuse(nodes, [hit.node.node_id for hit in hits], ranked)

    def rerank(self, query: np.ndarray, hits: list[NodeWithScore]) -> list[NodeWithScore]:
        if not hits:
            return hits
        self.prefetch([hit.node for hit in hits])
        best = [float((self.sentence_vectors(hit.node) @ query).max()) for hit in hits]
        ids = [hit.node.node_id for hit in hits]
        by_sentence = [ids[int(i)] for i in np.argsort(best)[::-1]]
        return fuse({hit.node.node_id: hit.node for hit in hits}, ids, by_sentence)

    def prefetch(self, nodes: list[TextNode]) -> None:
        """Fetch the stored sentence vectors of these chunks in one Chroma read, into a bounded cache (before
        evidence selection reads them one chunk at a time). Retrieval alone never needs them."""
        with self._lock:
            missing = [n.node_id for n in nodes if n.node_id not in self._sentence_vectors]
        if not missing or self.sentences is None:
            return
        found = sentence_vectors_for(self.settings, self.sentences, missing)
        with self._lock:
            self._sentence_vectors.update(found)
            while len(self._sentence_vectors) > self.settings.sentence_cache_chunks:
                self._sentence_vectors.popitem(last=False)

    def score_relevance(self, passages: list[Passage], question: str) -> None:
        """Set each passage's `similarity` under the relevance embedder (Settings.relevance_model), when it is not
        the retrieval embedder: its best sentence's cosine to the question, each sentence embedded as at ingest
        (with its post title). Sentence vectors are cached (MiniLM: ~20 ms each on a busy core)."""
        if self.relevance is None or not passages:
            return
        asked = np.asarray(self.relevance.get_query_embedding(question))
        for p in passages:
            texts = dict(zip((s.start for s in sentences_of(p.node)), sentence_texts(p.node)))
            cosines = []
            for sentence in p.sentences:
                key = (p.node.node_id, sentence.start)
                with self._lock:
                    vector = self._relevance_vectors.get(key)
                if vector is None:
                    vector = np.asarray(self.relevance.get_text_embedding(texts.get(sentence.start, sentence.text)))
                    with self._lock:
                        self._relevance_vectors[key] = vector
                        while len(self._relevance_vectors) > self.settings.sentence_cache_chunks * 8:
                            self._relevance_vectors.popitem(last=False)
                cosines.append(float(vector @ asked))
            p.similarity = max(cosines)

    def sentence_vectors(self, node: TextNode) -> np.ndarray:
        """One vector per sentence of the chunk (embedded with its post title), as stored at ingest."""
        with self._lock:
            found = self._sentence_vectors.get(node.node_id)
        if found is None:
            self.prefetch([node])
            with self._lock:
                found = self._sentence_vectors.get(node.node_id)
        if found is None:  # e.g. a node from another index: embed it now (the same model, two threads may both)
            found = np.vstack([np.asarray(self.embedder.get_text_embedding(t)) for t in sentence_texts(node)])
            with self._lock:
                self._sentence_vectors[node.node_id] = found
        return found


def fuse(nodes: dict[str, TextNode], *rankings: list[str]) -> list[NodeWithScore]:
    """Reciprocal-rank fusion of rankings of chunk ids, each best first: a chunk scores 1 / (RRF_K + rank) summed
    over the rankings that hold it. Best first; ties keep the order the chunks were first ranked in."""
    ranks = [{chunk: r for r, chunk in enumerate(ranking)} for ranking in rankings]
    found = [c for c in dict.fromkeys(c for ranking in rankings for c in ranking) if c in nodes]
    scored = [NodeWithScore(node=nodes[c], score=sum(1 / (RRF_K + r[c]) for r in ranks if c in r)) for c in found]
    return sorted(scored, key=lambda h: h.score or 0.0, reverse=True)


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


_retrievers: dict[str, Retriever] = {}
_retrievers_lock = threading.Lock()  # several UI sessions ask at once: load each index once


def retriever_key(settings: Settings) -> str:
    return f"{settings.chroma_url or settings.index_dir}|{settings.collection}|{settings.embed_model}"


def get_retriever(settings: Settings) -> Retriever:
    """One Retriever per index location and embedder, loaded once per process and reloaded when another
    process has changed the index (several `rag serve` behind one Chroma server see the same index)."""
    key = retriever_key(settings)
    with _retrievers_lock:
        found = _retrievers.get(key)
        if found is None or not found.current():
            _retrievers[key] = Retriever(settings, embedder=found.embedder if found else None)
        return _retrievers[key]


def refresh_retriever(settings: Settings) -> None:
    """Forget the loaded retriever of this collection (after an upload or a removal): the next question
    loads the changed index, BM25 included."""
    with _retrievers_lock:
        _retrievers.pop(retriever_key(settings), None)
