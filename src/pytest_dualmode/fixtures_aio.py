"""The async fixtures: ``grpc_aio_channel`` and ``http_aio``. Each works in both modes.

They are plain (sync) fixtures handing out async clients that open their connections in the loop
of the test that uses them, so they need no particular async plugin or mode: pytest-asyncio
(strict or auto, any loop scope) and anyio (asyncio backend) both work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_dualmode.target import Target


@pytest.fixture(scope="session")
def grpc_aio_channel(dualmode_grpc_addr: str, dualmode_target: Target, dualmode_signer: Any) -> Iterator[Any]:
    """A ``grpc.aio`` channel to the service, signing every call of all four kinds like ``grpc_channel``
    (TLS remotely unless ``--grpc-plaintext``, with the client certificate and CA of ``--tls-*``, and the
    ``--header`` values as metadata of every call).

    Use it in async tests: ``await MyStub(grpc_aio_channel).Get(request)``. Each event loop gets its own
    connection, closed when that loop ends, so any loop scope works.
    """
    from pytest_dualmode.aio_clients import make_aio_channel
    from pytest_dualmode.fronted import channel_arguments

    # The same arguments as grpc_channel's: mTLS, CA, --header, authority, timeout.
    channel = make_aio_channel(dualmode_grpc_addr, **channel_arguments(dualmode_target, dualmode_signer))
    try:
        yield channel
    finally:
        channel.close_all()


@pytest.fixture(scope="session")
def _dualmode_http_aio_transport(dualmode_target: Target) -> Iterator[Any]:
    """The connection pools shared by every ``http_aio`` client (one per event loop)."""
    from pytest_dualmode.aio_clients import PerLoopTransport, TransportChoiceError
    from pytest_dualmode.fronted import ssl_context

    remote = dualmode_target.is_remote
    verify = ssl_context(dualmode_target.settings, remote=remote)  # the CA and client cert of --tls-*
    kind = dualmode_target.settings.http_aio_transport  # --http-aio-transport
    try:
        transport = PerLoopTransport(kind, trust_env=remote, verify=verify)
    except TransportChoiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield transport
    finally:
        transport.close_all()


@pytest.fixture
def http_aio(
    dualmode_http_url: str, dualmode_target: Target, dualmode_signer: Any, _dualmode_http_aio_transport: Any
) -> Any:
    """An ``httpx.AsyncClient`` bound to the service's base URL, signing every request (like ``http``,
    with the same ``--header`` values and, remotely, the client certificate and CA of ``--tls-*``).

    Use it in async tests: ``(await http_aio.get("/v1/items")).status_code``. Each test gets a fresh
    client (headers and cookies do not leak) over connection pools kept per event loop.
    """
    from pytest_dualmode.aio_clients import async_http_client

    return async_http_client(
        dualmode_http_url,
        signer=dualmode_signer,
        transport=_dualmode_http_aio_transport,
        timeout=dualmode_target.settings.request_timeout,
        trust_env=dualmode_target.is_remote,
        headers=dualmode_target.settings.header,  # --header values, as on ``http``
    )
