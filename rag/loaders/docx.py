"""Word (.docx) through python-docx: paragraphs in order, "Heading n" and "Title" paragraphs start sections.

Offsets are into the extracted text (the paragraphs joined by line breaks), which ingest stores next
to the index for the highlight.
"""

from __future__ import annotations

from pathlib import Path

import docx

from rag.documents import DocumentError, SourceDoc, headed_sections

FORMAT = "docx"
SUFFIXES = (".docx",)


def load(path: Path) -> SourceDoc:
    try:
        paragraphs = [
            (p.text, p.style.name if p.style is not None else "") for p in docx.Document(str(path)).paragraphs
        ]
    except Exception as exc:  # python-docx raises zip, XML and key errors for a damaged file
        raise DocumentError(f"skipped {path.name}: not a readable Word file ({type(exc).__name__}: {exc})") from None
    text, headings = "", []
    for content, style in paragraphs:
        content = content.replace("\n", " ")
        if style.startswith(("Heading", "Title")) and content.strip():
            headings.append((len(text), len(text) + len(content), content))
        text += content + "\n"
    sections = headed_sections(text, headings)
    if not sections:
        raise DocumentError(f"skipped {path.name}: no text in the document")
    return SourceDoc(path.name, text, None, sections, format=FORMAT)
