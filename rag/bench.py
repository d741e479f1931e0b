"""`rag bench scale`: what ingest, disk, start-up, retrieval latency and memory cost at N chunks.

The corpus is synthetic but shaped like the real one: each chunk recombines sentences of the seeds
(with their post titles and dates) into a chunk of a real chunk's sentence count, built by the same
`chunking.make_node`, so ids, metadata and sentence offsets are what ingest writes. Embedding 100k
chunks for real would take hours on 2 cores, so each distinct seed sentence is embedded once with the
real embedder (cached under cache_dir/bench) and a chunk's vector is the normalised mean of its
sentences' vectors. The write side (Chroma chunks and sentence vectors, the BM25 snapshot) is the real
ingest's, at full size. The real embedder's throughput is measured on a sample of real chunks, and
`ingest_chunks_per_s` combines both: 1 / (1/embed rate + 1/write rate).

Start-up, warm latencies and RSS are measured in a fresh process (`probe`), as a `rag serve` would
start: from interpreter start to the first answered hybrid query, then p50/p95 per retriever over
sentence-prefix queries, and that process's peak RSS.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings

KEYS = (
    "chunks",
    "ingest_chunks_per_s",
    "index_mb",
    "startup_s",
    "dense_p50_ms",
    "dense_p95_ms",
    "bm25_p50_ms",
    "bm25_p95_ms",
    "hybrid_p50_ms",
    "hybrid_p95_ms",
    "rss_mb",
)
SEED = 12  # the synthetic corpus and the queries are the same on every run
WRITE_BATCH = 500  # chunks per store.add (~3,000 sentence rows): Chroma caps one write at a few thousand
QUERIES = 40  # timed per retriever, after WARMUP untimed ones
WARMUP = 5


@dataclass
class Pool:
    """The seeds' distinct sentences (as embedded: with their post title), their vectors, and the real
    chunks' shapes to imitate."""

    sentences: list[tuple[str, str | None, str | None]]  # (text, title, date)
    vectors: np.ndarray
    shapes: list[int]  # sentences per real chunk
    real_nodes: list[Any]


def load_pool(settings: Settings) -> Pool:
    from rag.chunking import chunk_documents, sentence_texts, sentences_of
    from rag.loaders import load_seeds

    docs, _ = load_seeds(settings.seeds_dir)
    nodes = chunk_documents(docs, settings)
    seen: dict[str, tuple[str, str | None, str | None]] = {}
    for node in nodes:
        for embedded, sentence in zip(sentence_texts(node), sentences_of(node)):
            seen.setdefault(embedded, (sentence.text, node.metadata.get("title"), node.metadata.get("date")))
    texts = list(seen)
    return Pool(list(seen.values()), cached_vectors(settings, texts), [len(sentences_of(n)) for n in nodes], nodes)


