"""The loader registry: a path -> a SourceDoc, by its suffix. One module per format; none imports another.

A .txt file is a Guardian live blog when it carries the blog's JSON, otherwise plain text. A file with
any other suffix is read as plain text when it is UTF-8 text (so a folder of notes just works) and
skipped as binary otherwise. Every skipped file gives one warning that names it; the rest loads.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from rag.documents import DocumentError, SourceDoc, read_text
from rag.loaders import docx, html, liveblog, markdown, pdf, text

log = logging.getLogger(__name__)

Loader = Callable[[Path], SourceDoc]


def load_text(path: Path) -> SourceDoc:
    content = read_text(path)
    if liveblog.looks_like_liveblog_json(content):
        return liveblog.parse(path.name, content)
    return text.parse(path.name, content)


LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    **{suffix: markdown.load for suffix in markdown.SUFFIXES},
    **{suffix: html.load for suffix in html.SUFFIXES},
    **{suffix: pdf.load for suffix in pdf.SUFFIXES},
    **{suffix: docx.load for suffix in docx.SUFFIXES},
}
SUPPORTED = tuple(sorted(LOADERS))


def load(path: Path, source: str | None = None) -> SourceDoc:
    """One file; `source` is its identity in the index (default: its resolved path)."""
    loader = LOADERS.get(path.suffix.lower(), load_text)
    try:
        doc = loader(path)
    except DocumentError as exc:
        if path.suffix.lower() not in LOADERS and "binary" in str(exc):
            raise DocumentError(f"{exc}, not a supported format ({', '.join(SUPPORTED)})") from None
        raise
    except RecursionError:  # a pathological nesting depth in a markup file
        raise DocumentError(f"skipped {path.name}: too deeply nested to parse") from None
    doc.path = source or str(path.resolve())
    return doc


def load_seeds(seeds_dir: Path) -> tuple[list[SourceDoc], list[str]]:
    """All readable files in `seeds_dir` (identified by name), plus one warning per file that was skipped."""
    if not seeds_dir.is_dir():
        raise DocumentError(f"seeds directory not found: {seeds_dir}")
    paths = sorted(p for p in seeds_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    docs, warnings = load_all(paths, source=lambda p: p.name)
    if not docs:
        raise DocumentError(f"no readable text files in {seeds_dir}")
    return docs, warnings


def load_all(paths: Iterable[Path], source: Callable[[Path], str] | None = None) -> tuple[list[SourceDoc], list[str]]:
    docs, warnings = [], []
    for path in paths:
        try:
            docs.append(load(path, source(path) if source else None))
        except DocumentError as exc:
            warnings.append(str(exc))
    return docs, warnings


def find_files(paths: Iterable[Path], include: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Path]:
    """Files named or found (recursively) under folders, filtered by glob patterns on the name or the
    relative path; hidden files and folders are skipped. A path that does not exist is an error."""
    include, exclude = list(include), list(exclude)
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and wanted(p.relative_to(path), include, exclude)
            ]
        elif path.is_file():
            found.append(path)
        else:
            raise DocumentError(f"no such file or folder: {path}")
    return list(dict.fromkeys(found))


def wanted(relative: Path, include: list[str], exclude: list[str]) -> bool:
    def matches(patterns: list[str]) -> bool:
        return any(fnmatch.fnmatch(relative.name, g) or fnmatch.fnmatch(str(relative), g) for g in patterns)

    return (not include or matches(include)) and not matches(exclude)
