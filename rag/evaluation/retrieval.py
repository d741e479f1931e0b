"""Retrieval quality on a gold file: which configs find the gold evidence, how high, how fast.

A result is relevant when its chunk's span [start, end) in the original seed file overlaps the span of
a gold `evidence` (an exact substring of that file; any occurrence counts). Ranks are 1-based.

`vanilla` is the honest baseline: llama-index defaults (SimpleDirectoryReader on the raw files, the
default SentenceSplitter, an in-memory VectorStoreIndex) with the same embedder, dense only.
Heavy imports (llama-index, the retrievers) happen inside functions so the CLI stays fast to start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import DEFAULT_COLLECTION, Settings
from rag.errors import RagError
from rag.evaluation.gold import (
    Matches,
    Span,
    answerable,
    collection_texts,
    load_gold,
    match,
    select_split,
    source_spans,
)
from rag.evaluation.metrics import first_relevant, ndcg, percentile, recall

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore, TextNode

log = logging.getLogger(__name__)
CONFIGS = ("vanilla", "dense", "bm25", "hybrid", "hybrid+rerank")
HIT_CUTOFFS = (1, 3, 5, 10)
MISS_AT = 5  # a question is listed as missed when no relevant result is in the top 5
Search = Callable[[str], "list[NodeWithScore]"]


def summarize(rows: list[dict[str, Any]], k: int) -> dict[str, float]:
    """Mean metrics and latency percentiles over the per-question rows of one config."""
    n = len(rows) or 1
    ranks = [row["rank"] for row in rows]
    summary = {f"hit@{c}": sum(r is not None and r <= c for r in ranks) / n for c in cutoffs(k)}
    summary[f"mrr@{k}"] = sum(1.0 / r for r in ranks if r is not None and r <= k) / n
    summary[f"ndcg@{k}"] = sum(row["ndcg"] for row in rows) / n
    summary[f"recall@{k}"] = sum(row["recall"] for row in rows) / n
    latencies = [row["ms"] for row in rows]
    summary["p50_ms"] = percentile(latencies, 50)
    summary["p95_ms"] = percentile(latencies, 95)
    return summary


def cutoffs(k: int) -> list[int]:
    return sorted({c for c in HIT_CUTOFFS if c <= k} | {k})


# Running the configs -----------------------------------------------------------------------------


def evaluate_retrieval(
    settings: Settings,
    gold_path: Path,
    configs: Iterable[str] = CONFIGS,
    k: int = 10,
    progress: bool = True,
    split: str = "all",
) -> dict[str, Any]:
    """Run every config over the answerable gold questions; the report that rag.evaluation.report writes."""
    configs = check_configs(configs)
    if settings.collection != DEFAULT_COLLECTION and "vanilla" in configs:
        log.warning(
            "the vanilla baseline reads the seeds folder; it is left out for collection %s", settings.collection
        )
        configs = [c for c in configs if c != "vanilla"] or ["hybrid"]
    items = select_split(load_gold(gold_path), split)
    questions = [item for item in items if answerable(item)]
    if not questions:
        raise RagError(f"{gold_path} has no answerable items with sources to evaluate")
    texts = collection_texts(settings)
    sources = [[source_spans(s, texts) for s in item["sources"]] for item in questions]
    report: dict[str, Any] = {
        "k": k,
        "gold": str(gold_path),
        "split": split,
        "index": settings.chroma_url or str(settings.index_dir),
        "seeds": str(settings.seeds_dir),
        "collection": settings.collection,
        "embed_model": settings.embed_model,
        "questions": len(questions),
        "skipped": [item.get("id") for item in items if not answerable(item)],
        "configs": {},
    }
    for name in configs:
        search = make_search(name, settings, k, progress)
        rows = run_config(name, search, questions, sources, k, progress)
        report["configs"][name] = {"metrics": summarize(rows, k), "questions": rows}
    return report


def check_configs(configs: Iterable[str]) -> list[str]:
    names = [c.strip() for c in configs if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown or not names:
        raise RagError(f"unknown config(s) {', '.join(unknown) or '(none)'}; choose from: {', '.join(CONFIGS)}")
    return list(dict.fromkeys(names))


def make_search(name: str, settings: Settings, k: int, progress: bool) -> Search:
    if name == "vanilla":
        return vanilla_search(settings, k, progress)
    from rag.ingest import ensure_index
    from rag.retrieval import get_retriever

    ensure_index(settings, progress)
    retriever = get_retriever(settings)
    return lambda question: retriever.retrieve(question, k, name)


def run_config(
    name: str,
    search: Search,
    questions: list[dict[str, Any]],
    sources: list[list[list[Span]]],
    k: int,
    progress: bool,
) -> list[dict[str, Any]]:
    from tqdm import tqdm

    search(query_of(questions[0]))  # warm-up: caches, lazy loads and first-call overheads are not timed
    rows = []
    for item, item_sources in tqdm(list(zip(questions, sources)), desc=name, disable=not progress, unit="q"):
        started = time.perf_counter()
        results = search(query_of(item))
        elapsed_ms = (time.perf_counter() - started) * 1000
        matches = match([result_span(r) for r in results], item_sources)
        rows.append(question_row(item, results, matches, len(item_sources), k, elapsed_ms))
    return rows


def query_of(item: dict[str, Any]) -> str:
    """What is retrieved for an item: a follow-up goes with the user's previous question, as in rag.answer."""
    previous = [m.get("content") for m in item.get("history") or [] if m.get("role") == "user"]
    return f"{previous[-1]} {item['question']}" if previous else item["question"]


