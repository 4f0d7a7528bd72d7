"""Redirects through the ``http`` fixture's session: re-signed for the same host, never a signing header
(session token included) carried on to another host; through a plain ``requests.Session`` with the
signing auth, never a signing header on any redirect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from botocore.credentials import Credentials
from sigv4_support import ALL_SECRETS, REGION, SERVICE, SESSION_TOKEN, TOKEN_KEY, TOKEN_SECRET, echo_app, keys

from pytest_dualmode.clients import BaseUrlSession
from pytest_dualmode.local.http_server import WsgiServer
from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.transport import RequestsSigV4Auth
from pytest_dualmode.sigv4.verifier import SigV4WsgiMiddleware, Verifier

TIMEOUT = 5
SIGNING_HEADERS = (
    "HTTP_AUTHORIZATION",
    "HTTP_X_AMZ_DATE",
    "HTTP_X_AMZ_SECURITY_TOKEN",
    "HTTP_X_AMZ_CONTENT_SHA256",
)


def redirector(elsewhere: Callable[[], str]) -> Callable[..., list[bytes]]:
    """``/old`` answers 307 to ``/new`` (same host), ``/see-other`` 303 to ``/new``, ``/away`` 302 to
    the URL ``elsewhere()`` gives; any other path is echoed."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"]
        targets = {"/old": ("307 Temporary Redirect", "/new"), "/see-other": ("303 See Other", "/new")}
        if path == "/away":
            targets[path] = ("302 Found", elsewhere() + "/landed")
        if path in targets:
            status, location = targets[path]
            start_response(status, [("Location", location), ("Content-Length", "0")])
            return []
        return echo_app(environ, start_response)

    return app


Servers = tuple[str, str, list[dict[str, Any]]]


@pytest.fixture
def servers() -> Iterator[Servers]:
    """Two redirecting servers, one verifying SigV4 and one not, and a recording server on another
    port (another host for ``requests``); yields both URLs and the headers the recorder saw."""
    seen: list[dict[str, Any]] = []

    def record(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.append({k: v for k, v in environ.items() if k.startswith("HTTP_")})
        return echo_app(environ, start_response)

    other = WsgiServer(record).start()
    verifier = Verifier(keys(), service=SERVICE, region=REGION)
    verifying = WsgiServer(SigV4WsgiMiddleware(redirector(lambda: other.url), verifier)).start()
    plain = WsgiServer(redirector(lambda: other.url)).start()
    try:
        yield verifying.url, plain.url, seen
    finally:
        for server in (verifying, plain, other):
            server.stop()


def signing_auth() -> RequestsSigV4Auth:
    signer = Signer(Credentials(TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN), REGION, SERVICE, sign_payload=False)
    return RequestsSigV4Auth(signer)


def session_for(url: str) -> BaseUrlSession:
    session = BaseUrlSession(url, timeout=TIMEOUT)
    session.auth = signing_auth()
    return session


def test_a_same_host_redirect_is_signed_again(servers: Servers) -> None:
    url, _, _ = servers
    with session_for(url) as session:
        got = session.post("/old", json={"a": 1})
        assert got.status_code == 200, got.text  # the old signature (for /old) would be refused for /new
        assert got.json() == {"method": "POST", "path": "/new", "query": "", "body": '{"a": 1}'}
        assert [r.status_code for r in got.history] == [307]
        see_other = session.post("/see-other", json={"a": 1})
        assert see_other.status_code == 200, see_other.text
        assert see_other.json()["method"] == "GET" and see_other.json()["body"] == ""


def test_a_redirect_to_another_host_carries_no_signing_header(servers: Servers) -> None:
    url, _, seen = servers
    with session_for(url) as session:
        got = session.get("/away")
    assert got.status_code == 200 and got.json()["path"] == "/landed"
    assert [r.status_code for r in got.history] == [302]
    (headers,) = seen
    assert [name for name in SIGNING_HEADERS if name in headers] == []
    for secret in ALL_SECRETS:
        assert all(secret not in str(value) for value in headers.values())


def test_a_plain_requests_session_sends_no_signing_header_on_any_redirect(servers: Servers) -> None:
    """Without the fixture's session nothing signs a redirect again; the old signature and the session
    token must not travel on with it, to another host or the same one."""
    url, _, seen = servers
    with requests.Session() as session:
        session.auth = signing_auth()
        session.trust_env = False
        away = session.get(url + "/away", timeout=TIMEOUT)
        same_host = session.post(url + "/old", json={"a": 1}, timeout=TIMEOUT)
        direct = session.get(url + "/direct", timeout=TIMEOUT)
    assert away.status_code == 200 and away.json()["path"] == "/landed"
    (headers,) = seen
    assert [name for name in SIGNING_HEADERS if name in headers] == []
    for secret in ALL_SECRETS:
        assert all(secret not in str(value) for value in headers.values())
    # the same host refuses the unsigned redirect as unsigned, not as a stale signature
    assert same_host.status_code == 403 and [r.status_code for r in same_host.history] == [307]
    sent = same_host.request.headers
    assert [name for name in ("Authorization", "X-Amz-Security-Token") if name in sent] == []
    assert direct.status_code == 200, direct.text  # a request that is not redirected is signed as ever


def test_other_auths_are_left_to_requests(servers: Servers) -> None:
    _, plain, seen = servers
    with BaseUrlSession(plain, timeout=TIMEOUT) as session:
        session.auth = ("user", "password")
        same_host = session.get("/old")
        away = session.get("/away")
    assert same_host.status_code == 200 and same_host.request.headers["Authorization"].startswith("Basic ")
    assert away.status_code == 200 and away.json()["path"] == "/landed"
    (headers,) = seen
    assert "HTTP_AUTHORIZATION" not in headers  # requests drops a basic auth for another host
