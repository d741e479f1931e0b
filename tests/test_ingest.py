"""rag.ingest with the real embedder and real Chroma (embedded and server): idempotent, incremental, safe."""

from __future__ import annotations

import shutil
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from rag.chunking import chunk_documents
from rag.config import Settings
from rag.documents import DocumentError
from rag.embedding import EmbeddingError, get_embedder
from rag.ingest import IngestReport, ingest
from rag.loaders import load_seeds
from rag.store import StoreError, connect, open_collection, pointer_name, sentences_name
from tests.conftest import SEEDS, free_port

F000 = "000_0fc9fab1ffc6223a.txt"
F003 = "003_51635e4d9e4636c5.txt"
F004 = "004_03cfe2dca04b571e.txt"


def settings_for(seeds_dir: Path, index_dir: Path, **fields: object) -> Settings:
    # Explicit values beat any RAG_* variables in the developer's shell.
    return Settings(seeds_dir=seeds_dir, index_dir=index_dir, chroma_url=None, **fields)


def stored(settings: Settings) -> dict[str, dict]:
    """chunk id -> metadata (plus the text under "text"), read straight from Chroma."""
    collection = open_collection(settings)
    assert collection is not None
    got = collection.get(include=["metadatas", "documents"])
    return {i: {**m, "text": t} for i, m, t in zip(got["ids"], got["metadatas"], got["documents"])}


def ids_of(index: dict[str, dict], name: str) -> set[str]:
    return {i for i, m in index.items() if m["file"] == name}


def expected_ids(seeds_dir: Path, settings: Settings) -> set[str]:
    docs, _ = load_seeds(seeds_dir)
    return {n.node_id for n in chunk_documents(docs, settings)}


@pytest.fixture
def small_index(small_seeds: Path, tmp_path: Path) -> tuple[Settings, IngestReport]:
    settings = settings_for(small_seeds, tmp_path / "index")
    report = ingest(settings, progress=False)
    assert report.added == report.chunks == len(stored(settings)) > 0
    return settings, report


