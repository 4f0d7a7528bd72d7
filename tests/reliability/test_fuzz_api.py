"""Property tests of the example service's two APIs (real servers on 127.0.0.1): random requests, valid or
not, never get a 5xx or INTERNAL/UNKNOWN; every error is the documented JSON / status; valid adds made over
one transport read back the same over the other."""

from __future__ import annotations

import string
from typing import Any
from urllib.parse import quote

import grpc
import pytest
import requests
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from rel_settings import fuzz_settings

from example_service.gen.suppression.v1 import suppression_pb2 as pb

pytestmark = pytest.mark.reliability

SLOW_OK = [HealthCheck.too_slow]

# ---- strategies -------------------------------------------------------------------------------------

ACCOUNTS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
LOCAL_PART = st.from_regex(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\.[A-Za-z0-9_-]{1,10}){0,2}", fullmatch=True
)
DOMAINS = st.from_regex(r"([a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\.){1,3}[a-z]{2,6}", fullmatch=True)
EMAILS = st.builds(lambda local, domain: f"{local}@{domain}", LOCAL_PART, DOMAINS)
REASONS = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00") | st.sampled_from("\t\n\r"),
    max_size=60,
)
ANY_TEXT = st.text(max_size=80) | st.sampled_from(
    ["", " ", "a@b.co", "../..", "%00", "' OR 1=1 --", "x" * 300]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
ADD_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "account_id": ACCOUNTS | ANY_TEXT | JSON_VALUES,
        "email": EMAILS | ANY_TEXT | JSON_VALUES,
        "reason": REASONS | ANY_TEXT | JSON_VALUES,
        "extra": JSON_VALUES,
    },
)
SEGMENT = st.text(string.ascii_letters + string.digits + "._-~!$&'()*+,;=:@%", max_size=30) | st.text(
    max_size=10
)


def path_segment(text: str) -> str:
    """``text`` as a path segment: its percent-encoding, keeping a few characters raw (as clients do)."""
    return quote(text, safe="@:%")


# ---- HTTP ---------------------------------------------------------------------------------------------


def test_random_http_requests_never_get_a_server_error(http_url: str, http_server: Any, figures: Any) -> None:
    examples = 0
    session = requests.Session()

    @fuzz_settings(max_examples=250, suppress_health_check=SLOW_OK)
    @given(
        method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]),
        segments=st.lists(SEGMENT, max_size=3),
        query=st.lists(
            st.tuples(st.sampled_from(["page_size", "page_token", "x", ""]), ANY_TEXT), max_size=3
        ),
        body=ADD_BODIES.map(lambda b: __import__("json").dumps(b).encode()) | st.binary(max_size=200),
        content_type=st.sampled_from(
            ["application/json", "text/plain", "", "application/json; charset=utf-16"]
        ),
        prefix=st.sampled_from(["/v1/suppressions", "/v1/suppressions/", "/healthz", "/openapi.json", "/"]),
    )
    def check(
        method: str,
        segments: list[str],
        query: list[tuple[str, str]],
        body: bytes,
        content_type: str,
        prefix: str,
    ) -> None:
        nonlocal examples
        examples += 1
        path = prefix.rstrip("/") + "".join("/" + path_segment(s) for s in segments) if segments else prefix
        if query:
            path += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
        headers = {"Content-Type": content_type} if content_type else {}
        prepared = requests.Request(method, http_url + path, headers=headers, data=body or None).prepare()
        prepared.url = http_url + path
        response = session.send(prepared, timeout=10)  # HEAD too: see test_a_head_response_has_no_body
        assert response.status_code < 500, (method, path, response.text[:300])
        if response.status_code >= 400 and method != "HEAD":
            error = response.json()["error"]
            assert error["code"] and error["message"]

    try:
        check()
    finally:
        session.close()
    assert http_server.errors == []
    figures.add("fuzz", "HTTP API: random requests never answered 5xx", examples=examples)


