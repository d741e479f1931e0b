"""The project's exception, and how commands turn it into one line a user can act on: never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any


class RagError(Exception):
    pass


def fail_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn project errors (and Ctrl-C) into one line on stderr and exit code 1: never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import click

        try:
            return command(*args, **kwargs)
        except RagError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper
