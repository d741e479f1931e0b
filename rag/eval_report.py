"""Write a retrieval evaluation report (from rag.evaluation) as a table, Markdown, JSON and a bar chart."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.evaluation import MISS_AT, cutoffs

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
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RagError(f"cannot create the report folder {out_dir}: {exc}") from exc
    paths = [out_dir / "retrieval.md", out_dir / "retrieval.json", out_dir / "retrieval.png"]
    paths[0].write_text(markdown(report), encoding="utf-8")
    paths[1].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    chart(report, paths[2])
    return paths


def markdown(report: dict[str, Any]) -> str:
    k = report["k"]
    parts = [
        "# Retrieval evaluation",
        f"{datetime.now():%Y-%m-%d %H:%M}; {report['questions']} answerable questions from `{report['gold']}` "
        f"(skipped {len(report['skipped'])} without sources or marked should_abstain); index `{report['index']}`, "
        f"embedder `{report['embed_model']}`, k={k}.",
        table(report),
        "![hit@1, hit@5, MRR, nDCG per config](retrieval.png)",
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


def chart(report: dict[str, Any], path: Path) -> None:
    """Grouped bars: hit@1, hit@5, MRR and nDCG for each config."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise RagError('matplotlib is needed for the chart: pip install "matplotlib>=3.8,<4"') from exc

    k = report["k"]
    metrics = [m.format(k=k) for m in CHART_METRICS if m.format(k=k) in metric_names(k)]
    configs = list(report["configs"])
    width = 0.8 / len(metrics)
    figure = Figure(figsize=(max(6, 1.6 * len(configs)), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
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
