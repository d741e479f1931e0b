"""rag.documents and rag.liveblog_json on the real seeds: clean text, titles, dates, no markup, no duplicates."""

from __future__ import annotations

import re

import pytest
from llama_index.core.schema import TextNode

from rag.chunking import chunk_documents
from rag.config import Settings
from rag.documents import DocumentError, SourceDoc
from rag.loaders import load_seeds
from tests.conftest import SEEDS

F000 = "000_0fc9fab1ffc6223a.txt"
F001 = "001_dba3cdc016d1cf37.txt"
F002 = "002_a3e9cd5b9989adce.txt"
F003 = "003_51635e4d9e4636c5.txt"
F004 = "004_03cfe2dca04b571e.txt"

# Leftovers of the Guardian page JSON (quotes turned curly by the paste), HTML and escapes. Tweet text
# itself ("pic.twitter.com/e7Elxhxbbp — NEXTA (@nexta_tv)") is prose and may stay.
MARKUP = [
    "elementId",
    "_type",
    "dotcomrendering",
    "pageElements",
    "TextBlockElement",
    "TweetBlockElement",
    "ImageBlockElement",
    "BlockquoteBlockElement",
    "RichLinkBlockElement",
    "blockFirstPublished",
    "blockCreatedOn",
    "blockLastUpdated",
    "primaryDateLine",
    "secondaryDateLine",
    "contributors",
    "isThirdPartyTracking",
    "hasMedia",
    "keyEvent",
    "imageUrl",
    "allImages",
    "mimeType",
    "key-events-carousel",
    "filterKeyEvents",
    "”:”",
    "“:”",
    '":"',
    "”,”",
    "“,”",
    '","',
    "”:",
    '":',
    "html”",
    "”html",
    '"html',
    "{“",
    "{”",
    '{"',
    "“}",
    "”}",
    '"}',
    "[{",
    "}]",
    "{",
    "}",
    "″",
    "/>",
    "”>",
    '">',
    "<",
    ">",
    "\\u",
    "\\n",
    '\\"',
    "&quot;",
    "&amp;",
    "https://i.guim",
    "i.guim.co.uk",
    "media.guim.co.uk",
    "https://twitter.com",
    "https://www.theguardian.com",
    "width=",
    "quality=",
    "Updated at",
    "Key events",
    "Show key events only",
    "JavaScript",
]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EPOCH_MS = re.compile(r"\b1668\d{9}\b")


@pytest.fixture(scope="module")
def docs() -> dict[str, SourceDoc]:
    loaded, warnings = load_seeds(SEEDS)
    assert warnings == []
    return {doc.file: doc for doc in loaded}


@pytest.fixture(scope="module")
def chunks(docs: dict[str, SourceDoc]) -> dict[str, list[TextNode]]:
    nodes = chunk_documents(list(docs.values()), Settings())
    by_file: dict[str, list[TextNode]] = {name: [] for name in docs}
    for node in nodes:
        by_file[node.metadata["file"]].append(node)
    return {name: sorted(ns, key=lambda n: n.metadata["start"]) for name, ns in by_file.items()}


def texts(nodes: list[TextNode]) -> str:
    return "\n".join(n.text for n in nodes)


# --- every seed -----------------------------------------------------------------------------------------


def test_every_seed_loads_as_its_original_text(docs: dict[str, SourceDoc]) -> None:
    assert sorted(docs) == sorted(p.name for p in SEEDS.iterdir())
    for name, doc in docs.items():
        assert doc.text == (SEEDS / name).read_text(encoding="utf-8")
        assert doc.sections, f"{name} has no sections"


def test_every_segment_is_a_verbatim_slice_of_the_original(docs: dict[str, SourceDoc]) -> None:
    for name, doc in docs.items():
        for section in doc.sections:
            for seg in section.segments:
                assert seg.text.strip(), f"{name}: empty segment at {seg.start}"
                assert doc.text[seg.start : seg.end] == seg.text, f"{name}: segment at {seg.start} moved"


