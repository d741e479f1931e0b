"""Check the model's `[n]` markers against the passages, in code: a small model's markers are unreliable.

Each answer sentence keeps only citations whose passage supports it (its key terms and all its numbers
are there); an uncited but supported sentence gets the best passage attached; a sentence no passage
supports is flagged. Citations are renumbered 1..m in order of first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llama_index.core.utils import globals_helper

from rag.evidence import Passage
from rag.terms import key_terms, numbers

MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
ABSTENTION = re.compile(
    r"documents? (?:do not|don't|does not|doesn't) (?:say|contain|mention|specify|provide)"
    r"|sources? (?:do not|don't|does not|doesn't) (?:say|contain|mention|specify|provide)"
    r"|not (?:mentioned|specified|stated|provided|included) in the (?:sources|documents)"
    r"|(?:no|not enough) information"
    r"|cannot (?:be )?(?:found|determined|answer)|I (?:don't|do not) know",
    re.I,
)
SUPPORTED = 0.5  # share of a sentence's key terms that its passage must contain


@dataclass
class Checked:
    text: str  # the answer with verified, renumbered markers
    cited: list[Passage]  # cited[i] is marker [i + 1]
    unsupported: list[str] = field(default_factory=list)
    abstained: bool = False


def is_abstention(text: str) -> bool:
    return bool(ABSTENTION.search(text))


def support(sentence: str, context: str) -> float:
    """Share of the sentence's key terms found in the passage; 0 if it states a number the passage lacks."""
    terms = key_terms(sentence)
    if not terms:
        return 1.0
    have = key_terms(context)
    if not numbers(sentence) <= numbers(context):
        return 0.0
    return len(terms & have) / len(terms)


def check(question: str, answer: str, passages: list[Passage], contexts: list[str]) -> Checked:
    """`contexts[i]` is what passage i said in the prompt (with title and resolved dates)."""
    if is_abstention(answer):
        return Checked(MARKER.sub("", answer).strip(), [], abstained=True)
    cited: list[Passage] = []
    out, unsupported = [], []
    asked = key_terms(question)
    for sentence in globals_helper.punkt_tokenizer.tokenize(answer):
        claimed = [int(n) for m in MARKER.finditer(sentence) for n in re.split(r"[,;]", m.group(1))]
        bare = MARKER.sub("", sentence).strip()
        if key_terms(bare) <= asked:  # "The mayor who told residents ... was [1]." repeats, says nothing
            continue
        scores = [support(bare, c) for c in contexts]
        valid = [n for n in dict.fromkeys(claimed) if 1 <= n <= len(passages)]
        keep = [n for n in valid if scores[n - 1] >= SUPPORTED]
        if not keep and len(valid) > 1 and support(bare, " ".join(contexts[n - 1] for n in valid)) >= SUPPORTED:
            keep = valid  # one sentence that combines what two sources say
        if not keep and scores and max(scores) >= SUPPORTED:
            keep = [scores.index(max(scores)) + 1]
        if not keep:
            unsupported.append(bare)
            out.append(bare)
            continue
        for n in keep:
            if passages[n - 1] not in cited:
                cited.append(passages[n - 1])
        marks = "".join(f"[{cited.index(passages[n - 1]) + 1}]" for n in keep)
        out.append(attach(bare, marks))
    return Checked(" ".join(out), cited, unsupported)


def attach(sentence: str, marks: str) -> str:
    """Put markers before the sentence's final punctuation: "... 2022 [1]."."""
    if sentence and sentence[-1] in ".!?":
        return f"{sentence[:-1]} {marks}{sentence[-1]}"
    return f"{sentence} {marks}"
