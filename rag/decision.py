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
Their weights are fitted on the gold set's dev split by `rag eval calibrate` and stored beside this file:
decision-<embed model>.json, one per embedder (its passages differ, so do the signals' distributions); the
thresholds are settings.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rag.citations import MARKER
from rag.config import Settings
from rag.entities import irregular_forms, new_fillers
from rag.errors import RagError
from rag.question import TYPED_SLOTS, Question
from rag.terms import close, key_terms

if TYPE_CHECKING:
    from rag.citations import Checked
    from rag.evidence import Passage


def own_weights_path(embed_model: str) -> Path:
    """Where the decision fitted on passages found with `embed_model` is kept."""
    return Path(__file__).with_name(f"decision-{embed_model}.json")


WEIGHTS_PATH = own_weights_path(Settings.model_fields["embed_model"].default)  # the default embedder's


def weights_path(embed_model: str) -> Path:
    """The fitted decision for passages found with `embed_model`: its own file, else the default embedder's."""
    own = own_weights_path(embed_model)
    return own if own.is_file() else WEIGHTS_PATH


EVIDENCE_FEATURES = ("similarity", "coverage", "missing", "slot", "slot_typed")
ANSWER_FEATURES = ("declined", "supported", "cited", "answer_slot", "extractive_only")


def evidence_features(question: Question, passages: list[Passage], typo_similarity: float = 0.8) -> dict[str, float]:
    if not passages:
        return dict.fromkeys(EVIDENCE_FEATURES, 0.0) | {"missing": 1.0}
    terms = question.terms
    union = frozenset().union(*map(passage_terms, passages))
    coverage = covered(terms, union, typo_similarity)
    return {
        "similarity": max(0.0, max(p.similarity for p in passages)),
        "coverage": coverage,
        "missing": min(len(terms) - round(coverage * len(terms)), 3) / 3,
        "slot": max(slot_scores(question, passages, typo_similarity)),
        "slot_typed": float(question.slot in TYPED_SLOTS),
    }


def passage_terms(passage: Passage) -> frozenset[str]:
    """A passage's key terms with its title's: what the question's coverage is measured on."""
    return key_terms(f"{passage.node.metadata.get('title') or ''} {passage.text}")


def slot_scores(question: Question, passages: list[Passage], typo_similarity: float = 0.8) -> list[float]:
    """Per passage: the best share of the question's terms next to a filler of the slot asked (for an untyped
    slot, next to any sentence). The filler must sit next to them: in its sentence, the one before, the title."""
    typed = question.slot in TYPED_SLOTS
    scores = []
    for p in passages:
        title = key_terms(str(p.node.metadata.get("title") or ""))
        best = 0.0
        for i, sentence in enumerate(p.sentences):
            if typed and not new_fillers(sentence.text, question.slot, question.text):
                continue
            before = p.sentences[i - 1].text if i else ""
            best = max(best, covered(question.terms, key_terms(f"{before} {sentence.text}") | title, typo_similarity))
        scores.append(best)
    return scores


def covered(terms: frozenset[str], have: frozenset[str], typo_similarity: float = 0.8) -> float:
    """Share of the question's terms in `have`, a misspelt term counting as found when close to one there."""
    if not terms:
        return 1.0
    have = have | lemmas(have)
    return sum(1 for t in terms if close(t, have, typo_similarity)) / len(terms)


def answer_features(checked: Checked | None, question: Question) -> dict[str, float]:
    """`answer_slot`: the checked answer states a filler of the slot asked (a number for "how many"…, a name
    or a group such as "the partisans" for "who") that its cited passages hold, and that the question did
    not bring itself."""
    if checked is None:  # the model failed: only the evidence speaks
        return dict.fromkeys(ANSWER_FEATURES, 0.0) | {"extractive_only": 1.0}
    total = checked.sentences or 1
    cited = " ".join(p.text for p in checked.cited).lower()
    if question.slot in TYPED_SLOTS:  # the answer's own words: its "[1]" markers are not a number stated
        stated = new_fillers(MARKER.sub("", checked.text), question.slot, question.text, groups=True)
        answer_slot = float(any(f in cited for f in stated))
    else:
        answer_slot = float(bool(checked.cited) and not checked.unsupported)
    return {
        "declined": float(checked.abstained),
        "supported": (checked.sentences - len(checked.unsupported)) / total if checked.sentences else 0.0,
        "cited": float(bool(checked.cited)),
        "answer_slot": answer_slot,
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


def lemmas(stems: frozenset[str]) -> frozenset[str]:
    """The stems of the lemmas of irregular forms among `stems` ("left" -> "leav", "fled" -> "flee")."""
    forms = irregular_forms()
    return frozenset().union(*(key_terms(forms[s]) for s in stems if s in forms))
