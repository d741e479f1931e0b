"""Ingest throughput and retrieval quality on generated documents of your own.

    .venv/bin/python eval/bench_ingest.py [--pages 50] [--text-kb 200] [--out eval/reports/ingest-bench.json]

1. A PDF of --pages pages (the seeds' text, about 250 words a page, written with fpdf2) is ingested into
   a fresh index: the end-to-end time (read, chunk, embed chunks and sentences, store) and pages/s, and
   the loader alone (pypdf) in pages/s.
2. --text-kb of plain text (the seeds, repeated with numbered paragraphs so nothing is a duplicate) in a
   .txt file: MB/s end to end and for the loader alone.
Wall-clock seconds and the process's CPU seconds are both reported: on a shared machine the wall
clock mostly measures the others' load (the load average is recorded).
3. Retrieval quality on the generated fixture corpus (tests/make_docs.py: PDF, DOCX, HTML, Markdown,
   text) and its gold file: hit@1, hit@5 and MRR@5 per retriever.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.config import Settings  # noqa: E402
from rag.ingest import ingest  # noqa: E402
from rag.loaders import load, load_seeds  # noqa: E402
from tests.make_docs import make_corpus, make_pdf, write_gold  # noqa: E402

QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "—": "-", "–": "-", "…": "...", "″": '"'})


def seed_words() -> list[str]:
    """The seeds' clean text (as the loaders read it: no live-blog JSON), in Latin-1 for fpdf2's core font."""
    docs, _ = load_seeds(REPO / "seeds")
    text = " ".join(seg.text for doc in docs for section in doc.sections for seg in section.segments)
    text = re.sub(r"https?://\S+", " ", text.translate(QUOTES))
    latin = unicodedata.normalize("NFKD", text).encode("latin-1", "ignore").decode("latin-1")
    return latin.split()


def timed_ingest(path: Path, folder: Path) -> dict:
    """The loader alone, then the whole ingest into a fresh collection: seconds (wall and CPU) and chunks."""
    started = time.perf_counter()
    doc = load(path)
    loader_s = time.perf_counter() - started
    settings = Settings(index_dir=folder / f"index-{path.stem}", chroma_url=None, collection=path.stem)
    cpu = time.process_time()
    report = ingest(settings, progress=False, paths=[path])
    return {
        "pages": doc.pages,
        "chunks": report.chunks,
        "ingest_s": round(report.seconds, 2),
        "cpu_s": round(time.process_time() - cpu, 1),
        "loader_s": loader_s,
    }


def bench_pdf(folder: Path, pages: int) -> dict:
    words = seed_words()
    texts = [" ".join(words[(i * 250) % len(words) :][:250]) for i in range(pages)]
    result = timed_ingest(make_pdf(folder / "bench-pdf.pdf", texts), folder)
    result["ingest_pages_per_s"] = round(pages / result["ingest_s"], 2)
    result["loader_pages_per_s"] = round(pages / result.pop("loader_s"), 1)
    return result


def bench_text(folder: Path, kilobytes: int) -> dict:
    words, paragraphs, size, n = seed_words(), [], 0, 0
    while size < kilobytes * 1000:
        para = f"Paragraph {n}. " + " ".join(words[(n * 90) % len(words) :][:90]) + "\n\n"
        paragraphs.append(para)
        size += len(para.encode())
        n += 1
    path = folder / "bench-text.txt"
    path.write_text("".join(paragraphs), encoding="utf-8")
    megabytes = path.stat().st_size / 1e6
    result = {"megabytes": round(megabytes, 3), **timed_ingest(path, folder)}
    del result["pages"]
    result["ingest_mb_per_s"] = round(megabytes / result["ingest_s"], 4)
    result["loader_mb_per_s"] = round(megabytes / result.pop("loader_s"), 2)
    return result


def bench_retrieval(folder: Path) -> dict:
    from rag.evaluation.retrieval import evaluate_retrieval

    corpus = make_corpus(folder / "fixture")
    settings = Settings(index_dir=folder / "index-fixture", chroma_url=None, collection="fixture")
    ingest(settings, progress=False, paths=[corpus])
    gold = write_gold(folder / "gold.jsonl")
    report = evaluate_retrieval(settings, gold, ["dense", "bm25", "hybrid", "hybrid+rerank"], k=5, progress=False)
    return {
        "questions": report["questions"],
        **{
            name: {m: round(v, 3) for m, v in c["metrics"].items() if m in ("hit@1", "hit@5", "mrr@5")}
            for name, c in report["configs"].items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--text-kb", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "eval" / "reports" / "ingest-bench.json")
    args = parser.parse_args()
    from rag.embedding import get_embedder

    get_embedder(Settings())  # loaded once, before any timing
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {
            "cores": len(os.sched_getaffinity(0)),
            "load_average_before": round(os.getloadavg()[0], 1),  # other work on the machine slows every number
            "pdf": bench_pdf(folder, args.pages),
            "text": bench_text(folder, args.text_kb),
            "retrieval": bench_retrieval(folder),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