def cached_vectors(settings: Settings, texts: list[str]) -> np.ndarray:
    """The real embedder's vectors for `texts`, computed once per text set and model."""
    key = hashlib.sha256("\n".join([settings.embed_model, *texts]).encode()).hexdigest()[:16]
    path = settings.cache_dir / "bench" / f"sentences-{key}.npy"
    if path.exists():
        return np.load(path)
    from rag.embedding import get_embedder

    vectors = np.asarray(get_embedder(settings).get_text_embedding_batch(texts), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def synthetic(pool: Pool, n: int, batch: int = WRITE_BATCH) -> Iterator[tuple[list[Any], list[str], np.ndarray]]:
    """n chunks (TextNodes with embeddings) with their sentence ids and vectors, `batch` chunks at a time:
    at 100k, all vectors as Python lists would take gigabytes."""
    from rag.chunking import make_node
    from rag.documents import Section, Segment, SourceDoc

    rng = random.Random(SEED)
    for first in range(0, n, batch):
        nodes, sentence_ids, rows = [], [], []
        for i in range(first, min(first + batch, n)):
            picks = [rng.randrange(len(pool.sentences)) for _ in range(rng.choice(pool.shapes))]
            _, title, day = pool.sentences[picks[0]]
            segments, cursor = [], 0
            for p in picks:
                segments.append(Segment(pool.sentences[p][0], cursor))
                cursor += len(pool.sentences[p][0]) + 1
            doc = SourceDoc(file=f"synthetic_{i // 40:05d}.txt", text="", date=day)
            node = make_node(doc, Section(segments, title=title, date=day), segments)
            node.id_ = f"{node.node_id}-{i}"  # recombined text may repeat: every chunk stays its own
            mean = pool.vectors[picks].mean(axis=0)
            node.embedding = (mean / np.linalg.norm(mean)).tolist()
            nodes.append(node)
            sentence_ids += [f"{node.node_id}#{j}" for j in range(len(picks))]
            rows += picks
        yield nodes, sentence_ids, pool.vectors[rows]


def write(settings: Settings, batches: Iterable[tuple[list[Any], list[str], np.ndarray]]) -> tuple[int, float]:
    """The write half of ingest (chunks, sentence vectors, BM25 snapshot, fingerprint): (chunks, seconds)."""
    from rag import lexical, store

    started = time.perf_counter()
    collection = store.open_collection(settings, create=True)
    assert collection is not None
    sentences = store.sentence_collection(settings, collection)
    written = 0
    for nodes, ids, vectors in batches:
        store.add(settings, collection, nodes, sentences, ids, vectors.tolist())
        written += len(nodes)
    lexical.sync(settings, collection)
    return written, time.perf_counter() - started


def embed_rate(settings: Settings, pool: Pool, sample_size: int) -> float:
    """Chunks per second the real embedder turns into a chunk vector plus its sentence vectors."""
    from rag.ingest import embed, embed_sentences

    sample = [node.model_copy() for node in pool.real_nodes[:sample_size]]
    embed(sample[:2], settings, progress=False)  # load the model outside the timing
    started = time.perf_counter()
    embed(sample, settings, progress=False)
    embed_sentences(sample, settings, progress=False)
    return len(sample) / (time.perf_counter() - started)


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def scale(settings: Settings, chunks: int, details: bool = False, reuse: bool = False) -> dict[str, Any]:
    """Build an index of `chunks` synthetic chunks in a temporary place, measure it, remove it. With
    `reuse` (embedded only) the index is kept under cache_dir/bench and measured again next time, with the
    ingest rates recorded when it was built."""
    from rag import store

    pool = load_pool(settings)
    kept = settings.cache_dir / "bench" / f"index-{chunks}" if reuse and not settings.chroma_url else None
    workdir = kept or Path(tempfile.mkdtemp(prefix=f"rag-bench-{chunks}-"))
    bench = settings.model_copy(
        update={"index_dir": workdir / "index", "lexical_dir": workdir / "lexical", "collection": f"bench{chunks}"}
    )
    built = workdir / "built.json"
    try:
        if not built.exists():
            store.drop_index(bench)  # a server may hold a run that was interrupted
            written, write_s = write(bench, synthetic(pool, chunks))
            rates = {"write": written / write_s, "embed": embed_rate(settings, pool, settings.bench_embed_sample)}
            rates["builder_rss_mb"] = peak_rss_mb()
            rates["build_load_avg"] = round(os.getloadavg()[0], 1)  # the machine is shared: how busy it was
            built.write_text(json.dumps(rates))
        rates = json.loads(built.read_text())
        measured = run_probe(bench, pool)
        disk = workdir if not settings.chroma_url else workdir / "lexical"
        result = {
            "chunks": chunks,
            "ingest_chunks_per_s": round(1 / (1 / rates["embed"] + 1 / rates["write"]), 1),
            "index_mb": round(folder_mb(disk), 1),
            **measured,
        }
        if not details:
            return {key: result[key] for key in KEYS}
        result |= {"write_chunks_per_s": round(rates["write"], 1), "embed_chunks_per_s": round(rates["embed"], 1)}
        loads = {"build_load_avg": rates.get("build_load_avg"), "probe_load_avg": round(os.getloadavg()[0], 1)}
        return result | {"builder_rss_mb": rates["builder_rss_mb"]} | loads
    finally:
        if kept is None:
            store.drop_index(bench)
            shutil.rmtree(workdir, ignore_errors=True)


def queries(pool: Pool) -> list[str]:
    """Question-like probes: the first words of random seed sentences."""
    rng = random.Random(SEED + 1)
    picks = [pool.sentences[rng.randrange(len(pool.sentences))][0] for _ in range(QUERIES + WARMUP)]
    return [" ".join(text.split()[:8]) for text in picks]


def run_probe(settings: Settings, pool: Pool) -> dict[str, Any]:
    """Start-up, latencies and RSS, measured in a fresh interpreter over the index in `settings`."""
    env = {**os.environ, **settings_env(settings), "RAG_BENCH_QUERIES": json.dumps(queries(pool))}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from rag.bench import probe; probe()"], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once the first question is answered
    startup = time.perf_counter() - started
    rest = proc.stdout.read()
    if proc.wait() != 0 or not first.strip():
        raise RuntimeError(f"the benchmark probe failed (exit {proc.returncode})")
    return {"startup_s": round(startup, 2), "startup_cpu_s": float(first.split()[1]), **json.loads(rest)}


def settings_env(settings: Settings) -> dict[str, str]:
    fields = {
        "index_dir": settings.index_dir,
        "lexical_dir": settings.lexical_dir,
        "collection": settings.collection,
        "chroma_url": settings.chroma_url,
        "cache_dir": settings.cache_dir,
        "seeds_dir": settings.seeds_dir,
        "chroma_headers": json.dumps(settings.chroma_headers),
        "chroma_tenant": settings.chroma_tenant,
        "chroma_database": settings.chroma_database,
    }
    return {f"RAG_{k.upper()}": str(v) for k, v in fields.items() if v is not None}


def probe() -> None:
    """In the fresh process: answer one question (start-up ends there), then time each retriever. CPU time
    too: on a shared machine wall time also counts other processes; CPU time is this one's own cost."""
    import rag  # noqa: F401  (the offline environment)
    from rag.config import get_settings
    from rag.retrieval import get_retriever

    asked = json.loads(os.environ["RAG_BENCH_QUERIES"])
    engine = get_retriever(get_settings())
    hits = engine.retrieve(asked[0], 5, "hybrid")
    print(f"ready {time.process_time():.2f}", flush=True)
    started = time.perf_counter()
    engine.prefetch([hit.node for hit in hits])  # what an answer reads next: the hits' sentence vectors
    result: dict[str, float] = {"first_sentences_s": round(time.perf_counter() - started, 2)}
    for mode in ("dense", "bm25", "hybrid"):
        for question in asked[:WARMUP]:
            engine.retrieve(question, 5, mode)
        wall, cpu = [], []
        for question in asked[WARMUP:]:
            started, started_cpu = time.perf_counter(), time.process_time()
            engine.retrieve(question, 5, mode)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        for name, times in ((f"{mode}", wall), (f"{mode}_cpu", cpu)):
            result[f"{name}_p50_ms"] = round(float(np.percentile(times, 50)), 2)
            result[f"{name}_p95_ms"] = round(float(np.percentile(times, 95)), 2)
    sentences = []
    for question in asked[WARMUP:]:  # evidence selection's read, after a hybrid retrieval (not timed)
        hits = engine.retrieve(question, 5, "hybrid")
        started = time.perf_counter()
        engine.prefetch([hit.node for hit in hits])
        sentences.append((time.perf_counter() - started) * 1000)
    result["sentences_p50_ms"] = round(float(np.percentile(sentences, 50)), 2)
    result["sentences_p95_ms"] = round(float(np.percentile(sentences, 95)), 2)
    result["rss_mb"] = peak_rss_mb()  # with the sentence vectors an answer needs, not retrieval alone
    print(json.dumps(result), flush=True)


def peak_rss_mb() -> float:
    """This process's peak RSS. Not getrusage: Linux carries ru_maxrss over fork and exec, so a child
    would report its parent's peak; VmHWM belongs to this process's own address space."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
