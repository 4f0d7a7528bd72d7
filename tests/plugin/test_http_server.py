"""The keep-alive WSGI server at the wire level: framing, HEAD, bad bodies, errors, teardown."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pytest_dualmode.local.http_server import WsgiServer


def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("app failed")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"a", b"", b"bc"])
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Length", str(len(body) + 2))])
    return iter([b"ok", body])


def exchange(server: WsgiServer, raw: bytes) -> bytes:
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.fixture
def server() -> Iterator[WsgiServer]:
    """A running server of ``app``, stopped after the test."""
    with WsgiServer(app) as running:
        yield running


def test_keep_alive_and_chunked_streaming(server: WsgiServer) -> None:
    with requests.Session() as session:
        first = session.post(f"{server.url}/echo", data=b"xyz")
        second = session.get(f"{server.url}/stream")
    assert first.content == b"okxyz"
    assert second.content == b"abc" and second.headers["Transfer-Encoding"] == "chunked"


def test_head_has_no_body_and_the_connection_stays_usable(server: WsgiServer) -> None:
    data = exchange(server, b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" not in head
    assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"\r\n\r\nok")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n", b"413"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
    ],
)
def test_bad_bodies_are_refused_with_a_json_error(
    server: WsgiServer, request_bytes: bytes, status: bytes
) -> None:
    data = exchange(server, request_bytes)
    assert data.startswith(b"HTTP/1.1 " + status)
    assert b'{"error":' in data


def test_an_app_error_is_a_500_and_is_reported() -> None:
    seen: list[BaseException] = []
    with WsgiServer(app, on_error=seen.append) as running:
        response = requests.get(f"{running.url}/boom", timeout=5)
        assert response.status_code == 500
        assert [type(e) for e in running.errors] == [RuntimeError]
    assert [str(e) for e in seen] == ["app failed"]


def test_stop_closes_idle_keep_alive_connections() -> None:
    before = {t.ident for t in threading.enumerate()}
    running = WsgiServer(app).start()
    session = requests.Session()
    assert session.get(f"{running.url}/x").content == b"ok"
    running.stop()
    session.close()
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert leftover == []
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{running.url}/x", timeout=1)


def test_a_streamed_chunk_leaves_before_the_app_yields_the_next() -> None:
    """Responses are written through a buffer, but each chunk of a streamed one is sent at once."""
    more = threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        assert more.wait(5), "the client never saw the first chunk"
        yield b"second"

    with WsgiServer(slow) as running, socket.create_connection(running.address, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"first" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before the first chunk: {data!r}"
            data += chunk
        assert b"second" not in data
        more.set()
        while not data.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before the last chunk: {data!r}"
            data += chunk
    assert b"5\r\nfirst\r\n" in data and b"6\r\nsecond\r\n" in data
    assert running.errors == []


def echo_headers(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """Answers with the request's HTTP_* environ keys and the body it read, one per line."""
    lines = [f"{k}={v}" for k, v in sorted(environ.items()) if k.startswith("HTTP_")]
    lines += [f"PATH_INFO={environ['PATH_INFO']}", "BODY=" + environ["wsgi.input"].read().decode()]
    body = "\n".join(lines).encode()
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"one", b"two"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return iter([body])


@pytest.fixture
def echo() -> Iterator[WsgiServer]:
    """A running server of ``echo_headers``, stopped after the test."""
    with WsgiServer(echo_headers) as running:
        yield running


def responses(data: bytes) -> list[bytes]:
    """The status codes of every response in ``data``, in order (no body here contains a status line)."""
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", data)


