"""The local stack: DynamoDB, the gRPC server and the HTTP server, each started on first use.

One stack per pytest process (so one per pytest-xdist worker); :meth:`LocalStack.stop` tears down
whatever was started, in reverse order, and never raises past a failed part.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB
from pytest_dualmode.local.fake_aws import FAKE_KEY_ID, FAKE_REGION, FAKE_SECRET
from pytest_dualmode.local.service import LocalService


class StackError(RuntimeError):
    """A part of the local stack could not start; the message says which and what to do."""


class LocalStack:
    """Lazily started local servers. ``wsgi_middleware`` and ``grpc_interceptors`` wrap what is served
    (SigV4 verification), if set; ``on_grpc_address`` is told the gRPC server's address once bound."""

    def __init__(
        self,
        *,
        dynamodb_endpoint: str | None = None,
        wsgi_middleware: Callable[[Any], Any] | None = None,
        grpc_interceptors: list[Any] | None = None,
        on_grpc_address: Callable[[str], object] | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self._external_endpoint = dynamodb_endpoint
        self._wsgi_middleware = wsgi_middleware
        self._grpc_interceptors = grpc_interceptors or []
        self._on_grpc_address = on_grpc_address
        self._connect_timeout = connect_timeout
        self._embedded: EmbeddedDynamoDB | None = None
        self._servers: list[Any] = []  # started servers, stopped in reverse order
        self._stop_callbacks: list[Callable[[], object]] = []
        self.grpc_address: str | None = None
        self.http_url: str | None = None

    # DynamoDB ------------------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        """True when the stack runs its own DynamoDB (no ``--dynamodb-endpoint``)."""
        return self._external_endpoint is None

    def dynamodb_endpoint(self) -> str:
        """The DynamoDB endpoint URL, starting the embedded DynamoDB on first use."""
        if self._external_endpoint is not None:
            return self._external_endpoint
        if self._embedded is None:
            try:
                self._embedded = EmbeddedDynamoDB().start()
            except Exception as exc:
                raise StackError(f"the embedded DynamoDB (moto) did not start: {exc}") from exc
        return self._embedded.url

    def dynamodb_client(self) -> Any:
        """A boto3 DynamoDB client for the stack's DynamoDB (in-process when embedded)."""
        endpoint = self.dynamodb_endpoint()
        if self._embedded is not None:
            return self._embedded.client()
        return self._external_client(endpoint)

    def _external_client(self, endpoint: str) -> Any:
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=FAKE_REGION,
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
            config=Config(
                connect_timeout=self._connect_timeout,
                read_timeout=max(self._connect_timeout, 30),
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        self._wait_for_external(client, endpoint)
        return client

    def _wait_for_external(self, client: Any, endpoint: str) -> None:
        deadline = time.monotonic() + self._connect_timeout
        while True:
            try:
                client.list_tables(Limit=1)
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise StackError(
                        f"--dynamodb-endpoint {endpoint} did not answer ListTables within "
                        f"{self._connect_timeout:g}s ({type(exc).__name__}: {exc}); start that server, "
                        "fix the URL, or drop --dynamodb-endpoint to use the embedded DynamoDB"
                    ) from exc
                time.sleep(0.1)

    # Servers -------------------------------------------------------------------------------------
    def serve_grpc(self, service: LocalService) -> str:
        """Serve the service's gRPC servicers (once) and return ``127.0.0.1:PORT``."""
        if self.grpc_address is None:
            registrations = service.grpc_registrations()
            if not registrations:
                raise StackError(
                    "a test asked for grpc_channel, but dualmode_service returned no gRPC servicers; pass "
                    "LocalService(grpc=lambda server: add_MyServicer_to_server(svc, server), ...)"
                )
            from pytest_dualmode.local.grpc_server import GrpcServer

            server = GrpcServer(registrations, interceptors=self._grpc_interceptors).start()
            self._servers.append(server)
            if self._on_grpc_address is not None:
                self._on_grpc_address(server.address)
            self._remember(service)
            self.grpc_address = server.address
        return self.grpc_address

    def serve_http(self, service: LocalService) -> str:
        """Serve the service's WSGI app (once) and return ``http://127.0.0.1:PORT``."""
        if self.http_url is None:
            if service.http is None:
                raise StackError(
                    "a test asked for http, but dualmode_service returned no WSGI app; pass "
                    "LocalService(http=my_wsgi_app, ...)"
                )
            from pytest_dualmode.local.http_server import WsgiServer

            app = service.http if self._wsgi_middleware is None else self._wsgi_middleware(service.http)
            server = WsgiServer(app).start()
            self._servers.append(server)
            self._remember(service)
            self.http_url = server.url
        return self.http_url

    def _remember(self, service: LocalService) -> None:
        if service.on_stop is not None and service.on_stop not in self._stop_callbacks:
            self._stop_callbacks.append(service.on_stop)

    @property
    def started(self) -> list[str]:
        """Names of the parts started so far (for the report and tests)."""
        parts = []
        if self._embedded is not None:
            parts.append("dynamodb")
        if self.grpc_address:
            parts.append("grpc")
        if self.http_url:
            parts.append("http")
        return parts

    def stop(self) -> None:
        """Stop everything started, servers first, then the service's hooks, then DynamoDB."""
        for server in reversed(self._servers):
            with contextlib.suppress(Exception):
                server.stop()
        self._servers.clear()
        for callback in self._stop_callbacks:
            with contextlib.suppress(Exception):
                callback()
        self._stop_callbacks.clear()
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
        self.grpc_address = self.http_url = None
