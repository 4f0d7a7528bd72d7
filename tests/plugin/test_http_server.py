"""The keep-alive WSGI server at the wire level: framing, HEAD, bad bodies, errors, teardown."""

from __future__ import annotations

import socket
import threading
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
    running = WsgiServer(app).start()
    try:
        yield running
    finally:
        running.stop()


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
