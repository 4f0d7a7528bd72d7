"""``dualmode invoke --emulate ZIP``: the fan-out against local emulated runtimes (``dualmode emulate``).

A thin adapter from :class:`pytest_dualmode.cli.emulate.Emulator` to the invoke backend: the zip is
extracted once, and every shard runs in its own clean runtime process, as each Lambda invocation would.
The emulated function's environment gets this process's ``DUALMODE_*`` and AWS credential variables
(standing in for the function's configuration and role), as ``dualmode emulate`` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli._inv_backend import Outcome, parse_payload
from pytest_dualmode.cli._inv_redact import redact


class EmulatedBackend:
    """Runs each event in a fresh emulated Lambda runtime process (thread-safe: one process per call)."""

    def __init__(self, zip_path: Path, *, timeout_s: float | None, label: str | None) -> None:
        """Extract ``zip_path`` once; ``timeout_s`` is each invocation's deadline (default 900 s)."""
        from pytest_dualmode.cli.emulate import DEFAULT_TIMEOUT_S, Emulator

        if not zip_path.is_file():
            raise CliError(
                f"--emulate {zip_path}: no such file; build one with `dualmode package -o {zip_path}`"
            )
        if timeout_s is not None and timeout_s > DEFAULT_TIMEOUT_S:
            raise CliError(
                f"--timeout {timeout_s:g}: Lambda allows at most 900 seconds; use e.g. --timeout 300"
            )
        self._emulator = Emulator(zip_path, function_name=label or "system-tests")
        self.function_timeout_s: float = timeout_s or DEFAULT_TIMEOUT_S
        self.description = f"emulated runtimes of {zip_path.name} ({self._emulator.client})"

    def invoke(self, event: dict[str, Any]) -> Outcome:
        """One invocation in its own runtime process; a crash or timeout is an outcome, never an exception."""
        emulated = self._emulator.invoke(event, timeout_s=self.function_timeout_s)
        result, error = emulated.result, None
        if result is None:
            payload = emulated.error or {"errorType": "Runtime.Unknown", "errorMessage": "no result"}
            _, error = parse_payload(json.dumps(payload).encode("utf-8"), emulated.function_error)
        return Outcome(
            result,
            function_error=emulated.function_error,
            error=error,
            log_tail=redact(emulated.log_tail),
            duration_s=emulated.duration_s,
            rerun_ok=result is None,  # a crashed or killed runtime: as on Lambda, one re-run
        )

    def close(self) -> None:
        """Remove the extracted task root."""
        self._emulator.close()
