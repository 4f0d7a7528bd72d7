"""The signer's own rules: presets, the headers it signs, credentials it re-reads, and the requests auth."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
import requests
from botocore.credentials import Credentials, RefreshableCredentials
from sigv4_support import ACCESS_KEY, ALL_SECRETS, REGION, SECRET, SESSION_TOKEN, TOKEN_KEY, TOKEN_SECRET

from pytest_dualmode.sigv4 import canonical
from pytest_dualmode.sigv4.signer import Signer, host_from_url, preset_signs_payload
from pytest_dualmode.sigv4.transport import RequestsSigV4Auth
from pytest_dualmode.sigv4.verifier import Verifier

NOW = 1_750_000_000.0


def signer(service: str = "vpc-lattice-svcs", token: str | None = None, **kwargs: Any) -> Signer:
    creds = Credentials(TOKEN_KEY if token else ACCESS_KEY, TOKEN_SECRET if token else SECRET, token)
    kwargs.setdefault("clock", lambda: NOW)
    return Signer(creds, REGION, service, sign_payload=preset_signs_payload(service), **kwargs)


def signed_headers_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]


def test_vpc_lattice_sends_an_unsigned_payload() -> None:
    headers = signer("vpc-lattice-svcs").sign("POST", "https://svc.example/v1/x", {}, b'{"a": 1}')
    assert headers["X-Amz-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    assert headers["X-Amz-Date"] == "20250615T150640Z"
    assert headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20250615/{REGION}/vpc-lattice-svcs/aws4_request, "
    )
    assert signed_headers_of(headers) == "host;x-amz-content-sha256;x-amz-date"


def test_execute_api_signs_the_payload_hash() -> None:
    body = b'{"email": "a@example.com"}'
    headers = signer("execute-api").sign("POST", "https://api.example/v1/x", {}, body)
    assert headers["X-Amz-Content-Sha256"] == canonical.payload_hash(body)
    assert (
        signer("execute-api").sign("GET", "https://api.example/")["X-Amz-Content-Sha256"]
        == canonical.EMPTY_SHA256
    )
    forced = signer("execute-api").sign("POST", "https://api.example/x", {}, body, unsigned_payload=True)
    assert forced["X-Amz-Content-Sha256"] == "UNSIGNED-PAYLOAD"


def test_only_headers_no_proxy_rewrites_are_signed() -> None:
    noisy = {
        "Accept": "*/*",
        "Content-Length": "10",
        "User-Agent": "python-requests/2.32",
        "Connection": "keep-alive",
        "Content-Type": "application/json",
        "X-Request-Id": "abc",
        # left over from an earlier signature (a retry): replaced, never signed twice
        "Authorization": "AWS4-HMAC-SHA256 old",
        "X-Amz-Date": "20000101T000000Z",
    }
    headers = signer(token=SESSION_TOKEN).sign("GET", "https://svc.example/", noisy)
    assert signed_headers_of(headers) == "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
    assert headers["X-Amz-Security-Token"] == SESSION_TOKEN
    assert headers["X-Amz-Date"] == "20250615T150640Z"
    assert "old" not in headers["Authorization"]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://API.Example.com/x", "api.example.com"),
        ("https://api.example.com:443/x", "api.example.com"),
        ("http://api.example.com:80/x", "api.example.com"),
        ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
        ("https://user:pw@api.example.com:8443/x", "api.example.com:8443"),
        ("http://[::1]:9000/x", "[::1]:9000"),
    ],
)
def test_the_host_is_what_an_http_client_sends(url: str, host: str) -> None:
    assert host_from_url(url) == host
    signed = signer().sign_parts("GET", host_from_url(url), "/x")
    assert f"\nhost:{host}\n" in signed.canonical_request


def test_an_explicit_host_header_wins_over_the_url() -> None:
    signed = signer().sign("GET", "http://127.0.0.1:8080/x", {"Host": "svc.internal"})
    plain = signer().sign_parts("GET", "svc.internal", "/x").headers
    assert signed == plain


def test_refreshing_credentials_are_re_read_for_every_request() -> None:
    now = [datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)]
    issued = [(ACCESS_KEY, SECRET, None), (TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN)]

    def refresh() -> dict[str, Any]:
        key, secret, token = issued.pop(0)
        expiry = now[0] + datetime.timedelta(hours=1)
        return {"access_key": key, "secret_key": secret, "token": token, "expiry_time": expiry.isoformat()}

    first = refresh()
    creds = RefreshableCredentials(
        first["access_key"],
        first["secret_key"],
        first["token"],
        datetime.datetime.fromisoformat(first["expiry_time"]),
        refresh,
        "test-rotation",
        time_fetcher=lambda: now[0],
    )
    clock = [now[0].timestamp()]
    sig = Signer(creds, REGION, "vpc-lattice-svcs", sign_payload=False, clock=lambda: clock[0])
    verifier = Verifier(
        {ACCESS_KEY: (SECRET, None), TOKEN_KEY: (TOKEN_SECRET, SESSION_TOKEN)},
        service="vpc-lattice-svcs",
        clock=lambda: clock[0],
    )

    def round_trip() -> str:
        headers = sig.sign("GET", "https://svc.example/v1/x")
        verifier.verify("GET", "/v1/x", "", {"host": "svc.example", **headers}, None)
        return headers["Authorization"].split("Credential=")[1].split("/")[0]

    assert round_trip() == ACCESS_KEY
    # 55 minutes later the key is inside botocore's refresh window: the next request uses the new one.
    now[0] += datetime.timedelta(minutes=55)
    clock[0] = now[0].timestamp()
    assert round_trip() == TOKEN_KEY
    assert round_trip() == TOKEN_KEY


def test_the_signing_key_cache_is_bounded() -> None:
    clock = [NOW]
    sig = signer(clock=lambda: clock[0])
    for day in range(200):
        clock[0] = NOW + day * 86400
        sig.sign("GET", "https://svc.example/")
    assert len(sig._keys._keys) <= 64


def test_the_time_follows_the_clock() -> None:
    clock = [NOW]
    sig = signer(clock=lambda: clock[0])
    assert sig.sign("GET", "https://svc.example/")["X-Amz-Date"] == "20250615T150640Z"
    clock[0] += 1.5
    assert sig.sign("GET", "https://svc.example/")["X-Amz-Date"] == "20250615T150641Z"
    clock[0] += 86400
    assert sig.sign("GET", "https://svc.example/")["X-Amz-Date"] == "20250616T150641Z"


def prepared(method: str, url: str, **kwargs: Any) -> requests.PreparedRequest:
    return requests.Request(method, url, **kwargs).prepare()


def verify_prepared(r: requests.PreparedRequest, service: str) -> None:
    """Check a prepared request with the verifier, as the server would see it."""
    from urllib.parse import urlsplit

    parts = urlsplit(r.url)
    # A streamed body stays unread when the payload is unsigned: the server hashes nothing then.
    body = r.body.encode() if isinstance(r.body, str) else r.body if isinstance(r.body, bytes) else b""
    headers = {"host": host_from_url(r.url or ""), **r.headers}
    verifier = Verifier({ACCESS_KEY: (SECRET, None)}, service=service, region=REGION, clock=lambda: NOW)
    verifier.verify(r.method or "", parts.path, parts.query, headers, body)


@pytest.mark.parametrize("service", ["vpc-lattice-svcs", "execute-api"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"params": {"q": "a b+c/d", "empty": "", "ü": "ß"}},
        {"json": {"email": "a@example.com"}},
        {"data": "text body ☃"},
        {"data": {"form": "value & more"}},
        {"data": io.BytesIO(b"file body")},
        {"data": (chunk for chunk in [b"gen", b"erated"])},
    ],
    ids=["query", "json", "str", "form", "file", "generator"],
)
def test_the_requests_auth_signs_url_and_body(service: str, kwargs: dict[str, Any]) -> None:
    r = prepared("POST", "http://127.0.0.1:8080/v1/items/a%20b(c)", **kwargs)
    RequestsSigV4Auth(signer(service))(r)
    verify_prepared(r, service)
    if service == "execute-api" and r.body is not None:
        assert isinstance(r.body, bytes) and r.headers["Content-Length"] == str(len(r.body))
        assert "Transfer-Encoding" not in r.headers


def test_the_requests_auth_re_signs_cleanly() -> None:
    clock = [NOW]
    auth = RequestsSigV4Auth(signer("execute-api", token=SESSION_TOKEN, clock=lambda: clock[0]))
    r = auth(prepared("GET", "https://svc.example/x"))
    first = r.headers["Authorization"]
    clock[0] += 10
    auth(r)
    assert r.headers["Authorization"] != first
    assert list(r.headers).count("Authorization") == 1
    assert r.headers["X-Amz-Date"] == "20250615T150650Z"


def test_no_secret_in_reprs() -> None:
    sig = signer(token=SESSION_TOKEN)
    signed = sig.sign_parts("GET", "svc.example", "/")
    texts = [repr(sig), repr(signed), str(signed), repr(RequestsSigV4Auth(sig)), repr(sig._keys)]
    for text in texts:
        for secret in (*ALL_SECRETS, signed.signature):
            assert secret not in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("b=2&a=1", "a=1&b=2"),
        ("q=a+b&x=%2B", "q=a%20b&x=%2B"),  # "+" is a space (form encoding); a literal plus is %2B
        ("q=a%20b", "q=a%20b"),
        ("k=(x)!*'", "k=%28x%29%21%2A%27"),  # reserved characters requests leaves bare
        ("%e1%88%b4=v", "%E1%88%B4=v"),  # hex upper-cased
        ("flag&a=", "a=&flag="),
        ("a=1&&b=2", "a=1&b=2"),
    ],
)
def test_the_canonical_query(query: str, expected: str) -> None:
    assert canonical.canonical_query(query) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "/"),
        ("/a%20b", "/a%2520b"),  # the wire form is encoded once more, as botocore does
        ("/a/./b/../c//d/", "/a/c/d/"),
        ("/ሴ", "/%E1%88%B4"),
        ("/a~b", "/a~b"),
    ],
)
def test_the_canonical_path(path: str, expected: str) -> None:
    assert canonical.canonical_path(path) == expected


def test_a_repeated_request_in_the_same_second_reuses_its_signature_safely() -> None:
    clock = [NOW]
    creds = Credentials(ACCESS_KEY, SECRET)
    sig = Signer(creds, REGION, "vpc-lattice-svcs", sign_payload=False, clock=lambda: clock[0])
    first = sig.sign("GET", "https://svc.example/x")
    first["Authorization"] = "changed by the caller"
    second = sig.sign("GET", "https://svc.example/x")
    assert second["Authorization"] != "changed by the caller"
    assert sig.sign_parts("GET", "svc.example", "/x").headers == second
    # new credentials within the same second sign anew
    creds.access_key, creds.secret_key = TOKEN_KEY, TOKEN_SECRET
    assert TOKEN_KEY in sig.sign("GET", "https://svc.example/x")["Authorization"]
    # as does the next second, and any other request
    clock[0] += 1
    assert sig.sign("GET", "https://svc.example/x")["X-Amz-Date"] == "20250615T150641Z"
    assert sig.sign("GET", "https://svc.example/y") != sig.sign("GET", "https://svc.example/x")


def test_used_secrets_keeps_rotated_out_keys_for_redaction() -> None:
    from botocore.credentials import Credentials

    from pytest_dualmode.sigv4.signer import Signer

    class Rotating:
        def __init__(self) -> None:
            self.generation = 0

        def get_frozen_credentials(self) -> object:
            self.generation += 1
            return Credentials(
                f"AKID{self.generation}", f"secret-{self.generation}", f"token-{self.generation}"
            )

    signer = Signer(Rotating(), "us-east-1", "vpc-lattice-svcs", sign_payload=False)
    for _ in range(3):
        signer.sign("GET", "https://example.amazonaws.com/")
    assert signer.used_secrets() == ["secret-1", "token-1", "secret-2", "token-2", "secret-3", "token-3"]
