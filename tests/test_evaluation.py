"""Retrieval evaluation: metrics on hand-made rankings, gold spans in the real seeds, the real command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from llama_index.core.schema import MetadataMode

from rag.config import Settings
from rag.errors import RagError
from rag.evaluation.cli import eval_group
from rag.evaluation.gold import answerable, evidence_spans, load_gold, match, overlaps, select_split
from rag.evaluation.metrics import first_relevant, hit_at, ndcg, percentile, recall, reciprocal_rank
from rag.evaluation.retrieval import check_configs, vanilla_nodes
from tests.conftest import REPO, SEEDS, run_cli

GOLD_PATH = REPO / "eval" / "gold.jsonl"

NOTHING: frozenset[int] = frozenset()
FIRST = frozenset({0})
SECOND = frozenset({1})


def test_first_relevant_at_rank_two_gives_mrr_one_half_and_hit_from_two_on():
    matches = [NOTHING, FIRST, NOTHING]
    assert first_relevant(matches) == 2
    assert reciprocal_rank(matches, 10) == 0.5
    assert hit_at(matches, 1) == 0.0
    assert hit_at(matches, 3) == 1.0


def test_single_source_at_rank_two_has_ndcg_one_over_log2_of_three():
    assert ndcg([NOTHING, FIRST], 1, 10) == pytest.approx(1 / math.log2(3))  # 0.631
    assert ndcg([FIRST, NOTHING], 1, 10) == 1.0


def test_nothing_relevant_scores_zero_everywhere():
    matches = [NOTHING] * 5
    assert first_relevant(matches) is None
    assert reciprocal_rank(matches, 10) == hit_at(matches, 10) == ndcg(matches, 1, 10) == recall(matches, 1, 10) == 0


def test_relevant_result_beyond_the_cutoff_does_not_count():
    matches = [NOTHING, NOTHING, FIRST]
    assert reciprocal_rank(matches, 2) == 0.0
    assert ndcg(matches, 1, 2) == 0.0
    assert recall(matches, 1, 2) == 0.0


def test_each_gold_source_is_credited_once_in_ndcg():
    # ranks 1 and 2 both hit source 0, rank 3 hits source 1: DCG = 1 + 0 + 1/2, ideal = 1 + 1/log2(3)
    matches = [FIRST, FIRST, SECOND]
    assert ndcg(matches, 2, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))  # 0.920
    assert ndcg([FIRST, SECOND], 2, 10) == 1.0
    assert ndcg([FIRST | SECOND, SECOND], 2, 10) == 1.0


def test_ideal_dcg_is_capped_at_k_sources():
    assert ndcg([FIRST], 12, 1) == 1.0


def test_recall_is_the_fraction_of_sources_found():
    assert recall([FIRST, FIRST, NOTHING], 2, 10) == 0.5
    assert recall([NOTHING, SECOND, FIRST], 2, 10) == 1.0
    assert recall([NOTHING, SECOND, FIRST], 2, 2) == 0.5


def test_spans_overlap_only_on_shared_characters_of_the_same_file():
    spans = [("a.txt", 10, 20)]
    assert not overlaps("a.txt", 0, 10, spans)  # end is exclusive
    assert overlaps("a.txt", 0, 11, spans)
    assert overlaps("a.txt", 19, 30, spans)
    assert not overlaps("a.txt", 20, 30, spans)
    assert not overlaps("b.txt", 12, 15, spans)


def test_match_tells_which_sources_each_result_hits():
    sources = [[("a.txt", 0, 5)], [("b.txt", 0, 5), ("b.txt", 50, 55)]]
    results = [("b.txt", 52, 60), ("c.txt", 0, 5), ("a.txt", 3, 4)]
    assert match(results, sources) == [SECOND, NOTHING, FIRST]


def test_percentile_interpolates_between_ranks():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0


def test_evidence_spans_point_at_the_evidence_in_the_real_seeds():
    items = [item for item in load_gold(GOLD_PATH) if answerable(item)]
    assert len(items) >= 60
    for item in items:
        spans = evidence_spans(item, SEEDS)
        assert len(spans) >= len(item["sources"])
        evidence = {source["evidence"] for source in item["sources"]}
        for file, start, end in spans:
            assert (SEEDS / file).read_text(encoding="utf-8")[start:end] in evidence


def test_evidence_occurring_twice_gives_two_spans(tmp_path: Path):
    (tmp_path / "s.txt").write_text("abc xyz abc", encoding="utf-8")
    item = {"sources": [{"file": "s.txt", "evidence": "abc"}]}
    assert evidence_spans(item, tmp_path) == [("s.txt", 0, 3), ("s.txt", 8, 11)]


def test_evidence_missing_from_its_file_is_an_error(tmp_path: Path):
    (tmp_path / "s.txt").write_text("abc", encoding="utf-8")
    with pytest.raises(RagError, match="not found verbatim"):
        evidence_spans({"sources": [{"file": "s.txt", "evidence": "xyz"}]}, tmp_path)


def test_vanilla_chunks_know_their_span_in_the_raw_files():
    nodes = vanilla_nodes(SEEDS)
    assert nodes
    for node in nodes:
        text = (SEEDS / node.metadata["file"]).read_text(encoding="utf-8")
        assert text[node.metadata["start"] : node.metadata["end"]] == node.get_content()
        embedded_keys = {line.split(":")[0] for line in node.get_metadata_str(MetadataMode.EMBED).splitlines()}
        assert not embedded_keys & {"file", "start", "end"}  # the defaults' embedding text is unchanged


def test_missing_gold_file_and_unknown_config_are_clear_errors(tmp_path: Path):
    with pytest.raises(RagError, match="not found"):
        load_gold(tmp_path / "nope.jsonl")
    with pytest.raises(RagError, match="choose from"):
        check_configs(["dense", "magic"])


def check_reports(out: Path, configs: list[str]) -> None:
    report = json.loads((out / "retrieval.json").read_text(encoding="utf-8"))
    assert list(report["configs"]) == configs
    for result in report["configs"].values():
        assert len(result["questions"]) == report["questions"] >= 60
        assert all(0.0 <= v <= 1.0 for name, v in result["metrics"].items() if not name.endswith("_ms"))
        assert result["metrics"]["hit@10"] > 0.8  # spans line up with the gold evidence
    assert "Missed at hit@5" in (out / "retrieval.md").read_text(encoding="utf-8")
    assert (out / "retrieval.png").read_bytes().startswith(b"\x89PNG")


def test_eval_retrieval_command_prints_a_table_and_writes_reports(index_settings: Settings, tmp_path: Path):
    args = ["retrieval", "--configs", "bm25,dense", "--out", str(tmp_path)]
    result = CliRunner().invoke(eval_group, args, obj={"index_dir": index_settings.index_dir})
    assert result.exit_code == 0, result.output
    assert "| bm25 |" in result.stdout and "| dense |" in result.stdout
    check_reports(tmp_path, ["bm25", "dense"])


def test_eval_retrieval_with_a_missing_gold_file_says_so(tmp_path: Path):
    result = CliRunner().invoke(eval_group, ["retrieval", "--gold", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1
    assert "error: gold file" in result.output


def test_rag_eval_retrieval_console_script(index_settings: Settings, tmp_path: Path):
    """Passes once rag/cli.py registers `eval_group` as `rag eval`."""
    index = ["--index-dir", str(index_settings.index_dir)]
    result = run_cli(*index, "eval", "retrieval", "--configs", "bm25,dense", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "| dense |" in result.stdout
    check_reports(tmp_path, ["bm25", "dense"])


def test_splits_select_items_and_unknown_split_is_an_error():
    items = [{"question": "a", "split": "dev"}, {"question": "b", "split": "test"}, {"question": "c"}]
    assert [i["question"] for i in select_split(items, "dev")] == ["a", "c"]  # no split field: dev
    assert [i["question"] for i in select_split(items, "test")] == ["b"]
    assert len(select_split(items, "all")) == 3
    with pytest.raises(RagError, match="unknown split"):
        select_split(items, "train")


def test_eval_package_has_no_import_cycle_with_the_cli():
    """rag.evaluation.cli must import without rag.cli (the old cli <-> cli_eval cycle)."""
    import subprocess
    import sys

    code = "import sys, rag.evaluation.cli; assert 'rag.cli' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


@pytest.mark.parametrize(
    ("model", "records"),
    [("all-MiniLM-L6-v2", "calibration-replay.json"), ("nomic-embed-text-v1.5", "calibration-replay-nomic.json")],
)
def test_calibrate_fits_on_dev_records_only_and_plots_reliability(tmp_path: Path, model: str, records: str) -> None:
    """The real records of each embedder; --no-write leaves rag/decision*.json as they are."""
    result = run_cli(
        "eval", "calibrate", "--records", str(REPO / "eval" / "reports" / records), "--out", str(tmp_path),
        "--no-write", env={"RAG_EMBED_MODEL": model},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "dev records:" in result.stdout and "out-of-fold dev AUC" in result.stdout
    assert (tmp_path / "calibration.png").stat().st_size > 1000
