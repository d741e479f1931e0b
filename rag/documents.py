"""The types every loader produces: a `SourceDoc` of `Section`s made of `Segment`s with exact offsets.

A loader (rag/loaders/) turns one file into a SourceDoc. Every piece of clean text is a `Segment`
that remembers where it starts in the document's `text`, so a citation can point at the exact
characters. For text formats (.txt, .md, .html) `text` has the original file's length and offsets:
markup is blanked out with spaces, never removed. For PDF and DOCX `text` is the extracted text,
which ingest stores next to the index so the highlight can be shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError

LINE = re.compile(r"[^\n]+")


class DocumentError(RagError):
    """A file or folder that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Segment:
    """A run of clean text that is copied verbatim from text[start:start + len(text)]."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class Section:
    """A post, a headed section or a PDF page: never merged with another one when chunking."""

    segments: list[Segment]
    title: str | None = None
    date: str | None = None  # ISO 8601: a day ("2022-11-06") or a time with offset
    page: int | None = None  # 1-based, PDF only


@dataclass
class SourceDoc:
    file: str  # the file name, as shown in citations
    text: str  # what the offsets index (see the module docstring)
    date: str | None
    sections: list[Section] = field(default_factory=list)
    path: str = ""  # the source's identity in the index: its resolved path (seeds: the file name)
    format: str = "txt"  # the loader that read it: txt, liveblog, markdown, html, pdf, docx
    pages: int | None = None  # PDF page count

    @property
    def extracted(self) -> bool:
        """True when `text` is not the file itself (PDF, DOCX): ingest stores it for the highlight."""
        return self.format in ("pdf", "docx")


def read_text(path: Path) -> str:
    """The file as UTF-8 text; a DocumentError naming it when it is unreadable, binary, not UTF-8 or empty."""
    try:
        data = path.read_bytes()
    except OSError as exc:  # unreadable (permissions), vanished, a broken link: skip it, say why
        raise DocumentError(f"skipped {path.name}: cannot read it ({exc.strerror or exc})") from None
    if b"\x00" in data[:4096]:
        raise DocumentError(f"skipped {path.name}: binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"skipped {path.name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise DocumentError(f"skipped {path.name}: empty file")
    return text


def lines_of(text: str, start: int = 0, end: int | None = None) -> list[Segment]:
    """The non-blank lines of text[start:end], stripped, with their offsets."""
    out = []
    for match in LINE.finditer(text, start, len(text) if end is None else end):
        line = match.group()
        if line.strip():
            out.append(Segment(line.strip(), match.start() + len(line) - len(line.lstrip())))
    return out


def headed_sections(blanked: str, headings: list[tuple[int, int, str]]) -> list[Section]:
    """Sections of a blanked-out text (markup replaced by spaces, one block per line): each heading
    (start, end, title) starts a section; the lines between headings are its segments."""
    sections = [Section([])]
    cursor = 0
    for start, end, title in sorted(headings):
        sections[-1].segments += lines_of(blanked, cursor, start)
        sections.append(Section([], " ".join(title.split()) or None))
        cursor = end
    sections[-1].segments += lines_of(blanked, cursor)
    return [s for s in sections if s.segments]
