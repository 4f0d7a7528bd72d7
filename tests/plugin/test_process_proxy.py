"""The front door as a reverse proxy (process mode): each gRPC call kind and HTTP request forwarded, verified.

A backend on real sockets (a gRPC server of raw-bytes methods, one of each call kind, and a WSGI app), the
proxies in front with the SigV4 verifier, clients signed as the fixtures sign.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import requests
from botocore.credentials import Credentials

from pytest_dualmode.clients import make_channel
from pytest_dualmode.local.grpc_server import GrpcServer
from pytest_dualmode.local.http_server import WsgiServer
from pytest_dualmode.local.proxy import GrpcForwarder, HttpForwarder
from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.transport import RequestsSigV4Auth
from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, SigV4WsgiMiddleware, Verifier

KEY, SECRET, REGION, SERVICE = "AKIDPROXYTEST", "proxy-test-secret", "us-east-1", "vpc-lattice-svcs"
ECHO = "/proxy.test.Echo/"


def _backend_handlers() -> Any:
    def unary(request: bytes, context: Any) -> bytes:
        if request == b"fail":
            context.set_trailing_metadata((("why", "asked to"),))
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "asked to fail")
        metadata = dict(context.invocation_metadata())
        return b"unary:" + request + b":" + metadata.get("x-test", "").encode()

    def server_stream(request: bytes, context: Any) -> Iterator[bytes]:
        for i in range(3):
            yield b"%d:" % i + request

    def client_stream(requests_: Iterator[bytes], context: Any) -> bytes:
        return b"|".join(requests_)

    def bidi(requests_: Iterator[bytes], context: Any) -> Iterator[bytes]:
        for item in requests_:
            yield b"echo:" + item

    return grpc.method_handlers_generic_handler(
        "proxy.test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        },
    )


def _app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Backend", "yes")])
    yield f"{environ['REQUEST_METHOD']} {environ.get('RAW_URI')} ".encode()
    yield body  # no Content-Length: chunked through both servers


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier({KEY: (SECRET, None)}, service=SERVICE, region=REGION)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(Credentials(KEY, SECRET), REGION, SERVICE, sign_payload=False)


@pytest.fixture(scope="module")
def grpc_proxy(verifier: Verifier) -> Iterator[str]:
    backend = GrpcServer([lambda server: server.add_generic_rpc_handlers((_backend_handlers(),))]).start()
    forwarder = GrpcForwarder(backend.address)
    proxy = GrpcServer([forwarder.register], interceptors=[SigV4ServerInterceptor(verifier)]).start()
    try:
        yield proxy.address
    finally:
        proxy.stop()
        forwarder.close()
        backend.stop()


@pytest.fixture(scope="module")
def http_proxy(verifier: Verifier) -> Iterator[str]:
    backend = WsgiServer(_app).start()
    forwarder = HttpForwarder(backend.url)
    proxy = WsgiServer(SigV4WsgiMiddleware(forwarder, verifier)).start()
    try:
        yield proxy.url
    finally:
        proxy.stop()
        forwarder.close()
        backend.stop()


KINDS = {
    "unary-unary": (
        lambda ch: ch.unary_unary(ECHO + "Unary")(b"a", metadata=(("x-test", "kept"),)),
        b"unary:a:kept",
    ),
    "unary-stream": (lambda ch: list(ch.unary_stream(ECHO + "ServerStream")(b"b")), [b"0:b", b"1:b", b"2:b"]),
    "stream-unary": (lambda ch: ch.stream_unary(ECHO + "ClientStream")(iter([b"c", b"d"])), b"c|d"),
    "stream-stream": (
        lambda ch: list(ch.stream_stream(ECHO + "Bidi")(iter([b"e", b"f"]))),
        [b"echo:e", b"echo:f"],
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_process_proxy_forwards_every_grpc_call_kind_signed(
    grpc_proxy: str, signer: Signer, kind: str
) -> None:
    call, expected = KINDS[kind]
    channel = make_channel(grpc_proxy, tls=False, signer=signer, timeout=10, proxy=False)
    try:
        assert call(channel) == expected
    finally:
        channel.close()


def test_process_proxy_passes_status_details_and_trailers_back(grpc_proxy: str, signer: Signer) -> None:
    channel = make_channel(grpc_proxy, tls=False, signer=signer, timeout=10, proxy=False)
    try:
        with pytest.raises(grpc.RpcError) as failed:
            channel.unary_unary(ECHO + "Unary")(b"fail")
    finally:
        channel.close()
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert failed.value.details() == "asked to fail"
    assert ("why", "asked to") in tuple(failed.value.trailing_metadata())


def test_process_proxy_refuses_unsigned_grpc_before_forwarding(grpc_proxy: str) -> None:
    with grpc.insecure_channel(grpc_proxy) as channel, pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(ECHO + "Unary")(b"a", timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_process_proxy_forwards_http_signed_and_streams_the_answer(http_proxy: str, signer: Signer) -> None:
    answer = requests.post(
        http_proxy + "/v1/items%2Fx?b=2&a=1", data=b"the body", auth=RequestsSigV4Auth(signer), timeout=10
    )
    assert answer.status_code == 201
    assert answer.text == "POST /v1/items%2Fx?b=2&a=1 the body"
    assert answer.headers["X-Backend"] == "yes"
    assert requests.get(http_proxy + "/x", timeout=10).status_code == 403  # unsigned: refused at the door


def test_process_proxy_answers_502_when_the_service_is_gone(verifier: Verifier, signer: Signer) -> None:
    backend = WsgiServer(_app).start()
    url = backend.url
    backend.stop()
    told = []
    forwarder = HttpForwarder(url, on_unavailable=lambda: told.append(True))
    proxy = WsgiServer(SigV4WsgiMiddleware(forwarder, verifier)).start()
    try:
        answer = requests.get(proxy.url + "/x", auth=RequestsSigV4Auth(signer), timeout=10)
    finally:
        proxy.stop()
        forwarder.close()
    assert answer.status_code == 502 and told == [True]
