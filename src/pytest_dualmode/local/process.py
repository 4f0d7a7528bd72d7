"""A :class:`~pytest_dualmode.local.process_service.ProcessService` running: started, watched, stopped.

The process's stdout and stderr go, merged in order, to a log file (and the last lines are kept for
failure reports). It leads its own process group, so the stop (SIGTERM, then SIGKILL after the grace
period) reaches whatever it started. A SIGKILLed pytest cannot stop it, so on Linux the kernel is asked
to SIGKILL it when pytest dies (``PR_SET_PDEATHSIG``). The emulator's runtimes watch their parent from
a thread of their own instead (``cli/emulate/bootstrap.follow_parent``), because they are started from
worker threads and the kernel signal follows the starting *thread*; a service binary cannot run our
code, and the local stack starts it from the thread that runs the session's fixtures, which lives as
long as pytest does, so the kernel's signal is the right tool here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from pytest_dualmode.local.fake_aws import FAKE_KEY_ID, FAKE_REGION, FAKE_SECRET
from pytest_dualmode.local.process_service import ENV_NAMES, ProcessService
from pytest_dualmode.local.readiness import probe

_POLL_S = 0.02  # between readiness probes (a ready line needs no poll: it is an event)
_BUILDS: dict[tuple[tuple[str, ...], str], None] = {}  # build steps already run in this process
_BUILD_LOCK = threading.Lock()


class ProcessError(RuntimeError):
    """The service process could not be built, started or made ready; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago (the service binds it next; another process may take
    it in between, which :meth:`ServiceProcess.start` notices and answers with new ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# Sets the parent-death signal, checks pytest did not die before that, and becomes the service.
_LAUNCHER = (
    "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0); "
    "os.getppid() == int(sys.argv[1]) or os._exit(1); os.execvp(sys.argv[2], sys.argv[2:])"
)


def _die_with_parent(argv: list[str]) -> list[str]:
    """The argv that makes Linux SIGKILL the service when pytest dies (the signal survives the exec).

    util-linux's ``setpriv --pdeathsig`` sets it and execs the command; without setpriv a small Python
    launcher calls prctl and execs it. (A ``preexec_fn`` would need a full fork of pytest, about 20 ms
    with grpc and moto loaded instead of subprocess's vfork, and grpc's fork handlers can abort the
    child.) Elsewhere than Linux: the command as it is.
    """
    if not sys.platform.startswith("linux"):
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        return [setpriv, "--pdeathsig", "KILL", "--", *argv]
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), *argv]


def run_build(service: ProcessService) -> None:
    """Run the service's build step, once per pytest process (pytest-xdist workers each run it)."""
    if service.build is None:
        return
    key = (tuple(service.build), str(service.cwd or ""))
    with _BUILD_LOCK:
        if key in _BUILDS:
            return
        try:
            done = subprocess.run(
                list(service.build),
                cwd=service.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=service.build_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.output or b"").decode("utf-8", "replace")
            raise ProcessError(
                f"the build step {list(service.build)} did not finish within {service.build_timeout:g}s:\n"
                f"{_last(out, 30)}"
            ) from None
        if done.returncode != 0:
            raise ProcessError(
                f"the build step {list(service.build)} failed with exit code {done.returncode}:\n"
                f"{_last(done.stdout.decode('utf-8', 'replace'), 60)}"
            )
        _BUILDS[key] = None


# What a failed bind prints: Go's "bind: address already in use", Python's "[Errno 98] Address already in
# use", Node's EADDRINUSE, Java's "BindException: Address already in use".
_PORT_TAKEN = re.compile(r"address already in use|EADDRINUSE", re.IGNORECASE)
_START_ATTEMPTS = 3  # a picked port taken by someone else before the service bound it: new ports, again


