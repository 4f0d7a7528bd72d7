"""A small threaded HTTP/1.1 server for a WSGI app that keeps client connections alive.

The standalone service uses it (the stdlib's wsgiref server closes every connection). Responses
without a Content-Length (the NDJSON export) are sent with chunked encoding; :meth:`WsgiServer.stop`
closes the listener and every open connection, so nothing outlives it.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

WsgiApp = Callable[..., Iterable[bytes]]
MAX_REQUEST_BODY = 1024 * 1024  # the app has its own, smaller limit; this one protects the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # an idle keep-alive connection holds a thread at most this long

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: one line per request would drown the service's own log."""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400/413 (and closing) for a bad or huge one."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline(100).split(b";")[0].strip()
                try:
                    size = int(line, 16)
                except ValueError:
                    self._refuse(400, "bad chunk size")
                    return None
                if size == 0:
                    self.rfile.readline(100)
                    return bytes(out)
                if len(out) + size > MAX_REQUEST_BODY:
                    self._refuse(413, "request body too large")
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(100)
        raw = self.headers.get("Content-Length", "0")
        if not (raw.isascii() and raw.isdigit()):
            self._refuse(400, "bad Content-Length")
            return None
        if len(raw) > 12 or int(raw) > MAX_REQUEST_BODY:
            self._refuse(413, "request body too large")
            return None
        return self.rfile.read(int(raw)) if int(raw) else b""

    def _refuse(self, code: int, message: str) -> None:
        """Answer ``code`` with a JSON error and close the connection (the body is left unread)."""
        self.close_connection = True
        body = b'{"error":{"code":"%s","message":"%s"}}' % (
            b"PAYLOAD_TOO_LARGE" if code == 413 else b"INVALID_ARGUMENT",
            message.encode(),
        )
        self.send_response_only(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),  # PEP 3333: URL bytes as latin-1 text
            "QUERY_STRING": query,
            "RAW_URI": self.path,  # the path as sent: a SigV4 verifier signs this, not PATH_INFO
            "REQUEST_URI": self.path,
            "SERVER_NAME": str(self.server.server_address[0]),
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[name] = f"{environ[name]},{value}" if name in environ else value
        return environ

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        state: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and state.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return lambda data: None  # the legacy write() callable; the apps here return iterables

        def send_headers() -> None:
            code, _, reason = state["status"].partition(" ")
            self.send_response_only(int(code), reason)
            names = {k.lower() for k, _ in state["headers"]}
            for name, value in state["headers"]:
                self.send_header(name, value)
            state["chunked"] = "content-length" not in names and int(code) not in (204, 304)
            if state["chunked"]:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            state["sent"] = True

        result = self.server.app(self._environ(body), start_response)
        try:
            for data in result:
                if not data:
                    continue
                if not state.get("sent"):
                    send_headers()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if state["chunked"] else data)
            if not state.get("sent"):
                send_headers()
            if state["chunked"]:
                self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _dispatch(self) -> None:
        try:
            self._serve()
        except Exception:
            # Mid-response failures cannot change the status any more: drop the connection so the
            # client sees a broken response instead of a truncated "success".
            self.close_connection = True
            raise

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: WsgiApp) -> None:
        self.app = app
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def close_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a failed request in one line (a client going away is not worth a line)."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            print(
                f"example_service: an HTTP response failed mid-way: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )


class WsgiServer:
    """Serve ``app`` on ``host:port`` (0 picks a free port) from a daemon thread.

    The port is bound in the constructor, in the caller's thread, so a bind error reaches the caller.
    """

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), app)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self, ready_timeout: float = 5.0) -> WsgiServer:
        """Serve from a daemon thread; return once the port accepts a connection (bounded)."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http-server", daemon=True
        )
        self._thread.start()
        try:
            with socket.create_connection(self.address, timeout=ready_timeout):
                pass
        except OSError:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every open connection, and wait (bounded) for the serving thread."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout)
            self._thread = None
        self._server.close_all()
        self._server.server_close()
