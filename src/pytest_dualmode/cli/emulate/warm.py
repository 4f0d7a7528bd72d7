"""One emulated execution environment: a runtime process, its Runtime API server and its ``/tmp``, kept warm.

Lambda keeps an execution environment after an invocation and hands it the next one: the runtime process
(awslambdaric, or the emulator's bootstrap) simply asks the Runtime API for the next event. A
:class:`RuntimeProcess` is that environment. It outlives one invocation; its output goes to whichever
invocation's log is attached (output while idle, such as the runtime's init, is kept for the next one).

The log pump reads the process's pipe with ``select`` so that :meth:`RuntimeProcess.detach` can tell when
everything the runtime wrote before answering has been read: a warm process never closes its pipe, so
waiting for the end of the file (as a one-shot process allows) is not an option.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from pytest_dualmode.cli.emulate.runtime_api import RuntimeApiServer

_IDLE_LINES = 200  # output of an idle runtime kept for its next invocation's log
_PUMP_POLL_S = 0.2  # how often the log pump checks that it should stop
_DRAIN_S = 2.0  # at most this long for the pipe to empty after an invocation
_STOP_S = 5.0


class LogSink(Protocol):
    """Where an attached invocation's log goes (``process._Log``)."""

    def write(self, line: str) -> None:
        """Add a line the emulator writes (START, END, REPORT, idle output replayed)."""

    def output(self, line: str) -> None:
        """Add a line the runtime wrote."""


class _AskedQueue(queue.Queue[Any]):
    """The Runtime API's event queue, noting the first ``invocation/next`` (the runtime has initialised)
    and the last event the runtime took (``taken``; the server forgets its current one once answered)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = threading.Event()
        self.taken: Any = None

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """As :meth:`queue.Queue.get`, noting that a runtime is waiting and what it took."""
        self.asked.set()
        item = super().get(block, timeout)
        self.taken = item
        return item


def taken_event(api: RuntimeApiServer) -> Any:
    """The last event the runtime took from ``api`` (with its ``request_id``), or its current one."""
    return getattr(api.queue, "taken", api.current)


def start_api(function_name: str, region: str) -> RuntimeApiServer:
    """A started Runtime API server on 127.0.0.1 whose queue tells when its runtime first asks for work."""
    api = RuntimeApiServer(function_name, region=region)  # binds here: a bind error reaches the caller
    api.queue = _AskedQueue()
    return api.start()


class RuntimeProcess:
    """A runtime process serving invocations from its own Runtime API server, kept for the next one.

    ``key`` is the function configuration it was started with (see ``sandbox.configuration``): only
    invocations with the same configuration may reuse it. ``invocations`` counts the ones it has served.
    """

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        api: RuntimeApiServer,
        scratch: Path,
        key: frozenset[tuple[str, str]],
    ) -> None:
        """Start the process (in its own process group, so a kill reaches whatever it started)."""
        self.api, self.scratch, self.key = api, scratch, key
        self.invocations = 0
        self.provisioned = env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency"
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            assert self.process.stdout is not None
            self._fd = self.process.stdout.fileno()
            self._sink: LogSink | None = None
            self._idle: deque[str] = deque(maxlen=_IDLE_LINES)
            self._sink_lock = threading.Lock()
            self._read_lock = threading.Lock()  # held while bytes are read and delivered
            self._partial = b""
            self._stopping = threading.Event()
            self._pump = threading.Thread(target=self._read, name="dualmode-emulate-log", daemon=True)
            self._pump.start()
        except BaseException:  # e.g. Ctrl-C right after the start: the process must not outlive this
            self.kill()
            raise

    @property
    def alive(self) -> bool:
        """The process is running (a warm runtime waits for its next event)."""
        return self.process.poll() is None

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait at most ``timeout_s`` for the runtime to finish its init and ask for an event: True if so."""
        asked = getattr(self.api.queue, "asked", None)
        if asked is None:  # a server not made by start_api: nothing tells
            return False
        limit = time.monotonic() + max(0.0, timeout_s)
        while not asked.is_set():
            left = limit - time.monotonic()
            if left <= 0 or not self.alive:
                return False
            asked.wait(min(0.05, left))
        return self.alive

    def attach(self, log: LogSink) -> None:
        """Send the runtime's output to ``log`` from now on, after what it wrote while idle."""
        with self._sink_lock:
            while self._idle:
                log.write(self._idle.popleft())
            self._sink = log

    def detach(self) -> None:
        """Deliver everything the runtime has written so far to the attached log, then detach it (bounded)."""
        if self.alive:
            limit = time.monotonic() + _DRAIN_S
            while time.monotonic() < limit:
                with self._read_lock:  # the pump is not between reading bytes and delivering them
                    readable, _, _ = select.select([self._fd], [], [], 0)
                    if not readable:
                        self._flush_partial()
                        break
                time.sleep(0.01)
        else:  # it has exited: its pipe ends, and the pump delivers the rest before it stops
            self._pump.join(timeout=_STOP_S)
        with self._sink_lock:
            self._sink = None

    def kill(self) -> None:
        """Kill the runtime and anything it started, and reap it (bounded)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=_STOP_S)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def stop(self) -> None:
        """Kill the process, stop its Runtime API server, remove its scratch folder (every wait bounded).

        Safe to call more than once and from several threads (close() and the invocation's own thread).
        """
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.kill()
        self._stopping.set()
        self._pump.join(timeout=_STOP_S)
        self.api.stop()
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _read(self) -> None:
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([self._fd], [], [], _PUMP_POLL_S)
            except (OSError, ValueError):  # the pipe was closed by stop()
                return
            if not readable:
                continue
            with self._read_lock:
                try:
                    data = os.read(self._fd, 65536)
                except OSError:
                    data = b""
                if not data:  # the process has exited
                    self._flush_partial()
                    return
                *lines, self._partial = (self._partial + data).split(b"\n")
                for raw in lines:
                    self._deliver(raw + b"\n")

    def _flush_partial(self) -> None:
        if self._partial:
            self._deliver(self._partial + b"\n")
            self._partial = b""

    def _deliver(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace")
        with self._sink_lock:
            if self._sink is None:
                self._idle.append(line)
            else:
                self._sink.output(line)
