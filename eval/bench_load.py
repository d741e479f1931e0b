"""Load benchmark: `rag serve` on 127.0.0.1 driven by N concurrent chat sessions for a bounded time.

Each session is its own gradio_client (its own browser-like session state) and asks gold questions in
turn. Per answer it records the time until the evidence was shown and until the answer was done, and
checks that the chat it gets back holds only its own questions (no session sees another's history).
The server's RSS is sampled throughout. Two modes:
- `retrieval`: the LLM backend points at a closed port, so every answer is the labelled extract: this is
  the whole app path (queue, retrieval, checks, rendering) without generation;
- `answers`: the local model writes every answer; the model is one, so answers queue (users see their place).

    .venv/bin/python eval/bench_load.py --sessions 20 --seconds 120 --mode retrieval
    .venv/bin/python eval/bench_load.py --sessions 20 --seconds 300 --mode answers
    .venv/bin/python eval/bench_load.py --sessions 20 --seconds 900 --name soak   # memory over 15 minutes

Writes eval/reports/load-MODE.json and prints a summary. It stops by itself (and stops the server).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def soak(seconds: list[float], rss: list[float]) -> dict:
    """Memory after warm-up: the first quarter of the run loads models and fills caches; a leak shows as
    growth (and a slope) over the rest. Sessions keep their own chat, so a little growth is expected."""
    if len(rss) < 8:
        return {}
    warm = len(rss) // 4
    t, m = np.asarray(seconds[warm:]), np.asarray(rss[warm:])
    slope = float(np.polyfit(t, m, 1)[0]) * 60 if np.ptp(t) > 0 else 0.0
    return {
        "rss_mb_after_warmup": rss[warm],
        "rss_growth_after_warmup_mb": round(rss[-1] - rss[warm], 1),
        "rss_slope_after_warmup_mb_per_min": round(slope, 2),
        "rss_mb_per_minute": [rss[i] for i in range(0, len(rss), 60)],
    }


def session(url: str, questions: list[str], until: float, mode: str, out: dict, lock: threading.Lock) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    mine: list[str] = []
    i = 0
    while time.monotonic() < until:
        question = f"{questions[i % len(questions)]}"
        i += 1
        started = time.monotonic()
        evidence_at = None
        llm = "openai" if mode == "retrieval" else "local"
        job = client.submit(question, llm, "hybrid", 5, 0.0, api_name="/respond")
        outputs = None
        try:
            for update in job:
                outputs = update
                if evidence_at is None and "reading these passages" in str(update[1]):
                    evidence_at = time.monotonic() - started
            outputs = job.result(timeout=max(1.0, until + 600 - time.monotonic()))
        except Exception as exc:  # counted, never fatal: a refused or failed request is a result too
            with lock:
                out["errors"].append(f"{type(exc).__name__}: {str(exc)[:120]}")
            continue
        total = time.monotonic() - started
        mine.append(question)
        chat = outputs[0] or []
        asked = [m["content"] for m in chat if isinstance(m, dict) and m.get("role") == "user"]
        with lock:
            out["totals"].append(total)
            if evidence_at is not None:
                out["evidence"].append(evidence_at)
            if len(asked) != len(mine):
                out["leaks"].append({"expected": len(mine), "got": len(asked)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--mode", choices=["retrieval", "answers"], default="retrieval")
    parser.add_argument("--index-dir", default=str(REPO / "index"))
    parser.add_argument("--out", default=str(REPO / "eval" / "reports"))
    parser.add_argument("--name", help="report name [default: load-MODE]")
    args = parser.parse_args()

    gold = [json.loads(line) for line in (REPO / "eval" / "gold.jsonl").read_text().splitlines() if line.strip()]
    questions = [g["question"] for g in gold if not g.get("history")][:40]
    port, closed = free_port(), free_port()
    env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{closed}/v1", "RAG_LLM_TIMEOUT": "5"}
    server = subprocess.Popen(
        [str(BIN / "rag"), "--index-dir", args.index_dir, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
    )
    results: dict = {"totals": [], "evidence": [], "errors": [], "leaks": [], "rss_mb": [], "rss_at_s": []}
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("rag serve did not start") from None
                time.sleep(0.5)
        url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        until = started + args.seconds
        lock = threading.Lock()
        threads = [
            threading.Thread(target=session, args=(url, questions[i:] + questions[:i], until, args.mode, results, lock))
            for i in range(args.sessions)
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            results["rss_mb"].append(round(rss_mb(server.pid), 1))
            results["rss_at_s"].append(round(time.monotonic() - started, 1))
            time.sleep(1)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    rss = results["rss_mb"]
    summary = {
        "mode": args.mode,
        "sessions": args.sessions,
        "seconds": round(elapsed, 1),
        "answers": len(results["totals"]),
        "throughput_per_min": round(60 * len(results["totals"]) / elapsed, 2),
        "total_p50_s": percentile(results["totals"], 50),
        "total_p95_s": percentile(results["totals"], 95),
        "evidence_p50_s": percentile(results["evidence"], 50),
        "evidence_p95_s": percentile(results["evidence"], 95),
        "errors": len(results["errors"]),
        "error_examples": results["errors"][:5],
        "history_leaks": len(results["leaks"]),
        "rss_mb_first_min_last_max": [rss[0], min(rss), rss[-1], max(rss)] if rss else None,
        **soak(results["rss_at_s"], rss),
        "cpus": os.cpu_count(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name or 'load-' + args.mode}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0 if not results["leaks"] else 1


if __name__ == "__main__":
    sys.exit(main())
