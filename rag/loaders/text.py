"""Plain text (.txt and any other UTF-8 file): paragraphs, headed sections, and timed live blogs.

A seed is plain prose, or a live blog with "12:01 PM" / title lines (the Telegraph's). A first line
" date YYYY-MM-DD" is the document's day, metadata rather than text. Offsets are into the file.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rag.documents import Section, Segment, SourceDoc, read_text

log = logging.getLogger(__name__)

FORMAT = "txt"
DATE_LINE = re.compile(r"^\s*date (\d{4}-\d{2}-\d{2})\s*")
BLOG_TIME = re.compile(r"^(\d{1,2}):(\d{2}) ([AP]M)$")
PARAGRAPH = re.compile(r"[^\n]+")
ENDS_SENTENCE = tuple('.!?:;,"”’…)')
UK = ZoneInfo("Europe/London")
NAVIGATION = re.compile(r"^[\w ]{0,30}[›»]$")  # "All News ›"


def load(path: Path) -> SourceDoc:
    return parse(path.name, read_text(path))


def parse(name: str, text: str) -> SourceDoc:
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