def _last(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


class ServiceProcess:
    """One running service process: :meth:`start` returns once it is ready, or raises :class:`ProcessError`.

    Its gRPC and HTTP ports are picked at construction (or fixed by the service), so they can be shown
    in the command before the start."""

    def __init__(self, service: ProcessService, *, dynamodb_endpoint: str, region: str | None = None) -> None:
        self.service = service
        self.host = "127.0.0.1"
        self.region = region or os.environ.get("AWS_REGION") or FAKE_REGION
        self.dynamodb_endpoint = dynamodb_endpoint
        # the ports the plugin picks (not fixed by the service), picked again if one is taken at the start
        self._picks_grpc = bool(service.grpc and not service.grpc_port)
        self._picks_http = bool(service.http and not service.http_port)
        self.grpc_port = free_port() if self._picks_grpc else (service.grpc_port if service.grpc else None)
        self.http_port = free_port() if self._picks_http else (service.http_port if service.http else None)
        self.log_dir = Path(tempfile.mkdtemp(prefix="dualmode-service-"))
        self.log_path = self.log_dir / "service.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=max(service.log_lines, 1))
        self._lock = threading.Lock()
        self._ready_line: dict[str, str] | None = None
        self._line_event = threading.Event()  # a matching line arrived, or the output ended
        self._pump: threading.Thread | None = None
        self._stopping = False
        self._output_ended = False  # the pump read the end of its output (it has exited, or soon will)
        self._probe: Any = None  # the readiness probe, closed at the stop

    # what the process is given ----------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        """The placeholder values (the ports of APIs it does not have are empty)."""
        return {
            "grpc_port": str(self.grpc_port or ""),
            "http_port": str(self.http_port or ""),
            "host": self.host,
            "dynamodb_endpoint": self.dynamodb_endpoint,
            "region": self.region,
        }

    def argv(self) -> list[str]:
        """The command with its placeholders filled in."""
        values = self.values()
        return [arg.format(**values) for arg in self.service.command]

    def environment(self) -> dict[str, str]:
        """pytest's environment, fake AWS credentials for the local DynamoDB, the DUALMODE_* values, the
        user's ``env`` last."""
        values = self.values()
        env = dict(os.environ)
        for key in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
            env.pop(key, None)
        env.update(
            AWS_ACCESS_KEY_ID=FAKE_KEY_ID,
            AWS_SECRET_ACCESS_KEY=FAKE_SECRET,
            AWS_REGION=self.region,
            AWS_DEFAULT_REGION=self.region,
            AWS_EC2_METADATA_DISABLED="true",
        )
        env.update({ENV_NAMES[name]: value for name, value in values.items() if value})
        env.update({k: v.format(**values) for k, v in self.service.env.items()})
        return env

    # lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> ServiceProcess:
        """Build (once), start, and wait (bounded) until ready; on failure stop it and raise.

        A port the plugin picked can be taken by another process before the service binds it. When the
        service exits before it is ready saying its address is in use, it is started again on new ports
        (up to three starts; the log keeps every attempt)."""
        run_build(self.service)
        try:
            self.service.check_command()
        except ValueError as exc:
            raise ProcessError(str(exc)) from None
        attempt = 1
        while True:
            try:
                return self._start_once(append=attempt > 1)
            except ProcessError:
                if attempt == _START_ATTEMPTS or not self._lost_port_race():
                    raise
                self._new_ports()
                attempt += 1

    def _lost_port_race(self) -> bool:
        """True when the process ended saying a port was taken, and the plugin had picked a port."""
        picked = self._picks_grpc or self._picks_http
        return picked and self.exit_code is not None and bool(_PORT_TAKEN.search(self.tail()))

    def _new_ports(self) -> None:
        """Pick new ports for those the plugin picked, and forget the failed attempt (its log stays)."""
        old = (self.grpc_port, self.http_port)
        if self._picks_grpc:
            self.grpc_port = free_port()
        if self._picks_http:
            self.http_port = free_port()
        with self.log_path.open("ab") as log:
            log.write(f"dualmode: a port of {old} was taken; starting again on new ports\n".encode())
        with self._lock:
            self._tail.clear()
        self._ready_line = None
        self._line_event.clear()
        self._stopping = False
        self._output_ended = False
        self.process = None
        self._pump = None

    def _start_once(self, *, append: bool) -> ServiceProcess:
        log = self.log_path.open("ab" if append else "wb")
        argv = _die_with_parent(self.argv())
        try:
            self.process = subprocess.Popen(
                argv,
                cwd=self.service.cwd,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            log.close()
            raise ProcessError(f"cannot start {self.argv()[0]!r}: {exc.strerror or exc}") from None
        self._pump = threading.Thread(
            target=self._read, args=(log,), name="dualmode-service-log", daemon=True
        )
        self._pump.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _read(self, log: Any) -> None:
        """Copy the output to the log file line by line, keep the tail, and spot the ready line."""
        assert self.process is not None and self.process.stdout is not None
        ready = self.service.readiness
        pattern = re.compile(ready.arg) if ready.kind == "line" else None
        try:
            for raw in iter(self.process.stdout.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._lock:
                    self._tail.append(line)
                if self._ready_line is None and ready.kind in ("json", "line"):
                    found = _match_json(line) if pattern is None else _match_line(pattern, line)
                    if found is not None:
                        self._ready_line = found
                        self._line_event.set()
        finally:
            log.close()
            self._output_ended = True
            self._line_event.set()

    def _wait_ready(self) -> None:
        ready = self.service.readiness
        timeout = self.service.ready_timeout
        deadline = time.monotonic() + timeout
        checker = None if ready.kind in ("json", "line") else probe(ready, self)
        try:
            while True:
                if checker is None:
                    self._line_event.wait(max(0.0, min(0.1, deadline - time.monotonic())))
                    if self._ready_line is not None:
                        self._take_addresses(self._ready_line)
                        return
                    if self._line_event.is_set() and self.process is not None:  # its output ended
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            self.process.wait(1)
                elif checker.check(max(0.05, min(0.5, deadline - time.monotonic()))):
                    return
                code = self.process.poll() if self.process else None
                if code is not None:
                    self._drain()
                    raise ProcessError(
                        f"the service process {self.argv()!r} exited with code {code} before it was ready "
                        f"(waiting for {ready.describe()})\n{self.log_excerpt()}"
                    )
                if time.monotonic() >= deadline:
                    raise ProcessError(
                        f"the service process {self.argv()!r} was not ready within {timeout:g}s (waiting for "
                        f"{ready.describe()}); raise ready_timeout or fix the service\n{self.log_excerpt()}"
                    )
                if checker is not None:
                    time.sleep(_POLL_S)
        finally:
            # Closed at the stop, not now: closing a gRPC channel waits out grpc's 200 ms connectivity poll.
            self._probe = checker

    def _take_addresses(self, found: dict[str, str]) -> None:
        """Ports the ready line reported win over the ones picked (a service may bind port 0)."""
        grpc = found.get("grpc") or found.get("grpc_port")
        http = found.get("http") or found.get("http_port")
        if grpc and self.service.grpc:
            self.grpc_port = int(str(grpc).rpartition(":")[2])
        if http and self.service.http:
            self.http_port = int(str(http).rstrip("/").rpartition(":")[2])

    @property
    def grpc_address(self) -> str:
        """``127.0.0.1:PORT`` of the process's own gRPC port."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the process's own HTTP port."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def exit_code(self) -> int | None:
        """The exit code once the process has ended (negative: killed by that signal), else None."""
        return None if self.process is None else self.process.poll()

    def tail(self) -> str:
        """The last ``log_lines`` lines of its output."""
        with self._lock:
            return "\n".join(self._tail)

    def log_excerpt(self) -> str:
        """The tail with a heading that says where the whole log is."""
        tail = self.tail()
        heading = f"last {self.service.log_lines} lines of its log ({self.log_path}):"
        return f"{heading}\n{tail}" if tail else f"its log ({self.log_path}) is empty"

    def _drain(self) -> None:
        """Once it has exited: let the log pump read what it wrote last (bounded), for the log tail."""
        if self._pump is not None:
            self._pump.join(2)

    def settle(self, timeout: float = 1.0) -> None:
        """After a failed request: give a process that is exiting (its sockets are closed a moment before
        it can be reaped) up to ``timeout`` seconds to end, so the next test sees its exit code."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)

    def failure(self) -> str | None:
        """Why tests cannot run against it any more (it exited during the run), or None."""
        if self._output_ended and self.exit_code is None:
            self.settle()
        code = self.exit_code
        if code is None or self._stopping:
            return None
        self._drain()
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"the service process {self.argv()!r} {how} during the run\n{self.log_excerpt()}"

    def stop(self) -> None:
        """SIGTERM its process group, SIGKILL it after ``stop_grace`` seconds, reap it (bounded)."""
        self._stopping = True
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        proc = self.process
        if proc is None:
            return
        died_early = proc.poll() is not None
        if not died_early:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(self.service.stop_grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever it started, even when it has ended
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if self._pump is not None:
            self._pump.join(5)
        if proc.stdout is not None:
            proc.stdout.close()
        if not died_early:  # a log of a process that died on its own is kept for a look
            with contextlib.suppress(OSError):
                self.log_path.unlink()
                self.log_dir.rmdir()


def _match_json(line: str) -> dict[str, str] | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    # A JSON log line is not a ready line: the ready line names an address the service serves.
    if not isinstance(value, dict) or not ({"grpc", "http"} & value.keys()):
        return None
    return {str(k): str(v) for k, v in value.items()}


def _match_line(pattern: re.Pattern[str], line: str) -> dict[str, str] | None:
    found = pattern.search(line)
    if found is None:
        return None
    return {k: v for k, v in found.groupdict().items() if v}
