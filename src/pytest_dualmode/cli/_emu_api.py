"""A one-invocation Lambda Runtime API server for ``dualmode emulate`` (127.0.0.1, ephemeral port).

It hands one event to the runtime client (``awslambdaric`` or the emulator's bootstrap) on
``GET /invocation/next`` with Lambda's headers (request id, deadline, function ARN), and records
what comes back: the response, a function error, or an init error. A second ``next`` (the client
asking for more work once the first is done) blocks until the server closes, as Lambda freezes the
environment there. Responses above Lambda's 6 MB limit are refused as Lambda refuses them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RESPONSE_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous response payload limit (bytes)
_PREFIX = "/2018-06-01/runtime"


class Invocation:
    """The state of the one invocation: its event, deadline and what the runtime reported."""

    def __init__(self, event: bytes, *, timeout_s: float, function_arn: str) -> None:
        self.event = event
        self.timeout_s = timeout_s
        self.function_arn = function_arn
        self.request_id = str(uuid.uuid4())
        self.fetched = threading.Event()  # the runtime took the event (init done)
        self.done = threading.Event()  # a response, function error or init error arrived
        self.started_at: float | None = None  # monotonic time the event was handed over
        self.deadline_ms = 0
        self.response: bytes | None = None
        self.error: dict[str, Any] | None = None
        self.error_type: str | None = None
        self.init_error = False
        self.on_fetch: Callable[[], None] | None = (
            None  # called as the event is handed over (the log's START)
        )


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the function's log is what the user reads."""

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """``next``: the event once, then block until the emulator closes the server."""
        inv = self.server.invocation
        if self.path != f"{_PREFIX}/invocation/next":
            self._reply(404, b'{"errorMessage": "unknown path"}')
            return
        with self.server.lock:
            first = not inv.fetched.is_set()
            if first:
                inv.started_at = time.monotonic()
                inv.deadline_ms = int((time.time() + inv.timeout_s) * 1000)
                if inv.on_fetch is not None:
                    inv.on_fetch()
                inv.fetched.set()
        if not first:
            self.server.closing.wait(inv.timeout_s + 60)  # bounded: the emulator closes long before
            self.close_connection = True
            return
        headers = {
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        }
        self._reply(200, inv.event, headers)

    def do_POST(self) -> None:
        """``response``, ``error`` and ``init/error``: record the outcome of the invocation."""
        inv = self.server.invocation
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        base = f"{_PREFIX}/invocation/{inv.request_id}"
        if self.path == f"{base}/response":
            if length > RESPONSE_LIMIT:
                self._finish_error(
                    "Function.ResponseSizeTooLarge",
                    f"Response payload size ({length} bytes) exceeded maximum allowed payload size "
                    f"({RESPONSE_LIMIT} bytes).",
                )
                self._reply(413, b'{"errorType": "RequestEntityTooLarge"}')
                return
            inv.response = body
        elif self.path in (f"{base}/error", f"{_PREFIX}/init/error"):
            try:
                inv.error = json.loads(body or b"{}")
            except ValueError:
                inv.error = {
                    "errorType": "Runtime.InvalidErrorPayload",
                    "errorMessage": body[:1000].decode(errors="replace"),
                }
            inv.error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            inv.init_error = self.path.endswith("/init/error")
        else:
            self._reply(404, b'{"errorMessage": "unknown path"}')
            return
        inv.done.set()
        self._reply(202, b'{"status": "OK"}')

    def _finish_error(self, error_type: str, message: str) -> None:
        inv = self.server.invocation
        inv.error = {"errorType": error_type, "errorMessage": message}
        inv.error_type = error_type
        inv.done.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    invocation: Invocation
    lock: threading.Lock
    closing: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a runtime killed at its deadline drops its connection, as expected."""


class RuntimeApi:
    """The server for one invocation; a context manager that serves from a daemon thread."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self._server = _Server(("127.0.0.1", 0), _Handler)  # bind here, so a bind error reaches the caller
        self._server.invocation = invocation
        self._server.lock = threading.Lock()
        self._server.closing = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dualmode-runtime-api", daemon=True
        )

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
