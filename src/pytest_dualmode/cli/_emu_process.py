"""One emulated invocation's runtime process: start it, watch its log, memory and deadline, stop it.

The log reads like the function's CloudWatch stream: ``START``, the runtime's output, ``END`` and
a ``REPORT`` line with the duration and the peak memory. :class:`EmulationOutcome` is what Lambda
would have reported to the caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_dualmode.cli._emu_api import Invocation

LOG_TAIL_BYTES = 4096  # Lambda's LogResult holds the last 4 KB of the log
INIT_TIMEOUT_S = 60.0  # the runtime must ask for its event within this (Lambda allows 10 s; machines vary)
_POLL_S = 0.1
_EXIT_CODES = {"timeout": 2, "crash": 3}


@dataclass
class EmulationOutcome:
    """What Lambda would have reported for one invocation.

    ``result``: the handler's response when it is a run result (docs/result-schema.md);
    ``function_error``: ``"Unhandled"`` when the invocation failed (Lambda's ``X-Amz-Function-Error``),
    with the error payload (``errorType``, ``errorMessage``) in ``error``; ``log_tail``: the last
    4 KB of the log; ``timed_out``: the deadline killed the runtime.
    """

    result: dict[str, Any] | None
    function_error: str | None = None
    error: dict[str, Any] | None = None
    log_tail: str = ""
    duration_s: float = 0.0
    timed_out: bool = False
    max_memory_mb: int | None = None
    runtime_client: str = ""
    task_root_writes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """pytest's exit code: the result's, a failed run's (from its ``SuiteFailed`` summary), 2 for a
        timeout, 3 when the runtime failed before producing one."""
        if self.result is not None and isinstance(self.result.get("exit_code"), int):
            return int(self.result["exit_code"])
        summary = self.failed_summary
        if summary is not None and isinstance(summary.get("exit_code"), int):
            return int(summary["exit_code"])
        return _EXIT_CODES["timeout"] if self.timed_out else _EXIT_CODES["crash"]

    @property
    def failed_summary(self) -> dict[str, Any] | None:
        """The compact result carried by a ``SuiteFailed`` function error, if that is what this is."""
        if not self.error or self.error.get("errorType") != "SuiteFailed":
            return None
        try:
            summary = json.loads(self.error.get("errorMessage", ""))
        except ValueError:
            return None
        return summary if isinstance(summary, dict) else None

    def report_lines(self, wall_s: float, *, summary: bool = True) -> list[str]:
        """Lines for a person: the run's summary (unless the streamed log showed it), the error, the facts."""
        lines: list[str] = []
        failed = self.failed_summary
        if self.result is not None:
            outcome = str(self.result.get("outcome", "?"))
            if summary and self.result.get("summary"):
                lines.append(str(self.result["summary"]).rstrip())
        elif failed is not None:
            outcome = str(failed.get("outcome", "failed"))
            counts = ", ".join(f"{v} {k}" for k, v in (failed.get("counts") or {}).items() if v)
            lines.append(f"function error SuiteFailed: {outcome} ({counts or 'no tests ran'})")
            for f in failed.get("failures", []):
                lines.append(
                    f"  {str(f.get('outcome', '')).upper()} {f.get('nodeid')}: {f.get('message', '')}"
                )
            if isinstance(failed.get("error"), dict):
                lines.append(f"  {failed['error'].get('type')}: {failed['error'].get('message')}")
        else:
            outcome = "timeout" if self.timed_out else "error"
            err = self.error or {}
            lines.append(f"function error {err.get('errorType', 'Unknown')}: {err.get('errorMessage', '')}")
        if self.task_root_writes:
            lines.append(
                "warning: the run wrote to the read-only task root (it fails in Lambda): "
                + ", ".join(self.task_root_writes[:5])
            )
        memory = f", max memory {self.max_memory_mb} MB" if self.max_memory_mb is not None else ""
        lines.append(
            f"dualmode emulate: {outcome}, exit code {self.exit_code}, {self.duration_s:.1f} s invocation "
            f"({wall_s:.1f} s with init){memory}, runtime client {self.runtime_client}"
        )
        return lines


class _Log:
    """Collects the runtime's output: streams lines to ``on_log`` and keeps the tail."""

    def __init__(self, on_log: Callable[[str], None] | None) -> None:
        self._on_log = on_log
        self._lines: deque[str] = deque()
        self._size = 0
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            while self._size > 4 * LOG_TAIL_BYTES and len(self._lines) > 1:
                self._size -= len(self._lines.popleft())
        if self._on_log is not None:
            self._on_log(line)

    def tail(self) -> str:
        with self._lock:
            data = "".join(self._lines).encode("utf-8", errors="replace")
        return data[-LOG_TAIL_BYTES:].decode("utf-8", errors="replace")


def _memory_mb(pid: int) -> tuple[int, int] | None:
    """(resident, peak resident) MB of a running process, from Linux's /proc (None elsewhere)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) // 1024
    if "VmRSS" not in values:
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the runtime and anything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def run_process(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    invocation: Invocation,
    memory_mb: int,
    on_log: Callable[[str], None] | None,
) -> EmulationOutcome:
    """Run the runtime process for ``invocation`` and turn what happened into an outcome."""
    log = _Log(on_log)
    invocation.on_fetch = lambda: log.write(f"START RequestId: {invocation.request_id} Version: $LATEST\n")
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    reader = threading.Thread(target=_pump, args=(process, log), name="dualmode-emulate-log", daemon=True)
    reader.start()
    peak = 0
    timed_out = exited = out_of_memory = False
    init_deadline = time.monotonic() + INIT_TIMEOUT_S
    try:
        while not invocation.done.wait(_POLL_S):
            now = time.monotonic()
            memory = _memory_mb(process.pid)
            rss = memory[0] if memory else None
            peak = max(peak, memory[1] if memory else 0)
            if rss is not None and rss > memory_mb:
                out_of_memory = True
                break
            if process.poll() is not None:
                exited = True
                break
            if invocation.started_at is None and now > init_deadline:
                timed_out = True
                break
            if invocation.started_at is not None and now > invocation.started_at + invocation.timeout_s:
                timed_out = True
                break
    finally:
        ended = time.monotonic()
        memory = _memory_mb(process.pid)  # the runtime waits for its next event: its peak is final
        peak = max(peak, memory[1] if memory else 0)
        _kill(process)
        reader.join(timeout=5)
    duration = ended - (invocation.started_at or ended)
    outcome = EmulationOutcome(None, duration_s=duration, max_memory_mb=peak or None)
    if invocation.done.is_set():
        _from_api(invocation, outcome)
    elif timed_out:
        outcome.timed_out = True
        phase = "Task timed out" if invocation.started_at is not None else "Init phase timed out"
        seconds = invocation.timeout_s if invocation.started_at is not None else INIT_TIMEOUT_S
        _error(
            outcome,
            "Sandbox.Timedout",
            f"RequestId: {invocation.request_id} Error: {phase} after {seconds:.2f} seconds",
        )
    elif out_of_memory:
        _error(
            outcome,
            "Runtime.OutOfMemory",
            f"RequestId: {invocation.request_id} Error: Runtime exited with error: signal: killed "
            f"(memory above {memory_mb} MB)",
        )
    elif exited:
        _error(
            outcome,
            "Runtime.ExitError",
            f"RequestId: {invocation.request_id} Error: Runtime exited with error: "
            f"exit status {process.returncode}",
        )
    log.write(f"END RequestId: {invocation.request_id}\n")
    log.write(
        f"REPORT RequestId: {invocation.request_id}\tDuration: {duration * 1000:.2f} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {peak} MB\t\n"
    )
    outcome.log_tail = log.tail()
    return outcome


def _error(outcome: EmulationOutcome, error_type: str, message: str) -> None:
    outcome.function_error = "Unhandled"
    outcome.error = {"errorType": error_type, "errorMessage": message}


def _from_api(invocation: Invocation, outcome: EmulationOutcome) -> None:
    if invocation.error is not None:
        outcome.function_error = "Unhandled"
        outcome.error = invocation.error
        return
    try:
        payload = json.loads(invocation.response or b"null")
    except ValueError:
        payload = None
    if isinstance(payload, dict) and str(payload.get("schema", "")).startswith("pytest-dualmode.result/"):
        outcome.result = payload
    else:
        _error(outcome, "Runtime.InvalidResult", "the handler's response is not a pytest-dualmode run result")


def _pump(process: subprocess.Popen[bytes], log: _Log) -> None:
    assert process.stdout is not None
    for raw in iter(process.stdout.readline, b""):
        log.write(raw.decode("utf-8", errors="replace"))