def raw_exchange(url: str, requests_bytes: bytes) -> bytes:
    """Send raw bytes on one connection and read until the server has answered (or closed)."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(requests_bytes)
        sock.settimeout(1.0)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
    return data


def test_a_head_response_has_no_body(service: Any) -> None:
    """A HEAD answer is headers only, so the next response on the keep-alive connection stays intact.

    (Found by the fuzzing above: the body of a HEAD response used to garble the next one.)
    """
    from pytest_dualmode.local.http_server import WsgiServer

    running = WsgiServer(service.wsgi_app).start()
    try:
        data = raw_exchange(
            running.url, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    finally:
        running.stop()
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ")
    assert rest.startswith(b"HTTP/1.1 200"), rest[
        :120
    ]  # the GET's answer follows the HEAD's headers directly


# ---- gRPC ---------------------------------------------------------------------------------------------

INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
REQUESTS = st.one_of(
    st.builds(
        lambda a, e, r: ("Add", pb.AddRequest(account_id=a, email=e, reason=r)),
        ACCOUNTS | ANY_TEXT,
        EMAILS | ANY_TEXT,
        REASONS | ANY_TEXT,
    ),
    st.builds(
        lambda a, e: ("Get", pb.GetRequest(account_id=a, email=e)), ACCOUNTS | ANY_TEXT, EMAILS | ANY_TEXT
    ),
    st.builds(
        lambda a, e: ("Delete", pb.DeleteRequest(account_id=a, email=e)), ACCOUNTS | ANY_TEXT, ANY_TEXT
    ),
    st.builds(
        lambda a, s, t: ("List", pb.ListRequest(account_id=a, page_size=s, page_token=t)),
        ACCOUNTS | ANY_TEXT,
        INT32,
        ANY_TEXT,
    ),
    st.builds(lambda a: ("Export", pb.ExportRequest(account_id=a)), ACCOUNTS | ANY_TEXT),
)
EXPECTED_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}


def test_random_grpc_messages_never_get_internal(stub: Any, figures: Any) -> None:
    examples = 0

    @fuzz_settings(max_examples=250, suppress_health_check=SLOW_OK)
    @given(call=REQUESTS)
    def check(call: tuple[str, Any]) -> None:
        nonlocal examples
        examples += 1
        method, message = call
        try:
            response = getattr(stub, method)(message, timeout=10)
            if method == "Export":
                list(response)
        except grpc.RpcError as exc:
            assert exc.code() in EXPECTED_CODES, (method, str(message)[:300], exc.code(), exc.details())
            assert exc.details()

    check()
    figures.add("fuzz", "gRPC API: random messages never answered INTERNAL/UNKNOWN", examples=examples)


# ---- round trips across the transports -----------------------------------------------------------------


def test_valid_adds_read_back_the_same_over_the_other_transport(
    http_url: str, stub: Any, figures: Any
) -> None:
    examples = 0
    session = requests.Session()

    @fuzz_settings(max_examples=120, suppress_health_check=SLOW_OK)
    @given(account=ACCOUNTS, email=EMAILS, reason=REASONS, over_grpc=st.booleans())
    def check(account: str, email: str, reason: str, over_grpc: bool) -> None:
        nonlocal examples
        examples += 1
        if over_grpc:
            added = stub.Add(pb.AddRequest(account_id=account, email=email, reason=reason), timeout=10)
            stored = (added.suppression.email, added.suppression.reason)
            got = session.get(
                f"{http_url}/v1/suppressions/{quote(account)}/{quote(email, safe='@')}", timeout=10
            )
            assert got.status_code == 200, got.text
            seen = (got.json()["email"], got.json()["reason"])
        else:
            response = session.post(
                f"{http_url}/v1/suppressions",
                json={"account_id": account, "email": email, "reason": reason},
                timeout=10,
            )
            assert response.status_code in (200, 201), response.text
            stored = (response.json()["suppression"]["email"], response.json()["suppression"]["reason"])
            record = stub.Get(pb.GetRequest(account_id=account, email=email), timeout=10)
            seen = (record.email, record.reason)
        assert stored[0] == email.lower()  # stored lower-cased, as documented
        assert seen == stored  # the same record over the other transport

    try:
        check()
    finally:
        session.close()
    figures.add("fuzz", "valid adds round-trip across gRPC and HTTP", examples=examples)
