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
from pytest_dualmode.local.process_service import ProcessService
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
        asgi_middleware: Callable[[Any], Any] | None = None,
        grpc_aio_interceptors: Callable[[], list[Any]] | None = None,
        on_dynamodb_ready: Callable[[Any], object] | None = None,
        aio_loop: str = "auto",
    ) -> None:
        self._external_endpoint = dynamodb_endpoint
        self._on_dynamodb_ready = on_dynamodb_ready  # e.g. create the declared tables
        self._ready: BaseException | bool = False
        self._wsgi_middleware = wsgi_middleware
        self._grpc_interceptors = grpc_interceptors or []
        self._on_grpc_address = on_grpc_address
        self._connect_timeout = connect_timeout
        self._embedded: EmbeddedDynamoDB | None = None
        self._servers: list[Any] = []  # started servers, stopped in reverse order
        self._stop_callbacks: list[Callable[[], object]] = []
        self._asgi_middleware = asgi_middleware
        self._grpc_aio_interceptors = grpc_aio_interceptors
        self._aio_loop: Any = None  # the background event loop of the async servers, started on first use
        self._aio_loop_kind = aio_loop  # --aio-loop: auto, asyncio or uvloop
        self.grpc_address: str | None = None
        self.http_url: str | None = None
        self._front: Any = None  # the ProcessFront of a ProcessService, once started

    # DynamoDB ------------------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        """True when the stack runs its own DynamoDB (no ``--dynamodb-endpoint``)."""
        return self._external_endpoint is None

    def dynamodb_endpoint(self) -> str:
        """The DynamoDB endpoint URL, starting the embedded DynamoDB on first use."""
        if self._external_endpoint is not None:
            self._dynamodb_ready()
            return self._external_endpoint
        if self._embedded is None:
            try:
                self._embedded = EmbeddedDynamoDB().start()
            except Exception as exc:
                raise StackError(f"the embedded DynamoDB (moto) did not start: {exc}") from exc
        self._dynamodb_ready()
        return self._embedded.url

    def _dynamodb_ready(self) -> None:
        """Run ``on_dynamodb_ready`` once, before anyone else gets the DynamoDB; its failure sticks."""
        if self._ready is True or self._on_dynamodb_ready is None:
            return
        if isinstance(self._ready, BaseException):
            raise self._ready
        client = (
            self._embedded.client()
            if self._embedded is not None
            else self._external_client(str(self._external_endpoint))
        )
        try:
            self._on_dynamodb_ready(client)
        except Exception as exc:
            self._ready = exc
            raise
        self._ready = True

    @property
    def embedded_region(self) -> str | None:
        """The region of the embedded DynamoDB (None with ``--dynamodb-endpoint``)."""
        return self._embedded.region if self._embedded is not None else None

    def dynamodb_client(self) -> Any:
        """A boto3 DynamoDB client for the stack's DynamoDB (in-process when embedded)."""
        endpoint = self.dynamodb_endpoint()
        if self._embedded is not None:
            return self._embedded.client()
        return self._external_client(endpoint)

    def dynamodb_resource(self) -> Any:
        """A boto3 DynamoDB resource for the stack's DynamoDB (in-process when embedded)."""
        endpoint = self.dynamodb_endpoint()
        if self._embedded is not None:
            return self._embedded.resource()
        return self._external_client(endpoint, kind="resource")

    def _external_client(self, endpoint: str, kind: str = "client") -> Any:
        import boto3
        from botocore.config import Config

        made = getattr(boto3.session.Session(), kind)(
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
        self._wait_for_external(made if kind == "client" else made.meta.client, endpoint)
        return made

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
    def serve_grpc(self, service: LocalService | ProcessService) -> str:
        """Serve the service's gRPC servicers (once) and return ``127.0.0.1:PORT``."""
        if self.grpc_address is None and isinstance(service, ProcessService):
            front = self._process_front(service)
            self.grpc_address = self._process_part(
                lambda: front.serve_grpc(self._grpc_interceptors, self._on_grpc_address)
            )
        if self.grpc_address is None:
            assert isinstance(service, LocalService)
            registrations = service.grpc_registrations()
            if not registrations:
                raise StackError(
                    "a test asked for grpc_channel, but dualmode_service returned no gRPC servicers; pass "
                    "LocalService(grpc=lambda server: add_MyServicer_to_server(svc, server), ...)"
                )
            if service.grpc_is_aio:
                from pytest_dualmode.local.aio import AioGrpcServer

                interceptors = self._grpc_aio_interceptors() if self._grpc_aio_interceptors else []
                server: Any = AioGrpcServer(self._loop(), registrations, interceptors=interceptors).start()
            else:
                from pytest_dualmode.local.grpc_server import GrpcServer

                server = GrpcServer(registrations, interceptors=self._grpc_interceptors).start()
            self._servers.append(server)
            if self._on_grpc_address is not None:
                self._on_grpc_address(server.address)
            self._remember(service)
            self.grpc_address = server.address
        return self.grpc_address

    def serve_http(self, service: LocalService | ProcessService) -> str:
        """Serve the service's WSGI app (once) and return ``http://127.0.0.1:PORT``."""
        if self.http_url is None and isinstance(service, ProcessService):
            front = self._process_front(service)
            self.http_url = self._process_part(lambda: front.serve_http(self._wsgi_middleware))
        if self.http_url is None:
            assert isinstance(service, LocalService)
            shape = service.http_app()
            if shape is None:
                raise StackError(
                    "a test asked for http, but dualmode_service returned no HTTP app; pass "
                    "LocalService(http=my_wsgi_or_asgi_app, ...)"
                )
            kind, app = shape
            server: Any
            if kind == "asgi":
                from pytest_dualmode.local.aio import AsgiServer

                app = app if self._asgi_middleware is None else self._asgi_middleware(app)
                server = AsgiServer(self._loop(), app).start()
            else:
                from pytest_dualmode.local.http_server import WsgiServer

                app = app if self._wsgi_middleware is None else self._wsgi_middleware(app)
                server = WsgiServer(app).start()
            self._servers.append(server)
            self._remember(service)
            self.http_url = server.url
        return self.http_url

    def _loop(self) -> Any:
        """The background event loop of the async servers (started now if it is not running)."""
        if self._aio_loop is None:
            from pytest_dualmode.local.aio import BackgroundLoop, LoopChoiceError

            try:
                self._aio_loop = BackgroundLoop(kind=self._aio_loop_kind)
            except LoopChoiceError as exc:
                raise StackError(str(exc)) from None
            self._servers.append(self._aio_loop)  # stopped after the servers on it (reverse order)
        return self._aio_loop

    # A service in its own process (pytest_dualmode.local.process_front) ---------------------------
    def _process_front(self, service: ProcessService) -> Any:
        if self._front is None:
            from pytest_dualmode.local.process import ProcessError
            from pytest_dualmode.local.process_front import ProcessFront

            try:
                self._front = ProcessFront(service, dynamodb_endpoint=self.dynamodb_endpoint())
            except ProcessError as exc:
                raise StackError(str(exc)) from None
            self._servers.append(self._front)
        return self._front

    def _process_part(self, serve: Callable[[], str]) -> str:
        try:
            return serve()
        except ValueError as exc:
            raise StackError(str(exc)) from None

    def process_failure(self) -> str | None:
        """Why the service process can serve no more tests (it ended during the run), or None."""
        return None if self._front is None else self._front.process.failure()

    def process_log_tail(self) -> tuple[str, str] | None:
        """(where the log is, its last lines) of the service process, or None without one."""
        if self._front is None:
            return None
        return str(self._front.process.log_path), self._front.process.tail()

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
        if self._front is not None:
            parts.append("process")
        return parts

    def stop(self) -> None:
        """Stop everything started, servers first, then the service's hooks, then DynamoDB."""
        for server in reversed(self._servers):
            with contextlib.suppress(Exception):
                server.stop()
        self._servers.clear()
        self._aio_loop = None
        for callback in self._stop_callbacks:
            with contextlib.suppress(Exception):
                callback()
        self._stop_callbacks.clear()
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
        self._ready = False
        self.grpc_address = self.http_url = None
        self._front = None
