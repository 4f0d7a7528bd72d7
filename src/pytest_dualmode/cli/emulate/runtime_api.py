"""A local Lambda Runtime API, so a real runtime client (``awslambdaric``) can run the handler offline.

Usage::

    with RuntimeApiServer(function_name="system-tests") as api:
        env = {**os.environ, **api.lambda_environment(task_root="/path/to/tests")}
        proc = subprocess.Popen([sys.executable, "-m", "awslambdaric", "pytest_dualmode.aws_lambda.handler"],
                                env=env)
        outcome = api.invoke({"args": ["-q"]}, timeout_s=60, process=proc)   # warm invocations: call again
        outcome.is_error, outcome.error_type, outcome.json()
        proc.kill()

The server speaks the part of the Runtime API a runtime client needs (``/2018-06-01/runtime/...``):

* ``GET invocation/next`` long-polls until :meth:`RuntimeApiServer.invoke` queues an event, then answers with
  it and Lambda's headers: ``Lambda-Runtime-Aws-Request-Id``, ``Lambda-Runtime-Deadline-Ms`` (epoch ms),
  ``Lambda-Runtime-Invoked-Function-Arn``, ``Lambda-Runtime-Trace-Id``;
* ``POST invocation/{id}/response`` and ``POST invocation/{id}/error`` end that invocation;
* ``POST init/error`` records an init failure (the handler module did not import), which every waiting and
  later :meth:`invoke` returns at once.

One invocation runs at a time, as in Lambda. :meth:`invoke` waits at most ``timeout_s`` (plus a small grace)
and returns early when the runtime ``process`` given to it exits; after a timeout the caller should kill
that process, as Lambda does. The server binds 127.0.0.1 on an ephemeral port in the caller's thread and
serves from daemon threads; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

PREFIX = "/2018-06-01/runtime"
RESPONSE_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous response limit
_POLL_S = 0.05


class _Process(Protocol):
    def poll(self) -> int | None: ...


@dataclass(frozen=True)
class InvocationOutcome:
    """What one invocation produced. ``payload`` is the response body, or the error body for an error.

    ``is_error`` covers function errors, init errors, timeouts and runtime crashes; ``error_type`` is the
    ``errorType`` the runtime reported (``SuiteFailed``...), or ``Sandbox.Timedout`` / ``Runtime.ExitError`` /
    ``Function.ResponseSizeTooLarge`` as Lambda names those.
    """

    request_id: str
    payload: bytes
    is_error: bool
    error_type: str | None = None
    error_message: str | None = None
    init_error: bool = False
    timed_out: bool = False
    duration_s: float = 0.0

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)


class _Pending:
    def __init__(self, request_id: str, body: bytes, timeout_s: float) -> None:
        self.request_id = request_id
        self.body = body
        self.timeout_s = timeout_s
        self.deadline_ms = 0
        self.started = 0.0
        self.done = threading.Event()
        self.outcome: InvocationOutcome | None = None

    def finish(self, payload: bytes, is_error: bool, error_type: str | None = None, **extra: Any) -> None:
        if self.done.is_set():
            return
        message = None
        if is_error and error_type is None:
            try:
                body = json.loads(payload)
                error_type, message = body.get("errorType"), body.get("errorMessage")
            except (ValueError, AttributeError):
                error_type = "Runtime.InvalidErrorPayload"
        elif is_error:
            message = extra.pop("message", None)
        duration = time.monotonic() - self.started if self.started else 0.0
        self.outcome = InvocationOutcome(
            self.request_id, payload, is_error, error_type, message, duration_s=duration, **extra
        )
        self.done.set()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the function's own log is what matters."""

    def setup(self) -> None:
        super().setup()
        # Without it, Nagle's algorithm and delayed ACKs stall each event and answer ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        self.server.track(self.connection, add=False)
        super().finish()

    def _reply(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """``invocation/next``: wait for an event (checking for shutdown), hand it over with the headers."""
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(404, b'{"errorMessage": "unknown path"}')
            return
        api = self.server.api
        while True:
            if api.closing.is_set():
                self.close_connection = True
                return
            try:
                pending = api.queue.get(timeout=0.25)
                break
            except queue.Empty:
                continue
        pending.started = time.monotonic()
        pending.deadline_ms = int((time.time() + pending.timeout_s) * 1000)
        api.current = pending
        headers = {
            "Lambda-Runtime-Aws-Request-Id": pending.request_id,
            "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        }
        self._reply(200, pending.body, headers)

    def do_POST(self) -> None:
        """``invocation/{id}/response``, ``invocation/{id}/error`` and ``init/error``."""
        api = self.server.api
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == f"{PREFIX}/init/error":
            api.record_init_error(body)
            self._reply(202, b'{"status": "OK"}')
            return
        parts = self.path[len(PREFIX) :].strip("/").split("/")
        pending = api.current
        if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
            self._reply(404, b'{"errorMessage": "unknown path"}')
            return
        if pending is None or parts[1] != pending.request_id:
            self._reply(400, b'{"errorMessage": "unknown request id", "errorType": "InvalidRequestID"}')
            return
        if parts[2] == "error":
            pending.finish(body, True)
        elif length > RESPONSE_LIMIT:
            message = f"Response payload size ({length} bytes) exceeded maximum allowed payload size"
            pending.finish(body[:1000], True, "Function.ResponseSizeTooLarge", message=message)
            self._reply(413, b'{"errorType": "RequestEntityTooLarge"}')
            return
        else:
            pending.finish(body, False)
        self._reply(202, b'{"status": "OK"}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: RuntimeApiServer

    def __init__(self, api: RuntimeApiServer, host: str) -> None:
        self.api = api
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__((host, 0), _Handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def close_connections(self) -> None:
        with self._lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):  # already closed by the client
                    conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a runtime killed at its deadline drops its connection, as expected."""


class RuntimeApiServer:
    """A Lambda Runtime API on 127.0.0.1 for a runtime client in another process (see the module doc)."""

    def __init__(
        self,
        function_name: str = "dualmode-tests",
        *,
        region: str = "us-east-1",
        account: str = "000000000000",
        host: str = "127.0.0.1",
    ) -> None:
        self.function_name = function_name
        self.region = region
        self.function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.queue: queue.Queue[_Pending] = queue.Queue()
        self.closing = threading.Event()
        self.current: _Pending | None = None
        self.init_error: InvocationOutcome | None = None
        self._server = _Server(self, host)  # binds here: a bind error reaches the caller
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lambda-runtime-api", daemon=True
        )

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the value for ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RuntimeApiServer:
        """Serve from a daemon thread (the socket is already listening)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, unblock a waiting ``next`` and close every connection."""
        self.closing.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RuntimeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def lambda_environment(
        self, task_root: str, handler: str = "pytest_dualmode.aws_lambda.handler", memory_mb: int = 1024
    ) -> dict[str, str]:
        """The variables Lambda sets for a runtime process talking to this server."""
        return {
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": task_root,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def record_init_error(self, body: bytes) -> None:
        """The runtime could not start: remember it and end the invocation in flight with it."""
        pending = _Pending("init", body, 0)
        pending.finish(body, True, init_error=True)
        self.init_error = pending.outcome
        if self.current is not None:
            self.current.finish(body, True, init_error=True)

    def invoke(
        self, event: Any, timeout_s: float, *, process: _Process | None = None, grace_s: float = 2.0
    ) -> InvocationOutcome:
        """Queue ``event`` (bytes as they are, anything else as JSON) and wait for its outcome.

        Returns a timed-out outcome after ``timeout_s + grace_s``, and a ``Runtime.ExitError`` outcome when
        ``process`` exits first; an init error recorded by the server is returned at once.
        """
        body = event if isinstance(event, bytes) else json.dumps(event).encode("utf-8")
        pending = _Pending(str(uuid.uuid4()), body, timeout_s)
        if self.init_error is not None:
            return self.init_error
        self.queue.put(pending)
        limit = time.monotonic() + timeout_s + grace_s
        while not pending.done.wait(_POLL_S):
            if self.init_error is not None:
                pending.finish(self.init_error.payload, True, init_error=True)
            elif process is not None and process.poll() is not None:
                message = f"Runtime exited with error: exit status {process.poll()}"
                pending.finish(b"", True, "Runtime.ExitError", message=message)
            elif time.monotonic() > limit:
                message = f"Task timed out after {timeout_s:.2f} seconds"
                pending.finish(b"", True, "Sandbox.Timedout", message=message, timed_out=True)
        self._drop(pending)
        assert pending.outcome is not None
        return pending.outcome

    def _drop(self, pending: _Pending) -> None:
        # An event nobody fetched must not reach the next runtime process.
        with self.queue.mutex:
            if pending in self.queue.queue:
                self.queue.queue.remove(pending)
        if self.current is pending:
            self.current = None
