"""Key terms of a text: stemmed content words and numbers, for lexical support checks."""

from __future__ import annotations

import re
from collections.abc import Collection
from difflib import SequenceMatcher
from functools import lru_cache

import Stemmer
from llama_index.core.utils import globals_helper

WORD = re.compile(r"[\w$£€%]+(?:[.,]\d+)*")
# Question words and fillers that say nothing about the content asked for.
FILLER = set(globals_helper.stopwords) | {  # NLTK's list, shipped inside llama-index-core
    "what", "when", "where", "who", "whom", "why", "how", "which", "did", "does", "do", "say", "said",
    "tell", "many", "much", "according", "also", "would", "could", "us", "me", "please", "happen", "happened",
    "happens", "happening",
}  # fmt: skip
_stemmer = Stemmer.Stemmer("english")
# Numbers a count is spelt with ("twelve settlements", "nine miles"): the one list that the question's
# reading, the slot check and the claim check each take what they need from.
SPELT_NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


@lru_cache(maxsize=65536)
def similar(a: str, b: str, ratio: float) -> bool:
    return SequenceMatcher(None, a, b).ratio() >= ratio


def may_misspell(term: str, word: str) -> bool:
    """Could `term` be `word` misspelt: long enough to tell, same first letter, length within two, and one
    edit apart when either is short: "popul" (population) is two from "peopl" (people), and a typo."""
    if len(term) < 4 or word[:1] != term[:1] or abs(len(word) - len(term)) > 2:
        return False
    return min(len(term), len(word)) > 5 or edits(term, word) <= 1


@lru_cache(maxsize=65536)
def edits(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def close(term: str, have: Collection[str], ratio: float) -> bool:
    """Is `term` in `have`, or a misspelling of a word there ("kerson", "ambasador")?"""
    return term in have or any(may_misspell(term, h) and similar(term, h, ratio) for h in have)


def closest(term: str, have: Collection[str], ratio: float) -> str:
    """`term` if it is in `have`, else the word there it misspells (the most similar one), else `term`."""
    if term in have:
        return term
    best_ratio, best = max(
        ((SequenceMatcher(None, term, h).ratio(), h) for h in have if may_misspell(term, h)), default=(0.0, term)
    )
    return best if best_ratio >= ratio else term


@lru_cache(maxsize=8192)
def key_terms(text: str) -> frozenset[str]:
    words = (w.lower().strip(".,") for w in WORD.findall(text.replace("’", "'")))
    return frozenset(_stemmer.stemWord(w) for w in words if w not in FILLER and (len(w) > 1 or w.isdigit()))


def numbers(text: str) -> frozenset[str]:
    """Numbers as written without separators: "40,000" and "40000" compare equal."""
    return frozenset(n.replace(",", "") for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text))
