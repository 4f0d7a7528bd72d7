"""Real round trips on 127.0.0.1: a gRPC server with the verifying interceptor and an HTTP server with
the verifying middleware; signed calls of every kind pass, anything else is UNAUTHENTICATED / 403.

gRPC tests run on both signing routes: the signing channel wrapper (what the plugin uses) and the
client interceptors."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
import requests
from botocore.credentials import Credentials, RefreshableCredentials
from sigv4_support import (
    ACCESS_KEY,
    ALL_SECRETS,
    REGION,
    SECRET,
    SERVICE,
    SESSION_TOKEN,
    TOKEN_KEY,
    TOKEN_SECRET,
    grpc_echo_handlers,
    keys,
)

from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.transport import RequestsSigV4Auth, client_interceptors, signing_channel
from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, Verifier

TIMEOUT = 5


def make_signer(
    key: tuple[str, str, str | None] = (ACCESS_KEY, SECRET, None),
    *,
    region: str = REGION,
    service: str = SERVICE,
    clock: Callable[[], float] | None = None,
) -> Signer:
    return Signer(Credentials(*key), region, service, sign_payload=service == "execute-api", clock=clock)


def sign(raw: Any, signer: Signer | None, authority: str, route: str) -> Any:
    """``raw`` signing every call for ``authority`` by ``route`` (unchanged when ``signer`` is None)."""
    if signer is None:
        return raw
    if route == "interceptor":
        return grpc.intercept_channel(raw, *client_interceptors(signer, authority, secure=False))
    return signing_channel(raw, signer, authority)


@pytest.fixture(params=["channel", "interceptor"])
def route(request: pytest.FixtureRequest) -> str:
    """How calls are signed: the signing channel wrapper, or grpcio client interceptors."""
    return str(request.param)


@pytest.fixture
def signed(grpc_channel_factory: Any, route: str) -> Callable[[Signer | None, str], Any]:
    """Open a channel to the test server that signs with the given signer for the given authority."""
    return lambda signer, authority: sign(grpc_channel_factory(), signer, authority, route)


def call_all_kinds(channel: Any) -> list[Any]:
    """One call of each kind on the Echo service; returns the four results."""
    unary = channel.unary_unary("/dualmode.test.Echo/Unary")(b"a", timeout=TIMEOUT)
    server_stream = list(channel.unary_stream("/dualmode.test.Echo/ServerStream")(b"b", timeout=TIMEOUT))
    client_stream = channel.stream_unary("/dualmode.test.Echo/ClientStream")(
        iter([b"c", b"d"]), timeout=TIMEOUT
    )
    bidi = list(channel.stream_stream("/dualmode.test.Echo/Bidi")(iter([b"e", b"f"]), timeout=TIMEOUT))
    return [unary, server_stream, client_stream, bidi]


EXPECTED = [b"unary:a", [b"0:b", b"1:b", b"2:b"], b"c|d", [b"echo:e", b"echo:f"]]

KIND_CALLS: dict[str, Callable[[Any], Any]] = {
    "unary-unary": lambda ch: ch.unary_unary("/dualmode.test.Echo/Unary")(b"a", timeout=TIMEOUT),
    "unary-stream": lambda ch: list(
        ch.unary_stream("/dualmode.test.Echo/ServerStream")(b"b", timeout=TIMEOUT)
    ),
    "stream-unary": lambda ch: ch.stream_unary("/dualmode.test.Echo/ClientStream")(
        iter([b"c"]), timeout=TIMEOUT
    ),
    "stream-stream": lambda ch: list(
        ch.stream_stream("/dualmode.test.Echo/Bidi")(iter([b"e"]), timeout=TIMEOUT)
    ),
    "unknown method": lambda ch: ch.unary_unary("/dualmode.test.Echo/Nope")(b"x", timeout=TIMEOUT),
}


def test_signed_grpc_calls_of_every_kind_pass(signed: Any, grpc_server_addr: str) -> None:
    assert call_all_kinds(signed(make_signer(), grpc_server_addr)) == EXPECTED
    temp = make_signer((TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN))
    assert call_all_kinds(signed(temp, grpc_server_addr)) == EXPECTED


def unauthenticated(channel: Any, kind: str) -> str:
    with pytest.raises(grpc.RpcError) as info:
        KIND_CALLS[kind](channel)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, info.value.details()
    details = str(info.value.details())
    assert details.startswith("SigV4: ")
    for secret in ALL_SECRETS:
        assert secret not in details
    return details


BAD_SIGNERS: dict[str, tuple[Callable[[], Signer | None], str]] = {
    "unsigned": (lambda: None, "missing Authorization header"),
    "wrong secret": (lambda: make_signer((ACCESS_KEY, "wrong" + SECRET, None)), "signature does not match"),
    "wrong region": (lambda: make_signer(region="eu-west-1"), "region 'eu-west-1'"),
    "wrong service": (lambda: make_signer(service="execute-api"), "service 'execute-api'"),
    "skewed clock": (lambda: make_signer(clock=lambda: time.time() - 600), "server clock"),
    "missing token": (lambda: make_signer((TOKEN_KEY, TOKEN_SECRET, None)), "needs its session token"),
}


@pytest.mark.parametrize("kind", list(KIND_CALLS))
@pytest.mark.parametrize("bad", list(BAD_SIGNERS))
def test_bad_grpc_calls_are_unauthenticated(signed: Any, grpc_server_addr: str, bad: str, kind: str) -> None:
    make, reason = BAD_SIGNERS[bad]
    assert reason in unauthenticated(signed(make(), grpc_server_addr), kind)


@pytest.fixture
def strict_server() -> Iterator[str]:
    """A server that only answers to its own ``127.0.0.1:PORT`` authority."""
    interceptor = SigV4ServerInterceptor(Verifier(keys(), service=SERVICE, region=REGION))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[interceptor])
    server.add_generic_rpc_handlers((grpc_echo_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    interceptor.authorities = frozenset({f"127.0.0.1:{port}"})
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait(5)


def test_a_signature_for_another_host_is_refused(strict_server: str, route: str) -> None:
    with grpc.insecure_channel(strict_server) as raw:
        assert call_all_kinds(sign(raw, make_signer(), strict_server, route)) == EXPECTED
        other = sign(raw, make_signer(), "evil.example:443", route)
        assert "not for this server" in unauthenticated(other, "unary-unary")


def test_grpc_picks_up_rotated_credentials(signed: Any, grpc_server_addr: str) -> None:
    issued = [(TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN)]
    now = [datetime.datetime.now(datetime.UTC)]

    def refresh() -> dict[str, Any]:
        key, secret, token = issued.pop(0)
        expiry = now[0] + datetime.timedelta(hours=1)
        return {"access_key": key, "secret_key": secret, "token": token, "expiry_time": expiry.isoformat()}

    creds = RefreshableCredentials(
        ACCESS_KEY,
        SECRET,
        None,
        now[0] + datetime.timedelta(hours=1),
        refresh,
        "rotation",
        time_fetcher=lambda: now[0],
    )
    signer = Signer(creds, REGION, SERVICE, sign_payload=False)
    channel = signed(signer, grpc_server_addr)
    assert call_all_kinds(channel) == EXPECTED
    now[0] += datetime.timedelta(minutes=55)  # inside botocore's refresh window
    assert call_all_kinds(channel) == EXPECTED
    assert not issued, "the credentials were not refreshed"
    assert signer.credentials().access_key == TOKEN_KEY


# ---- HTTP ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lattice_url(http_server_factory: Callable[[Verifier], str]) -> str:
    return http_server_factory(Verifier(keys(), service=SERVICE, region=REGION))


@pytest.fixture(scope="module")
def apigw_url(http_server_factory: Callable[[Verifier], str]) -> str:
    return http_server_factory(Verifier(keys(), service="execute-api", region=REGION))


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.mark.parametrize("service", [SERVICE, "execute-api"])
def test_signed_http_requests_pass(
    session: requests.Session, lattice_url: str, apigw_url: str, service: str
) -> None:
    base = lattice_url if service == SERVICE else apigw_url
    session.auth = RequestsSigV4Auth(make_signer(service=service))
    got = session.get(f"{base}/v1/items/a b(c)!ü", params={"q": "x y+z", "page": "2"}, timeout=TIMEOUT)
    assert got.status_code == 200, got.text
    assert got.json()["query"] == "q=x%20y%2Bz&page=2"  # a space goes as %20, never as an ambiguous "+"
    posted = session.post(f"{base}/v1/items", json={"email": "a@example.com"}, timeout=TIMEOUT)
    assert posted.status_code == 200, posted.text
    assert posted.json()["body"] == '{"email": "a@example.com"}'
    session.auth = RequestsSigV4Auth(make_signer((TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN), service=service))
    assert session.delete(f"{base}/v1/items/1", timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("bad", list(BAD_SIGNERS))
def test_bad_http_requests_get_403(session: requests.Session, lattice_url: str, bad: str) -> None:
    make, reason = BAD_SIGNERS[bad]
    signer = make()
    session.auth = RequestsSigV4Auth(signer) if signer else None
    got = session.post(f"{lattice_url}/v1/items", json={"a": 1}, timeout=TIMEOUT)
    assert got.status_code == 403
    error = got.json()["error"]
    assert error["code"] == "UNAUTHENTICATED" and error["message"].startswith("SigV4: ")
    assert reason in error["message"]
    for secret in ALL_SECRETS:
        assert secret not in got.text


def test_a_body_changed_after_signing_is_refused(session: requests.Session, apigw_url: str) -> None:
    signer = make_signer(service="execute-api")
    request = requests.Request("POST", f"{apigw_url}/v1/items", data=b"signed body").prepare()
    RequestsSigV4Auth(signer)(request)
    request.body = b"other body!"  # same length: only the hash can tell
    got = session.send(request, timeout=TIMEOUT)
    assert got.status_code == 403 and "does not match the request body" in got.text
