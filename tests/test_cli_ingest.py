"""`rag ingest` as a user runs it: the real console script in a subprocess, offline, with clear errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from rag.config import Settings
from tests.conftest import BIN, free_port, run_cli

F000 = "000_0fc9fab1ffc6223a.txt"
F004 = "004_03cfe2dca04b571e.txt"
SUMMARY = re.compile(r"^(\d+) files, (\d+) chunks: (\d+) added, (\d+) removed, .* in [\d.]+s$", re.MULTILINE)

# Installed first on PYTHONPATH, this refuses every connection and name lookup that is not loopback,
# writes a marker when it is installed and logs every refused attempt.
NETWORK_BLOCKER = """
import os, socket

_LOG = os.environ["NETBLOCK_LOG"]
_LOCAL = {"127.0.0.1", "localhost", "::1", "", None}


def _refuse(what, host):
    with open(_LOG, "a") as log:
        log.write(f"refused {what} {host!r}\\n")
    raise OSError(f"network blocked by the test: {what} {host!r}")


def _host(address):
    host = address[0] if isinstance(address, tuple) else None
    return host.decode() if isinstance(host, bytes) else host


_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name not in _LOCAL:
        _refuse("getaddrinfo", name)
    return _getaddrinfo(host, *args, **kwargs)


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address) not in _LOCAL:
        _refuse("connect", _host(address))
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address) not in _LOCAL:
        _refuse("connect_ex", _host(address))
    return _connect_ex(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
with open(os.environ["NETBLOCK_MARKER"], "w") as marker:
    marker.write(f"installed in pid {os.getpid()}\\n")
"""


def chunk_count(seeds_dir: Path) -> int:
    from rag.chunking import chunk_documents
    from rag.loaders import load_seeds

    docs, _ = load_seeds(seeds_dir)
    return len(chunk_documents(docs, Settings()))


def assert_one_error_line(result: subprocess.CompletedProcess, *phrases: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr}"
    assert lines[0].startswith("error: ")
    for phrase in phrases:
        assert phrase in lines[0]
    return lines[0]


# --- help -------------------------------------------------------------------------------------------------


def test_help_lists_the_commands_and_global_options() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for word in ("ingest", "retrieve", "--index-dir", "--chroma-url", "--verbose"):
        assert word in result.stdout


def test_ingest_help_describes_its_options() -> None:
    result = run_cli("ingest", "--help")
    assert result.returncode == 0
    assert "Build or update the index" in result.stdout
    for option in ("--seeds", "--rebuild", "--json"):
        assert re.search(rf"^\s+{option}\b.*\S", result.stdout, re.MULTILINE), option


# --- ingest -----------------------------------------------------------------------------------------------


def test_ingest_prints_counts_and_warns_about_skipped_files(small_seeds: Path, tmp_path: Path) -> None:
    (small_seeds / "scan.pdf").write_bytes(b"%PDF-1.4\n\x00\x00\x00binary")  # a PDF, but a damaged one
    (small_seeds / "notes.txt").write_bytes("Kyiv café, 10°C".encode("latin-1"))
    index = tmp_path / "index"
    expected = chunk_count(small_seeds)

    result = run_cli("--index-dir", str(index), "ingest", "--seeds", str(small_seeds))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = SUMMARY.search(result.stdout)
    assert summary, result.stdout
    assert summary.groups() == ("2", str(expected), str(expected), "0")
    assert re.search(rf"^\s+{F000}: \d+ chunks$", result.stdout, re.MULTILINE)
    assert re.search(r"^WARNING: .*scan\.pdf.*not a readable PDF", result.stderr, re.MULTILINE)
    assert re.search(r"^WARNING: .*notes\.txt.*UTF-8", result.stderr, re.MULTILINE)

    again = run_cli("--index-dir", str(index), "ingest", "--seeds", str(small_seeds))

    assert again.returncode == 0, again.stderr
    assert SUMMARY.search(again.stdout).groups() == ("2", str(expected), "0", "0")


@pytest.mark.parametrize("case", ["missing", "empty"])
def test_unusable_seeds_dir_is_one_error_line(tmp_path: Path, case: str) -> None:
    seeds = tmp_path / "seeds"
    if case == "empty":
        seeds.mkdir()

    result = run_cli("--index-dir", str(tmp_path / "index"), "ingest", "--seeds", str(seeds))

    assert_one_error_line(result, str(seeds))
    assert result.returncode == 1


def test_corrupt_index_is_one_error_line_and_rebuild_recovers(
    index_settings: Settings, small_seeds: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    shutil.copytree(index_settings.index_dir, index)
    (index / "chroma.sqlite3").write_bytes(b"garbage, not sqlite\n" * 500)
    args = ("--index-dir", str(index), "ingest", "--seeds", str(small_seeds))

    assert_one_error_line(run_cli(*args), str(index), "rag ingest --rebuild")

    rebuilt = run_cli(*args, "--rebuild")

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert SUMMARY.search(rebuilt.stdout).group(3) == str(chunk_count(small_seeds))
    assert list(tmp_path.glob("index.broken-*")), "the unreadable index was not kept aside"
    after = run_cli(*args)
    assert after.returncode == 0, after.stderr
    assert SUMMARY.search(after.stdout).group(3) == "0"


def test_index_from_another_embedder_is_one_error_line(small_seeds: Path, tmp_path: Path) -> None:
    from rag.store import connect

    index = tmp_path / "index"
    settings = Settings(seeds_dir=small_seeds, index_dir=index, chroma_url=None)
    connect(settings).create_collection(settings.collection, metadata={"embed_model": "bge-small-en"})

    result = run_cli("--index-dir", str(index), "ingest", "--seeds", str(small_seeds))

    assert_one_error_line(result, "bge-small-en", "--rebuild")


def test_unreachable_chroma_url_is_one_error_line_and_fast(small_seeds: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()

    result = run_cli("--chroma-url", url, "ingest", "--seeds", str(small_seeds), timeout=60)

    assert time.monotonic() - started < 30
    assert_one_error_line(result, url)


# --- offline --------------------------------------------------------------------------------------------


def unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def offline_env(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """Environment that installs NETWORK_BLOCKER in every Python started with it; (env, marker, log)."""
    blocker = tmp_path / "netblock"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(NETWORK_BLOCKER)
    marker, log = tmp_path / "netblock.marker", tmp_path / "netblock.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")])),
        "NETBLOCK_MARKER": str(marker),
        "NETBLOCK_LOG": str(log),
    }
    probe = "import socket; socket.create_connection(('198.51.100.7', 443), timeout=3)"
    check = subprocess.run([str(BIN / "python"), "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert check.returncode != 0 and "network blocked by the test" in check.stderr, "the blocker does not block"
    assert marker.exists() and "refused" in log.read_text()
    marker.unlink()
    log.unlink()
    return env, marker, log


def test_ingest_runs_with_the_network_blocked(
    small_seeds: Path, tmp_path: Path, offline_env: tuple[dict[str, str], Path, Path]
) -> None:
    env, marker, log = offline_env
    # A network namespace without network when the kernel allows it; the socket blocker always.
    isolation = ["unshare", "-rn"] if unshare_works() else []
    how = "unshare -rn + sitecustomize blocker" if isolation else "sitecustomize blocker only (no unshare)"
    command = [*isolation, str(BIN / "rag"), "--index-dir", str(tmp_path / "index"), "ingest"]

    result = subprocess.run(
        [*command, "--seeds", str(small_seeds)], capture_output=True, text=True, timeout=300, env=env
    )

    assert marker.exists(), f"[{how}] the network blocker was not installed"
    assert result.returncode == 0, f"[{how}] ingest failed offline: {result.stderr}"
    summary = SUMMARY.search(result.stdout)
    assert summary and summary.group(3) == str(chunk_count(small_seeds)), f"[{how}] {result.stdout}"
    refused = log.read_text() if log.exists() else ""
    assert refused == "", f"[{how}] ingest tried to reach the network: {refused}"


def test_unreadable_and_malformed_seeds_are_warnings_not_tracebacks(
    small_seeds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.loaders import load_seeds

    (small_seeds / "bad_date.txt").write_text(" date 2022-13-45 Kyiv said the grid was repaired.\n", encoding="utf-8")
    locked = small_seeds / "locked.txt"
    locked.write_text("Secret.\n", encoding="utf-8")
    # Tests run as root, whom chmod cannot lock out: the OS's refusal is simulated for this one file.
    real = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    docs, warnings = load_seeds(small_seeds)
    assert any("locked.txt" in w and "Permission denied" in w for w in warnings), warnings
    bad = next(d for d in docs if d.file == "bad_date.txt")
    assert bad.date is None  # a malformed date line is no date, not a crash later in chunking
    monkeypatch.undo()

    locked.unlink()
    result = run_cli("--index-dir", str(tmp_path / "index"), "ingest", "--seeds", str(small_seeds))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_an_unexpected_error_is_one_line_with_a_hint_and_its_own_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "gold.jsonl"
    bad.write_text('{"question": "q", "sources": [{"file": 5}]}\n', encoding="utf-8")  # a file that is a number
    result = run_cli("eval", "retrieval", "--gold", str(bad), "--configs", "bm25", "--out", str(tmp_path))
    line = assert_one_error_line(result, "run with -v for details")
    assert result.returncode == 3, line


def test_a_second_ingest_waits_its_turn_and_a_killed_ingest_is_repaired_by_the_next(
    seeds_copy: Path, tmp_path: Path
) -> None:
    """Real processes: `rag ingest --rebuild` is SIGKILLed while it embeds; meanwhile a second ingest is
    refused with one line, and readers still see the complete old index; the next ingest finishes the job."""
    import signal

    from rag import store
    from rag.config import get_settings

    index = tmp_path / "index"
    settings = get_settings(index_dir=index, seeds_dir=seeds_copy, cache_dir=tmp_path / "cache")
    env = {"RAG_CACHE_DIR": str(settings.cache_dir)}
    args = ["--index-dir", str(index), "ingest", "--seeds", str(seeds_copy)]
    assert run_cli(*args, env=env).returncode == 0
    before = store.live_name(settings)
    full = store.count(settings, store.open_collection(settings))

    proc = subprocess.Popen(  # without the vector cache, so that it embeds long enough to be interrupted
        [str(BIN / "rag"), *args, "--rebuild"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env, "RAG_EMBED_CACHE": "false"},
    )
    try:
        deadline = time.monotonic() + 120
        while len(store.versions(settings, store.connect(settings))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # the rebuild has made its new (unpublished) version and is embedding
        assert proc.poll() is None, "the rebuild ended before it could be interrupted"
        second = run_cli(*args, env=env)
        assert_one_error_line(second, "another `rag ingest`", "wait for it to finish")
        live = store.open_collection(settings)
        assert live is not None and live.name == before and store.count(settings, live) == full
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    assert store.live_name(settings) == before  # the half-built version was never published
    repaired = run_cli(*args, "--rebuild", env=env)
    assert repaired.returncode == 0, repaired.stderr
    assert store.live_name(settings) != before
    assert store.count(settings, store.open_collection(settings)) == full
    assert len(store.versions(settings, store.connect(settings))) == 1  # the killed run's leftovers are gone
    assert not list((settings.cache_dir / "locks").iterdir())  # the killed run's lock file too, once done
