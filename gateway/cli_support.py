"""What the store-backed CLI commands share: an exit with a message, and the guard that turns
errors into one line on stderr and an exit code instead of a traceback."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

Command = Callable[[argparse.Namespace], int]
# An error a command family knows how to report: (exit code, message), or None to re-raise.
Explain = Callable[[Exception], tuple[int, str] | None]


class CliExit(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def guarded(explain: Explain) -> Callable[[Command], Command]:
    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            try:
                return command(args)
            except CliExit as exc:
                print(exc.message, file=sys.stderr)
                return exc.code
            except Exception as exc:
                explained = explain(exc)
                if explained is None:
                    raise
                code, message = explained
                print(message, file=sys.stderr)
                return code

        return run

    return decorate
