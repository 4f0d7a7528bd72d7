"""A small threaded WSGI server that keeps connections alive (HTTP/1.1).

Why not wsgiref or werkzeug's development server: both close the connection after every
request (and werkzeug logs a line per request), so a test suite pays a TCP handshake and a
thread start per request. This server keeps each client connection open, streams responses
without a length with chunked encoding, and closes every open connection when stopped, so
no thread or socket outlives :meth:`WsgiServer.stop`.

Why not waitress or cheroot, which keep connections alive too: side by side on the example
service (``bench/bench_http_server.py``) waitress reached 0.82x to 0.92x of this server's
throughput with one client thread and 0.51x to 0.56x with four, cheroot 0.56x and 0.71x; the
project takes a maintained server when it is within 10%. What a maintained server gets right
on the wire, this one does too, each with a wire-level test: a body written through PEP 3333's
``write()`` is sent; a response never runs past its Content-Length (the rest is dropped and the
connection closed) and one short of it closes the connection at once (no client waits for bytes
that never come), each reported as an app error; a header name with an underscore is dropped
(its WSGI key would merge it with its dashed twin); an HTTP/1.1 request without exactly one
Host field gets a 400 (RFC 9112, 3.2).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

WsgiApp = Callable[..., Iterable[bytes]]

# Request bodies larger than this are refused with 413 before the app sees them.
MAX_BODY = 16 * 1024 * 1024
# Limits on the request head, the same as http.server's (http.client's _MAXLINE and _MAXHEADERS).
MAX_LINE = 65536
MAX_HEADERS = 100
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class RequestHeaders:
    """A request's header fields in arrival order, looked up case-insensitively.

    ``get`` returns the first field of a name, as ``email.message.Message`` does; ``get_all`` every one.
    """

    __slots__ = ("_fields", "_first")

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        first: dict[str, str] = {}
        for name, value in fields:
            first.setdefault(name.lower(), value)
        self._first = first

    def get(self, name: str, default: str = "") -> str:
        """The first value of ``name``, or ``default``."""
        return self._first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in arrival order."""
        key = name.lower()
        return [value for field, value in self._fields if field.lower() == key]

    def items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` as it arrived."""
        return list(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def __len__(self) -> int:
        return len(self._fields)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    headers: RequestHeaders  # type: ignore[assignment]  # parse_request's own, not email's
    raw_requestline: bytes  # set by handle_one_request before parse_request
    # An error answered before the request line's version is known still gets a status line
    # (http.server's default, HTTP/0.9, would send the bare body).
    default_request_version = "HTTP/1.0"
    # Bound the time an idle keep-alive connection (or a stalled read or write) holds a thread.
    # The bound is the kernel's (SO_RCVTIMEO, SO_SNDTIMEO) on a blocking socket, not Python's socket
    # timeout: that one polls before every recv and send, two more GIL hand-offs per request.
    # A read that times out ends like a closed connection; a write, with BlockingIOError.
    timeout = None
    idle_timeout = 60.0
    # Buffer writes: the status line, headers and a small body leave in one send (one TCP segment,
    # one wake-up of the client) at the flush that ends each response; streamed chunks flush each.
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: a test run would drown in it."""

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)
        try:
            seconds = int(self.idle_timeout)
            micros = int((self.idle_timeout - seconds) * 1_000_000)
            bound = (
                struct.pack("L", int(self.idle_timeout * 1000))  # Windows: milliseconds, a DWORD
                if sys.platform == "win32"
                else struct.pack("ll", seconds, micros)  # struct timeval
            )
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, bound)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, bound)
        except OSError:
            self.connection.settimeout(self.idle_timeout)  # a platform without them: Python's own

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def parse_request(self) -> bool:
        """Parse the request line and header block; on a bad one answer 400/431/505 and return False.

        http.server's own parse_request hands the header block to the ``email`` package, which took
        about half of this server's CPU per request; this reads the fields directly. Same limits,
        same request-line rules, except that HTTP/0.9 (a two-word request line) is refused.
        """
        self.command = None  # type: ignore[assignment]  # stays None when the request line is bad
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if not words:
            return False
        if len(words) != 3:
            self.send_error(400, f"Bad request syntax ({requestline!r})")
            return False
        command, path, version = words
        number = version[5:].split(".") if version.startswith("HTTP/") else []
        if len(number) != 2 or not all(part.isdigit() and len(part) <= 10 for part in number):
            self.send_error(400, f"Bad request version ({version!r})")
            return False
        major, minor = int(number[0]), int(number[1])
        if major >= 2:
            self.send_error(505, f"Invalid HTTP version ({version[5:]})")
            return False
        self.request_version = version
        self.close_connection = (major, minor) < (1, 1)
        # As http.server does (gh-87389): a path starting with // reads as a host to some clients.
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        self.command, self.path = command, path

        fields: list[tuple[str, str]] = []
        readline = self.rfile.readline
        for _ in range(MAX_HEADERS + 1):
            line = readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                self.send_error(431, "Line too long", "header line")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            text = line.decode("iso-8859-1")
            if text[0] in " \t":
                # An obsolete folded continuation line (RFC 9112, 5.2): joined with one space.
                if not fields:
                    self.send_error(400, "Bad header line: a continuation line comes first")
                    return False
                name, value = fields[-1]
                fields[-1] = (name, f"{value} {text.strip()}".strip())
                continue
            name, colon, value = text.partition(":")
            if not colon or not name or " " in name or "\t" in name:
                # RFC 9112, 5.1: no whitespace in a field name or before its colon. The line itself
                # is not echoed: it may hold a credential.
                self.send_error(400, f"Bad header line {len(fields) + 1}: expected 'Name: value'")
                return False
            fields.append((name, value.strip()))
        else:
            self.send_error(431, "Too many headers", f"more than {MAX_HEADERS} header lines")
            return False
        self.headers = headers = RequestHeaders(fields)
        if (major, minor) >= (1, 1) and len(headers.get_all("Host")) != 1:
            # RFC 9112, 3.2: an HTTP/1.1 request without a Host field, or with two, gets a 400.
            self.send_error(400, "Bad request: an HTTP/1.1 request needs exactly one Host field")
            return False

        tokens = {token.strip() for token in headers.get("Connection").lower().split(",")}
        if "close" in tokens:
            self.close_connection = True
        elif "keep-alive" in tokens:
            self.close_connection = False
        if headers.get("Expect").lower() == "100-continue" and (major, minor) >= (1, 1):
            return self.handle_expect_100()
        return True

    def handle_expect_100(self) -> bool:
        """Send ``100 Continue`` now: the client waits for it before sending the body."""
        super().handle_expect_100()
        self.wfile.flush()  # writes are buffered until the response ends; this one cannot wait
        return True

    def _read_body(self) -> bytes | None:
        """The request body, or None after refusing (and closing) a bad, unsupported or huge one."""
        headers = self.headers
        codings = headers.get_all("Transfer-Encoding") if "Transfer-Encoding" in headers else []
        if codings:
            if ",".join(codings).replace(" ", "").lower() != "chunked":
                named = ", ".join(codings)
                self._refuse(501, f"unsupported Transfer-Encoding {named!r}: send chunked or Content-Length")
                return None
            # RFC 9112, 6.1: chunked framing wins over a Content-Length, and the connection closes after.
            if "Content-Length" in headers:
                self.close_connection = True
            return self._read_chunked()
        lengths = headers.get_all("Content-Length") if "Content-Length" in headers else ["0"]
        raw = lengths[0]
        if len(set(lengths)) > 1 or not (raw.isascii() and raw.isdigit()):
            self._refuse(400, "bad Content-Length")
            return None
        if len(raw) > 12 or int(raw) > MAX_BODY:
            self._refuse(413, "request body too large")
            return None
        body = self.rfile.read(int(raw)) if int(raw) else b""
        if body is None or len(body) < int(raw):
            self.close_connection = True  # the client went away mid-body: nothing to answer
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        """A chunked request body (trailer fields read and dropped), or None after refusing it."""
        out = bytearray()
        readline = self.rfile.readline
        while True:
            line = readline(MAX_LINE + 1).split(b";")[0].strip()
            # Hex digits only: int() would also take a sign, spaces and underscores ("1_0").
            if not _CHUNK_SIZE.fullmatch(line):
                self._refuse(400, "bad chunk size")
                return None
            size = int(line, 16)
            if size == 0:
                break
            if len(out) + size > MAX_BODY:
                self._refuse(413, "request body too large")
                return None
            data = self.rfile.read(size)
            if data is None or len(data) < size or readline(3).strip():
                self._refuse(400, "truncated or badly framed chunk")
                return None
            out += data
        for _ in range(MAX_HEADERS + 1):
            if readline(MAX_LINE + 1).strip() == b"":
                return bytes(out)
        self._refuse(400, "too many trailer fields")
        return None

    def _refuse(self, code: int, message: str) -> None:
        """Answer ``code`` with a JSON error and close the connection (the body is left unread)."""
        self.close_connection = True
        kind = {413: b"PAYLOAD_TOO_LARGE", 501: b"UNIMPLEMENTED"}.get(code, b"INVALID_ARGUMENT")
        body = b'{"error":{"code":"%s","message":%s}}' % (kind, json.dumps(message).encode())
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
            return emit  # PEP 3333's write(): the same path as the bytes the app returns

        def send_headers() -> None:
            # The head is written in one piece (http.server's send_header appends line by line).
            status, headers = state["status"], state["headers"]
            code = int(status[:3])
            lines = [f"{self.protocol_version} {status}\r\n"]
            length: int | None = None
            for name, value in headers:
                if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                    raise ValueError(f"the app's response header {name!r} contains a line break")
                lines.append(f"{name}: {value}\r\n")
                lowered = name.lower()
                if lowered == "content-length":
                    if not (value.isascii() and value.isdigit()):
                        raise ValueError(f"the app's Content-Length {value!r} is not a number")
                    length = int(value)
                elif lowered == "connection" and value.lower() == "close":
                    # The app may close the connection, as send_header lets it; keep-alive is ours to decide.
                    self.close_connection = True
            # A HEAD, 204 or 304 response never has a body, so it never needs chunked framing either;
            # an HTTP/1.0 client does not know chunked framing: its body ends where the connection does.
            state["bodiless"] = bodiless = head or code in (204, 304) or 100 <= code < 200
            state["left"] = None if bodiless else length
            if length is not None or bodiless:
                state["chunked"] = False
            elif self.request_version == "HTTP/1.0":
                state["chunked"] = False
                self.close_connection = True
            else:
                state["chunked"] = True
                lines.append("Transfer-Encoding: chunked\r\n")
            if self.request_version == "HTTP/1.0" and not self.close_connection:
                lines.append("Connection: keep-alive\r\n")  # a 1.0 client closes unless told otherwise
            lines.append("\r\n")
            self.wfile.write("".join(lines).encode("latin-1"))
            state["sent"] = True

        def emit(data: bytes) -> None:
            if not state["sent"]:
                send_headers()
            if not data or state["bodiless"]:
                return  # the app may produce a body for HEAD; it must not reach the wire
            left = state["left"]
            if left is not None:
                # Never past the declared length: extra bytes would be read as the next response.
                if len(data) > left:
                    data, state["overrun"] = data[:left], True
                state["left"] = left - len(data)
                self.wfile.write(data)
            elif state["chunked"]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()  # a streamed chunk goes out as soon as the app yields it
            else:
                self.wfile.write(data)

        result = self.server.app(self._environ(body), start_response)
        try:
            for data in result:
                if data:
                    emit(data)
                if state["overrun"]:
                    break
            if not state["sent"]:
                send_headers()
            if state["chunked"]:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if state["overrun"] or state["left"]:
            # The response's framing is broken; closing is the only way the client can tell where it
            # ends (a short body would otherwise hang the client until the idle timeout).
            self.close_connection = True
            which = "more" if state["overrun"] else "less"
            self.server.on_error(ValueError(f"the app sent {which} than its Content-Length of {self.path!r}"))

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
            if "_" in key:
                # WSGI spells "-" as "_", so X-User_Id would merge with X-User-Id; dropped, as werkzeug,
                # waitress and nginx drop them, so a proxy's header cannot be forged through its twin.
                continue
            name = "HTTP_" + key.upper().replace("-", "_")
            if name in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[name] = f"{environ[name]},{value}" if name in environ else value
        return environ

    def _dispatch(self) -> None:
        # Per-request response state, read back here when the app fails (were headers sent?).
        self._state: dict[str, Any] = {"sent": False, "chunked": False, "left": None, "overrun": False}
        try:
            self._serve()
        except (ConnectionError, TimeoutError, BlockingIOError):  # BlockingIOError: a write timed out
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

    def open_connections(self) -> int:
        """How many client connections a handler is serving now."""
        with self._lock:
            return len(self._conns)

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
        if exc is None or isinstance(exc, ConnectionError | TimeoutError | BlockingIOError):
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

    @property
    def open_connections(self) -> int:
        """How many client connections are being served now (a closed one counts until its handler ends)."""
        return self._server.open_connections()

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
