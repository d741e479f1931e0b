"""The browser chat, driven like a user would: a real `rag serve` (real index, real local LLM) and Chromium.

One server for the module; each test opens its own browser context (a separate user session) unless
it continues the Kherson conversation. Screenshots go to tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, free_port, stop, wait_for_port

playwright = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ANSWER_TIMEOUT = 120_000  # ms; the LLM shares 2 cores with whatever else runs
KHERSON = "When did Russia leave Kherson?"
KHERSON_FILE = "002_a3e9cd5b9989adce.txt"
FINISHED = "#chat .answer:not(.streaming)"
EXAMPLES = [
    KHERSON,
    "How much military aid did the US announce for Ukraine?",
    "Which dam was damaged in occupied Kherson?",
    "What did Macron ask Xi Jinping?",
]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


def test_build_app_builds_without_a_server(index_settings):
    import gradio as gr

    from ui.app import build_app, launch_options

    assert isinstance(build_app(index_settings), gr.Blocks)
    assert launch_options()["footer_links"] == []


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(index_settings, tmp_path_factory) -> Iterator[str]:
    """`rag serve` on a free port; OPENAI_BASE_URL points at a closed port to test a down LLM server."""
    port, closed = free_port(), free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **os.environ,
        "RAG_LLM": "local",
        # The 1.5B default, not the 0.5B: the 0.5B answers "The documents don't say." to the Kherson question.
        "RAG_LLM_MODEL": "qwen2.5-1.5b",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{closed}/v1",
        # The example questions are settings (by default they are drawn from the collection's titles).
        "RAG_UI_EXAMPLE_QUESTIONS": json.dumps(EXAMPLES),
    }
    command = [str(BIN / "rag"), "--index-dir", str(index_settings.index_dir), "serve", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, timeout=180, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        text = log.read_text()
        assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh user session on a desktop-sized window."""
    context = browser.new_context(viewport=DESKTOP)
    page = open_chat(context, server)
    yield page
    context.close()


@pytest.fixture(scope="module")
def kherson(browser, server):
    """One user's session that asked the Kherson question; records every URL the page requested."""
    context = browser.new_context(viewport=DESKTOP)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = open_chat(context, server)
    ask(page, KHERSON, wait=False)
    # The evidence is shown while the model is still writing (the live section exists until Done).
    page.wait_for_selector("#sources .turn.live article.card", timeout=30_000)
    page.wait_for_selector(f"{FINISHED} >> nth=0", timeout=ANSWER_TIMEOUT)
    page.requested = requested
    yield page
    context.close()


def open_chat(context, url: str):
    page = context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT)
    page.goto(url)
    page.wait_for_selector("#question textarea")
    return page


def ask(page, question: str, wait: bool = True) -> str:
    """Type a question, press Enter; with wait, return the text of the finished answer."""
    before = page.locator(FINISHED).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    if not wait:
        return ""
    page.wait_for_function("([selector, n]) => document.querySelectorAll(selector).length > n", arg=[FINISHED, before])
    return page.locator(FINISHED).nth(before).inner_text()


def shot(page, name: str, selector: str | None = None) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    target = page.locator(selector) if selector else page
    target.screenshot(path=str(ARTIFACTS / name))


# ---- the conversation ----------------------------------------------------------------------------


def test_answer_streams_with_a_date_and_a_citation_link(kherson):
    answer = kherson.locator(FINISHED).first
    assert "2022" in answer.inner_text() or "November" in answer.inner_text()
    assert answer.locator("a.cite").count() >= 1
    assert "Traceback" not in kherson.content()
    shot(kherson, "chat_desktop.png")


def test_the_page_loads_nothing_from_outside_the_app(kherson):
    app = kherson.url.rstrip("/")
    outside = [u for u in kherson.requested if not u.startswith((app, "data:", "blob:"))]
    assert outside == []
    assert kherson.get_by_text("Use via API").count() == 0


