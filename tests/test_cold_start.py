"""A fresh process does only what it needs: help and bad input import no model library, and answering a
retrieval never imports torch (the question is embedded by rag.minilm). Import checks, not timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rag.config import Settings

HEAVY = ("torch", "sentence_transformers", "transformers", "llama_index.core", "chromadb")

CLI = """
import json, sys
from rag.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps([m for m in {heavy} if m in sys.modules]))
"""


def loaded_after(script: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args", [["--help"], ["retrieve", ""], ["ask", "   "], ["retrieve", "-k", "99", "a question"], ["bench", "--help"]]
)
def test_help_and_bad_input_import_no_model_or_index_library(args: list[str]) -> None:
    assert loaded_after(CLI.format(heavy=HEAVY), *args) == []


RETRIEVE = """
import json, sys
import rag
from rag.config import get_settings
from rag.retrieval import get_retriever
hits = get_retriever(get_settings()).retrieve("When did Russia leave Kherson?", 5, "hybrid+rerank")
assert hits
print(json.dumps([m for m in ("torch", "sentence_transformers") if m in sys.modules]))
"""


def test_retrieving_in_a_fresh_process_never_imports_torch(index_settings: Settings) -> None:
    env = {"RAG_INDEX_DIR": str(index_settings.index_dir), "RAG_SEEDS_DIR": str(index_settings.seeds_dir)}
    assert loaded_after(RETRIEVE, env=env) == []


ENTITIES = """
import json, sys
{first}
from rag.entities import entities
texts = ["Russian forces left Kherson on Friday 11 November 2022 at 5am, said Zelenskiy in Kyiv.",
         "About 30,000 troops crossed the Dnipro; NATO and the UN watched."]
print(json.dumps([[list(e) for e in entities(t)] for t in texts] + ["torch" in sys.modules]))
"""


def test_entities_load_without_torch_and_find_the_same_entities_as_with_it() -> None:
    without = loaded_after(ENTITIES.format(first=""))
    with_torch = loaded_after(ENTITIES.format(first="import torch"))
    assert without[-1] is False and with_torch[-1] is True
    assert without[:-1] == with_torch[:-1] and without[0]
