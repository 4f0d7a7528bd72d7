"""The fixtures that tests use. Each works in both modes unless its docstring says otherwise.

Each one activates the run (see :mod:`pytest_dualmode.activation`) before it does anything else; a run
that uses them has normally been activated at collection already.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_dualmode.activation import ensure_active
from pytest_dualmode.settings import Settings

if TYPE_CHECKING:  # imported where used: a run that uses no fixture does not build these classes
    from pytest_dualmode.local.service import LocalService
    from pytest_dualmode.target import Target


# The local stack of this run, for the plugin's hooks (a failed service process's log in a report).
STACK_KEY = pytest.StashKey[Any]()


def get_settings(config: pytest.Config) -> Settings:
    """The run's resolved settings (see :mod:`pytest_dualmode.settings`); the run uses dualmode from now
    on (see :mod:`pytest_dualmode.activation`)."""
    return ensure_active(config)


def _skip_remote(what: str) -> None:
    pytest.skip(f"{what} is only available in local mode (this run targets a remote service)")


@pytest.fixture(scope="session")
def dualmode_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved pytest-dualmode settings of this run (command line, then environment, then ini)."""
    return get_settings(pytestconfig)


@pytest.fixture(scope="session")
def dualmode_target(dualmode_settings: Settings) -> Target:
    """Where the suite runs: ``.mode`` (``"local"``/``"remote"``) and, remotely, the target addresses."""
    from pytest_dualmode.target import Target

    s = dualmode_settings
    return Target(
        mode=s.mode,
        grpc_addr=s.addr,
        http_url=s.http_addr,
        grpc_tls=s.is_remote and not s.grpc_plaintext,
        settings=s,
    )


@pytest.fixture(scope="session")
def dualmode_local_stack(pytestconfig: pytest.Config, dualmode_settings: Settings) -> Iterator[Any]:
    """Local mode only: the lazily started local stack (DynamoDB, gRPC and HTTP servers) of this process."""
    if dualmode_settings.is_remote:
        _skip_remote("the local stack")
    from pytest_dualmode.fixtures_data import create_declared_tables
    from pytest_dualmode.frontdoor import local_front_door
    from pytest_dualmode.local.stack import LocalStack

    door = local_front_door(pytestconfig)
    stack = LocalStack(
        dynamodb_endpoint=dualmode_settings.dynamodb_endpoint,
        wsgi_middleware=door.wsgi_middleware if door else None,
        grpc_interceptors=door.grpc_interceptors if door else None,
        on_grpc_address=door.answer_to if door else None,
        asgi_middleware=door.asgi_middleware if door else None,
        grpc_aio_interceptors=door.grpc_aio_interceptors if door else None,
        connect_timeout=dualmode_settings.connect_timeout,
        on_dynamodb_ready=create_declared_tables(pytestconfig),  # --dynamodb-tables
        aio_loop=dualmode_settings.aio_loop,
    )
    pytestconfig.stash[STACK_KEY] = stack
    try:
        yield stack
    finally:
        stack.stop()


def _local_stack(request: pytest.FixtureRequest, what: str) -> Any:
    if get_settings(request.config).is_remote:
        _skip_remote(what)
    return request.getfixturevalue("dualmode_local_stack")


@pytest.fixture(scope="session")
def dynamodb_endpoint(request: pytest.FixtureRequest) -> str:
    """Local mode only: the DynamoDB endpoint URL (embedded moto, or ``--dynamodb-endpoint``)."""
    return str(_local_stack(request, "dynamodb_endpoint").dynamodb_endpoint())


@pytest.fixture(scope="session")
def dynamodb(request: pytest.FixtureRequest) -> Any:
    """Local mode only: a boto3 DynamoDB client for the local DynamoDB (fake credentials).

    With the embedded DynamoDB, its requests are answered in-process; data is shared with
    :func:`dynamodb_endpoint`. A remote run skips a test that asks for it.
    """
    return _local_stack(request, "dynamodb").dynamodb_client()


@pytest.fixture(scope="session")
def dualmode_service() -> LocalService:
    """Override this in conftest.py: return a :class:`pytest_dualmode.LocalService` for local mode (or a
    :class:`pytest_dualmode.ProcessService` for a service that runs as its own process, in any language).

    Example::

        @pytest.fixture(scope="session")
        def dualmode_service(dynamodb):
            svc = MyService(dynamodb)
            return LocalService(grpc=lambda server: add_MyServicer_to_server(svc, server), http=svc.wsgi_app)
    """
    raise pytest.UsageError(
        "local mode needs your service: define a session-scoped `dualmode_service` fixture in conftest.py "
        "that returns pytest_dualmode.LocalService(grpc=..., http=...), or pass --addr/--http-addr to test a "
        "running service"
    )


