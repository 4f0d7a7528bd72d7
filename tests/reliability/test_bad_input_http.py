"""Bad HTTP requests to the example service on the plugin's local HTTP server: malformed JSON, wrong content
types, oversize bodies, unicode, injection-looking values, bad page tokens. Each gets a 4xx whose JSON error
names what was wrong; the service logs no unexpected error and the server records no crash."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.reliability

JSON = {"Content-Type": "application/json"}


def token(payload: dict[str, Any]) -> str:
    """A page token made by hand (the service's own format, with whatever it holds)."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def add_body(**fields: Any) -> bytes:
    return json.dumps({"account_id": "acct-1", "email": "a@example.com", **fields}).encode()


# (id, method, path, headers, body, status, error code, fragment of the message)
CASES: list[tuple[str, str, str, dict[str, str], bytes, int, str, str]] = [
    (
        "json-malformed",
        "POST",
        "/v1/suppressions",
        JSON,
        b'{"account_id": ',
        400,
        "INVALID_ARGUMENT",
        "not valid JSON",
    ),
    ("json-array", "POST", "/v1/suppressions", JSON, b"[1, 2]", 400, "INVALID_ARGUMENT", "not a JSON list"),
    ("json-empty", "POST", "/v1/suppressions", JSON, b"", 400, "INVALID_ARGUMENT", "the body is empty"),
    ("json-deep", "POST", "/v1/suppressions", JSON, b"[" * 60_000, 400, "INVALID_ARGUMENT", "not valid JSON"),
    (
        "json-not-utf8",
        "POST",
        "/v1/suppressions",
        JSON,
        b'{"email": "\xff"}',
        400,
        "INVALID_ARGUMENT",
        "UTF-8",
    ),
    (
        "json-nan",
        "POST",
        "/v1/suppressions",
        JSON,
        b'{"account_id": NaN, "email": "a@b.co"}',
        400,
        "INVALID_ARGUMENT",
        "account_id must be a string, got float",
    ),
    (
        "type-text-plain",
        "POST",
        "/v1/suppressions",
        {"Content-Type": "text/plain"},
        add_body(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "Content-Type 'text/plain' is not supported",
    ),
    (
        "type-missing",
        "POST",
        "/v1/suppressions",
        {},
        add_body(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "Content-Type",
    ),
    (
        "type-charset",
        "POST",
        "/v1/suppressions",
        {"Content-Type": "application/json; charset=latin-1"},
        add_body(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "charset",
    ),
    (
        "body-oversize",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(reason="r" * 70_000),
        413,
        "PAYLOAD_TOO_LARGE",
        "the limit is 65536",
    ),
    (
        "field-unknown",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(color="red"),
        400,
        "INVALID_ARGUMENT",
        "unknown field 'color'",
    ),
    (
        "field-missing",
        "POST",
        "/v1/suppressions",
        JSON,
        b'{"account_id": "a"}',
        400,
        "INVALID_ARGUMENT",
        "the body has no email",
    ),
    (
        "field-number",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(account_id=5),
        400,
        "INVALID_ARGUMENT",
        "account_id must be a string, got int 5",
    ),
    (
        "field-huge-number",
        "POST",
        "/v1/suppressions",
        JSON,
        b'{"account_id": 1e400, "email": "a@b.co"}',
        400,
        "INVALID_ARGUMENT",
        "account_id must be a string",
    ),
    (
        "email-unicode",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(email="jösé@exämple.com"),
        400,
        "INVALID_ARGUMENT",
        "is not ASCII; write an internationalized domain in its punycode",
    ),
    (
        "email-too-long",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(email="a" * 300 + "@example.com"),
        400,
        "INVALID_ARGUMENT",
        "the limit is 254",
    ),
    (
        "email-nul",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(email="a\x00@example.com"),
        400,
        "INVALID_ARGUMENT",
        "is not an email address",
    ),
    (
        "reason-control",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(reason="bell\x07"),
        400,
        "INVALID_ARGUMENT",
        "U+0007",
    ),
    (
        "reason-surrogate",
        "POST",
        "/v1/suppressions",
        JSON,
        b'{"account_id": "a", "email": "a@b.co", "reason": "\\ud800"}',
        400,
        "INVALID_ARGUMENT",
        "U+D800",
    ),
    (
        "inject-sql-account",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(account_id="' OR '1'='1"),
        400,
        "INVALID_ARGUMENT",
        "is not a valid account id",
    ),
    (
        "inject-sql-email",
        "POST",
        "/v1/suppressions",
        JSON,
        add_body(email="a@b.com'; DROP TABLE x;--"),
        400,
        "INVALID_ARGUMENT",
        "is not an email address",
    ),
    (
        "inject-path-traversal",
        "GET",
        "/v1/suppressions/..%2F..%2Fetc%2Fpasswd",
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "is not a valid account id",
    ),
    (
        "inject-expression",
        "GET",
        "/v1/suppressions/acct-1/%24%7Bjndi%3Aldap%3A%2F%2Fx%7D",
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "is not an email address",
    ),
    (
        "path-not-utf8",
        "GET",
        "/v1/suppressions/acct-%FF",
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "the request path is not valid UTF-8",
    ),
    (
        "token-garbage",
        "GET",
        "/v1/suppressions/acct-1?page_token=not*a*token",
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "was not issued by this service",
    ),
    (
        "token-other-account",
        "GET",
        "/v1/suppressions/acct-1?page_token=" + token({"v": 1, "a": "acct-2", "e": "a@example.com"}),
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "belongs to another account's listing",
    ),
    (
        "token-future-version",
        "GET",
        "/v1/suppressions/acct-1?page_token=" + token({"v": 2, "a": "acct-1", "e": "a@example.com"}),
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "was not issued by this service",
    ),
    (
        "token-bad-email",
        "GET",
        "/v1/suppressions/acct-1?page_token=" + token({"v": 1, "a": "acct-1", "e": "A@EXAMPLE.COM"}),
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "was not issued by this service",
    ),
    (
        "token-too-long",
        "GET",
        "/v1/suppressions/acct-1?page_token=" + "A" * 2000,
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "was not issued by this service",
    ),
    (
        "page-size-negative",
        "GET",
        "/v1/suppressions/acct-1?page_size=-1",
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "page_size '-1' is not a whole number",
    ),
    (
        "page-size-superscript",
        "GET",
        "/v1/suppressions/acct-1?page_size=%C2%B2",
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "is not a whole number",
    ),
    (
        "page-size-huge",
        "GET",
        "/v1/suppressions/acct-1?page_size=" + "9" * 5000,
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "is out of range",
    ),
    (
        "query-unknown",
        "GET",
        "/v1/suppressions/acct-1?limit=5",
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "unknown query parameter 'limit'",
    ),
    (
        "query-twice",
        "GET",
        "/v1/suppressions/acct-1?page_size=1&page_size=2",
        {},
        b"",
        400,
        "INVALID_ARGUMENT",
        "is given 2 times",
    ),
    ("method-put", "PUT", "/v1/suppressions", JSON, add_body(), 405, "METHOD_NOT_ALLOWED", "use POST"),
    (
        "route-unknown",
        "GET",
        "/v2/suppressions",
        {},
        b"",
        404,
        "NOT_FOUND",
        "no route for '/v2/suppressions'",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "code", "fragment"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_a_bad_request_gets_a_4xx_naming_the_problem(
    http_url: str,
    http_server: Any,
    service_log: Any,
    figures: Any,
    request: pytest.FixtureRequest,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
    fragment: str,
) -> None:
    prepared = requests.Request(method, http_url + path, headers=headers, data=body or None).prepare()
    prepared.url = http_url + path  # exactly as written: no re-encoding
    with requests.Session() as session:
        response = session.send(prepared, timeout=10)
    assert response.status_code == status, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]
    assert len(error["message"]) < 600  # a huge input is never echoed whole
    assert http_server.errors == []
    figures.add("bad_input", request.node.callspec.id, area="example service HTTP requests")


@pytest.mark.parametrize(
    "reason",
    [
        "<script>alert(1)</script>",
        "${jndi:ldap://x/a}",
        "'; DROP TABLE suppressions; --",
        "Ünïcödé ✓ 日本語 🚫",
    ],
    ids=["html", "jndi", "sql", "unicode"],
)
def test_odd_but_valid_reasons_are_stored_verbatim(
    http_url: str, account: str, service_log: Any, figures: Any, request: pytest.FixtureRequest, reason: str
) -> None:
    email = "odd@example.com"
    added = requests.post(
        f"{http_url}/v1/suppressions",
        json={"account_id": account, "email": email, "reason": reason},
        timeout=10,
    )
    assert added.status_code == 201
    got = requests.get(f"{http_url}/v1/suppressions/{account}/{email}", timeout=10)
    assert got.headers["Content-Type"] == "application/json"
    assert got.json()["reason"] == reason
    figures.add("bad_input", f"verbatim-{request.node.callspec.id}", area="example service HTTP requests")


def raw_request(url: str, head: bytes) -> tuple[int, bytes]:
    """Send raw request bytes (what requests refuses to send) and read the status line and body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line = data.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), data


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /v1/suppressions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /v1/suppressions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 413),
    ],
    ids=["content-length-word", "content-length-huge"],
)
def test_a_malformed_content_length_is_refused_by_the_server(
    http_url: str, http_server: Any, figures: Any, request: pytest.FixtureRequest, head: bytes, status: int
) -> None:
    code, _ = raw_request(http_url, head)
    assert code == status
    assert http_server.errors == []
    figures.add("bad_input", request.node.callspec.id, area="example service HTTP requests")


def test_a_client_resetting_its_connection_prints_no_traceback(
    service: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    """A keep-alive client going away is normal: no socketserver traceback on stderr (there used to be)."""
    import struct
    import time

    from pytest_dualmode.local.http_server import WsgiServer

    server = WsgiServer(service.wsgi_app).start()
    try:
        host, port = server.url.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200")
        assert server.open_connections == 1  # its handler waits for the next keep-alive request
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        sock.close()
        limit = time.monotonic() + 10
        while server.open_connections:  # the handler's read has seen the reset, and the handler ended
            assert time.monotonic() < limit, "the server's handler never saw the reset"
            time.sleep(0.01)
    finally:
        server.stop()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, err[-1500:]
