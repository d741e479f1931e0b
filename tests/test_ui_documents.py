"""Bring your own documents in the browser: a real `rag serve` on an empty collection, real Chromium.

The LLM is an OpenAI-compatible server that is down, so every answer is the labelled extract with
citations: fast, and the same on every CPU. What is checked is the product: upload, ask, cite the page.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import Settings
from tests.conftest import BIN, free_port, stop, wait_for_port
from tests.make_docs import MARKDOWN, make_pdf
from ui import library

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
TIMEOUT = 120_000  # ms: embedding on 2 shared cores
FINISHED = "#chat .answer:not(.streaming)"
QUESTION = "How many meteors did the Lindqvist observatory record?"


# ---- the library behind the Documents tab, without a browser -----------------------------------------------


def test_uploads_over_the_limits_are_refused_with_a_reason(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", collection="limits", upload_max_mb=0.001, upload_max_files=3)
    small = tmp_path / "small.txt"
    small.write_text("The ferry leaves at 7.", encoding="utf-8")
    big = tmp_path / "big.md"
    big.write_text("word " * 1000, encoding="utf-8")
    program = tmp_path / "tool.exe"
    program.write_bytes(b"MZ\x90\x00")

    accepted, problems = library.check_uploads([small, big, program], settings)

    assert accepted == [small]
    assert any("big.md" in p and "MB limit" in p for p in problems)
    assert any("tool.exe" in p and "not accepted" in p for p in problems)
    with pytest.raises(library.UploadError, match="too many files"):
        library.check_uploads([small] * 4, settings)


def test_uploaded_documents_are_askable_at_once_and_removable(tmp_path: Path) -> None:
    from rag.ingest import list_sources
    from rag.retrieval import get_retriever

    settings = Settings(index_dir=tmp_path / "index", chroma_url=None, collection="at-once")
    notes = tmp_path / "notes.txt"
    notes.write_text("The ferry to Skarra Island leaves at 7 every morning.\n", encoding="utf-8")
    library.add_uploads([notes], settings)
    assert "Skarra" in get_retriever(settings).retrieve("When does the ferry leave?", 1)[0].node.get_content()

    railway = tmp_path / "railway.md"
    railway.write_text(MARKDOWN, encoding="utf-8")
    messages = library.add_uploads([railway], settings)

    assert messages[-1].startswith("Added 1 of 1 files")
    top = get_retriever(settings).retrieve("When did the Orrin Valley railway close?", 3)
    assert any(h.node.metadata["file"] == "railway.md" for h in top)  # the cached retriever was refreshed
    copy = str((library.uploads_dir(settings) / "railway.md").resolve())
    assert library.remove_documents([copy], settings) == "Removed 1 document."
    assert [r["file"] for r in list_sources(settings)] == ["notes.txt"]
    assert not Path(copy).exists()


def test_title_description_and_examples_follow_the_collection(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", collection="orrin")
    rows = [{"file": "railway.md"}]
    title, description, examples = library.profile(settings, rows, ["Closure", "Restoration"])
    assert title == "Ask orrin" and "1 document" in description
    assert examples == ["What do the documents say about Closure?", "What do the documents say about Restoration?"]
    named = settings.model_copy(update={"ui_title": "Railway archive", "ui_example_questions": ("When?",)})
    assert library.profile(named, rows, ["Closure"])[0::2] == ("Railway archive", ["When?"])


# ---- the browser ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rag serve` on a new, empty collection of its own."""
    port, closed = free_port(), free_port()
    folder = tmp_path_factory.mktemp("serve-docs")
    env = {**os.environ, "RAG_LLM": "openai", "OPENAI_BASE_URL": f"http://127.0.0.1:{closed}/v1"}
    command = [str(BIN / "rag"), "--index-dir", str(folder / "index"), "serve", "--port", str(port)]
    log = folder / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*command, "--collection", "uploads"], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, timeout=180, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        assert "Traceback" not in log.read_text(), log.read_text()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_upload_a_pdf_ask_about_it_and_open_the_cited_page(server: str, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "vellmar-report.pdf")
    notes = tmp_path / "railway.md"
    notes.write_text(MARKDOWN, encoding="utf-8")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT)
        page.goto(server)
        page.wait_for_selector("#question textarea")
        assert "no documents yet" in page.locator("#head").inner_text()

        page.get_by_role("tab", name="Documents", exact=True).click()
        page.locator("#upload input[type=file]").set_input_files([str(pdf), str(notes)])
        page.wait_for_selector("#upload .file-preview, #upload table")
        page.click("#add-docs")
        page.wait_for_selector("#upload-status p")
        rows = page.locator("#documents tbody tr")
        assert rows.count() == 2, page.locator("#upload-status").inner_text()
        assert "vellmar-report.pdf" in rows.nth(1).inner_text() and "pdf\t4\t4" in rows.nth(1).inner_text()
        assert "Added 2 of 2 files" in page.locator("#upload-status").inner_text()
        assert "2 documents" in page.locator("#head").inner_text()

        page.get_by_role("tab", name="Chat").click()
        page.fill("#question textarea", QUESTION)
        page.press("#question textarea", "Enter")
        page.wait_for_selector(FINISHED)
        page.locator(f"{FINISHED} a.cite").first.click()
        card = page.locator("#sources article.card.active")
        card.wait_for()
        assert card.get_attribute("data-file") == "vellmar-report.pdf" and card.get_attribute("data-page") == "3"
        assert "p. 3" in card.locator(".meta").inner_text()
        assert "412 meteors" in card.locator("mark").first.inner_text()

        href = card.locator("a.open").get_attribute("href")
        assert href.endswith("#page=3")
        original = page.request.get(server + href.split("#")[0])
        assert original.status == 200 and original.headers["content-type"] == "application/pdf"
        assert original.body() == pdf.read_bytes()
        assert page.request.get(f"{server}/gradio_api/file=/etc/passwd").status == 403  # only ingested files
        browser.close()


def test_with_auth_the_original_pdf_and_the_app_need_a_sign_in(tmp_path: Path) -> None:
    """Behind --auth, an ingested PDF is served to a signed-in user only (uploads need the app, which
    needs the sign-in too)."""
    import httpx

    index = tmp_path / "index"
    pdf = make_pdf(tmp_path / "vellmar-report.pdf")
    subprocess.run([str(BIN / "rag"), "--index-dir", str(index), "ingest", str(pdf), "--collection", "private"],
                   check=True, capture_output=True)  # fmt: skip
    port = free_port()
    env = {**os.environ, "RAG_LLM": "openai", "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    command = [str(BIN / "rag"), "--index-dir", str(index), "serve", "--port", str(port), "--auth", "ann:secret"]
    proc = subprocess.Popen([*command, "--collection", "private"], stdout=subprocess.DEVNULL, env=env)
    try:
        wait_for_port(port, timeout=180, proc=proc)
        url = f"http://127.0.0.1:{port}"
        original = f"{url}/gradio_api/file={pdf.resolve()}"
        with httpx.Client() as anonymous:
            assert anonymous.get(original).status_code in (401, 403)
            assert anonymous.get(f"{url}/config").status_code in (401, 403)
        with httpx.Client() as ann:
            assert ann.post(f"{url}/login", data={"username": "ann", "password": "secret"}).status_code == 200
            served = ann.get(original)
            assert served.status_code == 200 and served.content == pdf.read_bytes()
    finally:
        stop(proc)
