"""Read seed files into clean sections (posts) whose text keeps its offsets into the original file.

A seed is plain prose, a live blog with "12:01 PM" / title lines, or a Guardian live blog pasted with
its JSON (see `liveblog_json.py`). Every piece of clean text is a `Segment` that remembers where it
starts in the original file, so a citation can point at the exact original characters.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rag.errors import RagError

log = logging.getLogger(__name__)


class DocumentError(RagError):
    """A seed file or folder that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Segment:
    """A run of clean text that is copied verbatim from original[start:start + len(text)]."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class Section:
    """A post or a headed section: never merged with another one when chunking."""

    segments: list[Segment]
    title: str | None = None
    date: str | None = None  # ISO 8601: a day ("2022-11-06") or a time with offset


@dataclass
class SourceDoc:
    file: str  # the seed's file name
    text: str  # the original, UTF-8-decoded file
    date: str | None
    sections: list[Section] = field(default_factory=list)


DATE_LINE = re.compile(r"^\s*date (\d{4}-\d{2}-\d{2})\s*")
BLOG_TIME = re.compile(r"^(\d{1,2}):(\d{2}) ([AP]M)$")
PARAGRAPH = re.compile(r"[^\n]+")
ENDS_SENTENCE = tuple('.!?:;,"”’…)')
UK = ZoneInfo("Europe/London")
NAVIGATION = re.compile(r"^[\w ]{0,30}[›»]$")  # "All News ›"


def load_seeds(seeds_dir: Path) -> tuple[list[SourceDoc], list[str]]:
    """All readable seed files in `seeds_dir`, plus one warning per file that was skipped."""
    if not seeds_dir.is_dir():
        raise DocumentError(f"seeds directory not found: {seeds_dir}")
    paths = sorted(p for p in seeds_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    docs, warnings = [], []
    for path in paths:
        try:
            docs.append(parse_document(path.name, read_text(path)))
        except DocumentError as exc:
            warnings.append(str(exc))
    if not docs:
        raise DocumentError(f"no readable text files in {seeds_dir}")
    return docs, warnings


def read_text(path: Path) -> str:
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


def parse_document(name: str, text: str) -> SourceDoc:
    from rag.liveblog_json import looks_like_liveblog_json, parse_liveblog_json

    if looks_like_liveblog_json(text):
        return SourceDoc(name, text, *parse_liveblog_json(text))
    match = DATE_LINE.match(text)
    date = match.group(1) if match and valid_day(match.group(1)) else None  # "date 2022-13-45" is no date
    paragraphs = [Segment(m.group(), m.start()) for m in PARAGRAPH.finditer(text)]
    if match:  # the " date YYYY-MM-DD" prefix is metadata, not text
        first = paragraphs[0]
        paragraphs[0] = Segment(first.text[match.end() :], match.end())
    paragraphs = [strip(p) for p in drop_trailing_junk(paragraphs) if p.text.strip()]
    return SourceDoc(name, text, date, split_sections(paragraphs, date))


def strip(seg: Segment) -> Segment:
    lead = len(seg.text) - len(seg.text.lstrip())
    return Segment(seg.text.strip(), seg.start + lead)


def drop_trailing_junk(paragraphs: list[Segment]) -> list[Segment]:
    """Drop the tail of teaser links ("... an all-female crew and…") and navigation ("All News ›")."""
    while paragraphs and (paragraphs[-1].text.rstrip().endswith("…") or NAVIGATION.match(paragraphs[-1].text.strip())):
        log.debug("dropping trailing junk line: %r", paragraphs[-1].text[:60])
        paragraphs = paragraphs[:-1]
    return paragraphs


def is_heading(text: str) -> bool:
    """A short line without sentence punctuation, link or photo credit: a section or post title."""
    words = text.split()
    return (
        0 < len(words) <= 12
        and not text.endswith(ENDS_SENTENCE)
        and "http" not in text
        and " - " not in text  # photo captions: "Ukrainian troops in eastern Ukraine - Reuters"
        and not text.startswith(("—", "•"))
    )


def split_sections(paragraphs: list[Segment], day: str | None) -> list[Section]:
    """Group paragraphs under headings; a live-blog time line ("12:01 PM") starts a new post."""
    sections = [Section([], None, day)]
    for i, para in enumerate(paragraphs):
        nxt = paragraphs[i + 1].text if i + 1 < len(paragraphs) else ""
        time = BLOG_TIME.match(para.text)
        after_time = i > 0 and BLOG_TIME.match(paragraphs[i - 1].text) and not sections[-1].segments
        if time and day:
            sections.append(Section([], None, blog_time(day, time)))
        elif after_time and len(para.text.split()) <= 25 and not para.text.endswith(ENDS_SENTENCE):
            sections[-1].title = para.text  # a timed post's first line is its headline
        elif is_heading(para.text) and nxt and not is_heading(nxt) and not BLOG_TIME.match(nxt):
            current = sections[-1]
            if current.segments or current.title:
                sections.append(Section([], None, current.date))
            sections[-1].title = para.text
        else:
            sections[-1].segments.append(para)
    return [s for s in sections if s.segments]


def blog_time(day: str | None, match: re.Match[str]) -> str | None:
    # The timed live blog among the seeds is British (the Telegraph): its clock is UK local time.
    clock = f"{day} {match.group(1)}:{match.group(2)} {match.group(3)}"
    try:
        stamp = datetime.strptime(clock, "%Y-%m-%d %I:%M %p").replace(tzinfo=UK)
    except ValueError:  # "13:75 PM", or no valid day to put it on: the post keeps no time
        return None
    return stamp.isoformat()


def valid_day(day: str) -> bool:
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        log.warning("ignoring a malformed date line: %s", day)
        return False
    return True
