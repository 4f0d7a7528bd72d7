"""A service process with the local front door before it: what the local stack serves in process mode.

The process starts on the first test that needs it (``grpc_channel`` or ``http``) and serves both of
its APIs from then on. With SigV4 on (the default) each API the tests use gets a verifying reverse
proxy (see :mod:`pytest_dualmode.local.proxy`); with ``--no-sigv4`` the tests dial the process itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from pytest_dualmode.local.process import ServiceProcess
from pytest_dualmode.local.process_service import ProcessService


class ProcessFront:
    """One started :class:`ServiceProcess` and the proxies in front of it, stopped together."""

    def __init__(self, service: ProcessService, *, dynamodb_endpoint: str) -> None:
        self.process = ServiceProcess(service, dynamodb_endpoint=dynamodb_endpoint).start()
        self._parts: list[Any] = []  # proxies and servers, stopped in reverse order

    def serve_grpc(self, interceptors: list[Any], on_address: Callable[[str], object] | None) -> str:
        """``host:port`` the tests dial for gRPC: a verifying proxy, or the process without a verifier."""
        if not self.process.service.grpc:
            raise ValueError(
                "a test asked for grpc_channel, but dualmode_service is a ProcessService(grpc=False); "
                "give it grpc=True and the {grpc_port} placeholder"
            )
        if not interceptors:
            return self.process.grpc_address
        from pytest_dualmode.local.grpc_server import GrpcServer
        from pytest_dualmode.local.proxy import GrpcForwarder

        forwarder = GrpcForwarder(self.process.grpc_address, on_unavailable=self.process.settle)
        self._parts.append(forwarder)
        server = GrpcServer([forwarder.register], interceptors=interceptors).start()
        self._parts.append(server)
        if on_address is not None:
            on_address(server.address)
        return server.address

    def serve_http(self, middleware: Callable[[Any], Any] | None) -> str:
        """The base URL the tests use for HTTP: a verifying proxy, or the process without a verifier."""
        if not self.process.service.http:
            raise ValueError(
                "a test asked for http, but dualmode_service is a ProcessService(http=False); "
                "give it http=True and the {http_port} placeholder"
            )
        if middleware is None:
            return self.process.http_url
        from pytest_dualmode.local.http_server import WsgiServer
        from pytest_dualmode.local.proxy import HttpForwarder

        forwarder = HttpForwarder(self.process.http_url, on_unavailable=self.process.settle)
        self._parts.append(forwarder)
        server = WsgiServer(middleware(forwarder)).start()
        self._parts.append(server)
        return server.url

    def stop(self) -> None:
        """Stop the proxies, then the process (SIGTERM, SIGKILL after its grace period)."""
        for part in reversed(self._parts):
            with contextlib.suppress(Exception):
                part.stop() if hasattr(part, "stop") else part.close()
        self._parts.clear()
        self.process.stop()
