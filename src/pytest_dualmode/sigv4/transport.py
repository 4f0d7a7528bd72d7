"""The signer on the wire: a ``requests`` auth for HTTP; a signing channel and client interceptors for gRPC.

gRPC calls are signed in metadata rather than with call credentials, because grpcio only sends call
credentials over TLS and local mode talks plaintext. :func:`signing_channel` (what the plugin uses)
wraps a channel; :func:`client_interceptors` does the same through ``grpc.intercept_channel``, at the
cost of grpcio's interceptor layer. Each call is signed as
``POST https://{authority}/{package.Service}/{Method}`` with ``UNSIGNED-PAYLOAD`` (gRPC streams its
messages, so there is no body to hash), and the signed host is also sent as
``x-dualmode-authority`` metadata for :class:`~pytest_dualmode.sigv4.verifier.SigV4ServerInterceptor`
(grpcio hides ``:authority`` from server code).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.auth import AuthBase

from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.wire import AUTHORITY_METADATA, SIGNING_HEADERS, SIGNING_METADATA


class RequestsSigV4Auth(AuthBase):
    """A ``requests`` auth that SigV4-signs each request: its final URL (query included), its
    ``host``, and, when the signer signs payloads, its body bytes.

    Any ``Authorization`` and ``X-Amz-*`` signing headers already on the request are replaced.
    A streamed body (file or generator) is read into bytes first when its hash must be signed.
    """

    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the prepared request in place and return it."""
        # The new signature's headers replace the old ones; only a token the new credentials lack
        # would outlive a re-sign.
        r.headers.pop("X-Amz-Security-Token", None)
        url = r.url or ""
        if "+" in url.partition("?")[2]:
            # requests encodes a space in params as "+"; send "%20", which no server can read otherwise.
            base, _, query = url.partition("?")
            r.url = url = f"{base}?{query.replace('+', '%20')}"
        body = _body_bytes(r) if self.signer.sign_payload else None
        r.headers.update(self.signer.sign(r.method or "GET", url, r.headers, body))
        if _unsign_before_redirect not in r.hooks["response"]:
            r.register_hook("response", _unsign_before_redirect)
        return r

    def on_redirect(self, r: requests.PreparedRequest, *, same_host: bool) -> None:
        """Prepare a redirected request: re-signed for the same host, stripped of every signing header
        for another one (``requests`` itself drops only ``Authorization``, which would send the session
        token and the old signature's date on to a host they were not meant for).

        :class:`~pytest_dualmode.clients.BaseUrlSession` (the ``http`` fixture) calls this on each redirect.
        """
        for name in SIGNING_HEADERS:
            r.headers.pop(name, None)
        if same_host:
            self(r)

    def __repr__(self) -> str:
        return f"<RequestsSigV4Auth {self.signer!r}>"


def _unsign_before_redirect(response: requests.Response, **_: Any) -> None:
    """Response hook: drop the signing headers from a redirected request before ``requests`` copies it.

    ``requests`` builds the next request of a redirect from a copy of the one sent, and its own
    ``Session`` removes only ``Authorization`` (for another host): the session token and the date
    would go on to a host they were not meant for, and for the same host the old signature would be
    refused. So the copy starts unsigned; the ``http`` fixture's session
    (:class:`~pytest_dualmode.clients.BaseUrlSession`) then signs it again for the same host.
    """
    if response.is_redirect and response.request is not None:
        for name in SIGNING_HEADERS:
            response.request.headers.pop(name, None)


def _body_bytes(r: requests.PreparedRequest) -> bytes | None:
    body: Any = r.body
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        data = body.encode("utf-8")
    elif hasattr(body, "read"):
        raw = body.read()
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    else:
        data = b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)
    # The bytes hashed must be the bytes sent: send them as a plain body with its length.
    r.body = data
    r.headers.pop("Transfer-Encoding", None)
    r.headers["Content-Length"] = str(len(data))
    return data


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    )
):
    """A ``grpc.ClientCallDetails`` with the signed metadata."""


class SigV4ClientInterceptor:
    """Signs every gRPC call (unary-unary, unary-stream, stream-unary, stream-stream).

    Registered as each of grpc's four client-interceptor ABCs on first construction, so that
    importing this module does not import grpc.
    """

    def __init__(self, signer: Signer, authority: str, secure: bool) -> None:
        import grpc

        if not authority:
            raise ValueError("a gRPC authority (HOST:PORT the channel talks to) is needed to sign calls")
        for base in (
            grpc.UnaryUnaryClientInterceptor,
            grpc.UnaryStreamClientInterceptor,
            grpc.StreamUnaryClientInterceptor,
            grpc.StreamStreamClientInterceptor,
        ):
            base.register(SigV4ClientInterceptor)
        self.signer = signer
        self.authority = authority
        self.secure = secure
        # The metadata of the last signature: a call repeated within the second reuses it whole.
        self._last: tuple[Any, tuple[tuple[str, str], ...]] = (None, ())

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"<SigV4ClientInterceptor {scheme}://{self.authority} {self.signer!r}>"

    def _signed(self, details: Any) -> _CallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        # The host is the authority verbatim (port included): it is what the server side sees.
        signed = self.signer.sign_parts("POST", self.authority, method, unsigned_payload=True)
        last, tail = self._last
        if signed is not last:
            tail = (
                *((name.lower(), value) for name, value in signed.headers.items()),
                (AUTHORITY_METADATA, self.authority),
            )
            self._last = (signed, tail)
        if details.metadata:
            metadata = [(k, v) for k, v in details.metadata if k.lower() not in SIGNING_METADATA]
            metadata.extend(tail)
        else:
            metadata = list(tail)
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        """Sign a unary call."""
        return continuation(self._signed(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        """Sign a server-streaming call."""
        return continuation(self._signed(details), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, request_iterator: Iterator[Any]
    ) -> Any:
        """Sign a client-streaming call."""
        return continuation(self._signed(details), request_iterator)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, request_iterator: Iterator[Any]
    ) -> Any:
        """Sign a bidirectional-streaming call."""
        return continuation(self._signed(details), request_iterator)


def client_interceptors(signer: Signer, authority: str, secure: bool) -> list[Any]:
    """gRPC client interceptors that sign every call on a channel to ``authority`` (``HOST:PORT``).

    Use with ``grpc.intercept_channel(channel, *client_interceptors(...))``; ``secure`` says whether
    the channel uses TLS (the signature is the same either way: the signed host is ``authority``).
    """
    return [SigV4ClientInterceptor(signer, authority, secure)]


def signing_channel(channel: Any, signer: Signer, authority: str, *, timeout: float | None = None) -> Any:
    """Wrap ``channel`` so that every call on it is signed for ``authority`` (``HOST:PORT``).

    The same metadata as :func:`client_interceptors`, without grpcio's interceptor layer; ``timeout``
    (seconds) is the deadline of calls made without one. See
    :class:`~pytest_dualmode.sigv4.channel.SigningChannel`. Closing the wrapper closes ``channel``.
    """
    from pytest_dualmode.sigv4.channel import SigningChannel

    return SigningChannel(channel, signer, authority, timeout=timeout)
