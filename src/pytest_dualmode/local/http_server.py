"""A small threaded WSGI server that keeps connections alive (HTTP/1.1).

Why not wsgiref or werkzeug's development server: both close the connection after every
request (and werkzeug logs a line per request), so a test suite pays a TCP handshake and a
thread start per request. This server keeps each client connection open, streams responses
without a length with chunked encoding, and closes every open connection when stopped, so
no thread or socket outlives :meth:`WsgiServer.stop`.
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

# Request bodies larger than this are refused with 413 before the app sees them.
MAX_BODY = 16 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Bound the time an idle keep-alive connection holds a thread.
    timeout = 60
    # Buffer writes: the status line, headers and a small body leave in one send (one TCP segment,
    # one wake-up of the client) at the flush that ends each response; streamed chunks flush each.
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: a test run would drown in it."""

    def setup(self) -> None:
        super().setup()
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
                if len(out) + size > MAX_BODY:
                    self._refuse(413, "request body too large")
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(100)
        raw = self.headers.get("Content-Length", "0")
        if not (raw.isascii() and raw.isdigit()):
            self._refuse(400, "bad Content-Length")
            return None
        if len(raw) > 12 or int(raw) > MAX_BODY:
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

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        state = self._state
        head = self.command == "HEAD"

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and state["sent"]:
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return lambda data: None  # the legacy write() callable; apps here return iterables

        def send_headers() -> None:
            code, _, reason = state["status"].partition(" ")
            self.send_response_only(int(code), reason)
            names = {k.lower() for k, _ in state["headers"]}
            for name, value in state["headers"]:
                self.send_header(name, value)
            # A HEAD response never has a body, so it never needs chunked framing either.
            state["chunked"] = not head and "content-length" not in names and int(code) not in (204, 304)
            if state["chunked"]:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            state["sent"] = True

        result = self.server.app(self._environ(body), start_response)
        try:
            for data in result:
                if not data:
                    continue
                if not state["sent"]:
                    send_headers()
                if head:
                    continue  # the app may produce a body for HEAD; it must not reach the wire
                if state["chunked"]:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()  # a streamed chunk goes out as soon as the app yields it
                else:
                    self.wfile.write(data)
            if not state["sent"]:
                send_headers()
            if state["chunked"]:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
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
            if name in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[name] = f"{environ[name]},{value}" if name in environ else value
        return environ

    def _dispatch(self) -> None:
        # Per-request response state, read back here when the app fails (were headers sent?).
        self._state: dict[str, Any] = {"sent": False, "chunked": False}
        try:
            self._serve()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:
            self.close_connection = True
            self.server.on_error(exc)  # before answering: a client that saw the 500 can count on it
            if not self._state.get("sent"):
                # An app that raises before answering gets a 500 rather than a dropped connection;
                # after the headers went out, dropping the connection is the only honest signal.
                with contextlib.suppress(OSError):
                    self.send_error(500, f"internal error: {type(exc).__name__}")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], app: WsgiApp, on_error: Callable[[BaseException], object] | None
    ) -> None:
        self.app = app
        self.errors: list[BaseException] = []
        self._on_error = on_error
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                # Nagle's algorithm plus delayed ACKs costs ~40 ms per small keep-alive response.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._conns[conn] = threading.current_thread()
            else:
                self._conns.pop(conn, None)

    def close_all(self, timeout: float) -> None:
        """Shut down every open connection and wait (bounded) for its handler thread to end."""
        with self._lock:
            conns = dict(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in conns.values():
            thread.join(timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client going away (reset, timeout) is normal for keep-alive; anything else is reported."""
        exc = sys.exc_info()[1]
        if exc is None or isinstance(exc, ConnectionError | TimeoutError):
            return
        self.on_error(exc)

    def on_error(self, exc: BaseException) -> None:
        self.errors.append(exc)
        if self._on_error is not None:
            self._on_error(exc)


class WsgiServer:
    """Serve a WSGI app on ``host:port`` (port 0 picks a free one) from a daemon thread.

    The socket is bound in the caller's thread, so a bind error reaches the caller; :meth:`start`
    returns once the server answers a TCP connection; :meth:`stop` closes the listener and every
    open keep-alive connection. ``on_error`` is told of every exception the app raised (each one
    was answered with a 500, or ended its connection if the response had started).
    """

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> None:
        self._server = _Server((host, port), app, on_error)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        host, port = self._server.server_address[:2]
        return (host if isinstance(host, str) else host.decode()), int(port)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions the app raised while serving."""
        return self._server.errors

    def start(self, ready_timeout: float = 5.0) -> WsgiServer:
        """Start serving and wait (bounded) until the port accepts a connection."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"dualmode-http-{self.port}",
            daemon=True,
        )
        self._thread.start()
        try:
            host, port = self.address
            probe = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
            with socket.create_connection((probe, port), timeout=ready_timeout):
                pass
        except OSError:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the listener and all connections; wait (bounded) for the serving thread."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout)
            self._thread = None
        self._server.close_all(timeout)
        self._server.server_close()

    def __enter__(self) -> WsgiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
