"""Retrieved chunks -> the few passages worth showing the LLM, with relative dates made absolute.

On a CPU the prompt length is the time to first token, so the model gets the best sentences (with a
neighbour for context), not whole chunks. Each passage keeps its exact span in the original file, so a
citation `[n]` can highlight precisely the text the answer was built from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

import numpy as np
from llama_index.core.schema import NodeWithScore, TextNode

from rag.chunking import sentences_of
from rag.config import Settings, get_settings
from rag.documents import Segment
from rag.entities import new_fillers
from rag.question import TYPED_SLOTS, analyse
from rag.terms import key_terms

T = TypeVar("T")
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = {  # a month name's first three letters -> its number
    m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}
RELATIVE = re.compile(
    r"\b(?:(last|on|this|next)\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
    r"|\b(today|yesterday|tonight|last week|last month)\b",
    re.I,
)


@dataclass
class Passage:
    """A numbered source for the prompt: consecutive sentences of one chunk (offsets into the file)."""

    node: TextNode
    sentences: list[Segment]
    score: float
    similarity: float = 0.0  # the best sentence's cosine similarity to the question alone

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def start(self) -> int:
        return self.sentences[0].start

    @property
    def end(self) -> int:
        return self.sentences[-1].end


def select_passages(
    question: str,
    hits: list[NodeWithScore],
    query_vector: np.ndarray,
    sentence_vectors: Callable[[TextNode], np.ndarray],
    per_file: bool = False,
    settings: Settings | None = None,
) -> list[Passage]:
    """The best sentences of the top chunks under a word budget, merged per chunk into passages.

    A sentence scores by its similarity to the question (embedded with its post title, so "It said the
    withdrawal was completed by 5am" still knows what "it" is), the question terms it shares, whether it
    holds the kind of thing asked for (a date for "when", a number for "how many", a person for "who", a place
    for "where"; rag.entities), and its chunk's rank.
    With `per_file` (questions that compare or combine documents) each file among the hits first gets its
    best sentence, so "Nov 2022 vs Nov 2023" sees both documents. Sizes and the typed bonus are settings.
    Leading with the best two files only (the others are often off the question) lost on dev (right outcome
    0.761 -> 0.753, +2 -6, real runs), the best three changed nothing (+1 -1).
    """
    settings = settings or get_settings()
    budget_words = settings.passage_words
    terms = key_terms(question)
    asked = analyse(question)
    wanted = asked.slot if asked.slot in TYPED_SLOTS else None
    scored: list[tuple[float, int, int]] = []  # (score, hit index, sentence index)
    cosine: dict[tuple[int, int], float] = {}
    sentence_lists = [sentences_of(h.node) for h in hits]
    for h, sents in enumerate(sentence_lists):
        similarity = sentence_vectors(hits[h].node) @ query_vector
        title_terms = key_terms(str(hits[h].node.metadata.get("title", "")))
        for s, sent in enumerate(sents):
            overlap = len(terms & (key_terms(sent.text) | title_terms)) / max(len(terms), 1)
            typed = settings.typed_bonus if wanted and new_fillers(sent.text, wanted, question) else 0.0
            scored.append((float(similarity[s]) + 0.5 * overlap + typed - 0.02 * h, h, s))
            cosine[(h, s)] = float(similarity[s])
    ranked = sorted(scored, reverse=True)
    if per_file:  # the best sentence of each file goes first, then the rest by score
        ranked = firsts_per_file(ranked, lambda item: hits[item[1]].node)
    # A question in parts: each part's best sentence goes before those, and its passage is kept.
    lead = set(part_picks(asked.parts, ranked, sentence_lists, settings.part_min_terms)) if per_file else set()
    ranked.sort(key=lambda item: item[1:] not in lead)  # stable: the rest keep their order
    chosen: dict[int, set[int]] = {}
    # Chunks overlap by a sentence, and a live blog repeats itself (its summary post restates the news): never
    # pick the same file offset, or the same sentence, twice.
    seen: set[object] = set()
    words = 0
    for _score, h, s in ranked:
        sents = sentence_lists[h]
        sent = sents[s]
        mine = identity(sent)
        if seen & mine or (words + len(sent.text.split()) > budget_words and words):
            continue
        seen |= mine
        picked = chosen.setdefault(h, set())
        picked.add(s)
        words += len(sent.text.split())
        # Neighbours the sentence needs: a short one ("It said the withdrawal was completed by 5am") the one
        # before it; one that goes on in the next ("Zelensky said “fierce battles continue… | …dozens of attacks
        # every day.”", "Zelenskyy denied that the war had reached a stalemate. | He said that “…this is not a
        # stalemate.”") that one, where the fact often is.
        needed = [s - 1] if s > 0 and len(sent.text.split()) < 25 else []
        if settings.follow_on and s + 1 < len(sents) and goes_on(sent.text, sents[s + 1].text):
            needed.append(s + 1)
        for n in needed:
            if n not in picked and not seen & (theirs := identity(sents[n])):
                picked.add(n)
                seen |= theirs
                words += len(sents[n].text.split())
        if words >= budget_words:
            break
    best = {(h, s): sc for sc, h, s in scored}
    passages, leading = [], []
    for h, picked in chosen.items():
        for run in consecutive(sorted(picked)):
            sents = [sentence_lists[h][i] for i in run]
            score, sim = max(best[(h, i)] for i in run), max(cosine[(h, i)] for i in run)
            passages.append(Passage(hits[h].node, sents, score, sim))
            if any((h, i) in lead for i in run):
                leading.append(passages[-1])
    passages.sort(key=lambda p: p.score, reverse=True)
    if per_file:  # keep one passage per file before cutting to max_passages
        passages = firsts_per_file(passages, lambda p: p.node)
    passages.sort(key=lambda p: p not in leading)
    return passages[: settings.max_passages]


ONWARD = re.compile(r"^\W*(he|she|they|it|his|her|their|its|this|that|these|those)\b", re.I)


def goes_on(sentence: str, following: str) -> bool:
    """Does `sentence` go on in `following`: a quote it opens closes there, it ends in a colon, or `following`
    opens with a pronoun that points back ("He said…")?"""
    opened = sentence.count("“") > sentence.count("”") or sentence.count('"') % 2 == 1
    return opened or sentence.rstrip().endswith(":") or bool(ONWARD.match(following))


def part_picks(
    parts: tuple[str, ...],
    ranked: list[tuple[float, int, int]],
    sentence_lists: list[list[Segment]],
    min_terms: int,
) -> list[tuple[int, int]]:
    """For a question in parts, each part's sentence: the one holding most of that part's terms (at least
    `min_terms`), the better scored on a tie. Scored against the whole question, a roundup's one sentence on
    the second part loses to sentences on the first (on dev: right outcome 0.723 -> 0.727, none lost). One
    shared term is not enough: "had his assessment changed by the 2023 roundup?" would pick any sentence
    saying "change" (citation precision 0.769 -> 0.762 with 1, unchanged with 2)."""
    if len(parts) < 2 or not ranked:
        return []
    picks = []
    for part in parts:
        own = key_terms(part)
        shared, _score, h, s = max((len(own & key_terms(sentence_lists[h][s].text)), sc, h, s) for sc, h, s in ranked)
        if own and shared >= min_terms:
            picks.append((h, s))
    return picks


def firsts_per_file(items: list[T], node_of: Callable[[T], TextNode]) -> list[T]:
    """The same items, reordered: the first of each file, then the rest, each group in its old order."""
    firsts: dict[object, T] = {}
    for item in items:
        firsts.setdefault(node_of(item).metadata.get("file"), item)
    lead = list(firsts.values())
    return lead + [item for item in items if item not in lead]


def normalised(text: str) -> str:
    """A sentence's words, for spotting the same sentence at another place: case, quotes and spacing aside."""
    return " ".join(re.findall(r"\w+", text.lower()))


def identity(sentence: Segment) -> set[object]:
    """What makes two picks the same sentence: its file offset, or its words."""
    return {sentence.start, normalised(sentence.text)}


def consecutive(indices: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def resolve_relative_dates(text: str, published: str | None) -> str:
    """ "on Wednesday" -> "on Wednesday [9 November 2022]", relative to the source's publication day."""
    if not published:
        return text
    day = datetime.fromisoformat(published).date()

    def absolute(match: re.Match[str]) -> str:
        resolved = resolve(match, day)
        return f"{match.group(0)} [{resolved.strftime('%-d %B %Y')}]" if resolved else match.group(0)

    return RELATIVE.sub(absolute, text)


def resolve(match: re.Match[str], day: date) -> date | None:
    if match.group(3):
        word = match.group(3).lower()
        offsets = {"today": 0, "tonight": 0, "yesterday": 1}
        return day - timedelta(days=offsets[word]) if word in offsets else None
    modifier = (match.group(1) or "").lower()
    target = WEEKDAYS.index(match.group(2).lower())
    back = (day.weekday() - target) % 7  # news reports the most recent such day, or today
    if modifier == "next":
        return day + timedelta(days=(target - day.weekday()) % 7 or 7)
    if modifier == "last" and back == 0:
        back = 7
    return day - timedelta(days=back)
