"""BaseUrlSession (the ``http`` fixture's session): which URLs are paths under the base URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_dualmode.clients import BaseUrlSession


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers each GET with the path it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(
    ("path", "received"),
    [
        ("/cb?next=https://x", "/api/cb?next=https://x"),
        ("cb?next=http://a.example/b", "/api/cb?next=http://a.example/b"),
        ("/v1/items:batch", "/api/v1/items:batch"),
        ("items:batch", "/api/items:batch"),
        ("/", "/api/"),
    ],
)
def test_paths_are_joined_to_the_base_url_even_when_they_hold_a_url(
    echo_url: str, path: str, received: str
) -> None:
    with BaseUrlSession(f"{echo_url}/api", timeout=10) as session:
        assert session.get(path).text == received


def test_an_absolute_url_passes_unchanged(echo_url: str) -> None:
    with BaseUrlSession("http://127.0.0.1:9/api", timeout=10) as session:
        assert session.get(f"{echo_url}/elsewhere?x=1").text == "/elsewhere?x=1"