def test_header_fields_reach_the_app_as_wsgi_keys(echo: WsgiServer) -> None:
    data = exchange(
        echo,
        b"GET //x/y HTTP/1.1\r\nHost: h\r\nX-Multi: a\r\nx-multi: b\r\nX-Folded: one\r\n  two\r\n"
        b"X-Spaces:   padded value  \r\nConnection: close\r\n\r\n",
    )
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    body = data.partition(b"\r\n\r\n")[2].decode()
    assert "HTTP_X_MULTI=a,b" in body  # repeated fields are joined, as WSGI asks
    assert "HTTP_X_FOLDED=one two" in body  # an obsolete folded line is joined with one space
    assert "HTTP_X_SPACES=padded value" in body
    assert "HTTP_HOST=h" in body
    assert "PATH_INFO=/x/y" in body  # a leading // is reduced, as http.server does


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", b"400"),  # no colon
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", b"400"),  # whitespace before the colon (RFC 9112, 5.1)
        (b"GET / HTTP/1.1\r\n folded-first\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", b"431"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/2.0\r\n\r\n", b"505"),
        (b"GET / HTTP/1.x\r\n\r\n", b"400"),
        (b"GET / FTP/1.1\r\n\r\n", b"400"),
        (b"GET /\r\n\r\n", b"400"),  # HTTP/0.9 is not served
        (b"GET / HTTP/1.1 extra\r\n\r\n", b"400"),
    ],
    ids=[
        "no-colon",
        "space-before-colon",
        "continuation-first",
        "too-many-headers",
        "header-line-too-long",
        "request-line-too-long",
        "http2",
        "bad-version",
        "not-http",
        "http0.9",
        "four-words",
    ],
)
def test_a_bad_request_head_is_refused_and_the_connection_closed(
    echo: WsgiServer, request_bytes: bytes, status: bytes
) -> None:
    data = exchange(echo, request_bytes + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 " + status), data[:200]
    assert len(responses(data)) == 1  # nothing after a bad head is read as a request
    assert echo.errors == []


def test_exactly_the_header_limit_is_accepted(echo: WsgiServer) -> None:
    data = exchange(echo, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 99 + b"\r\n")
    assert data.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"501",
            b"unsupported Transfer-Encoding",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            b"400",
            b"bad Content-Length",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"400",
            b"truncated or badly framed chunk",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX\r\n0\r\n\r\n",
            b"400",
            b"truncated or badly framed chunk",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n"
            + b"a" * 16
            + b"\r\n0\r\n\r\n",
            b"400",
            b"bad chunk size",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\nab\r\n0\r\n\r\n",
            b"400",
            b"bad chunk size",
        ),
    ],
    ids=[
        "gzip-coding",
        "two-lengths",
        "truncated-chunk",
        "chunk-without-crlf",
        "size-with-underscore",
        "signed-size",
    ],
)
def test_a_body_framing_the_server_cannot_trust_is_refused(
    echo: WsgiServer, request_bytes: bytes, status: bytes, message: bytes
) -> None:
    data = exchange(echo, request_bytes)
    assert data.startswith(b"HTTP/1.1 " + status)
    assert b'"message":"' + message in data
    assert b"Connection: close" in data


