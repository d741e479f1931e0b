"""Answer or abstain: one calibrated decision over cheap signals, instead of rules over the model's words.

Signals (all in [0, 1]):
- evidence, known before the model writes (`evidence_features`): how similar the best sentence is to the
  question (works for paraphrases), how much of the question's terms the passages cover, and the *slot*
  check: a sentence holds the kind of thing asked for (a number for "how many", a date for "when"…,
  not one the question itself named) next to the question's own terms;
- answer, known after (`answer_features`): did the model decline, how much of its answer the claim
  check supports, whether its citations survived.

Two logistic models turn them into P(the documents answer this question): `pre` on the evidence alone
(below `Settings.gate_threshold` the model is not even asked) and `post` on everything (below
`Settings.answer_threshold` the answer becomes an abstention that shows the closest evidence).
Their weights are fitted on the gold set's dev split by `rag eval calibrate` and stored in
decision.json beside this file; the thresholds are settings.
"""

from __future__ import annotations

import json
import math
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rag.entities import fillers
from rag.errors import RagError
from rag.question import Question
from rag.terms import key_terms

if TYPE_CHECKING:
    from rag.citations import Checked
    from rag.evidence import Passage

WEIGHTS_PATH = Path(__file__).with_name("decision.json")
EVIDENCE_FEATURES = ("similarity", "coverage", "missing", "slot", "slot_typed")
ANSWER_FEATURES = ("declined", "supported", "cited", "extractive_only")
# Slots whose filler has a recognisable type; "why" answers ("to ensure…") are too varied to spot.
TYPED_SLOTS = ("date", "number", "person", "place")
TYPO_SIMILARITY = 0.8  # difflib ratio at which two stemmed words count as the same word misspelt


def evidence_features(question: Question, passages: list[Passage]) -> dict[str, float]:
    if not passages:
        return dict.fromkeys(EVIDENCE_FEATURES, 0.0) | {"missing": 1.0}
    terms = question.terms
    titles = [key_terms(str(p.node.metadata.get("title") or "")) for p in passages]
    union = frozenset().union(*titles, *(key_terms(p.text) for p in passages))
    typed = question.slot in TYPED_SLOTS
    slot = 0.0
    for p, title in zip(passages, titles):
        for i, sentence in enumerate(p.sentences):
            if typed and not any(f not in question.text.lower() for f in fillers(sentence.text, question.slot)):
                continue
            # The filler must sit next to the question's own terms: in its sentence, the one before, the title.
            before = p.sentences[i - 1].text if i else ""
            slot = max(slot, covered(terms, key_terms(f"{before} {sentence.text}") | title))
    return {
        "similarity": max(0.0, max(p.similarity for p in passages)),
        "coverage": covered(terms, union),
        "missing": min(len(terms) - round(covered(terms, union) * len(terms)), 3) / 3,
        "slot": slot,
        "slot_typed": float(typed),
    }


def covered(terms: frozenset[str], have: frozenset[str]) -> float:
    """Share of the question's terms in `have`, a misspelt term ("kerson", "ambasador") counting as found
    when it is close to one there."""
    if not terms:
        return 1.0
    found = sum(1 for t in terms if t in have or (len(t) >= 4 and close(t, have)))
    return found / len(terms)


@lru_cache(maxsize=65536)
def _similar(a: str, b: str) -> bool:
    return SequenceMatcher(None, a, b).ratio() >= TYPO_SIMILARITY


def close(term: str, have: frozenset[str]) -> bool:
    return any(abs(len(h) - len(term)) <= 2 and h[:1] == term[:1] and _similar(term, h) for h in have)


def answer_features(checked: Checked | None) -> dict[str, float]:
    if checked is None:  # the model failed: only the evidence speaks
        return {"declined": 0.0, "supported": 0.0, "cited": 0.0, "extractive_only": 1.0}
    total = checked.sentences or 1
    return {
        "declined": float(checked.abstained),
        "supported": (checked.sentences - len(checked.unsupported)) / total if checked.sentences else 0.0,
        "cited": float(bool(checked.cited)),
        "extractive_only": 0.0,
    }


@lru_cache(maxsize=4)
def weights(path: Path = WEIGHTS_PATH) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RagError(f"cannot read the fitted decision {path}: {exc}; run `rag eval calibrate`") from exc


def probability(features: dict[str, float], stage: str, path: Path = WEIGHTS_PATH) -> float:
    """P(the documents answer the question) from the `pre` (evidence) or `post` (evidence + answer) model."""
    model = weights(path)[stage]
    z = model["bias"] + sum(w * features.get(name, 0.0) for name, w in model["weights"].items())
    return 1 / (1 + math.exp(-z))
