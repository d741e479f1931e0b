"""RAG_CHROMA_URL with the settings a distributed Chroma needs (headers, tenant, database), against a
real `chroma run`: the index lands in the database named, not in the default one."""

from __future__ import annotations

from pathlib import Path

import chromadb
import pytest

from rag import store
from rag.config import Settings
from rag.ingest import ingest
from rag.retrieval import Retriever
from rag.store import StoreError


def test_an_index_in_a_named_database_on_a_chroma_server(chroma_server: str, small_seeds: Path, tmp_path: Path) -> None:
    host, port = chroma_server.removeprefix("http://").split(":")
    admin = chromadb.config.Settings(
        chroma_api_impl="chromadb.api.fastapi.FastAPI", chroma_server_host=host, chroma_server_http_port=int(port)
    )
    settings = Settings(
        seeds_dir=small_seeds,
        index_dir=tmp_path / "unused",
        chroma_url=chroma_server,
        chroma_headers={"X-Request-Source": "rag-tests"},
        chroma_tenant="default_tenant",
        chroma_database="newsroom",
        collection="tenancy",
        lexical_dir=tmp_path / "lexical",
    )
    with pytest.raises(StoreError, match="RAG_CHROMA_DATABASE"):  # not created yet: one actionable line
        ingest(settings, progress=False)
    chromadb.AdminClient(admin).create_database("newsroom", tenant="default_tenant")
    report = ingest(settings, progress=False)
    assert report.added > 0
    names_in = {c.name for c in store.connect(settings).list_collections()}
    default = settings.model_copy(update={"chroma_database": None})
    assert store.live_name(settings) in names_in
    assert not {n for n in (c.name for c in store.connect(default).list_collections()) if n.startswith("tenancy")}
    assert Retriever(settings).retrieve("Bakhmut", 3, "hybrid")