@pytest.mark.parametrize(
    ("name", "date"),
    [(F000, "2022-11-06"), (F001, None), (F002, "2022-11-11"), (F003, None), (F004, "2023-04-07")],
)
def test_seed_dates(docs: dict[str, SourceDoc], name: str, date: str | None) -> None:
    assert docs[name].date == date


def test_date_prefix_is_metadata_not_text(chunks: dict[str, list[TextNode]]) -> None:
    for name in (F000, F004):
        assert not any("date 20" in n.text for n in chunks[name])
    assert chunks[F000][0].text.startswith("Ukrainian soldiers fires a round")
    assert chunks[F004][0].text.startswith("The months-long battle for Bakhmut")


def test_undated_seeds_give_chunks_without_a_date(chunks: dict[str, list[TextNode]]) -> None:
    for name in (F001, F003):
        assert all("date" not in n.metadata and "when" not in n.metadata for n in chunks[name])


def test_dated_seed_chunks_carry_the_day(chunks: dict[str, list[TextNode]]) -> None:
    for node in chunks[F004]:
        assert node.metadata["date"] == "2023-04-07"
        assert node.metadata["when"] == "Friday 7 April 2023"


def test_missing_seeds_dir_raises(tmp_path) -> None:
    with pytest.raises(DocumentError, match="not found"):
        load_seeds(tmp_path / "nope")


# --- 000: the Telegraph live blog with "12:01 PM" lines -------------------------------------------------

TELEGRAPH_POSTS = [
    # (title, clock on 2022-11-06 (UK time), first words of the post)
    ("Dam damaged in occupied Kherson, Russians claim", "12:01", "Russian occupiers in Kherson are claiming"),
    ("'Hourly' destruction in the East - Ukrainian state TV", "11:14", "The Associated Press reports"),
    ("Iran 'lying' over military support for Russia", "09:59", "Volodymr Zelensky has accused Iran"),
    ("Another Russian officer sacked over operational shambles", "09:03", "This morning's intelligence update"),
    (
        "Dispatch: How a history lesson, a pro-Russian politician and dozens of cement mixers saved the key "
        "city of Kryvyi Rih",
        "08:28",
        "Oleksandr Vilkul had no military experience",
    ),
]


@pytest.mark.parametrize(("title", "clock", "opening"), TELEGRAPH_POSTS)
def test_telegraph_posts_get_title_and_time(
    chunks: dict[str, list[TextNode]], title: str, clock: str, opening: str
) -> None:
    post = [n for n in chunks[F000] if n.metadata.get("title") == title]
    assert post, f"no chunk titled {title!r}"
    assert post[0].text.startswith(opening)
    for node in post:
        assert node.metadata["date"].startswith(f"2022-11-06T{clock}"), node.metadata["date"]
        assert node.metadata["when"] == "Sunday 6 November 2022"


def test_telegraph_time_lines_and_titles_are_not_body_text(chunks: dict[str, list[TextNode]]) -> None:
    body = texts(chunks[F000])
    assert not re.search(r"\b\d{2}:\d{2} [AP]M\b", body)
    for title, _, _ in TELEGRAPH_POSTS:
        assert title not in body
    first = chunks[F000][0]
    assert "title" not in first.metadata and first.metadata["date"] == "2022-11-06"


# --- 001: plain text ending in teaser links ---------------------------------------------------------------

TEASERS = [
    "For the first time in Iran's aviation history",
    "Tehran’s Cyber Police Chief",
    "Doha will stop gas shipments",
    "At least 15,000 British soldiers",
    "Journalists have identified the names of 84,761",
    "The United States Navy has inadvertently shot down",
]


