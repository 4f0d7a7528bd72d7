"""The async clients of the fixtures: a signing ``grpc.aio`` channel and a signing ``httpx.AsyncClient``.

Both are built outside any event loop (the fixtures are plain fixtures, so they work the same with
pytest-asyncio in any mode and loop scope, and with anyio), and open their connections in whichever
loop first uses them, one set per loop, each closed in its own loop (:mod:`pytest_dualmode.aio_loops`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from pytest_dualmode.aio_loops import PerLoop


def make_aio_channel(
    address: str,
    *,
    tls: bool,
    ca_file: str | None = None,
    authority: str | None = None,
    signer: Any = None,
    timeout: float | None = None,
    proxy: bool = True,
    client_cert: str | None = None,
    client_key: str | None = None,
    metadata: Sequence[tuple[str, str]] = (),
) -> Any:
    """A ``grpc.aio`` channel to ``address`` that signs every call (see
    :func:`pytest_dualmode.clients.make_channel`, whose options these are, the client certificate and
    the extra metadata included): an
    :class:`~pytest_dualmode.sigv4.aio_channel.AioSigningChannel`. Close it with ``close_all()``."""
    import grpc
    import grpc.aio

    from pytest_dualmode.clients import channel_parts
    from pytest_dualmode.sigv4.aio_channel import AioSigningChannel

    # Read once here (a missing file fails the fixture, not a call); credentials are made per loop.
    options, (roots, key, chain) = channel_parts(
        tls=tls,
        ca_file=ca_file,
        authority=authority,
        proxy=proxy,
        client_cert=client_cert,
        client_key=client_key,
    )

    def open_channel() -> grpc.aio.Channel:
        if tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=roots, private_key=key, certificate_chain=chain
            )
            return grpc.aio.secure_channel(address, credentials, options)
        return grpc.aio.insecure_channel(address, options)

    return AioSigningChannel(open_channel, signer, authority or address, timeout=timeout, metadata=metadata)


def aiohttp_url_form(url: str) -> str:
    """``url`` as aiohttp puts it on the wire: yarl re-quotes a URL it is given as text (``%7E`` becomes
    ``~``, ``%41`` becomes ``A``, a stray ``%`` becomes ``%25``), so a request sent through aiohttp is
    signed in that form, or the server would verify other bytes than were signed."""
    import yarl

    return str(yarl.URL(url))


class TransportChoiceError(RuntimeError):
    """``--http-aio-transport aiohttp`` without httpx-aiohttp installed."""


def _aiohttp_transport_class() -> Any:
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        raise TransportChoiceError(
            "--http-aio-transport aiohttp: httpx-aiohttp is not installed; pip install "
            "'pytest-dualmode[speedups]' or use --http-aio-transport httpx"
        ) from None
    return AiohttpTransport


class PerLoopTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport with one connection pool per running event loop, each closed in its loop;
    :meth:`close_all` closes the ones still open.

    ``kind`` ``httpx``: httpx's own ``AsyncHTTPTransport`` (httpcore); ``aiohttp``: httpx-aiohttp's
    ``AiohttpTransport``, the same ``httpx.AsyncClient`` on aiohttp's connection pool and C parser, about
    0.6x the client CPU per request (``bench/bench_async.py``). Both are made with ``options``
    (``verify``, ``trust_env``). Proxies from the environment are httpx's own mounts either way.
    """

    def __init__(self, kind: str = "httpx", **options: Any) -> None:
        self.kind = kind
        make = _aiohttp_transport_class() if kind == "aiohttp" else httpx.AsyncHTTPTransport
        self._pools = PerLoop(lambda: make(**options), lambda pool: pool.aclose(), what="http_aio")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over the running loop's pool."""
        return await self._pools.get().handle_async_request(request)

    async def aclose(self) -> None:
        """Close the running loop's pool (a later request opens a new one)."""
        await self._pools.aclose_current()

    def close_all(self) -> None:
        """Close every loop's pool (those whose loop already ended were closed with it)."""
        self._pools.close()


def async_http_client(
    base_url: str,
    *,
    signer: Any,
    transport: httpx.AsyncBaseTransport,
    timeout: float | None,
    trust_env: bool,
    headers: Sequence[tuple[str, str]] = (),
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` bound to ``base_url`` that signs every request with ``signer`` (None:
    unsigned), over ``transport``, sending ``headers`` with each (``--header``)."""
    auth = None
    event_hooks: dict[str, list[Any]] = {}
    if signer is not None:
        from pytest_dualmode.sigv4.httpx_auth import HttpxSigV4Auth, hooks

        url_form = aiohttp_url_form if getattr(transport, "kind", "httpx") == "aiohttp" else None
        auth = HttpxSigV4Auth(signer, url_form=url_form)
        event_hooks = hooks(auth)
    return httpx.AsyncClient(
        base_url=base_url,
        auth=auth,
        event_hooks=event_hooks,
        transport=transport,
        timeout=timeout,
        trust_env=trust_env,
        headers=list(headers),
    )
