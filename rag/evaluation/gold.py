"""Gold question files: loading, splits, and where each item's evidence sits in the original files.

A gold item is one JSON object per line: `id`, `question`, `answer`, `key_facts` (groups of alternatives,
one of each group must be in a correct answer), `sources` (`file` + verbatim `evidence`), `should_abstain`,
and optionally `split` (dev | test), `type`, `asks` and `history` (earlier chat turns).
Spans are (file, start, end) with end exclusive, Python string offsets of the UTF-8-decoded file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rag.config import DEFAULT_COLLECTION, Settings
from rag.errors import RagError

Span = tuple[str, int, int]  # (file, start, end) with end exclusive
TextOf = Callable[[str], str]  # gold source file -> the text its chunks' offsets index
Matches = list[frozenset[int]]  # per ranked result: indices of the gold sources it hits
SPLITS = ("dev", "test", "all")


def load_gold(path: Path) -> list[dict[str, Any]]:
    """Every item of a gold JSONL file; a missing file or a bad line is a RagError naming it."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise RagError(f"gold file {path} not found; pass --gold FILE") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RagError(f"cannot read gold file {path}: {exc}") from exc
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RagError(f"{path} line {number} is not valid JSON: {exc}") from exc
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise RagError(f'{path} line {number}: expected an object with a "question" string')
        items.append(item)
    return items


def answerable(item: dict[str, Any]) -> bool:
    return not item.get("should_abstain") and bool(item.get("sources"))


def source_spans(source: dict[str, str], texts: Path | TextOf) -> list[Span]:
    """Every occurrence of one gold source's evidence in its document's text: a file of the seeds folder
    `texts`, or what `texts(file)` returns (see `collection_texts`)."""
    file, evidence = source["file"], source["evidence"]
    if callable(texts):
        text = texts(file)
    else:
        try:
            text = (Path(texts) / file).read_text(encoding="utf-8")
        except OSError as exc:
            raise RagError(f"gold source file {file} is not readable in {texts}: {exc}") from exc
    spans = []
    start = text.find(evidence)
    while start >= 0 and evidence:
        spans.append((file, start, start + len(evidence)))
        start = text.find(evidence, start + 1)
    if not spans:
        raise RagError(f"gold evidence not found verbatim in {file}: {evidence[:80]!r}; fix the gold file")
    return spans


def evidence_spans(item: dict[str, Any], texts: Path | TextOf) -> list[Span]:
    """The spans of all of an item's gold evidence, in the original seed files."""
    return [span for source in item.get("sources", []) for span in source_spans(source, texts)]


def collection_texts(settings: Settings) -> Path | TextOf:
    """Where gold evidence is looked up: the seeds folder for the default collection, otherwise the text
    each source's offsets index (the file itself; for PDF and DOCX the stored extracted text), found by
    the file name `rag sources` shows (or its full path)."""
    from rag import extracted
    from rag.ingest import list_sources

    if settings.collection == DEFAULT_COLLECTION:
        return settings.seeds_dir
    paths: dict[str, str] = {}
    for row in list_sources(settings):
        paths.setdefault(str(row["file"]), row["path"])
        paths[row["path"]] = row["path"]

    def text_of(file: str) -> str:
        if file not in paths:
            raise RagError(f"gold source file {file} is not in collection {settings.collection!r}; see `rag sources`")
        stored = extracted.read(settings, paths[file])
        if stored is not None:
            return stored
        try:
            return Path(paths[file]).read_text(encoding="utf-8")
        except OSError as exc:
            raise RagError(f"gold source file {paths[file]} is not readable: {exc}") from exc

    return text_of


def overlaps(file: str, start: int, end: int, spans: Iterable[Span]) -> bool:
    """Does [start, end) in `file` share at least one character with any of the spans?"""
    return any(file == f and start < e and s < end for f, s, e in spans)


def match(results: list[Span], sources: list[list[Span]]) -> Matches:
    """For each result span, the indices of the gold sources (each a list of spans) it overlaps."""
    return [frozenset(i for i, spans in enumerate(sources) if overlaps(*result, spans)) for result in results]


def select_split(items: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """The items of one split; items without a `split` field belong to dev (they were seen while tuning)."""
    if split not in SPLITS:
        raise RagError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    return items if split == "all" else [item for item in items if item.get("split", "dev") == split]
