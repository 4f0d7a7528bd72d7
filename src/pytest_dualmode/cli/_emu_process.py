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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_dualmode.aws_lambda.runtime_api import RuntimeApiServer

LOG_TAIL_BYTES = 4096  # Lambda's LogResult holds the last 4 KB of the log
# the runtime's start (awslambdaric, the handler module: the handler loads pytest on its first event) may
# take this long beyond the timeout before the runtime is killed; the handler itself sees the full deadline
INIT_GRACE_S = 3.0
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


class _Watch:
    """Samples the runtime's memory, kills it above its memory size, and writes the log's START line
    once the runtime has taken the event."""

    def __init__(
        self, process: subprocess.Popen[bytes], api: RuntimeApiServer, memory_mb: int, log: _Log
    ) -> None:
        self.process, self.api, self.memory_mb, self.log = process, api, memory_mb, log
        self.peak_mb = 0
        self.out_of_memory = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dualmode-emulate-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        announced = False
        while not self._stop.wait(_POLL_S):
            current = self.api.current
            if current is not None and not announced:
                announced = True
                self.log.write(f"START RequestId: {current.request_id} Version: $LATEST\n")
            self.sample()
            if self.out_of_memory:
                _kill(self.process)  # as Lambda does: the invocation ends with the runtime
                return

    def sample(self) -> None:
        """Read the runtime's resident memory now (and its peak so far)."""
        memory = _memory_mb(self.process.pid)
        if memory is not None:
            self.peak_mb = max(self.peak_mb, memory[1])
            self.out_of_memory = self.out_of_memory or memory[0] > self.memory_mb

    def stop(self) -> None:
        """Stop sampling (bounded wait)."""
        self._stop.set()
        self._thread.join(timeout=5)


def run_process(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    api: RuntimeApiServer,
    event: Any,
    timeout_s: float,
    memory_mb: int,
    on_log: Callable[[str], None] | None,
) -> EmulationOutcome:
    """Start the runtime process, hand it ``event`` through ``api``, and turn what happened into an outcome.

    The deadline: the runtime gets ``timeout_s`` from the moment it takes the event (Lambda's deadline
    header) and is killed when it has not answered by then plus a small grace for its start.
    """
    log = _Log(on_log)
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
    watch = _Watch(process, api, memory_mb, log)
    try:
        result = api.invoke(event, timeout_s, process=process, grace_s=INIT_GRACE_S)
        watch.sample()  # the runtime now waits for its next event: its peak is final
    finally:
        watch.stop()
        _kill(process)
        reader.join(timeout=5)
    outcome = EmulationOutcome(None, duration_s=result.duration_s, max_memory_mb=watch.peak_mb or None)
    if watch.out_of_memory:
        message = f"Runtime exited with error: signal: killed (memory above {memory_mb} MB)"
        _error(outcome, "Runtime.OutOfMemory", f"RequestId: {result.request_id} Error: {message}")
    elif result.is_error:
        outcome.timed_out = result.timed_out
        try:
            payload = json.loads(result.payload) if result.payload else None
        except ValueError:
            payload = None
        if (
            isinstance(payload, dict)
            and "errorType" in payload
            and payload.get("errorType") == result.error_type  # the runtime's own error payload
        ):
            outcome.function_error, outcome.error = "Unhandled", payload
        else:
            message = result.error_message or ""
            _error(
                outcome,
                result.error_type or "Runtime.Unknown",
                f"RequestId: {result.request_id} Error: {message}",
            )
    else:
        _result(result.payload, outcome)
    log.write(f"END RequestId: {result.request_id}\n")
    log.write(
        f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_s * 1000:.2f} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {watch.peak_mb} MB\t\n"
    )
    outcome.log_tail = log.tail()
    return outcome


def _error(outcome: EmulationOutcome, error_type: str, message: str) -> None:
    outcome.function_error = "Unhandled"
    outcome.error = {"errorType": error_type, "errorMessage": message}


def _result(payload: bytes, outcome: EmulationOutcome) -> None:
    try:
        data = json.loads(payload or b"null")
    except ValueError:
        data = None
    if isinstance(data, dict) and str(data.get("schema", "")).startswith("pytest-dualmode.result/"):
        outcome.result = data
    else:
        _error(outcome, "Runtime.InvalidResult", "the handler's response is not a pytest-dualmode run result")


def _pump(process: subprocess.Popen[bytes], log: _Log) -> None:
    assert process.stdout is not None
    for raw in iter(process.stdout.readline, b""):
        log.write(raw.decode("utf-8", errors="replace"))
