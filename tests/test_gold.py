"""Sanity checks for the gold question set in eval/gold.jsonl."""

import json
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
GOLD = REPO / "eval" / "gold.jsonl"
SEEDS = REPO / "seeds"

REQUIRED = {
    "id": str,
    "question": str,
    "answer": str,
    "key_facts": list,
    "sources": list,
    "should_abstain": bool,
    "split": str,
    "type": str,
}
MARKUP = ["elementId", "_type", "html”", "”:”", "{", "}", "<", ">"]
MIN_ITEMS = 160
MIN_PER_SEED = 3
# Kinds of question the set must hold at least this many of (issue 9): the hard cases, not just facts.
MIN_PER_KIND = {
    "plausible unanswerable": 30,
    "false_premise": 12,
    "leading": 10,
    "multi_turn": 20,
    "multi_doc": 15,
    "paraphrase or typo": 15,
}


def _lines():
    return [ln for ln in GOLD.read_text(encoding="utf-8").splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def items():
    return [json.loads(ln) for ln in _lines()]


@pytest.fixture(scope="module")
def seeds():
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))}


def test_every_line_parses():
    lines = _lines()
    assert lines, "gold.jsonl is empty"
    for n, ln in enumerate(lines, 1):
        try:
            obj = json.loads(ln)
        except json.JSONDecodeError as e:  # pragma: no cover - failure path
            pytest.fail(f"line {n} is not valid JSON: {e}")
        assert isinstance(obj, dict), f"line {n} is not a JSON object"


def test_enough_items(items):
    assert len(items) >= MIN_ITEMS


def test_ids_unique(items):
    dup = [k for k, v in Counter(it["id"] for it in items).items() if v > 1]
    assert not dup, f"duplicate ids: {dup}"


def test_required_keys_and_types(items):
    for it in items:
        for key, typ in REQUIRED.items():
            assert key in it, f"{it.get('id')}: missing {key}"
            assert isinstance(it[key], typ), f"{it['id']}: {key} should be {typ.__name__}"
        assert it["question"].strip(), f"{it['id']}: empty question"
        assert it["answer"].strip(), f"{it['id']}: empty answer"
        for alts in it["key_facts"]:
            assert isinstance(alts, list) and alts, f"{it['id']}: key_facts entries must be non-empty lists"
            for a in alts:
                assert isinstance(a, str) and a.strip(), f"{it['id']}: bad key_fact alternative {a!r}"
        for src in it["sources"]:
            assert isinstance(src, dict), f"{it['id']}: source must be an object"
            assert isinstance(src.get("file"), str), f"{it['id']}: source.file must be a string"
            assert isinstance(src.get("evidence"), str) and src["evidence"].strip(), (
                f"{it['id']}: source.evidence must be a non-empty string"
            )


def test_evidence_is_verbatim(items, seeds):
    for it in items:
        for src in it["sources"]:
            assert src["file"] in seeds, f"{it['id']}: unknown seed file {src['file']}"
            assert src["evidence"] in seeds[src["file"]], (
                f"{it['id']}: evidence not found verbatim in {src['file']}: {src['evidence'][:80]!r}"
            )


def test_evidence_has_no_markup(items):
    for it in items:
        for src in it["sources"]:
            for frag in MARKUP:
                assert frag not in src["evidence"], f"{it['id']}: evidence contains markup {frag!r}"


def test_answerable_items_have_sources_and_facts(items):
    for it in items:
        if not it["should_abstain"]:
            assert len(it["sources"]) >= 1, f"{it['id']}: answerable item without sources"
            assert len(it["key_facts"]) >= 1, f"{it['id']}: answerable item without key_facts"


def test_abstain_items_have_no_key_facts(items):
    """An abstention has nothing to state; a partial one may point at the closest evidence (sources)."""
    abstain = [it for it in items if it["should_abstain"]]
    assert abstain, "expected some unanswerable items"
    for it in abstain:
        assert it["key_facts"] == [], f"{it['id']}: abstain item must have no key facts"
        assert it["sources"] == [] or it["type"] in ("partial", "leading", "multi_turn"), it["id"]


def test_splits_and_kinds(items):
    assert {it["split"] for it in items} == {"dev", "test"}
    test = [it for it in items if it["split"] == "test"]
    assert len(test) >= 60 and sum(it["should_abstain"] for it in test) >= 20
    kinds = Counter(it["type"] for it in items)
    counts = {
        "plausible unanswerable": kinds["unanswerable"] + kinds["partial"],
        "paraphrase or typo": kinds["paraphrase"] + kinds["typo"],
    }
    for kind, minimum in MIN_PER_KIND.items():
        assert counts.get(kind, kinds[kind]) >= minimum, f"only {counts.get(kind, kinds[kind])} {kind} items"
    for it in items:
        if it["type"] == "multi_turn":
            roles = [m["role"] for m in it["history"]]
            assert roles and roles[0] == "user" and set(roles) <= {"user", "assistant"}, it["id"]


def test_every_seed_covered(items, seeds):
    cov = Counter()
    for it in items:
        for f in {s["file"] for s in it["sources"]}:
            cov[f] += 1
    for name in seeds:
        assert cov[name] >= MIN_PER_SEED, f"{name} covered by only {cov[name]} items"
