"""Real documents for the loader tests, written with real libraries: fpdf2 (PDF), python-docx (DOCX)."""

from __future__ import annotations

from pathlib import Path

# A made-up town report: facts no seed mentions, one topic per page, so a question has one right page.
PDF_PAGES = [
    "Harbour report of Vellmar for the year. The harbour of Vellmar handled 1,240 ships during the year. "
    "The pier was repaired in the spring after the winter storms damaged its wooden deck.",
    "Fishing. The Vellmar fishing fleet landed 3,800 tonnes of herring. Cod catches fell by a third "
    "because the cold currents moved north. Eleven new trawlers joined the cooperative.",
    "Observatory. The Lindqvist observatory on the hill above Vellmar recorded 412 meteors on the night of "
    "9 August. Its new telescope has a mirror of 1.2 metres. Schools visited the observatory every Friday.",
    "Budget. The town council spent 2.3 million crowns on roads and 900,000 crowns on the library. "
    "The mayor, Ingrid Sol, said the budget would be balanced next year.",
]
PAGE3_SENTENCE = "The Lindqvist observatory on the hill above Vellmar recorded 412 meteors on the night of 9 August."

MARKDOWN = """# The Orrin Valley railway

The railway through the **Orrin Valley** opened in 1911 and carried *slate* from the quarries.

## Closure

The line closed in 1967 after the last quarry shut. See [the archive](https://example.org/archive) for
the timetables of its final year.

## Restoration

Volunteers reopened four kilometres of track in 2004; a steam engine called `Bryn` pulls the trains.
"""

HTML = """<!DOCTYPE html>
<html><head><title>Glass museum of Tarnow Bay</title>
<style>body { color: red; }</style><script>var tracking = "COOKIE-TRACKER";</script></head>
<body>
<header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/shop">Shop</a></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<main>
<h1>The glass museum</h1>
<p>The glass museum of Tarnow Bay holds 6,000 pieces of blown glass, the oldest from 1620.</p>
<p>Its furnace is lit every Saturday &amp; Sunday, when glassblowers
show visitors how a vase is made.</p>
<h2>Opening hours</h2>
<p>The museum opens at 10 o'clock and closes at 17 o'clock from April to October.</p>
</main>
<footer>Copyright Tarnow Bay Tourism. Follow us on social media.</footer>
</body></html>
"""

DOCX_SECTIONS = [
    ("Beekeeping at Morrow Farm", None),
    ("Hives", "Morrow Farm keeps 38 hives of black bees on the heath. Each hive gave 14 kilograms of honey."),
    ("Swarms", "A swarm left the orchard hive in June and settled in the church tower for three days."),
]


def make_pdf(path: Path, pages: list[str] = PDF_PAGES) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def make_docx(path: Path, sections: list[tuple[str, str | None]] = DOCX_SECTIONS) -> Path:
    import docx

    document = docx.Document()
    for heading, body in sections:
        document.add_heading(heading, level=0 if body is None else 1)
        if body:
            document.add_paragraph(body)
    document.save(str(path))
    return path


def make_corpus(folder: Path) -> Path:
    """One file of each format in `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    make_pdf(folder / "vellmar-report.pdf")
    make_docx(folder / "morrow-bees.docx")
    (folder / "orrin-railway.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "tarnow-glass.html").write_text(HTML, encoding="utf-8")
    (folder / "notes.txt").write_text("The ferry to Skarra Island leaves at 7 every morning.\n", encoding="utf-8")
    return folder


# A gold file for the corpus above (the README's example of a gold file for your own documents).
GOLD = [
    {"id": "own-01", "question": "How many meteors did the Lindqvist observatory record?", "answer": "412",
     "key_facts": [["412"]], "sources": [{"file": "vellmar-report.pdf", "evidence": "recorded 412 meteors"}]},
    {"id": "own-02", "question": "How many ships did the harbour of Vellmar handle?", "answer": "1,240",
     "key_facts": [["1,240"]], "sources": [{"file": "vellmar-report.pdf", "evidence": "handled 1,240 ships"}]},
    {"id": "own-03", "question": "How much herring did the fishing fleet land?", "answer": "3,800 tonnes",
     "key_facts": [["3,800"]], "sources": [{"file": "vellmar-report.pdf", "evidence": "3,800 tonnes of herring"}]},
    {"id": "own-04", "question": "Who is the mayor of Vellmar?", "answer": "Ingrid Sol",
     "key_facts": [["Ingrid Sol"]], "sources": [{"file": "vellmar-report.pdf", "evidence": "Ingrid Sol"}]},
    {"id": "own-05", "question": "How many hives does Morrow Farm keep?", "answer": "38",
     "key_facts": [["38"]], "sources": [{"file": "morrow-bees.docx", "evidence": "keeps 38 hives"}]},
    {"id": "own-06", "question": "Where did the swarm settle?", "answer": "In the church tower",
     "key_facts": [["church tower"]], "sources": [{"file": "morrow-bees.docx", "evidence": "the church tower"}]},
    {"id": "own-07", "question": "When did the Orrin Valley railway close?", "answer": "1967",
     "key_facts": [["1967"]], "sources": [{"file": "orrin-railway.md", "evidence": "closed in 1967"}]},
    {"id": "own-08", "question": "What is the steam engine on the restored line called?", "answer": "Bryn",
     "key_facts": [["Bryn"]], "sources": [{"file": "orrin-railway.md", "evidence": "Bryn"}]},
    {"id": "own-09", "question": "How many pieces of blown glass does the Tarnow Bay museum hold?",
     "answer": "6,000", "key_facts": [["6,000"]],
     "sources": [{"file": "tarnow-glass.html", "evidence": "6,000 pieces of blown glass"}]},
    {"id": "own-10", "question": "When does the glass museum close?", "answer": "At 17 o'clock",
     "key_facts": [["17"]], "sources": [{"file": "tarnow-glass.html", "evidence": "closes at 17 o'clock"}]},
    {"id": "own-11", "question": "When does the ferry to Skarra Island leave?", "answer": "At 7 every morning",
     "key_facts": [["7"]], "sources": [{"file": "notes.txt", "evidence": "leaves at 7 every morning"}]},
]  # fmt: skip


def write_gold(path: Path) -> Path:
    import json

    path.write_text("".join(json.dumps(item) + "\n" for item in GOLD), encoding="utf-8")
    return path
