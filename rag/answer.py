"""Question (+ history) -> streamed, cited answer. The path of a question, top to bottom:

1. read the question (rag.question): the slot it asks for, a leading opener, its parts; follow-ups
   ("and who ordered it?") are condensed with the previous question;
2. retrieve chunks (each part of a multi-part question too), pick the best sentences as numbered
   passages (yielded at once, for the UI);
3. the evidence alone makes an answer unlikely (rag.decision, `pre`) -> abstain without the LLM;
4. stream the LLM's answer over a short prompt (rag.prompt: stable rules first, which llama.cpp keeps cached);
5. check citations and claims in code (rag.citations), then decide once (rag.decision, `post`): the
   checked answer, a labelled extract of the best passages when the evidence answers but the model did
   not say it, or an abstention that shows the closest evidence.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from llama_index.core.llms import LLM
from llama_index.core.schema import NodeWithScore
from llama_index.core.utils import globals_helper

from rag.citations import CONTRARY, MARKER, Checked, check, says
from rag.config import Settings, get_settings
from rag.decision import (
    answer_features,
    covered,
    evidence_features,
    passage_terms,
    probability,
    slot_scores,
    weights_path,
)
from rag.entities import SLOT_PATTERNS, fillers, new_fillers
from rag.errors import RagError
from rag.evidence import Passage, resolve_relative_dates, select_passages
from rag.llm import LLMError, get_llm, shows_examples, stream_chat, turns_for
from rag.prompt import NO_ANSWER, context, prompt
from rag.question import SLOT_TERMS, TYPED_SLOTS, Question, analyse
from rag.retrieval import Retriever, check_question, get_retriever
from rag.terms import close, key_terms

OFF_FOCUS = "the model's answer drew on a passage less about the question than others"
REPEATED = "the model's answer to this follow-up only said the earlier answer again"
FOLLOW_UP = re.compile(
    r"^(and|but|so|also|what about|how about)\b"
    r"|\b(it|its|that|this|they|them|their|these|those|there|he|him|his|she|her)\b",
    re.I,
)


@dataclass
class Citation:
    n: int
    passage: Passage

    def as_dict(self) -> dict:
        meta = self.passage.node.metadata
        return {
            "n": self.n,
            "chunk_id": self.passage.node.node_id,
            "file": meta["file"],
            "page": meta.get("page"),  # 1-based PDF page; None for other formats
            "path": meta.get("path", meta["file"]),
            "start": self.passage.start,
            "end": self.passage.end,
            # Each sentence's own [start, end): a live blog's sentences sit between leftover markup, which
            # [start, end) spans; these are the exact words of `text`, sentence by sentence.
            "spans": [[s.start, s.end] for s in self.passage.sentences],
            "text": self.passage.text,
            "title": meta.get("title"),
            "date": meta.get("date"),
            "chunk_start": meta["start"],
            "chunk_end": meta["end"],
        }


@dataclass
class Answer:
    question: str
    text: str = ""
    abstained: bool = False
    extractive: bool = False
    citations: list[Citation] = field(default_factory=list)
    hits: list[NodeWithScore] = field(default_factory=list)  # everything retrieved, best first
    notice: str | None = None  # why the answer is extractive, e.g. the LLM is down
    confidence: float = 0.0  # P(the documents answer the question), from rag.decision
    evidence_confidence: float = 0.0  # the same from the evidence alone, before the model wrote
    features: dict[str, float] = field(default_factory=dict)  # the signals behind `confidence`
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Retrieved:
    """First event: what was found, before the model writes anything."""

    hits: list[NodeWithScore]
    passages: list[Passage]


@dataclass
class Queued:
    """The local model is answering someone else: this question is `position` in line (1 = next)."""

    position: int


@dataclass
class Token:
    text: str


@dataclass
class Done:
    answer: Answer


def answer(question: str, history: list[dict] | None = None, settings: Settings | None = None, **kw) -> Answer:
    for event in stream_answer(question, history, settings, **kw):
        if isinstance(event, Done):
            return event.answer
    raise RagError("the answer stream ended without an answer")


def stream_answer(
    question: str,
    history: list[dict] | None = None,
    settings: Settings | None = None,
    k: int | None = None,
    retriever: str | None = None,
    llm: LLM | None = None,
) -> Iterator[Retrieved | Queued | Token | Done]:
    settings = settings or get_settings()
    started = time.perf_counter()
    question = check_question(question)
    result = Answer(question)
    engine = get_retriever(settings)
    chat = check_history(history)
    earlier = earlier_question(question, chat)
    asked = analyse(question)
    if earlier:  # a follow-up is retrieved and judged together with the question it depends on
        asked = replace(asked, terms=asked.terms | analyse(earlier).terms)
    query = f"{earlier} {asked.core}" if earlier else asked.core
    query_vector = engine.embed_query(query)  # once per question: retrieval and passage selection share it
    said_before = earlier_answer(chat) if earlier else None
    gist = " ".join(said_before.split()[: settings.follow_up_gist_words]) if said_before else None
    sentences = settings.sentence_hits if asked.per_file and not gist else 0
    hits = retrieve(
        engine, asked, query, k or settings.top_k, retriever or settings.retriever, query_vector, gist, sentences
    )
    engine.prefetch([hit.node for hit in hits])  # their sentence vectors, in one read
    passages = select_passages(
        asked.core, hits, query_vector, engine.sentence_vectors, per_file=asked.per_file, settings=settings
    )
    result.hits = hits
    result.timings["retrieve_ms"] = ms(started)
    yield Retrieved(hits, passages)  # the evidence is shown now; the decision's signals come next

    engine.score_relevance(passages, query)  # the decision is fitted on MiniLM's similarities
    result.features = evidence_features(asked, passages, settings.typo_similarity)
    fitted = weights_path(settings.embed_model)
    result.confidence = result.evidence_confidence = probability(result.features, "pre", fitted)

    off_topic = result.features["similarity"] < settings.min_similarity
    if not passages or off_topic or result.confidence < settings.gate_threshold:
        abstain(result, asked, passages, settings)
        result.timings["total_ms"] = ms(started)
        yield Done(result)
        return
    messages = prompt(question, earlier, [context(p) for p in passages], shows_examples(settings))
    text = ""
    turns, ticket = None, object()
    try:
        model = llm or get_llm(settings)
        turns = turns_for(model)
        for position in turns.wait(ticket) if turns else ():
            yield Queued(position)
        for delta in stream_chat(model, messages):
            if not text:
                result.timings["first_token_ms"] = ms(started)
            text += delta
            yield Token(delta)
    except LLMError as exc:
        result.notice = f"{exc}; showing the best matching passages instead"
    finally:
        if turns:
            turns.done(ticket)
    if not text.strip() and not result.notice:
        result.notice = "the model returned an empty answer; showing the best matching passages instead"
    claims = [claim_context(p) for p in passages]
    checked = None
    if text.strip():
        checked = check(question, text, passages, claims, settings, earlier or "", said_before or "")
    result.features |= answer_features(checked, asked)
    result.confidence = probability(result.features, "post", fitted)
    earlier_asked = analyse(earlier) if earlier else None
    finish(result, checked, asked, passages, settings, earlier_asked, said_before, pointed_at(text, passages))
    result.timings["total_ms"] = ms(started)
    yield Done(result)


def retrieve(
    engine: Retriever,
    asked: Question,
    query: str,
    k: int,
    mode: str,
    query_vector: np.ndarray,
    gist: str | None = None,
    sentences: int = 0,
) -> list[NodeWithScore]:
    """The hits for `query` (a follow-up goes with the question it depends on); a question in several
    parts gets each part's best hits too, interleaved, and a follow-up those found with the `gist` of the
    answer it follows (its "he" is named there). `sentences`: see Retriever.retrieve."""
    if gist:
        searches = [query, f"{query} {gist}"]
    elif query != asked.core or len(asked.parts) == 1:
        return engine.retrieve(query, k, mode, query_vector, sentences)
    else:
        searches = [asked.core, *asked.parts]
    vectors = [query_vector] + [None] * (len(searches) - 1)  # each other search is other text: embedded on its own
    ranked = [engine.retrieve(search, k, mode, v, sentences) for search, v in zip(searches, vectors)]
    merged: dict[str, NodeWithScore] = {}
    for rank in range(k):
        for hits in ranked:
            if rank < len(hits):
                merged.setdefault(hits[rank].node.node_id, hits[rank])
    return list(merged.values())[: k + len(searches) - 1]


def finish(
    result: Answer,
    checked: Checked | None,
    asked: Question,
    passages: list[Passage],
    settings: Settings,
    earlier: Question | None = None,
    said_before: str | None = None,
    pointed: Passage | None = None,
) -> None:
    """The model's checked answer, a labelled extract, or an abstention, by the calibrated confidence.

    The model's answer is shown only when every sentence of it is supported by a cited passage; otherwise
    the passages are (an invented sentence is not shown, not even flagged). Evidence that answers on its own
    (`Settings.evidence_slot`) is never refused because of what the model wrote: a small model's
    "I don't know" differs from CPU to CPU, the evidence does not. Evidence that does not hold the kind of
    thing asked next to the question's terms (`Settings.extract_slot`; for a follow-up, next to its own terms
    too: `asks_own`) is not shown as an extract either, nor passages that tell a "why" question's event
    without a reason (`explains`), nor, unless that evidence is strong, passages for a question that asks
    for the exact detail or a list of a given length (`Question.precise`: "How exactly were cement mixers
    used?", "Which were the 12 settlements?"): a passage about the topic is what a partial answer looks like
    (on dev, 6 of the 7 such questions that should abstain were shown one, now 1 is, on strong evidence; no
    right answer lost). A follow-up whose model answer drew on a passage less about it than others
    (OFF_FOCUS) gets the extract, where another question abstains: on dev, 1 more of the 92 follow-ups right
    and abstention precision 0.821 -> 0.840, none lost.
    Showing the passage the model drew on whenever its answer failed the claim check only for restating the
    question (`Checked.grounds`) and the evidence alone is confident gains 5 paraphrased questions on dev and
    loses 20 that should abstain: the model restates an unanswerable question's premise the same way."""
    strong = result.features.get("slot_typed") == 1.0 and result.features.get("slot", 0.0) >= settings.evidence_slot
    confident = strong or result.confidence >= settings.answer_threshold
    usable = checked if checked and checked.cited and not checked.unsupported else None
    stated = bool(result.features.get("answer_slot"))
    gap = usable and shortfall(result.question, usable, asked, passages, earlier, said_before, stated, settings)
    if usable and not gap and confident:
        result.text = usable.text
        result.citations = [Citation(i, p) for i, p in enumerate(usable.cited, 1)]
        complete_parts(result, asked, passages, settings.typo_similarity)
    elif asked.off_the_record:
        abstain(result, asked, passages, settings)  # asked to leave the sources: what they say is not the answer
    elif gap == REPEATED or (gap == OFF_FOCUS and earlier is None):
        # the model found nothing beyond what the earlier answer said, or answered from the wrong passage; a
        # follow-up's evidence was found with the question it follows, so it gets the extract instead (below)
        abstain(result, asked, passages, settings)
        result.notice = f"{gap}; it is not shown"
    elif result.notice and (strong or result.evidence_confidence >= settings.answer_threshold):
        extract(result, passages, asked, settings)  # the LLM failed: the passages are all we have
    elif asked.precise and not strong:
        abstain(result, asked, passages, settings)  # the passages tell the topic; the exact detail asked is not shown
    elif confident and (
        # a question in parts asks several kinds of thing: its first part's slot does not gate the extract
        asked.slot not in TYPED_SLOTS
        or len(asked.parts) > 1
        or (
            result.features.get("slot", 0.0) >= settings.extract_slot
            and asks_own(result.question, passages, earlier, settings)
        )
    ):
        # the evidence answers the question but the model did not say it: show the evidence
        # What the model drew on, for a question that neither asks for a typed filler (rag.evidence's slot
        # choice is better there: a passage's date label can hold a date it is not about) nor compares files.
        drawn_on = checked and not gap and not asked.per_file and asked.slot not in TYPED_SLOTS
        grounds = checked.grounds if drawn_on else []
        best = extracts(passages, asked, settings, grounds)
        if asked.slot == "reason" and not explains(asked, best):
            abstain(result, asked, passages, settings)  # they tell what happened, not why
            return
        if gap == OFF_FOCUS:
            gap = f"{gap}; showing the passages closest to the question instead"
        result.notice = gap or (
            "the model's answer used words the sources do not; showing the passage it drew on instead"
            if grounds
            else "the model's answer was not supported by the sources; showing them instead"
        )
        quote(result, best)
    elif pointed is not None and credits(asked, pointed, settings):
        # asked "which news agency", the model answered "[1]": the passage it points at is where the credit is
        result.notice = "the model pointed at a source instead of naming the credit; showing that passage"
        quote(result, [pointed])
    else:
        abstain(result, asked, passages, settings)


def shortfall(
    question: str,
    checked: Checked,
    asked: Question,
    passages: list[Passage],
    earlier: Question | None,
    said_before: str | None,
    stated: bool,
    settings: Settings,
) -> str | None:
    """Why a supported answer still does not answer the question, if it does not (the notice to show):
    - a comparison answered from one document only, or from documents of one year for a question spanning
      two (`one_sided`; on dev, with `file_pair`: right outcome 0.753 -> 0.760, 3 of 56 cross-document items);
    - a follow-up answered as the earlier question: the answer says none of the follow-up's own terms, only
      the earlier question's (on dev, 4 of the 14 follow-ups: "how many rockets were fired?" -> "a dam was
      damaged by a HIMARS strike"; counting only the terms the earlier question lacks loses 1 on dev);
    - a follow-up answered with the earlier answer again: nothing in it beyond the earlier turn's and the
      follow-up's words, so `finish` abstains (REPEATED): the passages held nothing more for the model to say
      (on dev, 1 of 74 follow-ups, an unanswerable one; an extract of the passages showed its wrong number);
    - a when / how many / who / where follow-up whose answer gives only fillers the earlier turn gave for
      something else (`recycled`; REPEATED too: on dev, 3 of the 31 follow-ups that should abstain, none lost);
    - a when / how many / who / where question whose answer `stated` no filler of that kind from its cited
      passages (on dev, 5 of 213: "How many attacks were repelled?" -> "forces cannot maintain the pace");
    - an answer drawn on passages that cover much less of the question's own terms than another does
      (`Settings.focus_gap`): the model answered from the wrong one, so `finish` abstains (OFF_FOCUS)."""
    if asked.comparative and len(file_pair(asked, passages)) == 2 and one_sided(asked, checked.cited):
        return "the model's answer covered one of the documents compared; showing the best passage of each"
    typo_similarity = settings.typo_similarity
    said, own = key_terms(MARKER.sub(" ", checked.text)), analyse(question).terms
    if earlier and own and not any(close(t, said, typo_similarity) for t in own) and earlier.terms & said:
        return "the model answered the earlier question, not this one; showing the best passages instead"
    if earlier and said_before and not said - key_terms(said_before) - earlier.terms - own:
        return REPEATED
    before = f"{said_before} {earlier.text}" if earlier and said_before else ""
    if (
        before
        and asked.slot in TYPED_SLOTS
        and recycled(checked.text, question, asked.slot, before, own, typo_similarity)
    ):
        return REPEATED
    if asked.slot in TYPED_SLOTS and not stated:
        return f"the model's answer did not say {asked.what}; showing the best passages instead"
    about = [covered(own, passage_terms(p), typo_similarity) for p in passages]
    cited = covered(own, frozenset().union(*map(passage_terms, checked.cited)), typo_similarity)
    if about and max(about) - cited >= settings.focus_gap:
        return OFF_FOCUS
    return None


def pointed_at(text: str, passages: list[Passage]) -> Passage | None:
    """The passage an answer made of one marker only ("[1]") points at: the model's way of saying "this
    source", which for a question about a credit (which outlet, whose photo) is where the credit is
    (`credits`)."""
    found = [int(n) for n in re.findall(r"\d+", text)] if not MARKER.sub("", text).strip(" .") else []
    return passages[found[0] - 1] if len(set(found)) == 1 and 1 <= found[0] <= len(passages) else None


def credits(asked: Question, passage: Passage, settings: Settings) -> bool:
    """Does the passage the model pointed at answer a credit question: does it hold a credit next to the
    question's terms (`Settings.extract_slot`)? Then `finish` shows it, labelled, instead of abstaining."""
    if asked.slot != "credit":
        return False
    return slot_scores(asked, [passage], settings.typo_similarity)[0] >= settings.extract_slot


def asks_own(question: str, passages: list[Passage], earlier: Question | None, settings: Settings) -> bool:
    """Does the evidence hold the kind of thing a typed follow-up asks next to the follow-up's own words, not
    only next to the question it follows? "How many of them ended up killed or captured?" after "How many
    troops were around Kherson?" finds the troops' number next to "troops" and "Kherson": not an answer. (The
    decision's slot signal reads a follow-up with the question it follows: its "he" is named there.) On dev,
    3 more of the 31 follow-ups that should abstain do; 1 right extract is lost, its passage saying
    "withdrawal completed" for the follow-up's "pullout finished"."""
    if earlier is None:
        return True
    own = analyse(question)
    return max(slot_scores(own, passages, settings.typo_similarity), default=0.0) >= settings.extract_slot


def recycled(answer: str, question: str, slot: str, before: str, own: frozenset[str], typo_similarity: float) -> bool:
    """Does a follow-up's answer give only fillers of the kind asked that the earlier turn (`before`) gave, none
    in a sentence holding all the follow-up's own words? "How many tanks is that in actual numbers?" answered
    "half of its tanks", the earlier answer's "half", says nothing new; "and who ordered it?" answered "Shoigu"
    after "…after Shoigu ordered the withdrawal" was answered already, and may be again."""
    stated = {f.lower() for f in new_fillers(MARKER.sub("", answer), slot, question, groups=True)}
    sentences = [s.lower() for s in globals_helper.punkt_tokenizer.tokenize(before)]  # as the claim check splits
    given = [[s for s in sentences if f in s] for f in stated]
    answered = any(all(close(t, key_terms(s), typo_similarity) for t in own) for held in given for s in held)
    return bool(stated) and all(given) and not answered


def explains(asked: Question, passages: list[Passage]) -> bool:
    """Can passages answer a "why" on their own: do they give a reason ("because", "amid", "in response"), or
    contradict what the question takes for granted (a denial it does not make, or no longer its number or
    date)? A passage that only tells the event asked about is no answer to why it happened (on dev, 7 of the
    16 extracts for "why" and "what caused" questions were that; the 7 right ones all pass)."""
    text = " ".join(p.text for p in passages)
    given = {f for slot in ("number", "date") for f in fillers(asked.core, slot)}
    return bool(
        SLOT_PATTERNS["reason"].search(text)
        or (says(CONTRARY, text) and not says(CONTRARY, asked.core))
        or any(f not in text.lower() for f in given)
    )


def complete_parts(result: Answer, asked: Question, passages: list[Passage], typo_similarity: float) -> None:
    """A checked answer that leaves out a part of a question in several parts ("What did X say in 2022, and
    what did Y say in 2023?") gets that part's closest uncited passage quoted after it, labelled: a small
    model often answers the first part only. A part counts as left out when the answer says none of the
    words that part has and the other parts lack; a passage is its closest when it shares two of those words
    or more (one, such as "use", is chance)."""
    if len(asked.parts) < 2:
        return
    said = key_terms(result.text)
    cited = [c.passage for c in result.citations]
    for own in own_terms(asked):
        if not own or any(close(t, said, typo_similarity) for t in own):
            continue
        passage = closest_to(own, [p for p in passages if p not in cited])
        if passage is None:
            continue
        cited.append(passage)
        quoted = resolve_relative_dates(passage.text, passage.node.metadata.get("date"))
        result.text += f"\n\nFor the rest of the question, the closest passage says: {quoted} [{len(cited)}]"
        result.citations.append(Citation(len(cited), passage))
        result.notice = "the model's answer left out part of the question; the closest passage for it is quoted"


def own_terms(asked: Question) -> list[frozenset[str]]:
    """For each part of the question, the words it has and the other parts lack, slot words aside."""
    return [
        key_terms(part) - key_terms(" ".join(p for p in asked.parts if p != part)) - SLOT_TERMS for part in asked.parts
    ]


def closest_to(own: frozenset[str], passages: list[Passage]) -> Passage | None:
    """The passage closest to a part: the share of the part's own words it holds plus its cosine similarity
    to the question (which finds what the words miss; on dev, 1 more extract right and citation precision
    +0.003 over the words alone), the earlier on a tie; None for a passage sharing fewer than two words."""
    shared = [len(own & key_terms(p.text)) for p in passages]
    scored = [(n / len(own) + p.similarity, -i) for i, (n, p) in enumerate(zip(shared, passages)) if n >= 2]
    return passages[-max(scored)[1]] if scored else None


def by_part(asked: Question, passages: list[Passage]) -> list[Passage]:
    """The closest passage of each part of the question, in the passages' order, each once."""
    picked = {id(p): p for own in own_terms(asked) if (p := closest_to(own, passages))}
    return [p for p in passages if id(p) in picked]


def abstain(result: Answer, asked: Question, passages: list[Passage], settings: Settings) -> None:
    """The documents don't answer. If they cover the topic but not the detail asked, say which detail is
    missing and cite the closest passage, so the user can check."""
    result.text, result.abstained = NO_ANSWER, True
    if passages and result.features.get("coverage", 0.0) >= settings.partial_min_coverage:
        result.text = f"The documents don't say {asked.what}; the closest passage is [1]."
        result.citations = [Citation(1, passages[0])]


def check_history(history: object) -> list[dict]:
    """Earlier turns as {role, content} dicts; anything else is a clear error, not a crash."""
    if history is None:
        return []
    if not isinstance(history, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in history
    ):
        raise RagError('history must be a list of {"role": ..., "content": ...} objects with string values')
    return history


def earlier_question(question: str, history: list[dict], depth: int = 3) -> str | None:
    """The previous question, if this one is a follow-up that depends on it ("and who ordered it?"). When
    that one was a follow-up too, the questions it followed come with it, up to `depth` in all: "When did
    Russia leave Kherson? and who ordered it?" for "why did he order it?"."""
    previous = [str(m["content"]) for m in history if m.get("role") == "user" and m.get("content")]
    if not previous or not follows(question):
        return None
    chain = [previous.pop()]
    while previous and len(chain) < depth and follows(chain[0]):
        chain.insert(0, previous.pop())
    return " ".join(chain)


def earlier_answer(history: list[dict], words: int | None = None) -> str | None:
    """The last answer (its first `words`, markers dropped): a follow-up's "he" or "the village" is often
    named there, not in the question it follows. None when that answer was an abstention."""
    said = [str(m["content"]) for m in history if m.get("role") == "assistant" and m.get("content")]
    if not said or said[-1].startswith(NO_ANSWER[:-1]):
        return None
    return " ".join(MARKER.sub("", said[-1]).split()[:words])


def follows(question: str) -> bool:
    """Does the question lean on an earlier one: short, or opening with "and", or saying "it", "he"…?"""
    return len(question.split()) <= 6 or bool(FOLLOW_UP.search(question))


def claim_context(passage: Passage) -> str:
    """How the claim check reads a passage: its text with dates resolved and its date label, no title."""
    meta = passage.node.metadata
    text = resolve_relative_dates(passage.text, meta.get("date"))
    return f"{text}\n({meta['when']})" if meta.get("when") else text


def extract(
    result: Answer, passages: list[Passage], asked: Question, settings: Settings, grounds: list[Passage] = ()
) -> None:
    """Answer with the best passages themselves (`extracts`)."""
    quote(result, extracts(passages, asked, settings, grounds))


def quote(result: Answer, best: list[Passage]) -> None:
    """The passages as the answer, cited; "on Friday" gets its date in brackets."""
    result.extractive = True
    quoted = [resolve_relative_dates(p.text, p.node.metadata.get("date")) for p in best]
    result.text = " ".join(f"{text} [{i}]" for i, text in enumerate(quoted, 1))
    result.citations = [Citation(i, p) for i, p in enumerate(best, 1)]


def extracts(
    passages: list[Passage], asked: Question, settings: Settings, grounds: list[Passage] = ()
) -> list[Passage]:
    """The passages that answer best on their own.

    A question in several parts gets the passage closest to each part (on dev, 1 more of the 25 such items
    right). Another question that compares or combines gets the best passage of each of the two best files
    (`file_pair`; on dev, cross-document key facts 3/8 -> 5/8, 6/8 with `finish`'s one-sided rule).
    A when / how many / who / where question gets the one passage whose filler of that kind sits closest
    to its terms (on dev: citation precision 0.785 -> 0.807, no key fact lost); others the one or two that
    hold most of its terms (`closest_passages`).
    Given `grounds` (`finish` passes them for other questions whose model answer failed the claim check only
    for restating the question in words the passages do not use), it shows the passages that hold what the
    answer added (on dev, 249 items: citation precision 0.715 -> 0.743, right outcome unchanged), and the best
    passage too when it comes from another file: the model often drew on one document of a question that
    spans two (on dev: right outcome 0.703 -> 0.711, citation precision 0.743 -> 0.739).
    Showing more of a comparison's passages finds more key facts but cites more that is not evidence: the two
    best of each of the two files, on dev right outcome 0.761 -> 0.764 and citation precision 0.764 -> 0.712;
    all five, 0.768 and 0.641; a third file's best, no outcome changed."""
    if grounds:
        best = list(grounds[:2])
        if files(passages[:1]) - files(best):
            best = [best[0], passages[0]]
    elif len(asked.parts) > 1 and len(parted := by_part(asked, passages)) > 1:
        best = parted
    elif asked.per_file and len(pair := file_pair(asked, passages)) == 2:
        best = pair
    elif asked.slot in TYPED_SLOTS:
        scores = slot_scores(asked, passages, settings.typo_similarity)
        best = [passages[max(range(len(passages)), key=lambda i: (scores[i], -i))]]
    else:
        best = closest_passages(asked, passages, settings)
    return best


def closest_passages(asked: Question, passages: list[Passage], settings: Settings) -> list[Passage]:
    """The passage closest to the question, and the runner-up too when the closest is thin (shorter than
    `Settings.extract_thin_words`) and the runner-up's score is within `Settings.extract_runner_up` of its
    score, in the passages' order. Closest: the share of the question's terms its sentence (with
    the one before it) holds, plus its best sentence's cosine similarity to the question, which finds a
    paraphrase the terms miss. The top-scored passage is often about the topic, not the detail asked (terms
    alone, on dev: citation precision 0.782 -> 0.785; adding the similarity, on 365 dev items, 0.762 ->
    0.772 with the right outcome unchanged; weighting it 0.5 or 2 changes that by 0.003 at most)."""
    scores = slot_scores(asked, passages, settings.typo_similarity)
    order = sorted(range(len(passages)), key=lambda i: (-(scores[i] + passages[i].similarity), i))
    thin = len(passages[order[0]].text.split()) < settings.extract_thin_words
    close_second = len(order) > 1 and passages[order[1]].score > passages[order[0]].score - settings.extract_runner_up
    if thin and close_second:
        return [passages[i] for i in sorted(order[:2])]
    return [passages[order[0]]]


def files(passages: list[Passage]) -> set[str]:
    return {p.node.metadata["file"] for p in passages}


def file_pair(asked: Question, passages: list[Passage]) -> list[Passage]:
    """The best passage of each of the two best files (they come first: rag.evidence). A question that spans
    two times ("in 2022 … by the 2023 roundup", "the following spring") gets its second from a file not dated
    in the first one's year: two reports of the same week cannot answer how things changed a year later."""
    if not passages:
        return []
    best, year = passages[0], passage_year(passages[0])
    for p in passages[1:]:
        other_file = p.node.metadata["file"] != best.node.metadata["file"]
        if other_file and not (asked.spans_years and year and passage_year(p) == year):
            return [best, p]
    return [best]


def one_sided(asked: Question, cited: list[Passage]) -> bool:
    """Does an answer to a comparison cite one document only, or, for a question spanning two times, only
    documents dated in one year?"""
    years = {passage_year(p) for p in cited}
    return len(files(cited)) < 2 or (asked.spans_years and len(years) == 1 and None not in years)


def passage_year(passage: Passage) -> str | None:
    """The year its post or document is dated in; None when undated."""
    day = passage.node.metadata.get("date")
    return str(day)[:4] if day else None


def ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
