"""mTLS and extra headers through the async fixtures, ``grpc_aio_channel`` and ``http_aio``, against real
mTLS servers on 127.0.0.1 (certificates made in the test): the same settings as the sync fixtures get."""

from __future__ import annotations

from typing import Any

import pytest

API_KEY = "k3y-" + "Aio" * 8  # looks like a key: never printed

AIO_TESTS = f"""
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

@pytest.mark.asyncio
async def test_aio_http(http_aio):
    seen = (await http_aio.get("/anything")).json()
    assert seen["x-api-key"] == {API_KEY!r} and seen["x-team"] == "payments"
    assert seen["authorization"].startswith("AWS4-HMAC-SHA256 ")

@pytest.mark.asyncio
async def test_aio_grpc_unary_and_stream(grpc_aio_channel):
    stub = health_pb2_grpc.HealthStub(grpc_aio_channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    async for update in stub.Watch(health_pb2.HealthCheckRequest()):
        assert update.status == health_pb2.HealthCheckResponse.SERVING
        break
"""

BASE = ("-p", "no:cacheprovider", "-p", "asyncio", "-o", "asyncio_default_fixture_loop_scope=function")


def _args(pki: Any, grpc_addr: str, http_url: str, *extra: str) -> list[str]:
    return [
        *BASE, "--addr", grpc_addr, "--http-addr", http_url, "--tls-ca-file", pki.ca,
        "--header", f"x-api-key={API_KEY}", "--header", "X-Team=payments", "--request-timeout", "5", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_aio_mtls_and_headers_reach_both_servers(
    pytester: pytest.Pytester,
    transport: str,
    pki: Any,
    mtls_context: Any,
    http_server_factory: Any,
    grpc_server_factory: Any,
    aws_env: Any,
) -> None:
    http_url = http_server_factory(mtls_context)
    grpc_addr, recorder = grpc_server_factory(pki)
    pytester.makepyfile(test_fronted_aio=AIO_TESTS)
    cert = ["--tls-client-cert", pki.client_cert, "--tls-client-key", pki.client_key]
    cert += ["--http-aio-transport", transport]  # http_aio on httpx's own transport or on aiohttp
    result = pytester.runpytest_subprocess(*_args(pki, grpc_addr, http_url, *cert))
    result.assert_outcomes(passed=2)
    assert API_KEY not in result.stdout.str() + result.stderr.str()
    assert len(recorder.seen) == 2  # the Check and the Watch, each with the headers and a signature
    for seen in recorder.seen:
        assert seen.get("x-api-key") == API_KEY and seen.get("x-team") == "payments"
        assert seen.get("authorization", "").startswith("AWS4-HMAC-SHA256 ")


def test_aio_without_the_client_certificate_both_servers_refuse(
    pytester: pytest.Pytester,
    pki: Any,
    mtls_context: Any,
    http_server_factory: Any,
    grpc_server_factory: Any,
    aws_env: Any,
) -> None:
    http_url = http_server_factory(mtls_context)
    grpc_addr, recorder = grpc_server_factory(pki)
    pytester.makepyfile(test_fronted_aio=AIO_TESTS)
    result = pytester.runpytest_subprocess(*_args(pki, grpc_addr, http_url))
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*StatusCode.UNAVAILABLE*"])
    assert recorder.seen == []  # no call got past the handshake


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_aio_a_ca_that_signed_neither_server_is_refused_by_both_clients(
    pytester: pytest.Pytester,
    transport: str,
    pki: Any,
    mtls_context: Any,
    http_server_factory: Any,
    grpc_server_factory: Any,
    aws_env: Any,
) -> None:
    http_url = http_server_factory(mtls_context)
    grpc_addr, recorder = grpc_server_factory(pki)
    pytester.makepyfile(test_fronted_aio=AIO_TESTS)
    cert = ["--tls-client-cert", pki.client_cert, "--tls-client-key", pki.client_key]
    args = _args(pki, grpc_addr, http_url, *cert, "--http-aio-transport", transport)
    args[args.index(pki.ca)] = pki.other_ca  # --tls-ca-file (gRPC's CA too without --grpc-ca-file)
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(failed=2)
    # httpx-aiohttp maps aiohttp's certificate error to httpx.ConnectTimeout (docs/performance.md says so)
    error = "ConnectError" if transport == "httpx" else "ConnectTimeout"
    result.stdout.fnmatch_lines([f"*httpx.{error}*CERTIFICATE_VERIFY_FAILED*", "*StatusCode.UNAVAILABLE*"])
    assert recorder.seen == []
