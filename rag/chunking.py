"""Sections -> sentence-aware chunks (llama-index TextNodes) that know their exact source span.

The node is the one data type that flows from here to the cited answer. Its metadata:
  file, start, end   the file's name and the character span [start, end) in the document's text: the
                     original file for text formats, the stored extracted text for PDF and DOCX
  path, format, page the source's identity in the index (its resolved path; a seed: its name), the
                     loader that read it, and the 1-based PDF page
  title, date, when  post/section title, ISO date, and a spelled-out day ("Friday 11 November 2022")
  ingested           when ingest stored the chunk (set by rag.ingest)
Missing values are left out rather than stored as None (Chroma metadata cannot hold None).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from llama_index.core.schema import TextNode
from llama_index.core.utils import globals_helper

from rag.config import Settings
from rag.documents import Section, Segment, SourceDoc

# Only the title and the spelled-out day help a query match; file names and offsets are noise.
NOT_EMBEDDED = [
    "file",
    "path",
    "format",
    "page",
    "start",
    "end",
    "date",
    "sentence_starts",
    "sentence_lengths",
    "ingested",
]
SCHEMA = "v3"  # part of every chunk id: bump it when chunk metadata changes, so re-ingest rewrites all


def chunk_documents(docs: list[SourceDoc], settings: Settings) -> list[TextNode]:
    return [node for doc in docs for node in chunk_document(doc, settings)]


def chunk_document(doc: SourceDoc, settings: Settings) -> list[TextNode]:
    nodes = []
    for section in doc.sections:
        for sentences in pack(split_sentences(section.segments), settings):
            nodes.append(make_node(doc, section, sentences))
    return nodes


def split_sentences(segments: list[Segment]) -> list[Segment]:
    tokenizer = globals_helper.punkt_tokenizer  # ships inside llama-index-core: no NLTK download
    return [Segment(seg.text[a:b], seg.start + a) for seg in segments for a, b in tokenizer.span_tokenize(seg.text)]


def pack(sentences: list[Segment], settings: Settings) -> list[list[Segment]]:
    """Greedy packing up to chunk_max_words, carrying the last sentence(s) over as overlap."""
    chunks: list[list[Segment]] = []
    current: list[Segment] = []
    for sentence in sentences:
        if current and words(current) + words([sentence]) > settings.chunk_max_words:
            chunks.append(current)
            overlap = current[-settings.chunk_overlap_sentences :] if settings.chunk_overlap_sentences else []
            current = overlap if words(overlap) + words([sentence]) <= settings.chunk_max_words else []
        current.append(sentence)
    if current:
        tail_is_small = words(current) < settings.chunk_min_words // 2
        if chunks and tail_is_small and words(chunks[-1] + current) <= settings.chunk_max_words * 1.15:
            chunks[-1] = chunks[-1] + [s for s in current if s not in chunks[-1]]
        else:
            chunks.append(current)
    return chunks


def words(sentences: list[Segment]) -> int:
    return sum(len(s.text.split()) for s in sentences)


def make_node(doc: SourceDoc, section: Section, sentences: list[Segment]) -> TextNode:
    text = " ".join(s.text for s in sentences)
    start, end = sentences[0].start, sentences[-1].end
    digest = hashlib.sha1(f"{SCHEMA}\0{doc.path or doc.file}\0{start}\0{end}\0{text}".encode()).hexdigest()[:12]
    metadata: dict[str, str | int] = {
        "file": doc.file,
        "path": doc.path or doc.file,
        "format": doc.format,
        "start": start,
        "end": end,
        # each sentence's place in the file, so a citation can highlight exactly the sentence it used
        "sentence_starts": ",".join(str(s.start) for s in sentences),
        "sentence_lengths": ",".join(str(len(s.text)) for s in sentences),
    }
    if section.page is not None:
        metadata["page"] = section.page
    if section.title:
        metadata["title"] = section.title
    date = section.date or doc.date
    if date:
        metadata["date"] = date
        metadata["when"] = spelled_day(date)
    return TextNode(
        id_=f"{doc.file.split('_')[0]}-{start}-{digest}",
        text=text,
        metadata=metadata,
        excluded_embed_metadata_keys=NOT_EMBEDDED,
        excluded_llm_metadata_keys=[*metadata, "ingested"],
    )


def spelled_day(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%A %-d %B %Y")


def sentences_of(node: TextNode) -> list[Segment]:
    """The chunk's sentences with their offsets in the original file (recorded at chunking time)."""
    text = node.get_content()
    starts = [int(x) for x in str(node.metadata["sentence_starts"]).split(",")]
    lengths = [int(x) for x in str(node.metadata["sentence_lengths"]).split(",")]
    out, cursor = [], 0
    for start, length in zip(starts, lengths, strict=True):
        out.append(Segment(text[cursor : cursor + length], start))
        cursor += length + 1  # chunk text is its sentences joined by one space
    return out


def sentence_texts(node: TextNode) -> list[str]:
    """What each sentence is embedded as: with its post title, so "It said ..." keeps its subject."""
    title = node.metadata.get("title")
    return [f"{title}. {s.text}" if title else s.text for s in sentences_of(node)]
