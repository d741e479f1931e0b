"""The persisted BM25 snapshot: the same ranking as llama-index's in-memory BM25, kept in step by
ingest, memory-mapped, and shared by processes behind one Chroma server (each with its own snapshot)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import lexical, store
from rag.config import Settings
from rag.ingest import ingest
from rag.retrieval import Retriever
from tests.conftest import SEEDS

QUESTIONS = [
    "When did Russia leave Kherson?",
    "Which dam was hit by HIMARS rockets in Kherson?",
    "Why is Bakhmut a symbol of defiance?",
    "What did NBC report about peace negotiations?",
    "NATO eastward expansion and neutrality",
    "wounded Russian soldiers abandoned",
]


def test_the_persisted_bm25_ranks_exactly_as_llama_index_bm25_over_every_chunk(index_settings: Settings) -> None:
    from llama_index.retrievers.bm25 import BM25Retriever

    collection = store.open_collection(index_settings)
    assert collection is not None
    in_memory = BM25Retriever.from_defaults(nodes=store.all_nodes(index_settings, collection), similarity_top_k=20)
    persisted = Retriever(index_settings).bm25
    for question in QUESTIONS:
        expected = in_memory.retrieve(question)
        got = persisted.retrieve(question)
        assert [h.node.node_id for h in got] == [h.node.node_id for h in expected]
        assert np.allclose([h.score for h in got], [h.score for h in expected])
        assert [h.node.get_content() for h in got] == [h.node.get_content() for h in expected]


def test_a_misspelt_query_word_is_read_as_the_indexed_word_it_is_close_to(index_settings: Settings) -> None:
    engine = Retriever(index_settings)
    snapshot = engine.bm25.snapshot
    assert snapshot.spelled("wagnr") == "wagner" and snapshot.spelled("anounc") == "announc"
    assert snapshot.spelled("kherson") == "kherson"  # indexed words stay as they are
    assert snapshot.spelled("xylophon") == "xylophon"  # nothing close: unchanged, so it matches nothing
    right = [h.node.node_id for h in engine.bm25.retrieve("the boss of the Wagner group")]
    wrong = [h.node.node_id for h in engine.bm25.retrieve("the boss of the wagnr group")]
    assert wrong[:5] == right[:5]


def test_a_retriever_starts_without_loading_chunks_or_sentence_vectors(index_settings: Settings) -> None:
    engine = Retriever(index_settings)
    assert isinstance(engine.bm25.snapshot.index.scores["data"], np.memmap)  # read from disk on demand
    assert len(engine._sentence_vectors) == 0
    hits = engine.retrieve(QUESTIONS[0], 5, "hybrid")
    assert len(engine._sentence_vectors) == 0  # retrieval alone needs none
    engine.prefetch([h.node for h in hits])
    assert set(engine._sentence_vectors) == {h.node.node_id for h in hits}  # the hits' vectors, fetched
    for hit in hits:
        assert engine.sentence_vectors(hit.node).shape[1] == len(engine.embed_query("a question"))


def snapshots(settings: Settings) -> list[Path]:
    return sorted(p for p in lexical.root(settings).iterdir() if p.is_dir() and not p.name.startswith("."))


def test_ingest_keeps_the_snapshot_in_step_with_the_index(small_seeds: Path, tmp_path: Path) -> None:
    settings = Settings(seeds_dir=small_seeds, index_dir=tmp_path / "index")
    ingest(settings, progress=False)
    name, first = store.live_state(settings)
    assert first and snapshots(settings) == [lexical.snapshot_dir(settings, name, first)]

    (small_seeds / "000_0fc9fab1ffc6223a.txt").unlink()
    ingest(settings, progress=False)
    _, second = store.live_state(settings)
    assert second and second != first
    assert snapshots(settings) == [lexical.snapshot_dir(settings, name, second)]  # the old one is pruned
    hits = Retriever(settings).retrieve("United States privately encouraging Ukraine to negotiate", 5, "bm25")
    assert hits and all(h.node.metadata["file"].startswith("004_") for h in hits)

    ingest(settings, rebuild=True, progress=False)
    rebuilt, third = store.live_state(settings)
    assert rebuilt != name and third == second  # a new version with the same content
    assert snapshots(settings) == [lexical.snapshot_dir(settings, rebuilt, third)]


def test_a_reader_without_a_snapshot_builds_the_same_one_from_chroma(index_settings: Settings, tmp_path: Path) -> None:
    """Another host behind the same server has no snapshot yet: it builds one with the same content."""
    elsewhere = index_settings.model_copy(update={"lexical_dir": tmp_path / "other-host"})
    engine = Retriever(elsewhere)
    assert engine.bm25.snapshot.path.parent == tmp_path / "other-host"
    assert (
        engine.bm25.snapshot.path.name == lexical.snapshot_dir(index_settings, *store.live_state(index_settings)).name
    )
    same = Retriever(index_settings)
    for question in QUESTIONS:
        assert engine.bm25.snapshot.search(question, 10) == same.bm25.snapshot.search(question, 10)


READER = """
import json, sys
import rag
from rag.config import get_settings
from rag.retrieval import get_retriever
print("ready", flush=True)
for line in sys.stdin:
    hits = get_retriever(get_settings()).retrieve(line.strip(), 5, "hybrid")
    print(json.dumps([h.node.node_id for h in hits]), flush=True)
