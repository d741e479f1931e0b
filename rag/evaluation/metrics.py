"""Metrics over ranked results and answers: hit@k, MRR, nDCG, recall, key facts, abstention scores."""

from __future__ import annotations

import math
import re
from typing import Any

from rag.citations import MARKER
from rag.evaluation.gold import Matches

QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"'})
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # "40,000" -> "40000"; "3,5" and "1,23" stay


def first_relevant(matches: Matches) -> int | None:
    return next((rank for rank, hit in enumerate(matches, 1) if hit), None)


def hit_at(matches: Matches, k: int) -> float:
    rank = first_relevant(matches)
    return float(rank is not None and rank <= k)


def reciprocal_rank(matches: Matches, k: int) -> float:
    rank = first_relevant(matches[:k])
    return 1.0 / rank if rank else 0.0


def ndcg(matches: Matches, n_sources: int, k: int) -> float:
    """Binary gains; each gold source is credited once, to the first result that hits it."""
    credited: set[int] = set()
    dcg = 0.0
    for rank, hit in enumerate(matches[:k], 1):
        new = sorted(hit - credited)
        if new:
            credited.add(new[0])
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_sources, k) + 1))
    return dcg / ideal if ideal else 0.0


def recall(matches: Matches, n_sources: int, k: int) -> float:
    """The fraction of gold sources hit anywhere in the top k."""
    found = frozenset().union(*matches[:k])
    return len(found) / n_sources if n_sources else 0.0


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# Key facts -----------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower case, straight quotes, single spaces, no thousands separators, no [n] citation markers."""
    text = THOUSANDS.sub("", MARKER.sub(" ", text).translate(QUOTES).lower())
    return " ".join(text.split())


def occurs(alternative: str, text: str) -> bool:
    """Is the alternative in the (normalised) text? A number must not be part of a longer one: "6" is not
    in "16" or "6.9"."""
    needle = normalise(alternative)
    if not needle:
        return False
    pattern = re.escape(needle)
    if needle[0].isdigit():
        pattern = r"(?<!\d)(?<!\d\.)" + pattern
    if needle[-1].isdigit():
        pattern += r"(?!\d)(?![.,]\d)"
    return re.search(pattern, text) is not None


def missing_facts(key_facts: list[list[str]], answer: str) -> list[list[str]]:
    """The key facts (each a list of alternatives) of which no alternative occurs in the answer."""
    text = normalise(answer)
    return [alternatives for alternatives in key_facts if not any(occurs(a, text) for a in alternatives)]


def has_key_facts(key_facts: list[list[str]], answer: str) -> bool:
    return not missing_facts(key_facts, answer)


# Abstention ----------------------------------------------------------------------------------------


def ratio(part: float, whole: float) -> float | None:
    """None when there is nothing to measure, so "no data" never reads as a score of 0."""
    return part / whole if whole else None


def abstention_scores(should: list[bool], did: list[bool]) -> dict[str, Any]:
    """Precision, recall and F1 with "should abstain" as the positive class, plus the confusion counts."""
    tp = sum(s and d for s, d in zip(should, did))
    fp = sum(d and not s for s, d in zip(should, did))
    fn = sum(s and not d for s, d in zip(should, did))
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "abstention_precision": precision,
        "abstention_recall": recall,
        "abstention_f1": f1,
        "abstention_tp": tp,
        "abstention_fp": fp,
        "abstention_fn": fn,
        "abstention_tn": len(should) - tp - fp - fn,
    }