def _local_service(request: pytest.FixtureRequest) -> Any:
    from pytest_dualmode.local.process_service import ProcessService
    from pytest_dualmode.local.service import LocalService

    service = request.getfixturevalue("dualmode_service")
    if not isinstance(service, (LocalService, ProcessService)):
        raise pytest.UsageError(
            f"dualmode_service returned {type(service).__name__}, not a LocalService; return "
            "pytest_dualmode.LocalService(grpc=..., http=...) (or ProcessService(command=[...]) for a "
            "service in its own process)"
        )
    return service


@pytest.fixture(scope="session")
def dualmode_grpc_addr(request: pytest.FixtureRequest, dualmode_target: Target) -> str:
    """``HOST:PORT`` of the gRPC target: ``--addr`` remotely, the local gRPC server (started now) locally."""
    if dualmode_target.is_remote:
        if not dualmode_target.grpc_addr:
            pytest.skip("no gRPC target in this remote run: pass --addr HOST:PORT (or DUALMODE_ADDR)")
        return dualmode_target.grpc_addr
    stack = request.getfixturevalue("dualmode_local_stack")
    return str(stack.serve_grpc(_local_service(request)))


@pytest.fixture(scope="session")
def dualmode_http_url(request: pytest.FixtureRequest, dualmode_target: Target) -> str:
    """Base URL of the HTTP target: ``--http-addr`` remotely, the local HTTP server (started now) locally."""
    if dualmode_target.is_remote:
        if not dualmode_target.http_url:
            pytest.skip("no HTTP target in this remote run: pass --http-addr URL (or DUALMODE_HTTP_ADDR)")
        return dualmode_target.http_url
    stack = request.getfixturevalue("dualmode_local_stack")
    return str(stack.serve_http(_local_service(request)))


@pytest.fixture(scope="session")
def dualmode_signer(pytestconfig: pytest.Config, dualmode_settings: Settings) -> Any:
    """The SigV4 signer used by ``grpc_channel`` and ``http`` (None with ``--no-sigv4``).

    Locally it signs with generated fake credentials that the local front door verifies; remotely it
    uses botocore's credential chain.
    """
    from pytest_dualmode.frontdoor import signer_for

    return signer_for(pytestconfig)


@pytest.fixture(scope="session")
def grpc_channel(dualmode_grpc_addr: str, dualmode_target: Target, dualmode_signer: Any) -> Iterator[Any]:
    """A ``grpc.Channel`` to the service (TLS remotely unless ``--grpc-plaintext``), signing every call."""
    from pytest_dualmode.clients import make_channel
    from pytest_dualmode.fronted import channel_arguments

    channel = make_channel(dualmode_grpc_addr, **channel_arguments(dualmode_target, dualmode_signer))
    try:
        yield channel
    finally:
        channel.close()


@pytest.fixture(scope="session")
def _dualmode_http_adapter() -> Iterator[Any]:
    """One connection pool shared by every ``http`` session, so connections stay alive across tests."""
    from requests.adapters import HTTPAdapter

    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
    try:
        yield adapter
    finally:
        adapter.close()


@pytest.fixture
def http(
    dualmode_http_url: str, dualmode_target: Target, dualmode_signer: Any, _dualmode_http_adapter: Any
) -> Iterator[Any]:
    """A ``requests.Session`` bound to the service's base URL, signing every request.

    Paths are relative to the target: ``http.get("/v1/items")``. Each test gets a fresh session
    (headers and cookies do not leak between tests) over one shared keep-alive connection pool.
    """
    from pytest_dualmode.clients import BaseUrlSession
    from pytest_dualmode.frontdoor import requests_auth
    from pytest_dualmode.fronted import configure_session

    session = BaseUrlSession(dualmode_http_url, timeout=dualmode_target.settings.request_timeout)
    session.mount("http://", _dualmode_http_adapter)
    session.mount("https://", _dualmode_http_adapter)
    session.auth = requests_auth(dualmode_signer)
    configure_session(session, dualmode_target.settings, remote=dualmode_target.is_remote)
    # Locally, the environment's proxies must not capture loopback traffic; not reading the environment
    # (proxies, netrc) also saves requests two scans of it per request.
    session.trust_env = dualmode_target.is_remote
    try:
        yield session
    finally:
        # Closing the session would close the shared pool; it is closed at session end instead.
        session.adapters.clear()
