"""HTML (.html, .htm): boilerplate dropped, <title> kept, headings become sections, offsets into the file.

The standard library's parser reports where each tag and text run starts, so the page's text is
copied to its own place in a blanked copy of the file (tags and boilerplate become spaces, block tags
a line break, an entity its character). Offsets are therefore offsets into the original file.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from rag.documents import DocumentError, SourceDoc, headed_sections, read_text

FORMAT = "html"
SUFFIXES = (".html", ".htm")
# Page furniture rather than content: never part of the text.
BOILERPLATE_TAGS = {
    "script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template", "svg",
    "button", "iframe", "select", "menu", "dialog", "head",
}  # fmt: skip
# A class or id word that marks furniture on a <div> or <section> ("site-nav", "cookie-banner").
BOILERPLATE_WORDS = {
    "nav", "navbar", "menu", "footer", "header", "sidebar", "cookie", "cookies", "banner", "advert", "ads",
    "share", "social", "breadcrumb", "breadcrumbs", "newsletter", "related",
}  # fmt: skip
BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "section", "article", "main", "blockquote", "pre", "table", "tr",
    "td", "th", "dd", "dt", "dl", "figcaption", "figure", "hr", "body", "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
WORD = re.compile(r"[a-z]+")


def load(path: Path) -> SourceDoc:
    return parse(path.name, read_text(path))


def parse(name: str, text: str) -> SourceDoc:
    page = Blanker(text)
    page.feed(text)
    page.close()
    blanked = "".join(page.out)
    title = " ".join(page.title.split()) or None
    sections = headed_sections(blanked, page.headings)
    for section in sections:
        section.title = section.title or title  # text before the first heading is under the page's title
    if not sections:
        raise DocumentError(f"skipped {name}: no text in the page")
    return SourceDoc(name, blanked, None, sections, format=FORMAT)


def is_boilerplate(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    if tag in BOILERPLATE_TAGS:
        return True
    marks = " ".join(v or "" for k, v in attrs if k in ("class", "id", "role")).lower()
    return tag in ("div", "section", "ul") and bool(BOILERPLATE_WORDS & set(WORD.findall(marks)))


class Blanker(HTMLParser):
    """Copies the page's text into `out` (a blanked copy of the file) and notes headings and title."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)  # entities as events, so every data run is verbatim
        self.out = [" "] * len(text)
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.stack: list[tuple[str, bool]] = []  # open tags, and whether each is furniture
        self.headings: list[tuple[int, int, str]] = []
        self.heading: tuple[int, list[str]] | None = None
        self.title = ""
        self.in_title = False

    def position(self) -> int:
        line, column = self.getpos()
        return self.starts[line - 1] + column

    def skipping(self) -> bool:
        return any(furniture for _, furniture in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        at = self.position()
        if tag == "title":
            self.in_title = True
        if tag in BLOCK_TAGS:
            self.out[at] = "\n"
        if tag in HEADINGS and not self.skipping():
            self.heading = (at, [])
        if tag not in VOID_TAGS:
            self.stack.append((tag, is_boilerplate(tag, attrs)))

    def handle_endtag(self, tag: str) -> None:
        at = self.position()
        if tag == "title":
            self.in_title = False
        if tag in BLOCK_TAGS:
            self.out[at] = "\n"
        if tag in HEADINGS and self.heading:
            self.headings.append((self.heading[0], at, "".join(self.heading[1])))
            self.heading = None
        if any(open_tag == tag for open_tag, _ in self.stack):  # close it, and anything left open inside it
            while self.stack and self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        self.place(self.position(), data)

    def handle_entityref(self, name: str) -> None:
        decoded = unescape(f"&{name};")
        self.place(self.position(), f"&{name}" if decoded == f"&{name};" else decoded)  # unknown: as written

    def handle_charref(self, name: str) -> None:
        self.place(self.position(), unescape(f"&#{name};"))

    def place(self, at: int, data: str) -> None:
        if self.in_title:
            self.title += data
        elif self.heading:
            self.heading[1].append(data)
        elif not self.skipping():
            preformatted = any(tag == "pre" for tag, _ in self.stack)
            data = data if preformatted else data.replace("\n", " ")
            self.out[at : at + len(data)] = data  # never longer than its source: the copy keeps the file's length