def test_trailing_teasers_are_dropped_but_the_last_paragraph_is_kept(
    docs: dict[str, SourceDoc], chunks: dict[str, list[TextNode]]
) -> None:
    original = docs[F001].text
    for teaser in TEASERS:
        assert teaser in original  # they are in the seed...
        assert teaser not in texts(chunks[F001]), teaser  # ...but in no chunk
    first_teaser = original.index(TEASERS[0])
    assert all(n.metadata["end"] <= first_teaser for n in chunks[F001])
    last = chunks[F001][-1]
    assert last.text.endswith(
        "Russian missiles must be destroyed before launch in the air, on land and at sea,” he said."
    )
    assert original[: last.metadata["end"]].rstrip().endswith("on land and at sea,” he said.")


# --- 003: headed sections and a navigation link ---------------------------------------------------------


def test_navigation_link_is_dropped(docs: dict[str, SourceDoc], chunks: dict[str, list[TextNode]]) -> None:
    assert "All News ›" in docs[F003].text
    body = texts(chunks[F003])
    assert "All News" not in body and "›" not in body
    assert chunks[F003][-1].text.endswith("Promote Ukraine")


@pytest.mark.parametrize(
    ("title", "words"),
    [
        ("Polish Truckers Block Border with Ukraine", "Polish truckers will block several border crossings"),
        ("A Stalemate", "said that the war has reached a stalemate"),
        ("Prank Call in Italy", "during a hoax call by Russian pranksters"),
    ],
)
def test_headed_sections_give_their_heading_as_title(chunks: dict[str, list[TextNode]], title: str, words: str) -> None:
    holding = [n for n in chunks[F003] if words in n.text]
    assert holding and all(n.metadata.get("title") == title for n in holding)
    assert all(title not in n.text for n in chunks[F003])


# --- 002: the Guardian live blog pasted with its page JSON ---------------------------------------------


def test_liveblog_json_is_recognised(chunks: dict[str, list[TextNode]]) -> None:
    assert len(chunks[F002]) > 10
    assert {n.metadata["date"][:10] for n in chunks[F002]} == {"2022-11-11"}


def test_no_liveblog_chunk_contains_markup(chunks: dict[str, list[TextNode]]) -> None:
    for node in chunks[F002]:
        shown = [node.text, str(node.metadata.get("title", ""))]
        for text in shown:
            found = [m for m in MARKUP if m in text]
            assert not found, f"{node.node_id} contains {found}: {text[:300]!r}"
            assert not UUID.search(text), f"{node.node_id} contains an element id"
            assert not EPOCH_MS.search(text), f"{node.node_id} contains an epoch timestamp"


