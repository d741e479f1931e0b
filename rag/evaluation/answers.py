"""Answer quality on eval/gold.jsonl: are the key facts stated, is the gold evidence cited, does the bot
abstain when (and only when) it should, and how long does it take.

Each gold item is answered from scratch (with its own `history` only) by `rag.answer.stream_answer`, the generator that
`answer()` and `rag ask` consume, so the answer is the one a user gets. The stream also shows what the
final Answer hides: the passages the model saw and the text it wrote before the citation check. So
every wrong answer can be traced to the step that lost it (see `stage`).

Spans are compared as in rag.evaluation: [start, end) in the original seed file, any shared character.
Heavy imports (the answer pipeline, the model) happen inside functions so the CLI stays fast to start.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.errors import RagError
from rag.evaluation.gold import Span, collection_texts, load_gold, overlaps, select_split, source_spans
from rag.evaluation.metrics import abstention_scores, has_key_facts, missing_facts, percentile, ratio
from rag.evaluation.retrieval import result_span

if TYPE_CHECKING:
    from rag.answer import Answer
    from rag.evidence import Passage

Sources = list[list[Span]]  # per gold source of an item: every occurrence of its evidence
LLM_FAILED = "showing the best matching passages instead"  # the end of rag.answer's notice when the LLM fails
KINDS = ("llm", "extractive", "abstained")


# Citations ---------------------------------------------------------------------------------------


def citation_span(citation: dict[str, Any], chunk: bool = False) -> Span:
    """A citation (Citation.as_dict()) as a span: the cited passage, or with chunk=True its whole chunk."""
    start, end = ("chunk_start", "chunk_end") if chunk else ("start", "end")
    return str(citation["file"]), int(citation[start]), int(citation[end])


def cites_gold(citation: dict[str, Any], sources: Sources, chunk: bool = False) -> bool:
    return any(overlaps(*citation_span(citation, chunk), spans) for spans in sources)


def covered(sources: Sources, citations: list[dict[str, Any]], chunk: bool = False) -> list[bool]:
    """Per gold source: does some citation overlap one of its occurrences?"""
    return [any(overlaps(*citation_span(c, chunk), spans) for c in citations) for spans in sources]


# Summary ------------------------------------------------------------------------------------------


def kind(record: dict[str, Any]) -> str:
    return "abstained" if record["abstained"] else "extractive" if record["extractive"] else "llm"


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """All metrics over the per-item records (see `score`); rates are None where nothing was measured."""
    from rag.citations import MARKER  # the answer's own marker syntax; loads llama-index, so not at import

    answerable = [r for r in records if not r["should_abstain"]]
    metrics: dict[str, Any] = {
        "items": len(records),
        "answerable": len(answerable),
        "key_fact_accuracy": ratio(sum(r["correct"] for r in answerable), len(answerable)),
    }
    for name in KINDS:
        rows = [r for r in answerable if kind(r) == name]
        metrics[f"n_{name}"] = len(rows)
        if name != "abstained":  # an abstention on an answerable item is always wrong
            metrics[f"accuracy_{name}"] = ratio(sum(r["correct"] for r in rows), len(rows))
    for key, field in (("citation_precision", "citation_hits"), ("citation_precision_chunk", "chunk_hits")):
        hits = [h for r in answerable for h in r[field]]
        metrics[key] = ratio(sum(hits), len(hits))
    metrics["n_citations"] = sum(len(r["citation_hits"]) for r in answerable)
    found = [c for r in answerable for c in r["covered"]]
    metrics["citation_recall"], metrics["n_gold_sources"] = ratio(sum(found), len(found)), len(found)
    reached = [c for r in answerable for c in r.get("sources_in_passages", ())]
    metrics["evidence_recall"] = ratio(sum(reached), len(reached))
    metrics |= abstention_scores([r["should_abstain"] for r in records], [r["abstained"] for r in records])
    metrics |= latencies(records)
    metrics["extractive_share"] = ratio(sum(r["extractive"] for r in records), len(records))
    metrics["correct_share"] = ratio(sum(r["correct"] for r in records), len(records))
    # Leading questions assert what the documents contradict or do not state: a "Yes" is wrong even when the
    # rest of the answer corrects the premise.
    metrics["leading_confirmed"] = sum(
        # "[1] Yes." confirms as "Yes [1]." does
        r["type"] == "leading" and MARKER.sub("", r["answer"]).lstrip().lower().startswith("yes")
        for r in records
    )
    metrics["llm_failures"] = sum(r["llm_failed"] for r in records)
    return metrics


def latencies(records: list[dict[str, Any]]) -> dict[str, float | None]:
    def times(key: str) -> list[float]:
        return [r["timings"][key] for r in records if r["timings"].get(key) is not None]

    first, total = times("first_token_ms"), times("total_ms")  # first token only where the LLM wrote some
    return {
        "first_token_p50_ms": percentile(first, 50) if first else None,
        "first_token_p95_ms": percentile(first, 95) if first else None,
        "total_p50_ms": percentile(total, 50) if total else None,
        "total_p95_ms": percentile(total, 95) if total else None,
        "retrieve_p50_ms": percentile(times("retrieve_ms"), 50) if records else None,
    }


# Running the gold set ----------------------------------------------------------------------------


def evaluate_answers(
    settings: Settings,
    gold_path: Path,
    split: str = "all",
    limit: int | None = None,
    progress: bool = True,
    replay: Sequence[Path] = (),
) -> dict[str, Any]:
    """Answer the split's items (the first `limit`, default all); the report that rag.evaluation.report writes.

    Metrics come overall, per split (dev: tuned on; test: reported only) and per question type.
    With `replay` (an earlier answers report), the model is not run: each item gets the text the model
    wrote then, so changes to retrieval, checks and the decision are measured in seconds (timings are
    then meaningless; the report says so). Several reports may be given: a later one's text for an item
    replaces an earlier one's (a run of only the items whose passages changed since the first run). Items
    no replayed report has an answer for (added to the gold file since) are left out, and the report lists
    them."""
    from tqdm import tqdm

    if limit is not None and limit < 1:
        raise RagError(f"--limit must be at least 1 question, not {limit}")
    items = select_split(load_gold(gold_path), split)[:limit]
    if not items:
        raise RagError(f"{gold_path} has no questions to evaluate in split {split!r}")
    replays = list(replay)
    recorded = {k: v for path in replays for k, v in replayed_texts(path).items()} if replays else None
    skipped = [str(item.get("id")) for item in items if recorded is not None and str(item.get("id")) not in recorded]
    if skipped:  # items added to the gold file after that run: nothing to replay, so they are left out
        items = [item for item in items if str(item.get("id")) not in skipped]
        if not items:
            raise RagError(f"{', '.join(map(str, replays))} has no answers for the questions of split {split!r}")
    texts = collection_texts(settings)
    sources = [[source_spans(s, texts) for s in item.get("sources", [])] for item in items]
    from rag.ingest import ensure_index

    ensure_index(settings, progress)
    model = f"replay of {' + '.join(map(str, replays))}" if replays else check_llm(settings)
    run(items[0], settings, recorded)  # warm-up: model load and first-call overheads are not timed
    records = [
        score(item, item_sources, *run(item, settings, recorded))
        for item, item_sources in tqdm(list(zip(items, sources)), desc="answers", unit="q", disable=not progress)
    ]
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in records:
        groups.setdefault(r["split"], {}).setdefault(r["type"], []).append(r)
    return {
        "gold": str(gold_path),
        "split": split,
        "index": settings.chroma_url or str(settings.index_dir),
        "llm": settings.llm,
        "model": model,
        "retriever": settings.retriever,
        "k": settings.top_k,
        "thresholds": {
            "gate": settings.gate_threshold,
            "answer": settings.answer_threshold,
            "evidence_slot": settings.evidence_slot,
        },
        "replay_skipped": skipped,  # gold items the replayed report has no answer for
        "cpu_load": [round(x, 2) for x in os.getloadavg()],  # 1, 5, 15 min: busy CPUs slow the latencies
        "cpus": os.cpu_count(),
        "metrics": summarize(records),
        "by_split": {
            name: summarize([r for rows in types.values() for r in rows]) for name, types in sorted(groups.items())
        },
        "by_type": {
            name: {kind: summarize(rows) for kind, rows in sorted(types.items())}
            for name, types in sorted(groups.items())
        },
        "records": records,
    }


def check_llm(settings: Settings) -> str:
    """The model's name, after making sure it loads: a bad --model would otherwise make every answer
    extractive without a word (rag.answer falls back to the passages when the LLM fails)."""
    from rag.llm import DEFAULT_MODEL, LLMError, get_llm

    try:
        get_llm(settings)
    except LLMError as exc:
        raise RagError(str(exc)) from exc
    return settings.llm_model or (DEFAULT_MODEL if settings.llm == "local" else "default")


def replayed_texts(path: Path) -> dict[str, str]:
    """Item id -> what the model wrote, from an earlier answers report."""
    import json

    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))["records"]
        return {str(r["id"]): r["llm_text"] for r in records}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RagError(f"cannot replay {path}: {exc}") from exc


def run(
    item: dict[str, Any], settings: Settings, recorded: dict[str, str] | None = None
) -> tuple[Answer, list[Passage], str]:
    """The final answer, the passages the model was shown and the model's raw text."""
    from rag.answer import Done, Retrieved, Token, stream_answer

    passages: list[Passage] = []
    text = ""
    question = item["question"]
    llm = None
    if recorded is not None:
        if str(item.get("id")) not in recorded:
            raise RagError(f"the replayed report has no answer for item {item.get('id')}")
        # Not a stand-in for the model in a test: the model's own earlier output, replayed on purpose.
        llm = ReplayLLM(text=recorded[str(item.get("id"))])
    for event in stream_answer(question, item.get("history") or [], settings, llm=llm):
        if isinstance(event, Retrieved):
            passages = event.passages
        elif isinstance(event, Token):
            text += event.text
        elif isinstance(event, Done):
            return event.answer, passages, text
    raise RagError(f"the answer stream ended without an answer for {question!r}")