def test_vectors_are_cached_per_text_so_a_second_index_embeds_nothing(
    small_seeds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from rag import embedding

    first = settings_for(small_seeds, tmp_path / "first", cache_dir=tmp_path / "cache")
    ingest(first, progress=False)
    assert (tmp_path / "cache" / "embeddings" / f"{first.embed_model}.sqlite").is_file()

    def refuse(settings: Settings) -> None:
        raise AssertionError("a cached text was embedded again")

    monkeypatch.setattr(embedding, "get_embedder", refuse)
    second = settings_for(small_seeds, tmp_path / "second", cache_dir=tmp_path / "cache")
    report = ingest(second, progress=False)
    assert report.added == report.chunks > 0
    vectors = [open_collection(s).get(include=["embeddings"]) for s in (first, second)]  # type: ignore[union-attr]
    by_id = [dict(zip(v["ids"], v["embeddings"])) for v in vectors]
    assert by_id[0].keys() == by_id[1].keys()
    assert all(np.allclose(by_id[0][i], by_id[1][i]) for i in by_id[0])


# --- the session index built from the real seeds ----------------------------------------------------------


def test_index_holds_every_chunk_of_every_seed(index_settings: Settings) -> None:
    index = stored(index_settings)
    assert set(index) == expected_ids(SEEDS, index_settings)
    assert {m["file"] for m in index.values()} == {p.name for p in SEEDS.iterdir()}
    for meta in index.values():
        assert isinstance(meta["start"], int) and isinstance(meta["end"], int) and meta["start"] < meta["end"]
    dam = [m for m in index.values() if m.get("title") == "Dam damaged in occupied Kherson, Russians claim"]
    assert dam and all(m["date"].startswith("2022-11-06T12:01") for m in dam)


def test_second_ingest_changes_nothing(index_settings: Settings) -> None:
    before = stored(index_settings)
    report = ingest(index_settings, progress=False)
    assert (report.added, report.removed) == (0, 0)
    assert report.files_changed == [] and report.files_removed == []
    assert report.chunks == len(before) == len(stored(index_settings))
    assert set(stored(index_settings)) == set(before)
    assert report.files == 5 and sum(report.chunks_per_file.values()) == report.chunks


# --- incremental updates on a small private index -----------------------------------------------------


def test_changed_sentence_replaces_only_its_chunk(small_index: tuple[Settings, IngestReport]) -> None:
    settings, _ = small_index
    before = stored(settings)
    path = settings.seeds_dir / F004
    text = path.read_text(encoding="utf-8")
    old = "has proven one of the bloodiest of the war"
    new = "has proven one of the deadliest of the war"  # same length: later offsets, and ids, stay put
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")

    report = ingest(settings, progress=False)

    after = stored(settings)
    assert (report.added, report.removed) == (1, 1)
    assert report.files_changed == [F004] and report.files_removed == []
    assert ids_of(after, F000) == ids_of(before, F000)
    assert len(ids_of(after, F004) & ids_of(before, F004)) == len(ids_of(before, F004)) - 1
    assert set(after) == expected_ids(settings.seeds_dir, settings)
    assert not any(old in m["text"] for m in after.values())
    assert sum(new in m["text"] for m in after.values()) == 1


def test_edit_that_shifts_offsets_keeps_other_files(small_index: tuple[Settings, IngestReport]) -> None:
    settings, _ = small_index
    before = stored(settings)
    path = settings.seeds_dir / F004
    path.write_text(path.read_text(encoding="utf-8").replace("months-long", "months-long and grinding"), "utf-8")

    report = ingest(settings, progress=False)

    after = stored(settings)
    assert report.removed == len(ids_of(before, F004)) and report.added == len(ids_of(after, F004))
    assert ids_of(after, F000) == ids_of(before, F000)
    assert set(after) == expected_ids(settings.seeds_dir, settings)


def test_deleted_file_loses_its_chunks(small_index: tuple[Settings, IngestReport]) -> None:
    settings, first = small_index
    (settings.seeds_dir / F004).unlink()

    report = ingest(settings, progress=False)

    after = stored(settings)
    assert report.removed == first.chunks_per_file[F004] and report.added == 0
    assert report.files_removed == [F004] and report.files_changed == []
    assert {m["file"] for m in after.values()} == {F000}
    assert len(after) == report.chunks == first.chunks_per_file[F000]


def test_new_file_is_ingested(small_index: tuple[Settings, IngestReport]) -> None:
    settings, first = small_index
    shutil.copy(SEEDS / F003, settings.seeds_dir / F003)

    report = ingest(settings, progress=False)

    after = stored(settings)
    assert report.files == 3 and report.removed == 0
    assert report.added == report.chunks_per_file[F003] == len(ids_of(after, F003)) > 0
    assert report.files_changed == [F003]
    assert len(after) == first.chunks + report.added


def test_binary_and_non_utf8_files_are_skipped_with_a_warning(
    small_seeds: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (small_seeds / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)))
    (small_seeds / "latin1.txt").write_bytes("Café in Kyiv: a reporter’s note.".encode("cp1252"))
    settings = settings_for(small_seeds, tmp_path / "index")

    with caplog.at_level("WARNING", logger="rag.ingest"):
        report = ingest(settings, progress=False)

    assert report.files == 2 and report.added == report.chunks > 0
    assert len(report.warnings) == 2
    assert any("photo.jpg" in w and "binary" in w for w in report.warnings)
    assert any("latin1.txt" in w and "UTF-8" in w for w in report.warnings)
    assert "photo.jpg" in caplog.text and "latin1.txt" in caplog.text
    assert {m["file"] for m in stored(settings).values()} == {F000, F004}


