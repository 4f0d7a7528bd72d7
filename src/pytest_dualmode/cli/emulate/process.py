"""One emulated invocation in a runtime process: hand it the event, watch its log, memory and deadline.

The log reads like the function's CloudWatch stream: ``START``, the runtime's output, ``END`` and
a ``REPORT`` line with the duration, the peak memory and, for a cold start, the init duration.
:class:`EmulationOutcome` is what Lambda would have reported to the caller. Whether the runtime may
serve another invocation (it answered, within its deadline and memory) is decided here too.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_dualmode.cli.emulate.runtime_api import InvocationOutcome, RuntimeApiServer
from pytest_dualmode.cli.emulate.warm import RuntimeProcess, taken_event

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
    4 KB of the log; ``timed_out``: the deadline killed the runtime; ``cold_start``: the invocation
    started a new runtime process (False: a warm or pre-started one served it); ``start_s``: seconds
    from the invocation until the runtime took the event (a cold start's init; about 0 when warm);
    ``billed_ms`` and ``init_ms``: the figures of the log's ``REPORT`` line.
    """

    result: dict[str, Any] | None
    function_error: str | None = None
    error: dict[str, Any] | None = None
    log_tail: str = ""
    duration_s: float = 0.0
    timed_out: bool = False
    max_memory_mb: int | None = None
    runtime_client: str = ""
    cold_start: bool = True
    start_s: float = 0.0
    task_root_writes: list[str] = field(default_factory=list)
    billed_ms: int | None = None
    init_ms: float | None = None

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
    """Collects one invocation's log: streams lines to ``on_log`` and keeps the tail.

    ``START`` is written once the runtime has taken the event: before the first line it writes after
    that, or by the watcher for a quiet handler. Lines are added under one lock, so START never lands
    after the output it announces.
    """

    def __init__(self, on_log: Callable[[str], None] | None, api: RuntimeApiServer) -> None:
        self._on_log = on_log
        self._api = api
        self._before = taken_event(api)  # the previous invocation's event, on a warm runtime
        self._announced = False
        self._lines: deque[str] = deque()
        self._size = 0
        self._lock = threading.RLock()

    def announce(self) -> None:
        """Write the START line if the runtime has taken the event and it is not written yet."""
        with self._lock:
            current = taken_event(self._api)  # not api.current: that is cleared once the runtime answers
            if self._announced or current is None or current is self._before:
                return
            self._announced = True
            self.write(f"START RequestId: {current.request_id} Version: $LATEST\n")

    def output(self, line: str) -> None:
        """A line the runtime wrote."""
        with self._lock:
            self.announce()
            self.write(line)

    def write(self, line: str) -> None:
        """Add a line as it is."""
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            while self._size > 4 * LOG_TAIL_BYTES and len(self._lines) > 1:
                self._size -= len(self._lines.popleft())
            if self._on_log is not None:
                self._on_log(line)

    def tail(self) -> str:
        """The last 4 KB, like Lambda's ``LogResult``."""
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


class _Watch:
    """Samples the runtime's memory, kills it above its memory size, and writes the log's START line
    once the runtime has taken the event."""

    def __init__(self, runtime: RuntimeProcess, memory_mb: int, log: _Log) -> None:
        self.runtime, self.memory_mb, self.log = runtime, memory_mb, log
        self.peak_mb = 0
        self.out_of_memory = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dualmode-emulate-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(_POLL_S):
            self.log.announce()
            self.sample()
            if self.out_of_memory:
                self.runtime.kill()  # as Lambda does: the invocation ends with the runtime
                return

    def sample(self) -> None:
        """Read the runtime's resident memory now (and its peak so far)."""
        memory = _memory_mb(self.runtime.process.pid)
        if memory is not None:
            self.peak_mb = max(self.peak_mb, memory[1])
            self.out_of_memory = self.out_of_memory or memory[0] > self.memory_mb

    def stop(self) -> None:
        """Stop sampling (bounded wait)."""
        self._stop.set()
        self._thread.join(timeout=5)


# errors after which the runtime is not trusted with another invocation (it is killed)
_DISCARD = ("Runtime.ExitError", "Sandbox.Timedout", "Function.ResponseSizeTooLarge")


def run_invocation(
    runtime: RuntimeProcess,
    *,
    event: Any,
    timeout_s: float,
    memory_mb: int,
    on_log: Callable[[str], None] | None,
) -> tuple[EmulationOutcome, bool]:
    """Hand ``event`` to ``runtime`` and turn what happened into an outcome; also whether it may be reused.

    The deadline: the runtime gets ``timeout_s`` from the moment it takes the event (Lambda's deadline
    header) and is killed when it has not answered by then plus a small grace for a cold start. A runtime
    that crashed, timed out, ran out of memory or failed its init is killed and must not be reused; one
    whose handler answered (a result, or an error it raised) may serve the next invocation.
    """
    # cold: this invocation waits for a runtime's init (a pre-started one still initialising counts too)
    cold = runtime.invocations == 0 and not (runtime.provisioned and runtime.wait_ready(0))
    log = _Log(on_log, runtime.api)
    runtime.attach(log)
    watch = _Watch(runtime, memory_mb, log)
    queued = time.monotonic()
    try:
        result = runtime.api.invoke(event, timeout_s, process=runtime.process, grace_s=INIT_GRACE_S)
        watch.sample()  # the runtime now waits for its next event: its peak is final
    finally:
        watch.stop()
    started_s = max(0.0, time.monotonic() - queued - result.duration_s)
    reusable = _reusable(result) and not watch.out_of_memory and runtime.alive
    if not reusable:
        runtime.kill()
    runtime.detach()  # everything it wrote for this invocation is in the log now
    outcome = EmulationOutcome(
        None,
        duration_s=result.duration_s,
        max_memory_mb=watch.peak_mb or None,
        cold_start=cold,
        start_s=started_s,
    )
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
    init_ms = started_s * 1000 if cold and not result.init_error else 0.0
    init = f"Init Duration: {init_ms:.2f} ms\t" if init_ms else ""
    # billed as Lambda bills an on-demand function: rounded up to the millisecond, the init phase included
    billed_ms = math.ceil(result.duration_s * 1000 + init_ms)
    outcome.billed_ms, outcome.init_ms = billed_ms, init_ms or None
    log.write(f"END RequestId: {result.request_id}\n")
    log.write(
        f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_s * 1000:.2f} ms\t"
        f"Billed Duration: {billed_ms} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {watch.peak_mb} MB\t{init}\n"
    )
    outcome.log_tail = log.tail()
    return outcome, reusable


def _reusable(result: InvocationOutcome) -> bool:
    """The runtime answered this invocation itself: a response, or an error its handler raised."""
    if not result.is_error:
        return True
    return not (result.init_error or result.timed_out or result.error_type in _DISCARD)


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
