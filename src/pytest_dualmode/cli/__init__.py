"""The ``dualmode`` command: ``package``, ``emulate`` and ``invoke``.

Each sub-command lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; this module only wires them together, so ``dualmode --help``
imports nothing heavy.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence

# sub-command name -> module (imported only when that sub-command runs or --help is built)
_COMMANDS = {
    "package": "pytest_dualmode.cli.package",
    "emulate": "pytest_dualmode.cli.emulate",
    "invoke": "pytest_dualmode.cli.invoke",
}


class CliError(Exception):
    """A user error: printed as ``dualmode: error: <message>`` with exit code 2, never a traceback."""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``dualmode`` argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="dualmode",
        description="Package, emulate and invoke a pytest-dualmode system-test suite in AWS Lambda.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in _COMMANDS.values():
        module = importlib.import_module(module_name)
        module.add_parser(sub)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dualmode`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so emulated runtimes are stopped too.
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        code: int = args.run(args)
    except CliError as exc:
        parser.exit(2, f"dualmode {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        print("dualmode: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
