"""The project's exception, and how commands turn errors into one line a user can act on: never a
traceback. Exit codes: 1 a known problem (bad input, a server down), 130 Ctrl-C, 3 a bug (details with -v)."""

from __future__ import annotations

import functools
import logging
import sys
import traceback
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
        except (SystemExit, click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:  # a bug: still one line, the details behind -v
            if logging.getLogger().isEnabledFor(logging.INFO):
                traceback.print_exc()
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            click.echo(f"error: unexpected {type(exc).__name__}: {first} (run with -v for details)", err=True)
            sys.exit(3)

    return wrapper