@pytest.mark.parametrize("case", ["missing", "empty", "only-binary"])
def test_unusable_seeds_dir_raises_document_error(tmp_path: Path, case: str) -> None:
    seeds = tmp_path / "seeds"
    if case != "missing":
        seeds.mkdir()
    if case == "only-binary":
        (seeds / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    settings = settings_for(seeds, tmp_path / "index")

    with pytest.raises(DocumentError, match=str(seeds)):
        ingest(settings, progress=False)

    assert not (tmp_path / "index").exists()  # nothing is created before the seeds are read


def test_failed_ingest_leaves_the_previous_index_usable(
    small_index: tuple[Settings, IngestReport], tmp_path: Path
) -> None:
    settings, _ = small_index
    before = stored(settings)

    with pytest.raises(DocumentError):
        ingest(settings.model_copy(update={"seeds_dir": tmp_path / "gone"}), progress=False)

    assert stored(settings) == before
    collection = open_collection(settings)
    assert collection is not None
    question = get_embedder(settings).get_query_embedding("Which dam was hit by HIMARS rockets in Kherson?")
    hits = collection.query(query_embeddings=[question], n_results=2, include=["metadatas", "documents"])
    assert hits["metadatas"][0][0]["file"] == F000
    assert "Kakhovka dam" in " ".join(hits["documents"][0])


def test_failed_first_ingest_leaves_no_index_behind(small_seeds: Path, tmp_path: Path) -> None:
    """An ingest that fails (here: an unknown embedder) must not leave a collection that blocks the next one."""
    settings = settings_for(small_seeds, tmp_path / "index")

    with pytest.raises(EmbeddingError, match="no-such-model"):
        ingest(settings.model_copy(update={"embed_model": "no-such-model"}), progress=False)

    report = ingest(settings, progress=False)
    assert report.added == report.chunks > 0


# --- a store that cannot be used ---------------------------------------------------------------------------


def test_corrupt_index_raises_store_error(index_settings: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(index_settings.index_dir, copy)
    (copy / "chroma.sqlite3").write_bytes(b"this is not a database\n" * 500)

    with pytest.raises(StoreError, match="rebuild") as info:
        ingest(settings_for(SEEDS, copy), progress=False)

    assert str(copy) in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_index_built_by_another_embedder_asks_for_rebuild(small_seeds: Path, tmp_path: Path) -> None:
    settings = settings_for(small_seeds, tmp_path / "index")
    client = connect(settings)
    client.create_collection(settings.collection, metadata={"embed_model": "other-embedder", "hnsw:space": "cosine"})

    with pytest.raises(StoreError, match="--rebuild") as info:
        ingest(settings, progress=False)
    assert "other-embedder" in str(info.value) and settings.embed_model in str(info.value)

    report = ingest(settings, rebuild=True, progress=False)

    collection = open_collection(settings)
    assert collection is not None and collection.metadata["embed_model"] == settings.embed_model
    assert collection.count() == report.chunks == report.added > 0
    names = sorted(c.name for c in connect(settings).list_collections())
    live = collection.name  # a new version, published; the old index and any rebuild leftovers are gone
    assert names == sorted([pointer_name(settings.collection), live, sentences_name(live)])


def test_rebuild_of_a_healthy_index_gives_the_same_chunks(small_index: tuple[Settings, IngestReport]) -> None:
    settings, first = small_index
    before = stored(settings)

    report = ingest(settings, rebuild=True, progress=False)

    assert report.added == first.chunks and report.removed == 0
    assert set(stored(settings)) == set(before)


def test_unreachable_chroma_server_fails_fast(small_seeds: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = Settings(seeds_dir=small_seeds, index_dir=tmp_path / "index", chroma_url=url)
    started = time.monotonic()

    with pytest.raises(StoreError, match="cannot reach the Chroma server") as info:
        ingest(settings, progress=False)

    assert time.monotonic() - started < 30
    assert url in str(info.value)


# --- a real Chroma server ---------------------------------------------------------------------------------


def test_ingest_into_a_chroma_server_is_idempotent(chroma_server: str, small_seeds: Path, tmp_path: Path) -> None:
    # A collection of its own: other tests share this server.
    settings = Settings(
        seeds_dir=small_seeds,
        index_dir=tmp_path / "unused",
        chroma_url=chroma_server,
        collection=f"test-ingest-{uuid.uuid4().hex[:8]}",
    )

    first = ingest(settings, progress=False)
    second = ingest(settings, progress=False)

    assert first.added == first.chunks > 0 and first.removed == 0
    assert (second.added, second.removed, second.chunks) == (0, 0, first.chunks)
    index = stored(settings)
    assert set(index) == expected_ids(small_seeds, settings)
    assert Counter(m["file"] for m in index.values()) == Counter(first.chunks_per_file)
    assert not (tmp_path / "unused").exists()  # nothing written locally


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_readers_see_a_complete_index_throughout_a_rebuild(
    where: str, small_seeds: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A rebuild fills a new version while readers keep the old one; the pointer moves in one write."""
    from rag import store

    url = request.getfixturevalue("chroma_server") if where == "server" else None
    settings = Settings(
        seeds_dir=small_seeds,
        index_dir=tmp_path / "index",
        chroma_url=url,
        collection=f"test-swap-{uuid.uuid4().hex[:8]}",
    )
    first = ingest(settings, progress=False)
    before = store.live_name(settings)

    building = store.new_version(settings)  # what a rebuild does first
    assert building.name != before and store.live_name(settings) == before
    live = open_collection(settings)
    assert live is not None and live.name == before and live.count() == first.chunks

    report = ingest(settings, rebuild=True, progress=False)  # starts over: the unpublished version is a leftover
    after = store.live_name(settings)
    assert after not in (before, None) and report.added == first.chunks
    names = {c.name for c in connect(settings).list_collections()}
    assert before not in names and building.name not in names  # old and abandoned versions are gone
    assert open_collection(settings).count() == first.chunks


def test_a_chroma_server_that_goes_away_is_one_clear_error_and_works_again_after_restart(
    small_seeds: Path, tmp_path: Path
) -> None:
    """A real server, stopped and restarted between requests: retrieval names the URL, then recovers."""
    from rag.retrieval import Retriever
    from tests.conftest import start_chroma, stop

    port = free_port()
    data = tmp_path / "chroma"
    url = f"http://127.0.0.1:{port}"
    settings = Settings(seeds_dir=small_seeds, index_dir=tmp_path / "unused", chroma_url=url, collection="restart")
    proc = start_chroma(data, port)
    try:
        ingest(settings, progress=False)
        engine = Retriever(settings)
        assert engine.retrieve("Kakhovka dam", 3, "hybrid")
    finally:
        stop(proc)

    with pytest.raises(StoreError, match="cannot reach the Chroma server") as info:
        engine.retrieve("Kakhovka dam", 3, "hybrid")
    assert url in str(info.value) and len(str(info.value).splitlines()) == 1
    with pytest.raises(StoreError, match=url):
        ingest(settings, progress=False)

    proc = start_chroma(data, port)
    try:
        hits = engine.retrieve("Kakhovka dam", 3, "hybrid")  # the same process, no restart needed
        assert hits and "Kakhovka" in " ".join(h.node.get_content() for h in hits)
        assert ingest(settings, progress=False).added == 0  # nothing was lost
    finally:
        stop(proc)


def test_the_seeds_index_of_another_embedder_is_rebuilt_on_first_use(small_seeds: Path, tmp_path: Path) -> None:
    """After an upgrade that changes the default embedder, `rag serve` / `ask` rebuild the seeds' index (the
    seeds are in the repo: nothing is lost); a collection of the user's own files is never rebuilt behind
    their back: it asks for `rag ingest --rebuild`."""
    from rag.ingest import ensure_index

    settings = settings_for(small_seeds, tmp_path / "index")
    old = settings.model_copy(update={"embed_model": "all-MiniLM-L6-v2"})
    other = settings.model_copy(update={"embed_model": "nomic-embed-text-v1.5"})
    for before, now in ((old, other), (other, old)):
        ingest(before, progress=False)
        ensure_index(now, progress=False)
        collection = open_collection(now)
        assert collection is not None and collection.metadata["embed_model"] == now.embed_model
        assert set(stored(now)) == expected_ids(small_seeds, now)

    papers = old.model_copy(update={"collection": "papers"})
    ingest(papers, progress=False, paths=[small_seeds / F004])
    with pytest.raises(StoreError, match="--rebuild"):
        ensure_index(papers.model_copy(update={"embed_model": other.embed_model}), progress=False)
