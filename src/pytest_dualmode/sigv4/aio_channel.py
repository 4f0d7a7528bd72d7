"""A ``grpc.aio.Channel`` that SigV4-signs every call, with one real channel per running event loop.

The calls are signed exactly as :class:`~pytest_dualmode.sigv4.channel.SigningChannel` signs sync
ones (the same per-method signer, the same metadata). What differs is where the real channel lives:
a ``grpc.aio`` channel belongs to the loop it was made on, and tests run on loops that come and go
(see :mod:`pytest_dualmode.aio_loops`), so the wrapper makes one per loop on first use and each
multicallable finds the running loop's. A stub can therefore be built anywhere, even outside a
loop; its calls must be made inside one.

Importing this module imports grpc.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
import grpc.aio

from pytest_dualmode.aio_loops import PerLoop
from pytest_dualmode.sigv4.call_signing import Metadata, check_authority, describe, method_options, prepare
from pytest_dualmode.sigv4.signer import Signer


class _AioMulticallable:
    """One method of the wrapper: finds the running loop's real multicallable and signs each call."""

    __slots__ = ("_channel", "_inner", "_kind", "_kwargs", "_metadata", "_method", "_owner", "_timeout")

    def __init__(
        self, owner: AioSigningChannel, kind: str, method: str, kwargs: dict[str, Any], timeout: float | None
    ) -> None:
        self._owner = owner
        self._kind = kind
        self._method = method
        self._kwargs = kwargs
        self._metadata = prepare(owner._signer, owner._authority, method)
        self._timeout = timeout
        self._channel: Any = None
        self._inner: Any = None

    def _call(  # noqa: PLR0917 - private, per call: positional on purpose
        self,
        request: Any,
        timeout: float | None,
        metadata: Metadata | None,
        credentials: Any,
        wait_for_ready: bool | None,
        compression: Any,
    ) -> Any:
        channel = self._owner.channel()  # the running loop's (a clear error outside a loop)
        if channel is not self._channel:
            self._inner = getattr(channel, self._kind)(self._method, **self._kwargs)
            self._channel = channel
        metadata = self._metadata(metadata)
        if self._owner._extra:  # --header values, after the signature as the sync channel adds them
            metadata = (*(metadata or ()), *self._owner._extra)
        return self._inner(
            request,
            timeout=self._timeout if timeout is None else timeout,
            metadata=metadata,
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )


class _UnaryRequest(_AioMulticallable, grpc.aio.UnaryUnaryMultiCallable, grpc.aio.UnaryStreamMultiCallable):
    """A signing unary-unary or unary-stream multicallable (grpcio's parameter names)."""

    __slots__ = ()

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Start the call, signed; without ``timeout`` the channel's default applies."""
        return self._call(request, timeout, metadata, credentials, wait_for_ready, compression)


class _StreamRequest(
    _AioMulticallable, grpc.aio.StreamUnaryMultiCallable, grpc.aio.StreamStreamMultiCallable
):
    """A signing stream-unary or stream-stream multicallable (grpcio's parameter names)."""

    __slots__ = ()

    def __call__(  # noqa: PLR0917 - grpcio's signature
        self,
        request_iterator: Any = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Start the call, signed; without ``timeout`` the channel's default applies."""
        return self._call(request_iterator, timeout, metadata, credentials, wait_for_ready, compression)


class AioSigningChannel(grpc.aio.Channel):
    """A ``grpc.aio.Channel`` whose calls of every kind are signed for ``authority`` (``HOST:PORT``).

    ``open_channel()`` makes a real ``grpc.aio`` channel; it is called once per running event loop,
    and each is closed in its loop (when the loop ends, or at :meth:`close_all`). With
    ``signer=None`` nothing is signed; ``timeout`` (seconds) is the deadline of every call made
    without one; ``metadata`` is added to every call (``--header``: an API key).
    """

    def __init__(
        self,
        open_channel: Callable[[], grpc.aio.Channel],
        signer: Signer | None,
        authority: str,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        check_authority(signer, authority)
        self._signer = signer
        self._authority = authority
        self._timeout = timeout
        self._extra = tuple(metadata)
        self._channels = PerLoop(open_channel, lambda channel: channel.close(), what="grpc_aio_channel")

    def __repr__(self) -> str:
        return describe("AioSigningChannel", self._signer, self._authority, self._timeout)

    def channel(self) -> grpc.aio.Channel:
        """The real ``grpc.aio`` channel of the running event loop (opened on first use)."""
        return self._channels.get()

    def _wrap(self, cls: type[_AioMulticallable], kind: str, method: str, kwargs: dict[str, Any]) -> Any:
        return cls(self, kind, method, kwargs, self._timeout)

    def unary_unary(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None, **kw: Any
    ) -> Any:
        """A unary-unary multicallable for ``method`` whose calls are signed."""
        kw = method_options(request_serializer, response_deserializer, kw)
        return self._wrap(_UnaryRequest, "unary_unary", method, kw)

    def unary_stream(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None, **kw: Any
    ) -> Any:
        """A unary-stream (server-streaming) multicallable for ``method`` whose calls are signed."""
        kw = method_options(request_serializer, response_deserializer, kw)
        return self._wrap(_UnaryRequest, "unary_stream", method, kw)

    def stream_unary(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None, **kw: Any
    ) -> Any:
        """A stream-unary (client-streaming) multicallable for ``method`` whose calls are signed."""
        kw = method_options(request_serializer, response_deserializer, kw)
        return self._wrap(_StreamRequest, "stream_unary", method, kw)

    def stream_stream(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None, **kw: Any
    ) -> Any:
        """A stream-stream (bidirectional) multicallable for ``method`` whose calls are signed."""
        kw = method_options(request_serializer, response_deserializer, kw)
        return self._wrap(_StreamRequest, "stream_stream", method, kw)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        """The connectivity of the running loop's channel."""
        return self.channel().get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        """Wait until the running loop's channel leaves ``last_observed_state``."""
        await self.channel().wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        """Wait until the running loop's channel is READY."""
        await self.channel().channel_ready()

    async def close(self, grace: float | None = None) -> None:
        """Close the running loop's channel now (a later call opens a new one)."""
        await self._channels.aclose_current()

    def close_all(self) -> None:
        """Close every loop's channel (those whose loop already ended were closed with it)."""
        self._channels.close()

    async def __aenter__(self) -> AioSigningChannel:
        return self

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        await self.close()
