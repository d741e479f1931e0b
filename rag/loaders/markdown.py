"""Markdown (.md): headings become section titles, markup is dropped, offsets stay into the file.

markdown-it-py parses the blocks; the text of each inline run is copied to its own place in a copy of
the file whose every other character is blanked out (a space), so segment offsets are file offsets and
a citation's [start, end) covers the same words in the original, markup and all.
"""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from rag.documents import SourceDoc, headed_sections, read_text

FORMAT = "markdown"
SUFFIXES = (".md", ".markdown")
COPIED = ("text", "code_inline")  # inline children whose content is the reader's text


def load(path: Path) -> SourceDoc:
    return parse(path.name, read_text(path))


def parse(name: str, text: str) -> SourceDoc:
    starts = [0] + [m.end() for m in re.finditer("\n", text)] + [len(text)]
    blanked = [c if c == "\n" else " " for c in text]
    headings: list[tuple[int, int, str]] = []
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    for i, token in enumerate(tokens):
        if not token.map:
            continue
        begin, end = starts[token.map[0]], starts[min(token.map[1], len(starts) - 1)]
        if token.type == "inline" and i > 0 and tokens[i - 1].type == "heading_open":
            title = "".join(c.content for c in token.children or [] if c.type in COPIED)
            headings.append((begin, end, title))
        elif token.type == "inline":
            copy_inline(token, text, begin, end, blanked)
            join_lines(blanked, begin, end)  # a paragraph wrapped over lines is one block
        elif token.type in ("fence", "code_block"):
            body = (begin, end) if token.type == "code_block" else (starts[token.map[0] + 1], starts[token.map[1] - 1])
            blanked[body[0] : body[1]] = text[body[0] : body[1]]
    return SourceDoc(name, "".join(blanked), None, headed_sections("".join(blanked), headings), format=FORMAT)


def copy_inline(token: Token, text: str, begin: int, end: int, blanked: list[str]) -> None:
    """Copy each text run of the block to where it stands in the file (found in order)."""
    cursor = begin
    for child in token.children or []:
        if child.type not in COPIED or not child.content:
            continue
        found = text.find(child.content, cursor, end)
        if found < 0:  # an entity or escape whose text differs from the source: left blank
            continue
        blanked[found : found + len(child.content)] = child.content
        cursor = found + len(child.content)


def join_lines(blanked: list[str], begin: int, end: int) -> None:
    for i in range(begin, max(begin, end - 1)):
        if blanked[i] == "\n":
            blanked[i] = " "
