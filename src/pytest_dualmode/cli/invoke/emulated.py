"""``dualmode invoke --emulate ZIP``: the fan-out against local emulated runtimes (``dualmode emulate``).

A thin adapter from :class:`pytest_dualmode.cli.emulate.Emulator` to the invoke backend: the zip is
extracted once, and each concurrent invocation runs in its own clean runtime process. Runtimes are kept
warm, as Lambda keeps execution environments: the collection's runtime serves a shard afterwards, and
before the shards start the fan-out has one runtime per concurrent invocation started and initialised
at once (:meth:`EmulatedBackend.warm`), as provisioned concurrency does. A crashed or timed-out runtime
is never reused. The emulated function's environment gets this process's ``DUALMODE_*`` and AWS credential
variables (standing in for the function's configuration and role), as ``dualmode emulate`` does.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.invoke.backend import Outcome, parse_payload
from pytest_dualmode.cli.invoke.cost import Report
from pytest_dualmode.redaction import redact_local as redact


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class EmulatedBackend:
    """Runs each event in an emulated Lambda runtime process (thread-safe: one process per concurrent call).

    ``keep_warm=False`` starts a new runtime for every invocation (every one a cold start); ``log``
    receives the one line :meth:`warm` prints.
    """

    def __init__(
        self,
        zip_path: Path,
        *,
        timeout_s: float | None,
        label: str | None,
        keep_warm: bool = True,
        log: Callable[[str], None] = _stderr,
    ) -> None:
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
        self._emulator = Emulator(zip_path, function_name=label or "system-tests", keep_warm=keep_warm)
        self._log = log
        self.function_timeout_s: float = timeout_s or DEFAULT_TIMEOUT_S
        self.memory_mb: int = self._emulator.memory_mb
        self.region: str | None = None  # priced as the default region
        self.architecture: str | None = None  # priced as x86_64 unless --architecture says otherwise
        self.description = f"emulated runtimes of {zip_path.name} ({self._emulator.client})"

    def warm(self, count: int) -> int:
        """Have ``count`` initialised runtimes waiting before the shards start; returns how many are ready.

        Like provisioned concurrency: the missing ones start concurrently and finish their init (the
        interpreter, the runtime client, the handler's module) before the first shard is invoked. A cold
        backend, or a single invocation, starts nothing ahead.
        """
        if not self._emulator.keep_warm or count < 2:
            return 0
        start = time.monotonic()
        ready = self._emulator.warm(count)
        took = time.monotonic() - start
        self._log(
            f"dualmode invoke: {ready} of {count} emulated runtimes ready in {took:.1f}s, started ahead of "
            "the shards (as Lambda's provisioned concurrency initialises environments before requests)"
        )
        return ready

    def invoke(self, event: dict[str, Any]) -> Outcome:
        """One invocation in an idle warm runtime, else a new one (always a new one for a re-run); a crash
        or timeout is an outcome."""
        # a re-run (it lists environments to avoid) gets a runtime of its own, never a warm one
        fresh = isinstance(event, dict) and "avoid_environments" in event
        emulated = self._emulator.invoke(event, timeout_s=self.function_timeout_s, fresh=fresh)
        result, error = emulated.result, None
        if result is None:
            payload = emulated.error or {"errorType": "Runtime.Unknown", "errorMessage": "no result"}
            _, error = parse_payload(json.dumps(payload).encode("utf-8"), emulated.function_error)
        report = Report(
            duration_ms=round(emulated.duration_s * 1000, 2),
            billed_ms=emulated.billed_ms,
            memory_mb=self.memory_mb,
            max_memory_mb=emulated.max_memory_mb,
            init_ms=round(emulated.init_ms, 2) if emulated.init_ms else None,
        )
        kind = (emulated.error or {}).get("errorType") if emulated.function_error else None
        return Outcome(
            result,
            function_error=emulated.function_error,
            error=error,
            log_tail=redact(emulated.log_tail),
            duration_s=emulated.duration_s,
            rerun_ok=result is None,  # a crashed or killed runtime: as on Lambda, one re-run
            error_type=str(kind) if kind else None,
            report=report,
        )

    def close(self) -> None:
        """Kill every runtime process (busy ones too: Ctrl-C ends here) and remove the extracted task root."""
        self._emulator.close()
