"""mTLS and extra headers against real servers on 127.0.0.1 (mTLS HTTP and gRPC servers, certificates
made in the test), through the ``http`` and ``grpc_channel`` fixtures and ``--preflight``."""

from __future__ import annotations

from typing import Any

import pytest

API_KEY = "k3y-" + "Zq9" * 8  # looks like a key: never printed

TESTS = f"""
from grpc_health.v1 import health_pb2, health_pb2_grpc

def test_http(http):
    seen = http.get("/anything").json()
    assert seen["x-api-key"] == {API_KEY!r} and seen["x-team"] == "payments"
    assert seen["authorization"].startswith("AWS4-HMAC-SHA256 ")

def test_grpc(grpc_channel):
    reply = health_pb2_grpc.HealthStub(grpc_channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

def test_fails_showing_the_key(http):
    assert http.get("/x").json()["x-api-key"] == "something else"
"""


def _args(pki: Any, grpc_addr: str, http_url: str, *extra: str) -> list[str]:
    # --tls-ca-file alone: it serves gRPC too when --grpc-ca-file is not given.
    return [
        "-p", "no:cacheprovider", "--addr", grpc_addr, "--http-addr", http_url, "--tls-ca-file", pki.ca,
        "--header", f"x-api-key={API_KEY}", "--header", "X-Team=payments", *extra,
    ]  # fmt: skip


def test_mtls_and_headers_reach_both_servers_and_the_key_is_never_printed(
    pytester: pytest.Pytester,
    pki: Any,
    mtls_context: Any,
    http_server_factory: Any,
    grpc_server_factory: Any,
    aws_env: Any,
) -> None:
    http_url = http_server_factory(mtls_context)
    grpc_addr, recorder = grpc_server_factory(pki)
    pytester.makepyfile(test_fronted=TESTS)
    cert = ["--tls-client-cert", pki.client_cert, "--tls-client-key", pki.client_key]
    result = pytester.runpytest_subprocess(*_args(pki, grpc_addr, http_url, *cert, "--preflight"))
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["dualmode: extra headers x-api-key, x-team (values not shown)"])
    output = result.stdout.str() + result.stderr.str()
    assert API_KEY not in output
    assert all(
        seen.get("x-api-key") == API_KEY and seen.get("x-team") == "payments" for seen in recorder.seen
    )
    assert len(recorder.seen) == 2  # the preflight's health check and the test's


def test_without_the_client_certificate_preflight_names_tls(
    pytester: pytest.Pytester,
    pki: Any,
    mtls_context: Any,
    http_server_factory: Any,
    grpc_server_factory: Any,
    aws_env: Any,
) -> None:
    http_url = http_server_factory(mtls_context)
    grpc_addr, recorder = grpc_server_factory(pki)
    pytester.makepyfile(test_fronted=TESTS)
    result = pytester.runpytest_subprocess(*_args(pki, grpc_addr, http_url, "--preflight"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--preflight: the target did not accept a signed request:*",
            f"*--addr {grpc_addr}: TLS: *wants a client certificate*--tls-client-cert*",
            f"*--http-addr {http_url}: TLS: the server wants a client certificate*",
        ]
    )
    assert recorder.seen == [] and "passed" not in result.stdout.str()


def test_a_server_certificate_from_another_ca_is_a_tls_failure(
    pytester: pytest.Pytester,
    pki: Any,
    mtls_context: Any,
    http_server_factory: Any,
    grpc_server_factory: Any,
    aws_env: Any,
) -> None:
    http_url = http_server_factory(mtls_context)
    grpc_addr, _ = grpc_server_factory(pki)
    pytester.makepyfile(test_fronted=TESTS)
    args = _args(
        pki, grpc_addr, http_url, "--tls-client-cert", pki.client_cert, "--tls-client-key", pki.client_key
    )
    args[args.index(pki.ca)] = pki.other_ca  # --tls-ca-file
    result = pytester.runpytest_subprocess(*args, "--grpc-ca-file", pki.other_ca, "--preflight")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*--addr {grpc_addr}: TLS: the server's certificate was not accepted*",
            f"*--http-addr {http_url}: TLS: the server's certificate was not accepted*",
        ]
    )


def test_a_certificate_without_its_key_is_a_usage_error(pytester: pytest.Pytester, pki: Any) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tls-client-cert", pki.client_cert)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tls-client-cert (from --tls-client-cert) needs --tls-client-key too*"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no-equals-sign", "entry 1 is not NAME=VALUE"),
        (
            "Authorization=Bearer s3cr3t-value",
            "entry 1: 'authorization' is set by the signer or the transport",
        ),
        ("bad name=s3cr3t-value", "entry 1: 'bad name' is not a header name"),
    ],
)
def test_bad_headers_are_refused_without_echoing_the_value(
    pytester: pytest.Pytester, value: str, message: str
) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--header", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--header '(value not shown)' {message}*"])
    assert "s3cr3t-value" not in result.stderr.str()


def test_headers_locally_reach_the_service(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import json, pytest
from pytest_dualmode import LocalService

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"key": environ.get("HTTP_X_API_KEY")}).encode()]

@pytest.fixture(scope="session")
def dualmode_service():
    return LocalService(http=app)
"""
    )
    pytester.makepyfile(
        test_h=f"def test_h(http):\n    assert http.get('/').json() == {{'key': {API_KEY!r}}}\n"
    )
    pytester.makeini(f"[pytest]\ndualmode_header =\n    x-api-key={API_KEY}\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert API_KEY not in result.stdout.str()