# The key-events JSON gives each post's blockFirstPublished in epoch milliseconds. Worked by hand:
# 2022-11-11T00:00Z = 19307 days * 86400 = 1668124800 s, and EST = UTC-5 on 11 Nov (DST ended 6 Nov).
#   1668167499000: +42699 s = 11:51:39Z = 06:51 EST   Putin's press spokesperson denies ...
#   1668166229000: +41429 s = 11:30:29Z = 06:30 EST   Ukrainian army arrives in centre of Kherson city
#   1668165736000: +40936 s = 11:22:16Z = 06:22 EST   Social media posts appear to show ...
#   1668162318000: +37518 s = 10:25:18Z = 05:25 EST   Russia defence ministry claims Kherson withdrawal complete
#   1668160496000: +35696 s = 09:54:56Z = 04:54 EST   Ukrainian flag raised in Kherson ...
#   1668151012000: +26212 s = 07:16:52Z = 02:16 EST   Russian attacks have 'disproportionate' impact ...
#   1668147444000: +22644 s = 06:17:24Z = 01:17 EST   US to send $400m more in military aid to Ukraine
#   1668146389000: +21589 s = 05:59:49Z = 00:59 EST   Russian withdrawal from Kherson city will take one week ...
#   1668145443000: +20643 s = 05:44:03Z = 00:44 EST   Ukraine closes in on Kherson, reclaims dozens of towns
#   1668144457000: +19657 s = 05:27:37Z = 00:27 EST   Summary and welcome
# Posts without a title in the JSON take their time from the page body's "Updated at 05.32 EST".
PUTIN_TITLE = "Putin’s press spokesperson denies Kherson withdrawal is ‘humiliating'"  # the JSON's own quotes
GUARDIAN_POSTS = [
    # (title, ISO time, first words of the post's text)
    (
        "Russian attacks have ‘disproportionate’ impact on civilians – UK MoD",
        "2022-11-11T02:16:00-05:00",
        "Russian attacks on electricity facilities",
    ),
    ("US to send $400m more in military aid to Ukraine", "2022-11-11T01:17:00-05:00", "The US will send $400m"),
    (
        "Russian withdrawal from Kherson city will take one week, Ukraine says",
        "2022-11-11T00:59:00-05:00",
        "Ukraine’s defence minister Oleksii Reznikov has said",
    ),
    (
        "Ukraine closes in on Kherson, reclaims dozens of towns",
        "2022-11-11T00:44:00-05:00",
        "Ukraine says its forces have reclaimed dozens",
    ),
    ("Summary and welcome", "2022-11-11T00:27:00-05:00", "Hello and welcome back to the Guardian’s live coverage"),
    (None, "2022-11-11", "The United Nations has been holding talks"),
    (PUTIN_TITLE, "2022-11-11T06:51:00-05:00", "Vladimir Putin’s press spokesperson, Dmitry Peskov, denied"),
    (None, "2022-11-11", "More photos here of people waiting"),
    (
        "Ukrainian army arrives in centre of Kherson city",
        "2022-11-11T06:30:00-05:00",
        "Ukraine’s armed forces were reported to have reached",
    ),
    (
        "Social media posts appear to show Ukrainian troops in Kherson city",
        "2022-11-11T06:22:00-05:00",
        "Ukrainian soldiers appear to have entered Kherson city",
    ),
    (None, "2022-11-11", "People across the UK will fall silent"),
    (
        "Russia defence ministry claims Kherson withdrawal complete",
        "2022-11-11T05:25:00-05:00",
        "Russia’s defence ministry has claimed",
    ),
    (None, "2022-11-11T05:32:00-05:00", "The Russian military’s retreat from the southern"),
    (None, "2022-11-11T05:33:00-05:00", "An unidentified Russian soldier"),
    (
        "Ukrainian flag raised in Kherson amid chaotic Russian retreat",
        "2022-11-11T04:54:00-05:00",
        "Russia’s retreat from the key strategic city",
    ),
    (None, "2022-11-11T04:23:00-05:00", "The Antonivskiy Bridge"),
    (None, "2022-11-11T04:24:00-05:00", "The US has encouraged Ukraine"),
]
# Each rendered post in the page body starts a line with its title (and byline): one post per line.
BODY_POST_OPENINGS = [
    "The United Nations has been holding talks",
    "Putin’s press spokesperson denies",
    "More photos here",
    "Ukrainian army arrives in centre",
    "Social media posts appear",
    "People across the UK",
    "Russia defence ministry claims",
    "The Russian military’s retreat",
    "An unidentified Russian soldier",
    "Ukrainian flag raised in Kherson",
    "The Antonivskiy Bridge",
    "The US has encouraged",
]


@pytest.mark.parametrize(("title", "date", "opening"), GUARDIAN_POSTS, ids=[p[2][:30] for p in GUARDIAN_POSTS])
def test_guardian_posts_get_title_and_time(
    chunks: dict[str, list[TextNode]], title: str | None, date: str, opening: str
) -> None:
    found = [(n.metadata.get("title"), n.metadata["date"]) for n in chunks[F002] if n.text.startswith(opening)]
    assert (title, date) in found, f"post {opening!r}: expected {(title, date)}, chunks starting so: {found}"


