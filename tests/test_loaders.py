"""rag.loaders on real files written by real libraries: each format's text, sections, pages and exact offsets."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rag.loaders
from rag.documents import DocumentError, SourceDoc
from rag.loaders import find_files, load, load_all
from tests.make_docs import HTML, MARKDOWN, PAGE3_SENTENCE, make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def docs(corpus: Path) -> dict[str, SourceDoc]:
    loaded, warnings = load_all(find_files([corpus]))
    assert warnings == []
    return {d.file: d for d in loaded}


def all_text(doc: SourceDoc) -> str:
    return " ".join(seg.text for s in doc.sections for seg in s.segments)


def test_each_format_has_its_loader(docs: dict[str, SourceDoc]) -> None:
    formats = {name: d.format for name, d in docs.items()}
    assert formats == {
        "vellmar-report.pdf": "pdf",
        "morrow-bees.docx": "docx",
        "orrin-railway.md": "markdown",
        "tarnow-glass.html": "html",
        "notes.txt": "txt",
    }


def test_every_segment_is_a_verbatim_slice_of_the_document_text(docs: dict[str, SourceDoc]) -> None:
    for doc in docs.values():
        for section in doc.sections:
            for seg in section.segments:
                assert doc.text[seg.start : seg.end] == seg.text, doc.file


@pytest.mark.parametrize(("name", "original"), [("orrin-railway.md", MARKDOWN), ("tarnow-glass.html", HTML)])
def test_markup_offsets_are_offsets_into_the_original_file(
    docs: dict[str, SourceDoc], name: str, original: str
) -> None:
    doc = docs[name]
    assert len(doc.text) == len(original)  # markup is blanked out, never removed
    for section in doc.sections:
        for seg in section.segments:
            words = seg.text.split()
            cursor = seg.start
            for word in words:  # the same words in the same order in the original span
                found = original.find(word.rstrip("&"), cursor, seg.end)
                assert found >= 0, (name, word, original[seg.start : seg.end])
                cursor = found + 1


def test_markdown_headings_become_titles_and_markup_is_dropped(docs: dict[str, SourceDoc]) -> None:
    doc = docs["orrin-railway.md"]
    assert [s.title for s in doc.sections] == ["The Orrin Valley railway", "Closure", "Restoration"]
    text = all_text(doc)
    assert "Orrin Valley" in text and "slate" in text and "the archive" in text
    assert not any(mark in text for mark in ("**", "](", "https://", "#", "`"))


def test_html_keeps_title_and_content_and_drops_boilerplate(docs: dict[str, SourceDoc]) -> None:
    doc = docs["tarnow-glass.html"]
    assert [s.title for s in doc.sections] == ["The glass museum", "Opening hours"]
    text = all_text(doc)
    assert "6,000 pieces of blown glass" in text and "every Saturday &" in text and "&amp;" not in text
    for boilerplate in ("Home", "cookies", "Copyright", "COOKIE-TRACKER", "color: red", "Shop"):
        assert boilerplate not in text


def test_html_text_before_any_heading_is_under_the_page_title(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<html><head><title>Kettle news</title></head><body><p>The kettle boiled.</p></body></html>")
    assert [s.title for s in load(page).sections] == ["Kettle news"]


def test_pdf_gives_one_section_per_page_with_its_number(docs: dict[str, SourceDoc]) -> None:
    doc = docs["vellmar-report.pdf"]
    assert doc.pages == 4 and [s.page for s in doc.sections] == [1, 2, 3, 4]
    page3 = " ".join(seg.text for seg in doc.sections[2].segments)
    assert PAGE3_SENTENCE in page3
    assert PAGE3_SENTENCE not in " ".join(seg.text for s in doc.sections if s.page != 3 for seg in s.segments)
    assert doc.extracted  # its offsets index the extracted text, which ingest stores


def test_docx_headings_become_sections(docs: dict[str, SourceDoc]) -> None:
    doc = docs["morrow-bees.docx"]
    assert [s.title for s in doc.sections] == ["Hives", "Swarms"]
    assert "38 hives of black bees" in all_text(doc)


def test_sources_are_identified_by_their_resolved_path(docs: dict[str, SourceDoc], corpus: Path) -> None:
    assert {d.path for d in docs.values()} == {str(p.resolve()) for p in corpus.iterdir()}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip at all", "not a readable Word file"),
        ("picture.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("empty.md", b"   \n", "empty file"),
    ],
)
def test_a_broken_or_unsupported_file_is_skipped_with_one_warning_naming_it(
    corpus: Path, tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    docs, warnings = load_all([bad, corpus / "notes.txt"])
    assert [d.file for d in docs] == ["notes.txt"]
    assert len(warnings) == 1 and name in warnings[0] and reason in warnings[0], warnings


def test_include_and_exclude_globs_filter_folders(corpus: Path) -> None:
    assert [p.name for p in find_files([corpus], include=["*.pdf", "*.md"])] == [
        "orrin-railway.md",
        "vellmar-report.pdf",
    ]
    assert "notes.txt" not in [p.name for p in find_files([corpus], exclude=["*.txt"])]


def test_a_missing_path_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no-such-folder"):
        find_files([tmp_path / "no-such-folder"])


def test_documents_and_loaders_have_no_import_cycle() -> None:
    """The types module imports no loader (checked in a fresh process); a loader imports no other loader."""
    code = "import sys, rag.documents; print(sorted(m for m in sys.modules if m.startswith('rag.loaders')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "[]", out.stderr
    for module in (Path(rag.loaders.__file__).parent).glob("*.py"):
        if module.name == "__init__.py":
            continue
        imported = {node.module for node in ast.walk(ast.parse(module.read_text())) if isinstance(node, ast.ImportFrom)}
        assert {m for m in imported if m and m.startswith("rag")} <= {"rag.documents"}, module.name
