"""Security defaults of `rag serve`, against the real server over HTTP: loopback by default, `--auth` in
front of every page and API route, no file served from outside the app, API keys never in the log."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, SEEDS, free_port, stop, wait_for_port

USER, PASSWORD = "alice", "correct horse"
CANARY_KEY = "sk-canary-never-log-me-0123456789"


@pytest.fixture(scope="module")
def guarded(index_settings, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """`rag serve --auth` with an API key in its environment; yields (url, server log)."""
    port, closed = free_port(), free_port()
    log = tmp_path_factory.mktemp("secure") / "serve.log"
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{closed}/v1",  # a down API server: the error path gets logged
        "OPENAI_API_KEY": CANARY_KEY,
    }
    command = [str(BIN / "rag"), "-vv", "--index-dir", str(index_settings.index_dir), "serve", "--port", str(port)]
    command += ["--auth", f"{USER}:{PASSWORD}"]
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, timeout=180, proc=proc)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop(proc)


def listening_addresses(pid: int) -> set[str]:
    """Local addresses the process listens on, from /proc (no ss/netstat needed)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        # The server may close an fd (a file it was reading) between the listing and the read: not a socket.
        with contextlib.suppress(FileNotFoundError):
            inodes.add(os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # state LISTEN
                found.add(fields[1].rsplit(":", 1)[0])
    return found


def test_serve_listens_on_loopback_only_by_default(index_settings) -> None:
    port = free_port()
    command = [str(BIN / "rag"), "--index-dir", str(index_settings.index_dir), "serve", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=180, proc=proc)
        addresses = listening_addresses(proc.pid)
    finally:
        stop(proc)
    assert addresses and addresses <= {"0100007F"}, addresses  # 127.0.0.1, nothing on 0.0.0.0 or ::


ROUTES = ["/config", "/gradio_api/info", "/gradio_api/queue/status", f"/gradio_api/file={SEEDS}/README.md"]


@pytest.mark.parametrize("route", ROUTES)
def test_without_signing_in_no_route_answers(guarded, route) -> None:
    url, _ = guarded
    response = httpx.get(url + route, timeout=30)
    assert response.status_code in (401, 403), (route, response.status_code, response.text[:200])
    assert "Kherson" not in response.text


def test_an_api_call_needs_a_signed_in_user(guarded) -> None:
    url, _ = guarded
    response = httpx.post(url + "/gradio_api/call/respond", json={"data": ["When did Russia leave Kherson?"]})
    assert response.status_code in (401, 403), response.text[:200]
    wrong = httpx.post(url + "/login", data={"username": USER, "password": "wrong"}, timeout=30)
    assert wrong.status_code >= 400


def test_signed_in_no_file_outside_the_app_is_served(guarded) -> None:
    url, _ = guarded
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/login", data={"username": USER, "password": PASSWORD}).status_code == 200
        assert client.get("/config").status_code == 200  # signed in: the app answers
        for outside in ("/etc/passwd", f"{SEEDS}/README.md", "../../../../etc/passwd", str(Path.home())):
            response = client.get(f"/gradio_api/file={outside}")
            assert response.status_code in (403, 404), (outside, response.status_code)
            assert "root:" not in response.text


def test_the_api_key_is_never_logged_or_shown(guarded) -> None:
    from gradio_client import Client

    url, log = guarded
    client = Client(url, auth=(USER, PASSWORD), verbose=False)
    chat, *_ = client.predict("When did Russia leave Kherson?", "openai", "hybrid", 5, 0.0, api_name="/respond")
    shown = str(chat)
    assert "unreachable" in shown or "extract" in shown.lower()  # the down API server was tried and reported
    assert CANARY_KEY not in shown
    assert CANARY_KEY not in log.read_text()