def test_guardian_post_text_does_not_repeat_its_title_and_byline(chunks: dict[str, list[TextNode]]) -> None:
    for node in chunks[F002]:
        title = node.metadata.get("title")
        if title:
            assert not node.text.startswith(title[:30]), node.node_id
    assert not any("Peter Beaumont" in n.text for n in chunks[F002])


def test_every_key_event_title_is_one_post(chunks: dict[str, list[TextNode]]) -> None:
    dates: dict[str, set[str]] = {}
    for node in chunks[F002]:
        if "title" in node.metadata:
            dates.setdefault(node.metadata["title"], set()).add(node.metadata["date"])
    expected = {title: {date} for title, date, _ in GUARDIAN_POSTS if title}
    assert dates == expected


def post_boundaries(original: str) -> list[int]:
    """Offsets between two posts, found without the parser: JSON post ends, "Updated at", body lines."""
    carousel_end = original.index("key-events-carousel")
    bounds = [m.start() for m in re.finditer("blockFirstPublished", original)]
    bounds += [m.start() for m in re.finditer("Updated at", original)]
    bounds.append(carousel_end)
    for opening in BODY_POST_OPENINGS:
        at = original.find("\n" + opening, carousel_end)
        assert at > 0, f"test table out of date: {opening!r} not in the page body"
        bounds.append(at + 1)
    return sorted(bounds)


def test_no_chunk_spans_two_posts(docs: dict[str, SourceDoc], chunks: dict[str, list[TextNode]]) -> None:
    bounds = post_boundaries(docs[F002].text)
    for node in chunks[F002]:
        start, end = node.metadata["start"], node.metadata["end"]
        crossed = [b for b in bounds if start < b < end]
        assert not crossed, f"{node.node_id} [{start}:{end}] runs across a post boundary at {crossed}"


def post_key(node: TextNode) -> tuple[str | None, str]:
    return node.metadata.get("title"), node.metadata["date"]


def shingles(text: str, n: int = 12) -> set[tuple[str, ...]]:
    words = re.sub(r"[\"'“”‘’″]", "", text.lower()).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_pasted_copies_do_not_duplicate_post_text(
    docs: dict[str, SourceDoc], chunks: dict[str, list[TextNode]]
) -> None:
    """The file holds each key event twice (JSON carousel and page body) and each tweet twice.

    Compared as 12-word runs: reporters reuse shorter phrases across posts ("Ukrainian shelling of troop
    crossings across the Dnipro River," is in two posts), a pasted copy repeats whole paragraphs.

    Text may repeat only as the one-sentence overlap between consecutive chunks of one post; the
    "Summary and welcome" post is the exception because the blog's own summary restates other posts.
    """
    original = docs[F002].text
    nodes = chunks[F002]
    for node in nodes:
        words = re.sub(r"[\"'“”‘’″]", "", node.text.lower()).split()
        assert len(shingles(node.text)) == len(words) - 11, f"{node.node_id} repeats its own text"
    for i, a in enumerate(nodes):
        for j in range(i + 1, len(nodes)):
            b = nodes[j]
            overlap_allowed = j == i + 1 and post_key(a) == post_key(b)
            if overlap_allowed or "Summary and welcome" in (a.metadata.get("title"), b.metadata.get("title")):
                continue
            shared = shingles(a.text) & shingles(b.text)
            assert not shared, f"{a.node_id} and {b.node_id} share {' '.join(next(iter(shared)))!r}"
    # Pasted three times (pinned copy, JSON, page body), kept once:
    army = "Ukraine’s armed forces were reported to have reached the centre of Kherson city"
    assert original.count(army) == 3
    assert sum(army in n.text for n in nodes) == 1
    peskov = "Peskov said there were no regrets about the city in southern Ukraine"
    assert original.count(peskov) == 2
    assert sum(peskov in n.text for n in nodes) == 1
