"""Fixtures for the SigV4 tests: AWS's vectors, and real servers on 127.0.0.1 that verify signatures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import pytest
from sigv4_support import (
    REGION,
    SERVICE,
    SUITE_ENV,
    Case,
    echo_app,
    grpc_echo_handlers,
    keys,
    load_case,
    suite_dir,
)

from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, Verifier


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Case:
    """The vector whose folder name the test is parametrized with (skipped when the suite is absent)."""
    folder = suite_dir()
    if folder is None:
        pytest.skip(f"AWS SigV4 test suite not found: set {SUITE_ENV} to its folder")
    return load_case(folder / request.param)


# ---- a real gRPC server with the verifying interceptor -----------------------------------------


@pytest.fixture(scope="module")
def grpc_server_addr() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a real gRPC Echo server behind :class:`SigV4ServerInterceptor`."""
    import grpc

    verifier = Verifier(keys(), service=SERVICE, region=REGION)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[SigV4ServerInterceptor(verifier)]
    )
    server.add_generic_rpc_handlers((grpc_echo_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    assert port, "gRPC server could not bind 127.0.0.1"
    server.start()
    addr = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(addr) as channel:
            grpc.channel_ready_future(channel).result(timeout=5)
        yield addr
    finally:
        server.stop(grace=None).wait(5)


@pytest.fixture
def grpc_channel_factory(grpc_server_addr: str) -> Iterator[Callable[..., Any]]:
    """Open channels to the test server (closed at the end of the test)."""
    import grpc

    opened: list[Any] = []

    def make(*interceptors: Any) -> Any:
        raw = grpc.insecure_channel(grpc_server_addr)
        opened.append(raw)
        return grpc.intercept_channel(raw, *interceptors) if interceptors else raw

    yield make
    for channel in opened:
        channel.close()


# ---- a real HTTP server with the verifying middleware ------------------------------------------


@pytest.fixture(scope="module")
def http_server_factory() -> Iterator[Callable[[Verifier], str]]:
    """Start real WSGI servers on 127.0.0.1 behind :class:`SigV4WsgiMiddleware`; returns the URL."""
    from pytest_dualmode.local.http_server import WsgiServer
    from pytest_dualmode.sigv4.verifier import SigV4WsgiMiddleware

    servers: list[WsgiServer] = []

    def start(verifier: Verifier) -> str:
        server = WsgiServer(SigV4WsgiMiddleware(echo_app, verifier)).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()
