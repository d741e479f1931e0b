"""The extracted text of PDF and DOCX sources, kept next to the index so a citation can be highlighted.

A PDF or DOCX chunk's [start, end) offsets point into its document's extracted text, not into the
binary file. Ingest writes that text to `<index_dir>/extracted/<collection>/<hash of the source>.txt`
(also when the chunks live on a Chroma server: the text stays with the machine that ingested).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rag.config import Settings
from rag.documents import SourceDoc


def text_path(settings: Settings, source: str) -> Path:
    name = hashlib.sha256(source.encode()).hexdigest()[:24]
    return settings.index_dir / "extracted" / settings.collection / f"{name}.txt"


def save(settings: Settings, doc: SourceDoc) -> None:
    if doc.extracted:
        path = text_path(settings, doc.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc.text, encoding="utf-8", newline="")


def read(settings: Settings, source: str) -> str | None:
    """The stored extracted text of `source`, or None (a text format, or not ingested here)."""
    path = text_path(settings, source)
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as handle:  # newline="": offsets count a "\r" too
        return handle.read()


def forget(settings: Settings, source: str) -> None:
    text_path(settings, source).unlink(missing_ok=True)