def test_clicking_a_citation_highlights_its_passage_in_the_sources(kherson):
    link = kherson.locator(f"{FINISHED} a.cite").first
    card_id = link.get_attribute("href").lstrip("#")
    link.click()
    card = kherson.locator(f"#sources article.card#{card_id}")
    kherson.wait_for_selector(f"#sources article.card.active#{card_id}")
    assert card.locator("mark").count() >= 1
    assert card.locator("mark").first.is_visible()
    assert card.get_attribute("data-file") in card.inner_text()  # the card names its file
    cited = kherson.locator("#sources .turn article.card[id^='src-1-']")
    files = [cited.nth(i).get_attribute("data-file") for i in range(cited.count())]
    assert KHERSON_FILE in files
    assert kherson.locator("#sources details.more").count() == 1  # uncited passages, collapsed
    shot(kherson, "sources_panel.png", "#sources")


def test_a_follow_up_uses_the_history_and_keeps_the_first_answer(kherson):
    first = kherson.locator(FINISHED).first.inner_text()
    second = ask(kherson, "and who ordered it?")
    assert second.strip() and kherson.locator("#chat .badge.error").count() == 0
    assert kherson.locator(FINISHED).count() == 2
    assert kherson.locator(FINISHED).first.inner_text() == first
    assert kherson.get_by_text(KHERSON).first.is_visible()
    # The first answer's citations still lead to its (now collapsed) sources.
    kherson.locator(f"{FINISHED} >> nth=0 >> a.cite").first.click()
    kherson.wait_for_selector("#sources details.earlier[open] article.card.active")


def test_an_unanswerable_question_is_labelled_as_an_abstention(page):
    text = ask(page, "What is the capital of Australia?")
    assert "don't say" in text or page.locator("#chat .badge.abstained").count() == 1


def test_a_down_llm_server_gives_a_labelled_extractive_answer_not_a_traceback(page):
    page.click("#settings >> text=Settings")
    page.locator("#llm").get_by_text("openai").click()
    text = ask(page, KHERSON)
    assert page.locator("#chat .badge.extractive").count() == 1
    assert "unreachable" in text
    assert page.locator(f"{FINISHED} a.cite").count() >= 1
    assert "Traceback" not in page.content()


def test_a_library_error_is_one_readable_line(page):
    text = ask(page, "Kherson " * 300)  # over the question length limit
    assert "too long" in text
    assert page.locator("#chat .badge.error").count() == 1
    assert "Traceback" not in page.content()


def test_two_users_each_see_only_their_own_conversation(browser, server):
    users = [browser.new_context(viewport=DESKTOP) for _ in range(2)]
    questions = ["Which dam was damaged in occupied Kherson?", "What did Macron ask Xi Jinping?"]
    try:
        pages = [open_chat(context, server) for context in users]
        for page, question in zip(pages, questions):
            ask(page, question, wait=False)
        for page in pages:
            page.wait_for_selector(FINISHED, timeout=2 * ANSWER_TIMEOUT)
        for page, mine, theirs in zip(pages, questions, reversed(questions)):
            chat = page.locator("#chat").inner_text()
            assert mine in chat and theirs not in chat
            assert mine in page.locator("#sources").inner_text()
    finally:
        for context in users:
            context.close()


def test_the_phone_layout_answers_an_example_question(browser, server):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = open_chat(context, server)
        shot(page, "empty_phone.png")
        page.locator("#chat button", has_text=KHERSON).click()
        page.wait_for_selector(FINISHED)
        assert page.locator(f"{FINISHED} a.cite").count() >= 1
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1  # nothing forces sideways scrolling
        shot(page, "chat_phone.png")
    finally:
        context.close()


def test_the_about_tab_lists_each_document_with_its_chunks(page):
    page.get_by_role("tab", name="About these documents").click()
    table = page.locator("#about table.about")
    table.wait_for()
    assert table.locator("tbody tr").count() == 5
    assert KHERSON_FILE in table.inner_text()
    shot(page, "about_desktop.png")
