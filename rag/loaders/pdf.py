"""PDF: the text of each page (pypdf), one section per page, so a chunk never spans two pages.

Offsets are into the extracted text: the pages joined by a form feed, line breaks inside a paragraph
turned into spaces (same length). Ingest stores that text next to the index for the highlight.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pypdf import PdfReader

from rag.documents import DocumentError, Section, SourceDoc, lines_of

FORMAT = "pdf"
SUFFIXES = (".pdf",)
PAGE_BREAK = "\f"
SOFT_BREAK = re.compile(r"(?<!\n)\n(?!\n)")  # a single line break: the page's layout, not a paragraph

logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns about every odd object in a page


def load(path: Path) -> SourceDoc:
    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or None
    except Exception as exc:  # pypdf raises many types for a damaged file; the file is skipped, not the run
        raise DocumentError(f"skipped {path.name}: not a readable PDF ({type(exc).__name__}: {exc})") from None
    text, sections, cursor = "", [], 0
    for number, page in enumerate(pages, 1):
        page = SOFT_BREAK.sub(" ", page.replace("\r", " ").replace(PAGE_BREAK, " "))
        segments = lines_of(text + page, cursor)
        if segments:
            sections.append(Section(segments, title, None, page=number))
        text += page + PAGE_BREAK
        cursor = len(text)
    if not sections:
        raise DocumentError(f"skipped {path.name}: no text in the PDF (scanned pages need OCR)")
    return SourceDoc(path.name, text, None, sections, format=FORMAT, pages=len(pages))