def score(item: dict[str, Any], sources: Sources, answer: Answer, passages: list[Passage], raw: str) -> dict[str, Any]:
    """One JSON-ready record: what was asked and expected, what came back, and how it scores."""
    key_facts = item.get("key_facts") or []
    citations = [c.as_dict() for c in answer.citations]
    should = bool(item.get("should_abstain"))
    missing = missing_facts(key_facts, answer.text)
    ranks = [rank for rank, hit in enumerate(answer.hits, 1) if any(overlaps(*result_span(hit), s) for s in sources)]
    seen = [(p.node.metadata["file"], p.start, p.end) for p in passages]
    # Per gold source: did a passage shown to the model hold its evidence? A question across two documents whose
    # second source never reached the model was lost there, not by the model.
    reached = [any(overlaps(*span, spans) for span in seen) for spans in sources]
    record = {
        "id": item.get("id"),
        "split": item.get("split", "dev"),
        "type": item.get("type", "unanswerable" if should else "factual"),
        "question": item["question"],
        "history": item.get("history") or [],
        "expected": item.get("answer"),
        "key_facts": key_facts,
        "should_abstain": should,
        "answer": answer.text,
        "llm_text": raw,
        "abstained": answer.abstained,
        "extractive": answer.extractive,
        "notice": answer.notice,
        "correct": answer.abstained if should else not answer.abstained and not missing,
        "missing_facts": missing,
        "llm_correct": None if should else bool(raw) and has_key_facts(key_facts, raw),
        "llm_failed": LLM_FAILED in (answer.notice or ""),
        "citations": citations,
        "citation_hits": [cites_gold(c, sources) for c in citations],
        "chunk_hits": [cites_gold(c, sources, chunk=True) for c in citations],
        "covered": covered(sources, citations),
        "sources": sources,
        "gold_rank": ranks[0] if ranks else None,
        "passages": seen,
        "passage_scores": [round(p.score, 3) for p in passages],  # what rag.answer's relevance thresholds see
        "gold_in_passages": any(reached),
        "sources_retrieved": [any(overlaps(*result_span(hit), spans) for hit in answer.hits) for spans in sources],
        "sources_in_passages": reached,
        "timings": dict(answer.timings),
        "confidence": round(answer.confidence, 4),
        "evidence_confidence": round(answer.evidence_confidence, 4),
        "features": {name: round(v, 4) for name, v in answer.features.items()},
    }
    record["stage"] = None if record["correct"] or should else stage(record)
    return record


