"""Answer evaluation: scoring on hand-made answers with known spans, and the real command on the real index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from llama_index.core.schema import NodeWithScore, TextNode

from rag.answer import Answer, Citation
from rag.config import Settings
from rag.documents import Segment
from rag.evaluation.answers import score, stage, summarize
from rag.evaluation.cli import eval_group
from rag.evaluation.metrics import abstention_scores, has_key_facts, missing_facts
from rag.evaluation.report import shown_table
from rag.evidence import Passage

FAILED = "Model x failed: RuntimeError: boom; showing the best matching passages instead"


def test_every_key_fact_needs_one_of_its_alternatives():
    facts = [["six", "6"], ["five", "5"]]
    assert has_key_facts(facts, "Six rockets were fired and 5 were shot down.")
    assert missing_facts(facts, "Six rockets were fired.") == [["five", "5"]]
    assert has_key_facts([], "anything")


def test_key_facts_ignore_case_curly_quotes_and_whitespace():
    assert has_key_facts([["Kyiv's mayor"]], "KYIV’S\n  MAYOR said so")
    assert has_key_facts([["“safe” corridor"]], 'a "safe"   corridor')


def test_numbers_match_with_or_without_thousands_separators():
    assert has_key_facts([["40,000"]], "about 40000 troops")
    assert has_key_facts([["40000"]], "about 40,000 troops")
    assert has_key_facts([["4,000,000"]], "4000000 people")
    assert not has_key_facts([["40,000"]], "about 400,000 troops")


def test_a_number_inside_a_longer_number_or_a_citation_marker_does_not_count():
    assert not has_key_facts([["6"]], "in 2016 and 16 times, 6.9 million")
    assert not has_key_facts([["1"]], "He said so [1].")
    assert has_key_facts([["6.9"]], "6.9 million people [2].")
    assert has_key_facts([["14"]], "in 14 regions.")


def passage(file: str, start: int, end: int, chunk: tuple[int, int] = (0, 1000)) -> Passage:
    node = TextNode(text="chunk text", metadata={"file": file, "start": chunk[0], "end": chunk[1]})
    return Passage(node, [Segment("x" * (end - start), start)], 1.0)


def reply(text: str, cited: list[Passage], timings: dict[str, float], **fields) -> Answer:
    hits = [NodeWithScore(node=p.node, score=1.0) for p in cited]
    citations = [Citation(n, p) for n, p in enumerate(cited, 1)]
    return Answer("q", text=text, citations=citations, hits=hits, timings=timings, **fields)


def item(should_abstain: bool = False, key_facts: list[list[str]] | None = None) -> dict:
    return {"id": "x", "question": "q", "answer": "a", "key_facts": key_facts or [], "should_abstain": should_abstain}


@pytest.fixture
def records() -> list[dict]:
    """Three answerable items (one right LLM answer, one wrong extractive, one abstention) and two unanswerable."""
    right = passage("a.txt", 120, 160, chunk=(0, 300))
    near, other = passage("a.txt", 400, 450, chunk=(300, 600)), passage("b.txt", 10, 30, chunk=(0, 200))
    return [
        score(
            item(key_facts=[["six", "6"], ["five", "5"]]),
            [[("a.txt", 100, 150)]],
            reply(
                "Six rockets, 5 shot down [1].", [right], {"retrieve_ms": 100, "first_token_ms": 1000, "total_ms": 3000}
            ),
            [right],
            "Six rockets, 5 shot down [1].",
        ),
        score(
            item(key_facts=[["Kyrylenko"]]),
            [[("a.txt", 500, 550)], [("b.txt", 0, 40)]],
            reply(
                "xx [1] xx [2]",
                [near, other],
                {"retrieve_ms": 200, "first_token_ms": 2000, "total_ms": 5000},
                extractive=True,
                notice=FAILED,
            ),
            [near, other],
            "Pavlo Kyrylenko said",
        ),
        score(
            item(key_facts=[["x"]]),
            [[("c.txt", 0, 10)]],
            reply("no", [], {"retrieve_ms": 150, "total_ms": 150}, abstained=True),
            [],
            "",
        ),
        score(item(True), [], reply("no", [], {"retrieve_ms": 120, "total_ms": 120}, abstained=True), [], ""),
        score(
            item(True),
            [],
            reply("yes [1]", [right], {"retrieve_ms": 100, "first_token_ms": 3000, "total_ms": 4000}),
            [right],
            "yes",
        ),
    ]


def test_accuracy_counts_abstentions_on_answerable_items_as_wrong(records: list[dict]):
    m = summarize(records)
    assert (m["answerable"], m["n_llm"], m["n_extractive"], m["n_abstained"]) == (3, 1, 1, 1)
    assert m["key_fact_accuracy"] == pytest.approx(1 / 3)
    assert (m["accuracy_llm"], m["accuracy_extractive"]) == (1.0, 0.0)


def test_citation_precision_and_recall_on_known_spans(records: list[dict]):
    m = summarize(records)
    # Answerable citations: a.txt[120:160] hits gold [100:150]; a.txt[400:450] misses [500:550] but its chunk
    # [300:600] hits; b.txt[10:30] hits. The unanswerable item's citation is not counted.
    assert m["n_citations"] == 3
    assert m["citation_precision"] == pytest.approx(2 / 3)
    assert m["citation_precision_chunk"] == 1.0
    # Gold sources: a[100:150] covered, a[500:550] not, b[0:40] covered, c[0:10] not.
    assert (m["citation_recall"], m["n_gold_sources"]) == (0.5, 4)


def test_each_gold_source_is_followed_to_the_passages_the_model_saw(records: list[dict]):
    # The second item's passages a[400:450] and b[10:30] reach b[0:40] but not a[500:550], whose chunk [300:600]
    # was retrieved; the third item saw no passage.
    assert [r["sources_in_passages"] for r in records[:3]] == [[True], [False, True], [False]]
    assert [r["sources_retrieved"] for r in records[:3]] == [[True], [True, True], [False]]
    assert summarize(records)["evidence_recall"] == 0.5


def test_latency_extractive_share_and_llm_failures(records: list[dict]):
    m = summarize(records)
    assert m["first_token_p50_ms"] == 2000  # only the three answers where the model wrote tokens
    assert m["total_p50_ms"] == 3000
    assert m["retrieve_p50_ms"] == 120
    assert m["extractive_share"] == 0.2
    assert m["llm_failures"] == 1
    assert (m["abstention_tp"], m["abstention_fp"], m["abstention_fn"], m["abstention_tn"]) == (1, 1, 1, 2)


def test_abstention_precision_recall_f1_on_a_hand_counted_confusion():
    # tp=1 (first), fn=2 (second, third), fp=1 (fourth), tn=1 (fifth)
    scores = abstention_scores([True, True, True, False, False], [True, False, False, True, False])
    assert scores["abstention_precision"] == 0.5
    assert scores["abstention_recall"] == pytest.approx(1 / 3)
    assert scores["abstention_f1"] == pytest.approx(0.4)  # 2 * 0.5 * 1/3 / (0.5 + 1/3)
    assert abstention_scores([False, False], [False, False])["abstention_precision"] is None  # nothing to measure


def test_each_wrong_answer_says_where_it_was_lost(records: list[dict]):
    assert [r["stage"] for r in records] == [None, "llm failure", "retrieval", None, None]
    base = {"gold_rank": 1, "gold_in_passages": True, "llm_failed": False, "llm_correct": False, "abstained": False}
    assert stage(base | {"gold_in_passages": False}) == "passages"
    assert stage(base | {"llm_correct": True, "extractive": True}) == "verification"
    assert stage(base | {"abstained": True, "llm_text": ""}) == "relevance gate"
    assert stage(base | {"abstained": True, "llm_text": "The documents don't say."}) == "model abstained"
    assert stage(base) == "model"
    # a question across two documents whose second source never reached the model is lost there, not by it
    second = {"sources_in_passages": [True, False], "sources_retrieved": [True, True]}
    assert stage(base | second) == "passages"
    assert stage(base | second | {"sources_retrieved": [True, False]}) == "retrieval"
    assert stage(base | second | {"llm_correct": True}) == "verification"


def test_the_report_says_what_each_question_was_shown():
    """An unanswerable question answered with an extract is located, not only counted as a missed abstention."""

    def item(split: str, abstain: bool, shown: str, correct: bool) -> dict:
        kinds = {"abstained": shown == "abstained", "extractive": shown == "extract"}
        return {"split": split, "should_abstain": abstain, "correct": correct, **kinds}

    records = [
        item("dev", False, "model", True),
        item("dev", False, "model", False),
        item("dev", False, "extract", True),
        item("dev", True, "extract", False),
        item("dev", True, "abstained", True),
        item("test", True, "model", False),
    ]
    rows = shown_table(records).splitlines()
    assert rows[0] == "| split | expected | model's answer | extract | abstained |"
    assert rows[2:] == [
        "| dev | answer (3) | 1/2 | 1/1 | – |",
        "| dev | abstain (2) | – | 0/1 | 1/1 |",
        "| test | answer (0) | – | – | – |",
        "| test | abstain (1) | 0/1 | – | – |",
    ]


def test_eval_answers_command_writes_the_three_reports(index_settings: Settings, tmp_path: Path):
    gold = Path(__file__).parent.parent / "eval" / "gold.jsonl"
    args = ["answers", "--gold", str(gold), "--limit", "3", "--model", "qwen2.5-0.5b", "--out", str(tmp_path)]
    obj = {"index_dir": index_settings.index_dir}
    result = CliRunner().invoke(eval_group, args, obj=obj)
    assert result.exit_code == 0, result.output
    assert "| key-fact accuracy (answerable) |" in result.stdout
    report = json.loads((tmp_path / "answers.json").read_text(encoding="utf-8"))
    assert report["model"] == "qwen2.5-0.5b" and len(report["records"]) == 3
    for key in ("key_fact_accuracy", "citation_precision", "citation_precision_chunk", "citation_recall"):
        assert key in report["metrics"]
    for key in ("abstention_f1", "first_token_p95_ms", "total_p50_ms", "retrieve_p50_ms", "extractive_share"):
        assert key in report["metrics"]
    page = (tmp_path / "answers.md").read_text(encoding="utf-8")
    assert "## Wrong answers" in page and "| split | expected | model's answer | extract | abstained |" in page
    assert (tmp_path / "answers.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "answers-reliability.png").read_bytes().startswith(b"\x89PNG")
    wrong = [json.loads(line) for line in (tmp_path / "answers-wrong.jsonl").read_text().splitlines()]
    assert {w["id"] for w in wrong} == {r["id"] for r in report["records"] if not r["correct"]}
    assert set(report["by_split"]) == {r["split"] for r in report["records"]}
    # A named report (here a replay of this one: no model) links its own chart, not the default run's.
    again = ["answers", "--gold", str(gold), "--limit", "3", "--replay", str(tmp_path / "answers.json")]
    again += ["--name", "replayed", "--out", str(tmp_path)]
    result = CliRunner().invoke(eval_group, again, obj=obj)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "replayed.md").read_text(encoding="utf-8")
    assert "(replayed.png)" in page and "(answers.png)" not in page
    assert (tmp_path / "replayed.png").read_bytes().startswith(b"\x89PNG")
    assert all(0.0 <= r["confidence"] <= 1.0 and r["features"] for r in report["records"])

    # Replays: a later report's text for an item replaces the earlier report's; the others stay.
    later = dict(report, records=[dict(report["records"][0], llm_text="The documents don't say.")])
    (tmp_path / "later.json").write_text(json.dumps(later), encoding="utf-8")
    first, second = str(tmp_path / "answers.json"), str(tmp_path / "later.json")
    args = ["answers", "--gold", str(gold), "--limit", "3", "--replay", first, "--replay", second]
    result = CliRunner().invoke(eval_group, [*args, "--out", str(tmp_path), "--name", "replayed"], obj=obj)
    assert result.exit_code == 0, result.output
    replayed = json.loads((tmp_path / "replayed.json").read_text(encoding="utf-8"))
    assert replayed["model"] == f"replay of {first} + {second}"
    texts = [r["llm_text"] for r in replayed["records"]]
    assert texts == ["The documents don't say.", *(r["llm_text"] for r in report["records"][1:])]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "error: --limit must be at least 1"),
        (["--gold", "/nonexistent/gold.jsonl"], "error: gold file"),
    ],
)
def test_eval_answers_bad_input_is_one_clear_line(args: list[str], message: str):
    result = CliRunner().invoke(eval_group, ["answers", *args])
    assert result.exit_code == 1
    assert result.output.strip().startswith(message) and len(result.output.strip().splitlines()) == 1
