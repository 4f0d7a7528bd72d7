"""grpc_aio_channel follows grpc_channel's TLS rules remotely: TLS by default, --grpc-ca-file,
--grpc-authority, and an untrusted server refused."""

from __future__ import annotations

from typing import Any

import pytest
import test_tls

# The sync TLS tests' certificate and server, as fixtures of this module too.
certificate = test_tls.certificate
tls_server = test_tls.tls_server

AIO_TESTS = """
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

@pytest.mark.asyncio
async def test_aio_grpc(grpc_aio_channel):
    reply = await health_pb2_grpc.HealthStub(grpc_aio_channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
"""

BASE = ("-p", "no:cacheprovider", "-p", "asyncio", "-o", "asyncio_default_fixture_loop_scope=function")


def test_aio_tls_with_the_right_ca_and_authority_passes(
    pytester: pytest.Pytester, tls_server: dict[str, Any]
) -> None:
    pytester.makepyfile(AIO_TESTS)
    args = ("--addr", tls_server["addr"], "--grpc-ca-file", tls_server["ca"])
    result = pytester.runpytest_subprocess(*BASE, *args)
    result.assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess(*BASE, *args, "--grpc-authority", "api.test")
    result.assert_outcomes(passed=1)


def test_aio_tls_is_the_default_and_an_untrusted_server_fails(
    pytester: pytest.Pytester, tls_server: dict[str, Any]
) -> None:
    pytester.makepyfile(AIO_TESTS)
    result = pytester.runpytest_subprocess(*BASE, "--addr", tls_server["addr"], "--request-timeout", "3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*StatusCode.UNAVAILABLE*"])
