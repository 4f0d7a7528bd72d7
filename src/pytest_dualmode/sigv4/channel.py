"""A ``grpc.Channel`` that SigV4-signs every call without grpcio's interceptor machinery.

:func:`~pytest_dualmode.sigv4.transport.client_interceptors` signs the same way through
``grpc.intercept_channel``, but grpcio's interceptor layer alone costs a few percent of a loopback
unary call (it builds call-details objects and wraps every result). :class:`SigningChannel` wraps the
channel instead: each multicallable it hands out adds the signed metadata to the caller's, gives a
call without a deadline the channel's default, and calls the real multicallable directly, so the
caller gets grpcio's own call objects back.

What remains per call is re-reading the credentials and, about once a second per method, signing;
the rest of a signed call's cost over a plain one is the metadata itself on the wire and in the
server (the bench measures that floor: ``bench/bench_sigv4.py``).

Importing this module imports grpc: import it where a channel is built, not at plugin import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from pytest_dualmode.sigv4.call_signing import Metadata, check_authority, describe, method_options, prepare
from pytest_dualmode.sigv4.signer import Signer


class _Multicallable:
    """The real multicallable, the metadata step (signing or not) and the default timeout."""

    __slots__ = ("_inner", "_metadata", "_timeout")

    def __init__(self, inner: Any, metadata: Callable[..., Any], timeout: float | None) -> None:
        self._inner = inner
        self._metadata = metadata
        self._timeout = timeout


# One class per call kind, each with grpcio's own parameter names (``request`` or ``request_iterator``),
# so that calls passing them by keyword keep working; no shared *args: this is the per-call path.


class _UnaryUnary(_Multicallable, grpc.UnaryUnaryMultiCallable):
    """A signing unary-unary multicallable."""

    __slots__ = ()

    def __call__(  # noqa: PLR0917 - grpcio's signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Make the call, signed; without ``timeout`` the channel's default applies."""
        return self._inner(
            request,
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata(metadata),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )

    def with_call(  # noqa: PLR0917 - grpcio's signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Make the call, signed; returns ``(response, call)``."""
        return self._inner.with_call(
            request,
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata(metadata),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )

    def future(  # noqa: PLR0917 - grpcio's signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Start the call, signed; returns grpcio's call future."""
        return self._inner.future(
            request,
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata(metadata),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )


class _UnaryStream(_Multicallable, grpc.UnaryStreamMultiCallable):
    """A signing unary-stream (server-streaming) multicallable."""

    __slots__ = ()

    def __call__(  # noqa: PLR0917 - grpcio's signature
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Start the call, signed; returns grpcio's response iterator (also a call and a future)."""
        return self._inner(
            request,
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata(metadata),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )


class _StreamUnary(_Multicallable, grpc.StreamUnaryMultiCallable):
    """A signing stream-unary (client-streaming) multicallable."""

    __slots__ = ()

    def __call__(  # noqa: PLR0917 - grpcio's signature
        self,
        request_iterator: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Make the call, signed; without ``timeout`` the channel's default applies."""
        return self._inner(
            request_iterator,
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata(metadata),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )

    def with_call(  # noqa: PLR0917 - grpcio's signature
        self,
        request_iterator: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Make the call, signed; returns ``(response, call)``."""
        return self._inner.with_call(
            request_iterator,
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata(metadata),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )

    def future(  # noqa: PLR0917 - grpcio's signature
        self,
        request_iterator: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Start the call, signed; returns grpcio's call future."""
        return self._inner.future(
            request_iterator,
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata(metadata),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )


class _StreamStream(_Multicallable, grpc.StreamStreamMultiCallable):
    """A signing stream-stream (bidirectional) multicallable."""

    __slots__ = ()

    def __call__(  # noqa: PLR0917 - grpcio's signature
        self,
        request_iterator: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        """Start the call, signed; returns grpcio's response iterator (also a call and a future)."""
        return self._inner(
            request_iterator,
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._metadata(metadata),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
            compression=compression,
        )


class SigningChannel(grpc.Channel):
    """A ``grpc.Channel`` wrapping ``channel`` that signs every call for ``authority`` (``HOST:PORT``).

    Each call of every kind gets the metadata :func:`~pytest_dualmode.sigv4.transport.client_interceptors`
    adds (``authorization``, ``x-amz-date``, ``x-amz-content-sha256``, ``x-amz-security-token`` with
    a session token, and ``x-dualmode-authority`` for the verifier) after the caller's own, whose stale
    signing entries are dropped. With ``signer=None`` nothing is signed. ``timeout`` (seconds) is the
    deadline of every call made without one. Everything else (credentials, ``wait_for_ready``,
    compression, ``_registered_method``) passes through to ``channel``; closing this closes it.
    """

    def __init__(
        self, channel: Any, signer: Signer | None, authority: str, *, timeout: float | None = None
    ) -> None:
        check_authority(signer, authority)
        self._channel = channel
        self._signer = signer
        self._authority = authority
        self._timeout = timeout

    def __repr__(self) -> str:
        return describe("SigningChannel", self._signer, self._authority, self._timeout)

    def _wrap(self, kind: type[_Multicallable], inner: Any, method: str) -> Any:
        return kind(inner, prepare(self._signer, self._authority, method), self._timeout)

    def unary_unary(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None, **kwargs: Any
    ) -> Any:
        """A unary-unary multicallable for ``method`` whose calls are signed."""
        inner = self._channel.unary_unary(
            method, **method_options(request_serializer, response_deserializer, kwargs)
        )
        return self._wrap(_UnaryUnary, inner, method)

    def unary_stream(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None, **kwargs: Any
    ) -> Any:
        """A unary-stream (server-streaming) multicallable for ``method`` whose calls are signed."""
        inner = self._channel.unary_stream(
            method, **method_options(request_serializer, response_deserializer, kwargs)
        )
        return self._wrap(_UnaryStream, inner, method)

    def stream_unary(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None, **kwargs: Any
    ) -> Any:
        """A stream-unary (client-streaming) multicallable for ``method`` whose calls are signed."""
        inner = self._channel.stream_unary(
            method, **method_options(request_serializer, response_deserializer, kwargs)
        )
        return self._wrap(_StreamUnary, inner, method)

    def stream_stream(
        self, method: str, request_serializer: Any = None, response_deserializer: Any = None, **kwargs: Any
    ) -> Any:
        """A stream-stream (bidirectional) multicallable for ``method`` whose calls are signed."""
        inner = self._channel.stream_stream(
            method, **method_options(request_serializer, response_deserializer, kwargs)
        )
        return self._wrap(_StreamStream, inner, method)

    def subscribe(self, callback: Callable[[Any], None], try_to_connect: bool = False) -> None:
        """Watch the wrapped channel's connectivity (as ``grpc.Channel.subscribe``)."""
        self._channel.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Callable[[Any], None]) -> None:
        """Stop watching the wrapped channel's connectivity."""
        self._channel.unsubscribe(callback)

    def close(self) -> None:
        """Close the wrapped channel."""
        self._channel.close()

    def __enter__(self) -> SigningChannel:
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self._channel.close()
