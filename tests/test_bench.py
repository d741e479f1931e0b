"""The scale benchmark runs end to end at a tiny size, so its code cannot rot (speed targets live in
eval/reports/scale.md, not here)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rag.bench import KEYS
from tests.conftest import SEEDS, run_cli


def test_bench_scale_prints_one_json_object_with_the_contract_keys_and_sane_values() -> None:
    done = run_cli(
        "bench",
        "scale",
        "--chunks",
        "200",
        "--json",
        env={"RAG_SEEDS_DIR": str(SEEDS), "RAG_BENCH_EMBED_SAMPLE": "4"},
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert tuple(result) == KEYS
    assert result["chunks"] == 200
    assert all(isinstance(result[k], int | float) and result[k] > 0 for k in KEYS)
    for mode in ("dense", "bm25", "hybrid"):
        assert result[f"{mode}_p95_ms"] >= result[f"{mode}_p50_ms"]
    assert 50 < result["rss_mb"] < 4096  # a whole Python process with the model, and nothing absurd
    assert result["index_mb"] > 0.5  # 200 chunks and ~1,000 sentence vectors (384 or 768 floats) were written


def test_bench_reports_its_parts_and_leaves_no_temporary_index_behind() -> None:
    from rag.bench import scale
    from rag.config import get_settings

    before = set(Path(tempfile.gettempdir()).glob("rag-bench-30-*"))
    result = scale(get_settings(seeds_dir=SEEDS, bench_embed_sample=2), 30, details=True)
    assert result["write_chunks_per_s"] > 0 and result["embed_chunks_per_s"] > 0
    # combined rate: slower than either half alone
    assert result["ingest_chunks_per_s"] <= min(result["write_chunks_per_s"], result["embed_chunks_per_s"])
    assert set(Path(tempfile.gettempdir()).glob("rag-bench-30-*")) == before
