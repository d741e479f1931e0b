"""rag.chunking on the real seeds: exact source spans, sizes that fit MiniLM, stable unique ids."""

from __future__ import annotations

import importlib
from itertools import pairwise

import pytest
from llama_index.core.schema import MetadataMode, TextNode
from llama_index.core.utils import globals_helper
from transformers import AutoTokenizer

from rag.chunking import chunk_documents
from rag.config import Settings
from rag.documents import SourceDoc
from rag.embedding import PACKAGED_MODELS, get_embedder
from rag.loaders import load_seeds
from tests.conftest import SEEDS

PLAIN = ["000_0fc9fab1ffc6223a.txt", "001_dba3cdc016d1cf37.txt", "003_51635e4d9e4636c5.txt", "004_03cfe2dca04b571e.txt"]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def docs() -> dict[str, SourceDoc]:
    loaded, _ = load_seeds(SEEDS)
    return {doc.file: doc for doc in loaded}


@pytest.fixture(scope="module")
def nodes(docs: dict[str, SourceDoc], settings: Settings) -> list[TextNode]:
    return chunk_documents(list(docs.values()), settings)


def normalized(text: str) -> str:
    return " ".join(text.split())


def align(original: str, start: int, end: int, text: str) -> list[tuple[int, int]]:
    """Place a chunk's text in original[start:end] as verbatim runs, in order; the first run at `start`.

    A chunk is its sentences joined by one space, each sentence copied verbatim, so the text splits
    into runs that occur in the original one after the other (in the JSON live blog, with markup between).
    """
    words = text.split(" ")
    runs: list[tuple[int, int]] = []
    pos, i = start, 0
    while i < len(words):
        for j in range(len(words), i, -1):
            piece = " ".join(words[i:j])
            at = original.find(piece, pos, end) if runs else (start if original.startswith(piece, start) else -1)
            if at >= 0:
                break
        else:
            where = "at its start" if not runs else f"after offset {pos}"
            raise AssertionError(f"{words[i]!r} (word {i}) is not in the span {where}")
        runs.append((at, at + len(piece)))
        pos, i = at + len(piece), j
    return runs


def test_every_chunk_is_found_verbatim_in_its_span(docs: dict[str, SourceDoc], nodes: list[TextNode]) -> None:
    """original[start:end] begins with the first sentence, ends with the last, and holds every sentence."""
    for node in nodes:
        original = docs[node.metadata["file"]].text
        start, end = node.metadata["start"], node.metadata["end"]
        assert 0 <= start < end <= len(original)
        runs = align(original, start, end, node.text)
        assert runs[0][0] == start, f"{node.node_id}: span does not begin with the first sentence"
        assert runs[-1][1] == end, f"{node.node_id}: span does not end with the last sentence"


@pytest.mark.parametrize("name", PLAIN)
def test_plain_seed_span_is_exactly_the_chunk_text(
    docs: dict[str, SourceDoc], nodes: list[TextNode], name: str
) -> None:
    original = docs[name].text
    mine = [n for n in nodes if n.metadata["file"] == name]
    assert mine
    for node in mine:
        span = original[node.metadata["start"] : node.metadata["end"]]
        assert normalized(span) == normalized(node.text), node.node_id


def test_chunks_stay_within_the_word_limit(nodes: list[TextNode], settings: Settings) -> None:
    sizes = {n.node_id: len(n.text.split()) for n in nodes}
    too_big = {i: s for i, s in sizes.items() if s > min(200, settings.chunk_max_words * 1.15)}
    assert not too_big
    assert all(s > 0 for s in sizes.values())


def test_embedded_text_fits_in_the_minilm_window(nodes: list[TextNode], settings: Settings) -> None:
    """MiniLM reads 256 word pieces (with [CLS] and [SEP]); the rest of a longer chunk is never embedded.
    The smaller window of the two embedders (nomic's is 2,048 tokens): chunks are the same for both."""
    minilm = settings.model_copy(update={"embed_model": "all-MiniLM-L6-v2"})
    path = importlib.import_module(PACKAGED_MODELS[minilm.embed_model]).get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    window = get_embedder(minilm).max_length
    lengths = {n.node_id: len(tokenizer(n.get_content(metadata_mode=MetadataMode.EMBED))["input_ids"]) for n in nodes}
    over = {i: k for i, k in lengths.items() if k > window}
    assert not over, f"{len(over)} of {len(nodes)} chunks exceed {window} word pieces: {over}"


def test_embedded_text_has_title_and_day_but_no_offsets(nodes: list[TextNode]) -> None:
    titled = next(n for n in nodes if n.metadata.get("title") == "Macron tells Xi to reason with Russia on Ukraine war")
    embedded = titled.get_content(metadata_mode=MetadataMode.EMBED)
    assert "Macron tells Xi to reason with Russia on Ukraine war" in embedded
    assert "Friday 7 April 2023" in embedded
    assert titled.metadata["file"] not in embedded and f"{titled.metadata['start']}" not in embedded


def test_chunk_ids_are_unique(nodes: list[TextNode]) -> None:
    ids = [n.node_id for n in nodes]
    assert len(ids) == len(set(ids))


def test_chunking_twice_gives_the_same_ids(nodes: list[TextNode], settings: Settings) -> None:
    again, _ = load_seeds(SEEDS)  # a fresh read of the files, not the same objects
    assert [n.node_id for n in chunk_documents(again, settings)] == [n.node_id for n in nodes]


def test_chunk_id_names_file_and_start(nodes: list[TextNode]) -> None:
    for node in nodes:
        prefix = node.metadata["file"].split("_")[0]
        assert node.node_id.startswith(f"{prefix}-{node.metadata['start']}-")


def test_every_seed_gives_chunks(docs: dict[str, SourceDoc], nodes: list[TextNode]) -> None:
    assert {n.metadata["file"] for n in nodes} == set(docs)


def overlap(a: str, b: str) -> str:
    """The longest end of `a` that `b` starts with, cut at a word boundary."""
    for k in range(min(len(a), len(b)), 0, -1):
        if a.endswith(b[:k]) and (k == len(b) or b[k] == " "):
            return b[:k]
    return ""


def test_consecutive_chunks_of_a_section_overlap_by_at_most_one_sentence(
    nodes: list[TextNode], settings: Settings
) -> None:
    tokenizer = globals_helper.punkt_tokenizer  # the sentence splitter rag.chunking uses
    overlapping = 0
    for a, b in pairwise(nodes):
        same_section = all(a.metadata.get(k) == b.metadata.get(k) for k in ("file", "title", "date"))
        shared = overlap(a.text, b.text)
        if not same_section:
            continue
        overlapping += bool(shared)
        assert len(tokenizer.tokenize(shared)) <= settings.chunk_overlap_sentences, (a.node_id, shared)
        # Apart from the overlap, the next chunk is new text.
        assert b.text[len(shared) :].strip() not in a.text, (a.node_id, b.node_id)
        assert b.metadata["start"] >= a.metadata["start"] and b.metadata["end"] > a.metadata["end"]
    assert overlapping > 0  # the 001 article is one long section: its chunks must overlap