def question_row(
    item: dict[str, Any], results: list[NodeWithScore], matches: Matches, n_sources: int, k: int, ms: float
) -> dict[str, Any]:
    return {
        "id": item.get("id"),
        "question": item["question"],
        "gold_files": sorted({s["file"] for s in item["sources"]}),
        "rank": first_relevant(matches),
        "relevant_ranks": [rank for rank, hit in enumerate(matches, 1) if hit],
        "ndcg": ndcg(matches, n_sources, k),
        "recall": recall(matches, n_sources, k),
        "ms": round(ms, 3),
        "top1": describe(results[0].node) if results else None,
    }


def describe(node: TextNode) -> dict[str, Any]:
    """Enough of a result for a human to see what came first instead of the gold passage."""
    shown = {key: node.metadata.get(key) for key in ("file", "title", "start", "end")}
    return shown | {"text": " ".join(node.get_content().split())[:100]}


def result_span(result: NodeWithScore) -> Span:
    meta = result.node.metadata
    if not {"file", "start", "end"} <= meta.keys():
        raise RagError(f"chunk {result.node.node_id} has no file/start/end metadata; run `rag ingest --rebuild`")
    return str(meta["file"]), int(meta["start"]), int(meta["end"])


# The llama-index defaults baseline ---------------------------------------------------------------


def vanilla_search(settings: Settings, k: int, progress: bool = True) -> Search:
    """Dense top-k over default SentenceSplitter chunks of the raw files, in memory."""
    from llama_index.core import VectorStoreIndex

    from rag.embedding import get_embedder

    nodes = vanilla_nodes(settings.seeds_dir)
    index = VectorStoreIndex(nodes, embed_model=get_embedder(settings), show_progress=progress)
    retriever = index.as_retriever(similarity_top_k=k)
    return retriever.retrieve


def vanilla_nodes(seeds_dir: Path) -> list[TextNode]:
    """The raw seed files split by llama-index's default SentenceSplitter, with file/start/end added."""
    from llama_index.core import SimpleDirectoryReader
    from llama_index.core.node_parser import SentenceSplitter

    # It warns per file that optional PDF/DOCX readers are missing; the seeds are plain text.
    logging.getLogger("llama_index.core.readers.file.base").setLevel(logging.ERROR)
    documents = SimpleDirectoryReader(str(seeds_dir)).load_data()
    nodes = SentenceSplitter().get_nodes_from_documents(documents)
    texts = {doc.metadata["file_name"]: doc.text for doc in documents}
    for node in nodes:
        add_span(node, texts[node.metadata["file_name"]])
    return nodes


def add_span(node: TextNode, text: str) -> None:
    """Give a vanilla node the project's file/start/end keys, hidden from the embedder and the LLM.

    SimpleDirectoryReader keeps a text file as-is, so the splitter's offsets index the raw file; if a
    future splitter changes that, the chunk is found by its opening characters instead.
    """
    content = node.get_content()
    start, end = node.start_char_idx, node.end_char_idx
    if start is None or end is None or text[start:end] != content:
        start = text.find(content[:200])
        if start < 0:
            raise RagError(f"cannot locate a vanilla chunk in {node.metadata['file_name']}")
        end = start + len(content)
    node.metadata.update(file=node.metadata["file_name"], start=start, end=end)
    for keys in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
        keys.extend(key for key in ("file", "start", "end") if key not in keys)