"""


class Reader:
    """A separate app process (its own BM25 snapshot folder, like another host) asking over stdin."""

    def __init__(self, settings: Settings, lexical_dir: Path) -> None:
        env = {
            **os.environ,
            "RAG_CHROMA_URL": str(settings.chroma_url),
            "RAG_COLLECTION": settings.collection,
            "RAG_LEXICAL_DIR": str(lexical_dir),
            "RAG_INDEX_CHECK_SECONDS": "0",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def ask(self, question: str) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(question + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_app_processes_behind_one_chroma_server_see_the_same_index_after_an_ingest(
    chroma_server: str, small_seeds: Path, tmp_path: Path
) -> None:
    settings = Settings(
        seeds_dir=small_seeds, index_dir=tmp_path / "unused", chroma_url=chroma_server, collection="shared"
    )
    settings = settings.model_copy(update={"lexical_dir": tmp_path / "writer"})
    ingest(settings, progress=False)
    question = "NATO eastward expansion and Kiev's neutrality"  # only seed 001 says this
    first = Reader(settings, tmp_path / "host-a")
    try:
        assert not [i for i in first.ask(question) if i.startswith("001-")]
        shutil.copy(SEEDS / "001_dba3cdc016d1cf37.txt", small_seeds)
        ingest(settings, progress=False)  # another process adds a document
        seen_by_first = first.ask(question)
        assert seen_by_first[0].startswith("001-")
        second = Reader(settings, tmp_path / "host-b")
        try:
            assert second.ask(question) == seen_by_first
        finally:
            second.close()
    finally:
        first.close()


# Not hybrid+rerank: it orders near-equal sentence similarities, which float noise between two separately
# embedded copies of the index may swap.
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_retrieval_against_a_chroma_server_matches_the_embedded_index(
    chroma_server: str, index_settings: Settings, tmp_path: Path, mode: str
) -> None:
    served = Settings(
        seeds_dir=SEEDS,
        index_dir=tmp_path / "unused",
        chroma_url=chroma_server,
        collection="mirror",
        lexical_dir=tmp_path / "lexical",
    )
    if store.live_name(served) is None:
        ingest(served, progress=False)
    server_engine, embedded_engine = Retriever(served), Retriever(index_settings)
    for question in QUESTIONS:
        got = [h.node.node_id for h in server_engine.retrieve(question, 5, mode)]
        assert got == [h.node.node_id for h in embedded_engine.retrieve(question, 5, mode)]
