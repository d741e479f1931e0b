"""Command-line options shared by `rag` and `rag eval` (kept apart so neither CLI module imports the other)."""

from __future__ import annotations

import click


def remember_collection(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:  # into the dict every sub-context shares (`rag` sets it before any command runs)
        root = ctx.find_root()
        if root.obj is None:
            root.obj = {}
        root.obj["collection"] = value


# On the group and on each command, so both `rag --collection X ask` and `rag ask --collection X` work.
collection_option = click.option(
    "--collection",
    callback=remember_collection,
    expose_value=False,
    help="Collection of documents to use [default: RAG_COLLECTION or rag_chunks, the seeds].",
)
