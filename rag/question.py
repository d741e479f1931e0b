"""What a question asks for, read in code: the slot it wants filled (a date for "when", a number for
"how many", a person for "who", a place for "where", a credit for "which outlet reported it", a reason
for "why", a yes or no), its own terms, whether it leads ("just confirm that …"), and its parts ("X in 2022
and Y a year later").

The answer layer uses this to check that the evidence holds the kind of thing asked for, next to the
question's own terms, and that an answer adds something the question did not already say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.terms import SPELT_NUMBERS, key_terms

PLACES = (
    r"(city|cities|towns?|regions?|country|countries|villages?|rivers?|areas?|banks?|provinces?|oblasts?|places?"
    r"|bridges?|dams?|plants?|airports?|ports?|streets?|parks?|squares?|districts?|neighbou?rhoods?|venues?|buildings?"
    r"|locations?|sites?|bases?|capitals?)"
)
PEOPLE = (
    r"((official|leader|minister|person|president|commander|general|spokesperson|spokesman|mayor|governor|firm"
    r"|manufacturer|organi[sz]ation|group|brigade|unit|newspaper|broadcaster|outlet)s?"
    r"|company|companies|agency|agencies|party|parties|people)"
)
# "What did Kremlin spokesman Peskov say" asks what he said, not which spokesman: no verb before the noun.
NOT_VERB = r"(?!(?:did|does|do|was|is|were|has|have|had|will|would|can|could)\b)"
# "who", "where", "why" ask only where a question would put them: first, after a clause break, "and" or a verb
# of telling ("say who", "tell me where"); "the soldiers who disobey orders" and "a register of firms where
# shareholders…" are relative clauses. A keyword query with no other question word ("ambassador who warned
# about a dirty bomb") asks who.
ASKS = (
    r"(?:^\W*|[,;:.?!—–-]\s*|\b(?:and|but|or|so|then|me|us)\s+|\b(?:say|says|said|know|knows|known|tell|tells|told"
    r"|ask|asks|asked|reveal|revealed|name|named|confirm|confirmed|identify|identified|explain|explained|clear|unclear"
    r"|about|of|to|by|for|with|from)\s+|^(?!.*\b(?:what|which|how|when|where|why)\b).*\b)"
)
# "When Zelensky met the ambassador, what share … did he say?": a "when" clause that sets the scene of
# another question asks nothing.
NOT_A_CLAUSE = r"(?![^?]*,\s*(?:what|how|who|whom|whose|which|where|why|did|does|do|was|were|is|are|had|has)\b)"
# Who a report, photo or post is credited to: an outlet or agency, a photographer, a poster. News text names them in
# its own forms ("(Euractiv)", "Photograph: Steve Taylor/SOPA", "— NEXTA (@nexta_tv)", "told Reuters"), which a
# "who" reads as noise (rag.entities.fillers).
MEDIA = (
    r"(?:(?:news|media|press) )?(?:outlets?|newspapers?|papers?|publications?|broadcasters?|wire services?"
    r"|(?:news|press) agenc(?:y|ies)|news organi[sz]ations?)"
)
# Not a bare "post": "who took over his post" asks who succeeded him.
WORKS = (
    r"(?:photo(?:graph)?s?|fotos?|pictures?|images?|videos?|footage|clips?|tweets?"
    r"|(?:social[- ]media|blog|telegram|facebook|instagram) posts?)"
)
CREDIT = (
    rf"\b(?:which|what) (?:\w+ ){{0,2}}{MEDIA}\b"
    rf"|\bwho (?:took|shot|filmed|supplied|posted|tweeted|shared|published)\b(?! over)"
    rf"(?: (?:the|that|this|a|an|these|those))?(?: \w+){{0,2}}? {WORKS}\b|\bwho (?:tweeted|posted)\b"
    rf"|\bwhose (?:\w+ ){{0,2}}{WORKS}\b|\bwho is credited (?:with|for) (?:the |a )?(?:\w+ )?{WORKS}\b"
)
# The words a credit question asks with ("who took the photo", "which outlet does the roundup cite"): they name
# what is asked, not a claim the passage must echo; a photo's credit reads "Photograph: …", not "took".
CREDIT_TERMS = key_terms(
    "took taken take shot filmed supplied posted post tweeted tweet shared published photo photograph foto picture"
    " image video footage clip credited credit cite cited outlet outlets agency newspaper paper publication"
    " broadcaster news media press report reported social"
)
SLOTS: list[tuple[str, re.Pattern[str]]] = [  # the one matching earliest in the question wins (first_slot)
    ("date", re.compile(r"(?:^\W*|\b(?:and|but|so|then)\s+)(when|since when|until when)\b" + NOT_A_CLAUSE
                        + r"|\bwhat (time|day|date|year|month)\b|\bon what date\b"
                        r"|\bhow long ago\b|\bwhich (day|date|year|month)\b", re.I)),
    ("number", re.compile(r"\bhow (many|much|far|long|big|large|old|tall|high|deep|wide|heavy)\b"
                          r"|\bwhat (share|percentage|proportion|number|fraction|amount|total)\b"
                          r"|\bwhat(?:'s|’s| was| is| were| are) the (death toll|toll|number|total|cost"
                          r"|population|price|value|budget|size)\b", re.I)),
    ("credit", re.compile(CREDIT, re.I)),  # before "person": "who took the photo" asks for its credit
    ("person", re.compile(ASKS + r"(who|whom|whose)\b|\bwhat(?:'s| is| was) the name of (?!the " + PLACES + r"\b)"
                          r"|\b(which|what) " + NOT_VERB + r"(\w+ ){0,2}" + PEOPLE + r"\b", re.I)),
    ("place", re.compile(ASKS + r"where\b|\bwhich " + NOT_VERB + r"(\w+ ){0,2}" + PLACES + r"\b"
                         r"|\b(what|in what) " + PLACES + r"\b|\bname of the " + PLACES + r"\b", re.I)),
    ("reason", re.compile(ASKS + r"why\b|\bwhat (was|is|were) the (reason|motive|purpose|cause)\b"
                          r"|\bfor what reason\b|\bhow come\b|\bwhat (caused|led to|prompted|triggered)\b"
                          r"|\bhow (did|does|do|could|can) [^?]*\b(happen|occur|come about)\b", re.I)),
    ("yesno", re.compile(r"^\W*(is|was|are|were|did|does|do|has|have|had|can|could|will|would|isn't|wasn't|didn't"
                         r"|doesn't)\b|\bconfirm\b|\bisn'?t it true\b|\byes or no\b", re.I)),
]  # fmt: skip
# Openers that try to steer the bot rather than ask: stripped before retrieval, remembered as "leading".
# Some ask it to confirm a claim it can check; others to leave its sources ("off the record").
CONFIRM = (
    r"(?:(?:please |can you |could you )?(?:just )?confirm (?:for me )?(?:that )?"
    r"|isn'?t it true (?:that )?|is it true (?:that )?|answer (?:with )?yes or no:?\s*|yes or no:?\s*)"
)
OFF_SOURCES = (
    r"(?:ignore (?:the |your |all )?(?:articles?|documents?|sources?|instructions?)\b[^,.:;]*?"
    r"(?:[,.:;]\s*(?:and )?|\s+and\s+)"
    r"|(?:please )?make up (?:a )?(?:plausible )?(?:number|figure|answer|name)? ?(?:for )?)"
)
LEADING = re.compile(rf"^\W*(?:{CONFIRM}|{OFF_SOURCES})", re.I)
OFF_THE_RECORD = re.compile(rf"^\W*{OFF_SOURCES}", re.I)
# Questions that ask about two things at once, or compare: each part is retrieved on its own.
# ", and" before a question word a few words on is a second question too: "…, and firms from which countries
# were targeted?", "Who said that, and to which news agency?".
PART_SPLIT = re.compile(
    r"\s*(?:,?\s+and (?:what|which|how|who|when|where|why|did|was|were|is)\b"
    r"|,\s+and\s+(?=(?:[\w'’-]+\s+){1,3}(?:what|which|how|who|whom|when|where|why)\b)"
    r"|;|\bcompared (?:to|with)\b|\bversus\b|\bvs\.?\b|\bwhile\b|\bwhereas\b)\s*",
    re.I,
)
# Not "than": "faster than in February" compares within one report, and a comparison's answer must cite two.
# Nor a bare "each" ("in each attack"): "two different blogs … each of them", "these reports" point at documents
# (on dev, 3 questions say so and were not read as comparing; 1 more of them right).
COMPARISON = re.compile(
    r"\b(compare|comparison|differ|difference|change[ds]?|both|since then|versus|vs"
    r"|(?:these|the two) reports|two (?:different|separate)|each of them|each time|and again)\b",
    re.I,
)
# A question about one thing at two times ("the following spring", "a year on"): its evidence spans documents
# of each time, as does a question naming two years ("quoted in the 2022 coverage and again in 2023").
LATER = re.compile(r"\b((?:the )?following (?:spring|summer|autumn|fall|winter|year)|later that year"
                   r"|(?:months|a year|years) (?:later|on|after))\b", re.I)  # fmt: skip
YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
# Questions that ask for the exact detail ("where exactly", "what specific measures") or for a list of a given
# length ("which were the 12 settlements"): a passage about the topic, without that detail, does not answer them.
PRECISE = re.compile(
    r"\b(exactly|specific|specifically|precisely)\b"
    rf"|\b(what|which|who) (are|were) the (\d+|{'|'.join(SPELT_NUMBERS[1:])})\b",
    re.I,
)
# Words that say which slot is asked, not what about: not content a sentence must share.
SLOT_WORDS = (
    "number name reason date time day year month total amount place city town region country person official cause "
    "purpose confirm true yes no ignore make plausible articles article documents exactly precise precisely"
)
SLOT_TERMS = key_terms(SLOT_WORDS)  # "which number", "what date": words that name the slot


# Slots whose filler has a recognisable type; "why" answers ("to ensure…") are too varied to spot.
TYPED_SLOTS = ("date", "number", "person", "place", "credit")


@dataclass(frozen=True)
class Question:
    text: str  # as asked
    core: str  # without a leading opener ("just confirm that", "ignore the articles and")
    slot: str  # date | number | person | place | credit | reason | yesno | other
    leading: bool
    terms: frozenset[str]  # stemmed content terms, without the words that only name the slot
    parts: tuple[str, ...]  # sub-questions retrieved separately; (core,) for a simple question
    comparative: bool
    spans_years: bool  # about two times: two years named, or "a year later", "the following spring"

    @property
    def off_the_record(self) -> bool:
        """Does it tell the bot to leave its sources ("ignore the documents and…", "make up a number…"),
        rather than ask it to confirm a claim it can check?"""
        return bool(OFF_THE_RECORD.match(self.text))

    @property
    def precise(self) -> bool:
        """Does it ask for the exact detail or a list of a given length ("how exactly", "which were the 12…")?"""
        return bool(PRECISE.search(self.core))

    @property
    def per_file(self) -> bool:
        """Does it compare or combine things that may sit in different documents: evidence from each file."""
        return self.comparative or len(self.parts) > 1

    @property
    def what(self) -> str:
        """How an abstention names the missing detail: "The documents don't say how many …"."""
        return {
            "date": "when",
            "number": "the number asked for",
            "person": "who",
            "credit": "who it is credited to",
            "place": "where",
            "reason": "why",
        }.get(self.slot, "that")


def first_slot(text: str) -> str:
    """The slot the question asks first: "who did he phone, and how long did he back Ukraine?" asks who.
    A yes/no reading only when nothing else is asked ("Did the UN say who …?" asks who)."""
    found = [(m.start(), i, name) for i, (name, pattern) in enumerate(SLOTS) if (m := pattern.search(text))]
    asked = [f for f in found if f[2] != "yesno"] or found
    return min(asked)[2] if asked else "other"


@lru_cache(maxsize=1024)
def analyse(text: str) -> Question:
    core = LEADING.sub("", text).strip() or text
    leading = core != text
    slot = first_slot(core)
    if leading and slot == "other":
        slot = "yesno"
    terms = key_terms(core) - SLOT_TERMS
    parts = tuple(p for p in (s.strip(" ,?") for s in PART_SPLIT.split(core)) if len(p.split()) >= 3)
    spans_years = bool(LATER.search(core)) or len(set(YEAR.findall(core))) > 1
    comparative = bool(COMPARISON.search(core)) or spans_years
    return Question(text, core, slot, leading, terms or key_terms(core), parts or (core,), comparative, spans_years)
