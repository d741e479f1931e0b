"""Retrieved chunks -> the few passages worth showing the LLM, with relative dates made absolute.

On a CPU the prompt length is the time to first token, so the model gets the best sentences (with a
neighbour for context), not whole chunks. Each passage keeps its exact span in the original file, so a
citation `[n]` can highlight precisely the text the answer was built from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from llama_index.core.schema import NodeWithScore, TextNode

from rag.documents import Segment
from rag.terms import key_terms

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
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

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def start(self) -> int:
        return self.sentences[0].start

    @property
    def end(self) -> int:
        return self.sentences[-1].end


def sentences_of(node: TextNode) -> list[Segment]:
    """The chunk's sentences with their offsets in the original file (recorded at chunking time)."""
    text = node.get_content()
    starts = [int(x) for x in str(node.metadata["sentence_starts"]).split(",")]
    lengths = [int(x) for x in str(node.metadata["sentence_lengths"]).split(",")]
    out, cursor = [], 0
    for start, length in zip(starts, lengths, strict=True):
        out.append(Segment(text[cursor : cursor + length], start))
        cursor += length + 1  # chunk text is its sentences joined by one space
    return out


def select_passages(
    question: str, hits: list[NodeWithScore], embed, budget_words: int = 170, max_passages: int = 4
) -> list[Passage]:
    """The best sentences of the top chunks under a word budget, merged per chunk into passages."""
    query_vec = np.asarray(embed([question])[0])
    terms = key_terms(question)
    scored: list[tuple[float, int, int]] = []  # (score, hit index, sentence index)
    sentence_lists = [sentences_of(h.node) for h in hits]
    texts = [s.text for sents in sentence_lists for s in sents]
    vectors = np.asarray(embed(texts)) if texts else np.zeros((0, len(query_vec)))
    row = 0
    for h, sents in enumerate(sentence_lists):
        title_terms = key_terms(str(hits[h].node.metadata.get("title", "")))
        for s, sent in enumerate(sents):
            overlap = len(terms & (key_terms(sent.text) | title_terms)) / max(len(terms), 1)
            scored.append((float(vectors[row] @ query_vec) + 0.5 * overlap - 0.03 * h, h, s))
            row += 1
    chosen: dict[int, set[int]] = {}
    seen: set[int] = set()  # chunks overlap by a sentence: never pick the same file offset twice
    words = 0
    for _score, h, s in sorted(scored, reverse=True):
        sent = sentence_lists[h][s]
        if sent.start in seen or (words + len(sent.text.split()) > budget_words and words):
            continue
        seen.add(sent.start)
        picked = chosen.setdefault(h, set())
        picked.add(s)
        words += len(sent.text.split())
        # A short sentence ("It said the withdrawal was completed by 5am") needs the one before it.
        before = sentence_lists[h][s - 1] if s > 0 else None
        if before and len(sent.text.split()) < 25 and s - 1 not in picked and before.start not in seen:
            picked.add(s - 1)
            seen.add(before.start)
            words += len(sentence_lists[h][s - 1].text.split())
        if words >= budget_words:
            break
    best = {(h, s): sc for sc, h, s in scored}
    passages = []
    for h, picked in chosen.items():
        for run in consecutive(sorted(picked)):
            sents = [sentence_lists[h][i] for i in run]
            passages.append(Passage(hits[h].node, sents, max(best[(h, i)] for i in run)))
    passages.sort(key=lambda p: p.score, reverse=True)
    return passages[:max_passages]


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
