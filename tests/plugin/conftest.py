"""Helpers for the plugin's own tests: a tiny dual gRPC + HTTP service for pytester runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

SERVICE_CONFTEST = """
import json, os, socket, threading
import pytest
from pytest_dualmode import LocalService

STARTS = []

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello " + environ["PATH_INFO"].encode()]

@pytest.fixture(scope="session")
def dualmode_service():
    from grpc_health.v1 import health, health_pb2_grpc
    STARTS.append("service")
    servicer = health.HealthServicer()
    return LocalService(grpc=lambda s: health_pb2_grpc.add_HealthServicer_to_server(servicer, s), http=app)

def pytest_unconfigure(config):
    out = os.environ.get("DUALMODE_TEST_REPORT")
    if not out:
        return
    fds = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                fds += 1
        except OSError:
            pass
    threads = sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())
    with open(out, "a") as fh:
        fh.write(json.dumps({"starts": STARTS, "threads": threads, "sockets": fds}) + "\\n")
"""

SERVICE_TESTS = """
from grpc_health.v1 import health_pb2, health_pb2_grpc

def test_http(http):
    assert http.get("/x").text == "hello /x"

def test_grpc(grpc_channel):
    reply = health_pb2_grpc.HealthStub(grpc_channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
"""


@pytest.fixture
def service_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with a small dual gRPC + HTTP service and two tests that use it."""
    pytester.makeconftest(SERVICE_CONFTEST)
    pytester.makepyfile(test_service=SERVICE_TESTS)
    return pytester


@pytest.fixture
def running_service() -> Iterator[dict[str, Any]]:
    """The same small service started in this process, for remote-mode runs: gRPC and HTTP addresses."""
    from grpc_health.v1 import health, health_pb2_grpc

    from pytest_dualmode.local.grpc_server import GrpcServer
    from pytest_dualmode.local.http_server import WsgiServer

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello " + environ["PATH_INFO"].encode()]

    servicer = health.HealthServicer()
    grpc_server = GrpcServer([lambda s: health_pb2_grpc.add_HealthServicer_to_server(servicer, s)]).start()
    http_server = WsgiServer(app).start()
    try:
        yield {"grpc": grpc_server.address, "http": http_server.url}
    finally:
        grpc_server.stop()
        http_server.stop()