def test_a_chunked_body_with_trailers_is_read_whole(echo: WsgiServer) -> None:
    data = exchange(
        echo,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert b"BODY=abcde" in data
    assert len(responses(data)) == 2  # the trailer was consumed, so the next request parsed cleanly


def test_chunked_and_content_length_together_use_chunked_then_close(echo: WsgiServer) -> None:
    data = exchange(
        echo,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert b"BODY=ok" in data
    assert len(responses(data)) == 1  # RFC 9112, 6.1: the connection closes after such a request


@pytest.mark.parametrize(
    ("head", "answered"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 2),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Close\r\n\r\n", 1),
        (b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 1),
        (b"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n", 2),
    ],
    ids=["1.1", "1.1-close", "close-in-a-list", "1.0", "1.0-keep-alive"],
)
def test_the_connection_stays_open_as_the_version_and_connection_field_ask(
    echo: WsgiServer, head: bytes, answered: int
) -> None:
    data = exchange(echo, head + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(responses(data)) == answered
    if head.startswith(b"GET / HTTP/1.0") and answered == 2:
        assert b"\r\nConnection: keep-alive\r\n\r\n" in data


def test_an_http_1_0_client_gets_a_streamed_body_without_chunked_framing(echo: WsgiServer) -> None:
    data = exchange(echo, b"GET /stream HTTP/1.0\r\nHost: x\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" not in head
    assert body == b"onetwo"  # the body ends where the connection does


def test_expect_100_continue_is_answered_before_the_body(echo: WsgiServer) -> None:
    with socket.create_connection(echo.address, timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        data = b""
        while b"BODY=abc" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    assert data.startswith(b"HTTP/1.1 200")


def test_a_response_header_with_a_line_break_is_a_500_not_an_injection() -> None:
    def injecting(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("X-Echo", "a\r\nSet-Cookie: evil=1"), ("Content-Length", "0")])
        return iter([b""])

    with WsgiServer(injecting) as running:
        data = exchange(running, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 500") and b"Set-Cookie" not in data
        assert [type(e) for e in running.errors] == [ValueError]


def test_a_malformed_header_line_is_not_echoed_back(echo: WsgiServer) -> None:
    data = exchange(echo, b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization AWS4 Signature=s3cr3t\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400") and b"Bad header line 2" in data
    assert b"s3cr3t" not in data


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    ],
    ids=["idle-connection", "idle-after-a-response", "stalled-body"],
)
def test_a_connection_idle_past_the_bound_is_closed_and_frees_its_thread(
    monkeypatch: pytest.MonkeyPatch, sent: bytes
) -> None:
    from pytest_dualmode.local import http_server

    monkeypatch.setattr(http_server._Handler, "idle_timeout", 0.3)
    before = {t.ident for t in threading.enumerate()}
    with WsgiServer(app) as running, socket.create_connection(running.address, timeout=5) as sock:
        sock.sendall(sent)
        data = b""
        while chunk := sock.recv(65536):  # the server closes: recv sees the end, well within 5 s
            data += chunk
        assert data.count(b"HTTP/1.1 ") == (1 if sent.startswith(b"GET") else 0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            t.ident not in before and t.name.startswith("Thread") for t in threading.enumerate()
        ):
            time.sleep(0.02)
        handlers = [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("Thread")]
        assert handlers == []
        assert running.errors == []


def test_a_client_that_stops_reading_is_dropped_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_dualmode.local import http_server

    def big(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Length", str(64 * 1024 * 1024))])
        return iter([b"x" * (1024 * 1024)] * 64)

    monkeypatch.setattr(http_server._Handler, "idle_timeout", 0.3)
    before = {t.ident for t in threading.enumerate()}
    with WsgiServer(big) as running, socket.create_connection(running.address, timeout=5) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read the answer
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not running._server._conns:
            time.sleep(0.01)  # the handler has taken the connection
        assert running._server._conns, "the server never took the connection"
        while time.monotonic() < deadline and running._server._conns:
            time.sleep(0.05)
        assert not [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("Thread")]
        assert running.errors == []


def framing_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """An app that breaks its own framing on some paths, or writes through PEP 3333's ``write()``."""
    path = environ["PATH_INFO"]
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")])
        write(b"hello ")
        return iter([b"world"])
    if path == "/write-streamed":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"hello ")
        return iter([b"", b"world"])
    if path == "/long":
        start_response("200 OK", [("Content-Length", "2")])
        return iter([b"ok", b"EXTRA"])
    if path == "/short":
        start_response("200 OK", [("Content-Length", "10")])
        return iter([b"abc"])
    start_response("200 OK", [("Content-Length", "4")])
    return iter([b"next"])


@pytest.fixture
def framing() -> Iterator[WsgiServer]:
    """A running server of ``framing_app``, stopped after the test."""
    with WsgiServer(framing_app) as running:
        yield running


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/write", b"Content-Length: 11\r\n\r\nhello world"),
        ("/write-streamed", b"Transfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"),
    ],
    ids=["with-length", "chunked"],
)
def test_a_body_written_through_pep_3333_write_reaches_the_client(
    framing: WsgiServer, path: str, expected: bytes
) -> None:
    data = exchange(framing, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(expected), data
    assert framing.errors == []


def test_bytes_past_the_content_length_never_reach_the_next_response(framing: WsgiServer) -> None:
    data = exchange(framing, b"GET /long HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 2" in head
    # The declared two bytes, then the connection closes: no EXTRA, and no response framed by it.
    assert body == b"ok", data
    assert [type(e) for e in framing.errors] == [ValueError]
    assert "more than its Content-Length" in str(framing.errors[0])


def test_a_body_short_of_its_content_length_closes_the_connection_at_once(framing: WsgiServer) -> None:
    with socket.create_connection(framing.address, timeout=5) as sock:
        sock.sendall(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        # Without the fix the server waits for more of the body until its idle timeout (60 s), so
        # this recv's own 5 s timeout raises first.
        while chunk := sock.recv(65536):
            data += chunk
    assert data.endswith(b"\r\n\r\nabc")
    assert [type(e) for e in framing.errors] == [ValueError]
    assert "less than its Content-Length" in str(framing.errors[0])


def test_a_header_name_with_an_underscore_is_dropped_not_merged_with_its_dashed_twin(
    echo: WsgiServer,
) -> None:
    data = exchange(
        echo,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-User-Id: alice\r\nX-User_Id: admin\r\nConnection: close\r\n\r\n",
    )
    assert data.startswith(b"HTTP/1.1 200")
    body = data.partition(b"\r\n\r\n")[2].decode()
    assert "HTTP_X_USER_ID=alice\n" in body, body
    assert "admin" not in body


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n", b"400"),
        (b"GET / HTTP/1.0\r\n\r\n", b"200"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", b"200"),
    ],
    ids=["1.1-without-host", "1.1-two-hosts", "1.0-without-host", "1.1-with-host"],
)
def test_an_http_1_1_request_needs_exactly_one_host_field(
    echo: WsgiServer, head: bytes, status: bytes
) -> None:
    data = exchange(echo, head)
    assert data.startswith(b"HTTP/1.1 " + status), data[:200]
    assert len(responses(data)) == 1
    assert echo.errors == []
