"""Write evaluation reports as a table, Markdown, JSON and a chart: retrieval (rag.evaluation.retrieval)
and answers (rag.evaluation.answers), the latter per split and question type, with every wrong answer."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluation.answers import KINDS, kind
from rag.evaluation.retrieval import MISS_AT, cutoffs

CHART_METRICS = ("hit@1", "hit@5", "mrr@{k}", "ndcg@{k}")


def metric_names(k: int) -> list[str]:
    return [f"hit@{c}" for c in cutoffs(k)] + [f"mrr@{k}", f"ndcg@{k}", f"recall@{k}", "p50_ms", "p95_ms"]


def table(report: dict[str, Any]) -> str:
    """A Markdown table: one row per config, one column per metric."""
    names = metric_names(report["k"])
    lines = ["| config | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for config, result in report["configs"].items():
        cells = [f"{result['metrics'][n]:.1f}" if n.endswith("_ms") else f"{result['metrics'][n]:.3f}" for n in names]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_reports(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """retrieval.md, retrieval.json and retrieval.png in out_dir; returns their paths."""
    return write_all(report, out_dir, "retrieval", markdown, chart)


def write_all(
    report: dict[str, Any],
    out_dir: Path,
    stem: str,
    render: Callable[[dict[str, Any], str], str],
    draw: Callable[[dict[str, Any], Path], None],
) -> list[Path]:
    """STEM.md (render, given the chart's file name to link), STEM.json and STEM.png (draw) in out_dir; returns
    their paths."""
    paths = report_paths(out_dir, stem)
    paths[0].write_text(render(report, paths[2].name), encoding="utf-8")
    paths[1].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    draw(report, paths[2])
    return paths


def report_paths(out_dir: Path, stem: str) -> list[Path]:
    """STEM.md, STEM.json and STEM.png in out_dir, which is created if needed."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RagError(f"cannot create the report folder {out_dir}: {exc}") from exc
    return [out_dir / f"{stem}.{ext}" for ext in ("md", "json", "png")]


def markdown(report: dict[str, Any], chart: str) -> str:
    k = report["k"]
    parts = [
        "# Retrieval evaluation",
        f"{datetime.now():%Y-%m-%d %H:%M}; {report['questions']} answerable questions from `{report['gold']}` "
        f"(skipped {len(report['skipped'])} without sources or marked should_abstain); index `{report['index']}`, "
        f"embedder `{report['embed_model']}`, k={k}.",
        table(report),
        f"![hit@1, hit@5, MRR, nDCG per config]({chart})",
        "## Method",
        "\n".join(
            [
                "- A result is relevant when its chunk's span [start, end) in the original seed file overlaps the "
                "span of a gold evidence (an exact substring of that file; any occurrence counts).",
                f"- hit@n: a relevant result in the top n. MRR@{k}: 1/rank of the first relevant result. "
                f"nDCG@{k}: binary gains, each gold source credited once; ideal = min(#sources, {k}) ones. "
                f"recall@{k}: fraction of an item's gold sources hit in the top {k}. All averaged over questions.",
                "- Latency: milliseconds per question after one untimed warm-up query per config, on this machine.",
                "- `vanilla`: llama-index defaults (SimpleDirectoryReader on the raw files, default SentenceSplitter, "
                "in-memory VectorStoreIndex), the same embedder, dense top-k. MiniLM reads at most 256 word pieces, "
                "so only the opening of each default 1024-token chunk is embedded.",
                "- The other configs are `rag retrieve --retriever CONFIG` over the project's index.",
            ]
        ),
        f"## Missed at hit@{MISS_AT}",
    ]
    for config, result in report["configs"].items():
        parts.append(misses(config, result["questions"], k))
    return "\n\n".join(parts) + "\n"


def misses(config: str, rows: list[dict[str, Any]], k: int) -> str:
    missed = [row for row in rows if row["rank"] is None or row["rank"] > MISS_AT]
    lines = [f"### {config}: {len(missed)} of {len(rows)}"]
    if missed:
        lines += ["", "| id | question | gold file | first relevant rank | top-1 instead |", "|---|---|---|---|---|"]
    for row in missed:
        top = row["top1"] or {}
        instead = f"{top.get('file')}: {top.get('title') or top.get('text', '')}" if top else "(no results)"
        cells = [row["id"], row["question"], ", ".join(row["gold_files"]), row["rank"] or f"not in top {k}", instead]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on the Agg canvas (no display needed)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise RagError('matplotlib is needed for the chart: pip install "matplotlib>=3.8,<4"') from exc
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def chart(report: dict[str, Any], path: Path) -> None:
    """Grouped bars: hit@1, hit@5, MRR and nDCG for each config."""

    k = report["k"]
    metrics = [m.format(k=k) for m in CHART_METRICS if m.format(k=k) in metric_names(k)]
    configs = list(report["configs"])
    width = 0.8 / len(metrics)
    figure = new_figure(max(6, 1.6 * len(configs)), 4.2)
    axes = figure.add_subplot()
    for i, metric in enumerate(metrics):
        values = [report["configs"][c]["metrics"][metric] for c in configs]
        positions = [x + (i - (len(metrics) - 1) / 2) * width for x in range(len(configs))]
        bars = axes.bar(positions, values, width, label=metric)
        axes.bar_label(bars, fmt="%.2f", fontsize=7)
    axes.set_xticks(range(len(configs)), configs)
    axes.set_ylim(0, 1.08)
    axes.set_ylabel("score")
    axes.set_title(f"Retrieval on {report['questions']} gold questions (k={k})")
    figure.legend(loc="outside lower center", ncols=len(metrics), fontsize=8)
    figure.savefig(path, dpi=120)


# Answers -----------------------------------------------------------------------------------------

ANSWER_ROWS = (  # label, metric, the count it is measured over
    ("key-fact accuracy (answerable)", "key_fact_accuracy", "answerable"),
    ("  of LLM answers", "accuracy_llm", "n_llm"),
    ("  of extractive answers", "accuracy_extractive", "n_extractive"),
    ("  abstained (counted wrong)", "n_abstained", None),
    ("citation precision (passage span)", "citation_precision", "n_citations"),
    ("citation precision (chunk)", "citation_precision_chunk", "n_citations"),
    ("citation recall (passage span)", "citation_recall", "n_gold_sources"),
    ("gold sources in the model's passages", "evidence_recall", "n_gold_sources"),
    ("abstention precision", "abstention_precision", "items"),
    ("abstention recall", "abstention_recall", "items"),
    ("abstention F1", "abstention_f1", "items"),
    ("first token p50 ms", "first_token_p50_ms", None),
    ("first token p95 ms", "first_token_p95_ms", None),
    ("total p50 ms", "total_p50_ms", "items"),
    ("total p95 ms", "total_p95_ms", "items"),
    ("retrieve p50 ms", "retrieve_p50_ms", "items"),
    ("extractive share (all items)", "extractive_share", "items"),
    ("LLM failures", "llm_failures", "items"),
)
QUALITY = {
    "key_fact_accuracy": "key facts",
    "accuracy_llm": "…LLM",
    "accuracy_extractive": "…extractive",
    "citation_precision": "cite prec.",
    "citation_precision_chunk": "cite prec.\n(chunk)",
    "citation_recall": "cite recall",
    "abstention_precision": "abstain P",
    "abstention_recall": "abstain R",
    "abstention_f1": "abstain F1",
}


def value(metric: str, v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, int) or metric.endswith("_ms"):
        return f"{v:.0f}"
    return f"{v:.3f}"


def answer_table(report: dict[str, Any]) -> str:
    """A Markdown table: metric, value and the number of items (or citations) it is measured over."""
    m = report["metrics"]
    lines = ["| metric | value | over |", "|---|---|---|"]
    for label, key, over in ANSWER_ROWS:
        lines.append(f"| {label} | {value(key, m[key])} | {m[over] if over else ''} |")
    return "\n".join(lines)


def write_answer_reports(report: dict[str, Any], out_dir: Path, stem: str = "answers") -> list[Path]:
    """STEM.md, STEM.json, STEM.png and STEM-wrong.jsonl (one wrong answer per line) in out_dir."""
    paths = write_all(report, out_dir, stem, answer_markdown, answer_chart)
    wrong = out_dir / f"{stem}-wrong.jsonl"
    rows = [r for r in report["records"] if not r["correct"]]
    fields = ("id", "split", "type", "question", "history", "expected", "answer", "abstained", "extractive", "stage")
    wrong.write_text("".join(json.dumps({f: r.get(f) for f in fields}, ensure_ascii=False) + "\n" for r in rows))
    return [*paths, wrong, write_reliability(report, out_dir / f"{stem}-reliability.png")]


def write_reliability(report: dict[str, Any], path: Path) -> Path:
    """The final decision's confidence against what the gold says, one curve per split."""
    from rag.evaluation.calibration import draw_reliability, reliability

    curves = {}
    for split in sorted({r["split"] for r in report["records"]}):
        rows = [r for r in report["records"] if r["split"] == split]
        curves[split] = reliability([r["confidence"] for r in rows], [0 if r["should_abstain"] else 1 for r in rows])
    draw_reliability(curves, path)
    return path


TYPE_COLUMNS = (  # header, metric
    ("items", "items"),
    ("key facts", "key_fact_accuracy"),
    ("cite prec.", "citation_precision"),
    ("sources reached", "evidence_recall"),
    ("abstain P", "abstention_precision"),
    ("abstain R", "abstention_recall"),
    ("abstain F1", "abstention_f1"),
    ("correct", "correct_share"),
    ("first token p50 ms", "first_token_p50_ms"),
    ("total p50 ms", "total_p50_ms"),
)


def split_tables(report: dict[str, Any]) -> str:
    """Per split: one row per question type and one for all, with the headline metrics."""
    parts = []
    for split, types in report.get("by_type", {}).items():
        lines = [f"### {split}", "", "| type | " + " | ".join(h for h, _ in TYPE_COLUMNS) + " |"]
        lines.append("|---" * (len(TYPE_COLUMNS) + 1) + "|")
        rows = [*types.items(), ("**all**", report["by_split"][split])]
        for name, m in rows:
            lines.append(f"| {name} | " + " | ".join(value(key, m.get(key)) for _, key in TYPE_COLUMNS) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


SHOWN = dict(zip(KINDS, ("model's answer", "extract", "abstained"), strict=True))


def shown_table(records: list[dict[str, Any]]) -> str:
    """Per split and expected outcome, what the user was shown (the model's checked answer, an extract of the
    passages, or an abstention), as right / items: an unanswerable question shown an extract is a miss the
    abstention metrics count but do not locate."""
    lines = ["| split | expected | " + " | ".join(SHOWN.values()) + " |", "|---" * (len(SHOWN) + 2) + "|"]
    for split in dict.fromkeys(r["split"] for r in records):
        for expected, abstain in (("answer", False), ("abstain", True)):
            rows = [r for r in records if r["split"] == split and r["should_abstain"] == abstain]
            cells = []
            for shown in SHOWN:
                got = [r for r in rows if kind(r) == shown]
                cells.append(f"{sum(r['correct'] for r in got)}/{len(got)}" if got else "–")
            lines.append(f"| {split} | {expected} ({len(rows)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def answer_markdown(report: dict[str, Any], chart: str) -> str:
    m, records = report["metrics"], report["records"]
    wrong = [r for r in records if not r["should_abstain"] and not r["correct"]]
    stages = Counter(r["stage"] for r in wrong)
    false_abstentions = [r for r in records if r["abstained"] and not r["should_abstain"]]
    missed = [r for r in records if r["should_abstain"] and not r["abstained"]]
    parts = [
        "# Answer evaluation",
        f"{datetime.now():%Y-%m-%d %H:%M}; {m['items']} questions from `{report['gold']}` ({m['answerable']} "
        f"answerable, {m['items'] - m['answerable']} should abstain). LLM `{report['llm']}`, model "
        f"`{report['model']}`, retriever `{report['retriever']}`, k={report['k']}, index `{report['index']}`.",
        *(
            [f"Left out: {len(report['replay_skipped'])} questions the replayed report has no answer for."]
            if report.get("replay_skipped")
            else []
        ),
        answer_table(report),
        "## By split and question type",
        "`correct`: the item's expected outcome (key facts stated, or an abstention where the documents do not "
        "answer). Tune on dev only; test is for reporting.",
        split_tables(report),
        "What was shown, right / items:",
        shown_table(records),
        f"Abstention confusion: {m['abstention_tp']} right abstentions, {m['abstention_fp']} false, "
        f"{m['abstention_fn']} missed, {m['abstention_tn']} right answers attempted.",
        f"![quality metrics and latency]({chart})",  # a named report's own chart, not the default run's
        "## Method",
        "\n".join(
            [
                "- Each question is answered from scratch (no history) by `rag.answer`, as `rag ask` does, "
                "after one untimed warm-up answer.",
                "- Correct: every key fact has an alternative in the answer (case-insensitive; curly quotes, "
                "whitespace, thousands separators and [n] markers normalised; a number must not be part of a "
                "longer one). Abstaining on an answerable question is wrong.",
                "- Citation precision: share of the citations of answerable questions whose passage span "
                "(or whole chunk) overlaps a gold evidence span of that question. Recall: share of gold sources "
                "overlapped by some citation of their question.",
                "- Abstention: should_abstain is the positive class, the answer's abstained flag the prediction.",
                "- Latency on this machine: first token only where the model wrote something. Load average at "
                f"the end (1/5/15 min): {report.get('cpu_load', '?')} on {report.get('cpus', '?')} CPUs.",
                "- Gold sources in the model's passages: share of the gold sources of answerable questions whose "
                "evidence is among the sentences shown to the model (a question across two documents has two).",
                "- Lost at: `retrieval` (no retrieved chunk holds the evidence), `passages` (not among the "
                "sentences shown to the model); either also when only one of its gold sources is missing and the "
                "model's text lacks the key facts, `verification` (the model's own text had the key facts but the "
                "final answer does not), `relevance gate` (abstained before asking the model), `model abstained`, "
                "`llm failure`, or `model` (it saw the evidence but did not state the key facts: a wrong pick, its "
                "wording, or a strict key fact).",
            ]
        ),
        f"## Wrong answers: {len(wrong)} of {m['answerable']}",
        "Lost at: " + (", ".join(f"{stage} {n}" for stage, n in stages.most_common()) or "nothing"),
        *(wrong_answer(r) for r in wrong),
        f"## False abstentions: {len(false_abstentions)}",
        "\n".join(f"- {r['id']}: {r['question']} ({r['stage']})" for r in false_abstentions) or "None.",
        f"## Missed abstentions: {len(missed)}",
        "\n".join(f"- {r['id']}: {r['question']}\n  - got: {one_line(r['answer'])}" for r in missed) or "None.",
    ]
    return "\n\n".join(parts) + "\n"


def wrong_answer(r: dict[str, Any]) -> str:
    flags = ", ".join(f for f in ("abstained", "extractive") if r[f]) or "LLM"
    facts = "; ".join(" / ".join(alternatives) for alternatives in r["key_facts"])
    missing = "; ".join(" / ".join(alternatives) for alternatives in r["missing_facts"])
    cited = "; ".join(
        f"`{c['file']}` [{c['start']}:{c['end']}] {'gold' if hit else 'not gold'}"
        for c, hit in zip(r["citations"], r["citation_hits"])
    )
    gold = "; ".join(f"`{f}` [{s}:{e}]" for spans in r["sources"] for f, s, e in spans)
    found = f"retrieved at rank {r['gold_rank']}" if r["gold_rank"] else "not retrieved"
    lines = [
        f"### {r['id']}: {r['question']}",
        f"- expected: {one_line(r['expected'] or '')}",
        f"- key facts: {facts} (missing: {missing or 'none'})",
        f"- got ({flags}): {one_line(r['answer'])}",
    ]
    if r["llm_text"] and one_line(r["llm_text"]) != one_line(r["answer"]):
        lines.append(f"- the model wrote: {one_line(r['llm_text'])}")
    if r["notice"]:
        lines.append(f"- notice: {r['notice']}")
    lines += [
        f"- cited: {cited or 'nothing'}",
        f"- gold evidence: {gold or 'none'}; {found}; in the passages: {'yes' if r['gold_in_passages'] else 'no'}",
        f"- lost at: **{r['stage']}**",
    ]
    return "\n".join(lines)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def answer_chart(report: dict[str, Any], path: Path) -> None:
    """Bars for the quality metrics; boxes for the latencies in seconds."""
    m, records = report["metrics"], report["records"]
    figure = new_figure(11, 4.2)
    bars_axes, box_axes = figure.subplots(1, 2, width_ratios=[2.2, 1])
    values = [m[key] or 0.0 for key in QUALITY]
    bars = bars_axes.bar(range(len(QUALITY)), values, color=["#4c72b0"] * 3 + ["#55a868"] * 3 + ["#c44e52"] * 3)
    bars_axes.bar_label(bars, labels=[value(k, m[k]) for k in QUALITY], fontsize=7)
    bars_axes.set_xticks(range(len(QUALITY)), list(QUALITY.values()), fontsize=7)
    bars_axes.set_ylim(0, 1.08)
    bars_axes.set_title(f"Answers to {m['items']} gold questions ({report['model']}, {report['retriever']})")
    series = {
        name: [r["timings"][key] / 1000 for r in records if r["timings"].get(key) is not None]
        for name, key in (("first token", "first_token_ms"), ("total", "total_ms"), ("retrieve", "retrieve_ms"))
    }
    series = {name: times for name, times in series.items() if times}
    box_axes.boxplot(list(series.values()), tick_labels=list(series))
    box_axes.set_ylabel("seconds")
    box_axes.set_title("Latency per question")
    figure.savefig(path, dpi=120)
