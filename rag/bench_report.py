"""`rag bench sweep`: `rag bench scale` at several sizes, each in a fresh process, then scale.json,
scale.md and scale.png: every cost against corpus size, and how it grows (the log-log slope between the
smallest and largest size: 0 flat, 1 linear)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from rag.bench import KEYS
from rag.errors import RagError

# The targets of issue 12, at 100k chunks on 2 cores.
TARGETS = {"hybrid_p95_ms": 150.0, "startup_s": 5.0, "rss_mb": 2048.0}
COSTS = [k for k in KEYS if k != "chunks"]


def sweep(sizes: list[int], out: Path, options: dict[str, Any] | None = None, reuse: bool = False) -> list[Path]:
    rows = [run_size(n, options or {}, reuse) for n in sorted(sizes)]
    report = {"sizes": sorted(sizes), "results": rows, "growth": growth(rows), "targets": TARGETS}
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "scale.json", out / "scale.md", out / "scale.png"]
    paths[0].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(report), encoding="utf-8")
    chart(report, paths[2])
    return paths


def run_size(n: int, options: dict[str, Any], reuse: bool) -> dict[str, Any]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items() if v is not None]
    command = [sys.executable, "-c", "from rag.cli import main; main()", *flags]
    scale = ["bench", "scale", "--chunks", str(n), "--json", "--details", *(["--reuse"] if reuse else [])]
    done = subprocess.run([*command, *scale], capture_output=True, text=True)
    if done.returncode != 0:
        raise RagError(f"rag bench scale --chunks {n} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def growth(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Log-log slope of each cost from the smallest to the largest size (None if a value is 0)."""
    first, last = rows[0], rows[-1]
    if len(rows) < 2:
        return {}
    span = math.log(last["chunks"] / first["chunks"])
    return {
        k: round(math.log(last[k] / first[k]) / span, 2) if first.get(k) and last.get(k) else None
        for k in first
        if k != "chunks" and isinstance(first[k], int | float)
    }


def describe(slope: float | None) -> str:
    if slope is None:
        return "n/a"
    if abs(slope) < 0.15:
        return f"flat (slope {slope})"
    if slope < 0.8:
        return f"sublinear (slope {slope})"
    if slope <= 1.2:
        return f"linear (slope {slope})"
    return f"superlinear (slope {slope})"


def markdown(report: dict[str, Any]) -> str:
    rows = report["results"]
    keys = list(rows[0])
    lines = [
        "# Scale benchmark",
        "",
        "`rag bench sweep` (each size: `rag bench scale --chunks N --json --details` in a fresh process). "
        "Synthetic chunks recombine the seeds' sentences; vectors derive from real embeddings of those "
        "sentences (rag/bench.py). `ingest_chunks_per_s` combines the real embedder's rate on real chunks "
        "with the measured write rate (Chroma chunks + sentence vectors + BM25 snapshot). Start-up is a "
        "fresh process's time to its first answered hybrid query; latencies are warm, k=5; `rss_mb` is "
        "that query process's peak RSS, after it also read the hits' sentence vectors as an answer does "
        "(`sentences_*`: that read alone; `first_sentences_s`: the first one, after start-up). "
        "The machine (2 cores) is shared with other work: wall times include "
        "waiting for the CPU, so the `*_cpu_*` columns give the query process's own CPU time (all its "
        "threads, Chroma's included) for the same queries; `*_load_avg` is the 1-minute load average "
        "when the index was built and when it was measured (blank: not recorded).",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(str(r.get(k)) for k in keys) + " |" for r in rows),
        "",
        "## How each cost grows with size",
        "",
        *(f"- `{k}`: {describe(v)}" for k, v in report["growth"].items()),
        "",
        "## Targets at the largest size",
        "",
        *(
            f"- `{k}` ≤ {t}: {rows[-1].get(k)} ({'met' if rows[-1].get(k, math.inf) <= t else 'NOT met'})"
            for k, t in report["targets"].items()
        ),
        "",
        "![cost against size](scale.png)",
        "",
    ]
    return "\n".join(lines)


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["results"]
    sizes = [r["chunks"] for r in rows]
    panels = [
        ("warm, wall (ms)", [f"{m}_{p}_ms" for m in ("dense", "bm25", "hybrid", "sentences") for p in ("p50", "p95")]),
        ("warm retrieval, CPU (ms)", [f"{m}_cpu_{p}_ms" for m in ("dense", "bm25", "hybrid") for p in ("p50", "p95")]),
        ("start-up (s)", ["startup_s", "startup_cpu_s", "first_sentences_s"]),
        ("memory and disk (MB)", ["rss_mb", "index_mb"]),
        ("ingest (chunks/s)", ["ingest_chunks_per_s", "write_chunks_per_s", "embed_chunks_per_s"]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4))
    for ax, (title, keys) in zip(axes, panels):
        for key in keys:
            if all(key in r for r in rows):
                ax.plot(sizes, [r[key] for r in rows], marker="o", label=key)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks")
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