def stage(record: dict[str, Any]) -> str:
    """Where a wrong answer to an answerable question was lost, in the order a question travels."""
    if record["gold_rank"] is None:
        return "retrieval"  # no retrieved chunk holds the gold evidence
    if not record["gold_in_passages"]:
        return "passages"  # retrieved, but not among the sentences shown to the model
    if record["llm_failed"]:
        return "llm failure"
    if record["llm_correct"]:
        return "verification"  # the model stated the facts; the check replaced or abstained its answer
    if not all(record.get("sources_in_passages", ())):  # one of its sources (a second document) never reached it
        return "passages" if all(record.get("sources_retrieved", ())) else "retrieval"
    if record["abstained"]:
        return "model abstained" if record["llm_text"] else "relevance gate"
    return "model"  # the model saw the evidence but did not state the key facts (wording or a wrong pick)


def _replay_class() -> type:
    from llama_index.core.llms import ChatMessage, ChatResponse, CustomLLM, LLMMetadata, MessageRole

    class Replay(CustomLLM):
        """Streams a recorded answer in one piece."""

        text: str

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="replay")

        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            raise NotImplementedError

        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            raise NotImplementedError

        def stream_chat(self, messages: Any, **kwargs: Any) -> Any:
            message = ChatMessage(role=MessageRole.ASSISTANT, content=self.text)
            yield ChatResponse(message=message, delta=self.text)

    return Replay


def ReplayLLM(text: str) -> Any:  # noqa: N802  (a class made on first use: llama-index loads lazily)
    return _replay_class()(text=text)
