"""The loop-agnostic part of signing gRPC calls, shared by the sync and the ``grpc.aio`` channels.

Both :class:`~pytest_dualmode.sigv4.channel.SigningChannel` and
:class:`~pytest_dualmode.sigv4.aio_channel.AioSigningChannel` sign a call the same way: per method,
the caller's metadata (without stale signing entries) followed by a signature reused for up to a
second. Only where the real multicallable comes from differs, so that stays in each channel module.

No grpc import: the channels import it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from time import monotonic as _monotonic
from typing import Any

from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.wire import AUTHORITY_METADATA, SIGNING_METADATA

Metadata = Sequence[tuple[str, str | bytes]]


class _CallSigner:
    """The signed metadata of one method, merged into each call's metadata."""

    __slots__ = ("_credentials", "_host", "_last", "_path", "_signer")

    def __init__(self, signer: Signer, host: str, method: str | bytes) -> None:
        self._signer = signer
        self._credentials = signer.credentials
        self._host = host
        self._path = method.decode() if isinstance(method, bytes) else method
        # (credentials, monotonic second, metadata) of the last signature; one tuple, swapped whole,
        # so concurrent calls never pair one signature with another's credentials.
        self._last: tuple[Any, int, Metadata] = (None, -1, ())

    def metadata(self, metadata: Metadata | None) -> Metadata:
        """The caller's metadata (without stale signing entries) followed by a signature's."""
        # Credentials are re-read on every call (refreshing ones rotate under a running suite); with
        # the same ones, a signature is reused until the monotonic clock's second changes (so it is
        # under a second old; front doors allow minutes of skew). Only this runs on most calls, and
        # it touches few objects: after a gRPC call the CPU's caches are cold, and each one costs.
        credentials = self._credentials()
        second = int(_monotonic())
        last_credentials, last_second, tail = self._last
        if second != last_second or credentials != last_credentials:
            tail = self._sign()
            self._last = (credentials, second, tail)
        if not metadata:
            return tail
        return (*(item for item in metadata if item[0].lower() not in SIGNING_METADATA), *tail)

    def _sign(self) -> Metadata:
        # A call is signed as POST https://{authority}{path}; gRPC streams, so the payload is unsigned.
        signed = self._signer.sign_parts("POST", self._host, self._path, unsigned_payload=True)
        return (
            *((name.lower(), value) for name, value in signed.headers.items()),
            (AUTHORITY_METADATA, self._host),
        )


def _unsigned(metadata: Metadata | None) -> Metadata | None:
    return metadata


def prepare(signer: Signer | None, host: str, method: str | bytes) -> Callable[..., Any]:
    """The metadata step of ``method``'s calls: signing them for ``host``, or passing them through."""
    return _unsigned if signer is None else _CallSigner(signer, host, method).metadata


def check_authority(signer: Signer | None, authority: str) -> None:
    """Refuse to sign without the ``HOST:PORT`` a signature names (a ``ValueError`` saying so)."""
    if signer is not None and not authority:
        raise ValueError("a gRPC authority (HOST:PORT the channel talks to) is needed to sign calls")


def describe(name: str, signer: Signer | None, authority: str, timeout: float | None) -> str:
    """A channel's repr: whether and for what it signs (the signer's repr shows no secret)."""
    signing = "unsigned" if signer is None else f"signing for {authority} {signer!r}"
    return f"<{name} {signing} timeout={timeout}>"


def method_options(
    request_serializer: Any, response_deserializer: Any, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The keyword arguments a channel's ``unary_unary`` (and the other kinds) pass to the real one."""
    kwargs.update(request_serializer=request_serializer, response_deserializer=response_deserializer)
    return kwargs
