"""Client-side helpers shared by the fixtures: the base-URL HTTP session and the gRPC channel."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

import requests


class BaseUrlSession(requests.Session):
    """A :class:`requests.Session` that takes paths relative to ``base_url`` and has a default timeout.

    ``session.get("/v1/items")`` requests ``{base_url}/v1/items``; absolute URLs pass unchanged.
    """

    def __init__(self, base_url: str, *, timeout: float | None = None) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send a request; a relative ``url`` is joined to :attr:`base_url`."""
        if isinstance(url, bytes):
            url = url.decode()
        if "://" not in url:
            url = urljoin(self.base_url, url.lstrip("/"))
        if self.default_timeout is not None and kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<BaseUrlSession {self.base_url}>"


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
):
    pass


def _default_timeout_interceptor(timeout: float, inner: Any = None) -> Any:
    """A client interceptor that gives every call without a deadline ``timeout`` seconds.

    With ``inner`` (another interceptor, e.g. the signer's), it calls that one itself: grpcio's cost is
    per interceptor layer, so one layer doing both jobs keeps signed calls close to plain ones.
    """
    import grpc

    def with_timeout(details: Any) -> Any:
        if details.timeout is not None:
            return details
        return _CallDetails(
            details.method,
            timeout,
            details.metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    class DefaultTimeout(
        grpc.UnaryUnaryClientInterceptor,
        grpc.UnaryStreamClientInterceptor,
        grpc.StreamUnaryClientInterceptor,
        grpc.StreamStreamClientInterceptor,
    ):
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            if inner is not None:
                return inner.intercept_unary_unary(continuation, with_timeout(details), request)
            return continuation(with_timeout(details), request)

        def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
            if inner is not None:
                return inner.intercept_unary_stream(continuation, with_timeout(details), request)
            return continuation(with_timeout(details), request)

        def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
            if inner is not None:
                return inner.intercept_stream_unary(continuation, with_timeout(details), request_iterator)
            return continuation(with_timeout(details), request_iterator)

        def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
            if inner is not None:
                return inner.intercept_stream_stream(continuation, with_timeout(details), request_iterator)
            return continuation(with_timeout(details), request_iterator)

    return DefaultTimeout()


def make_channel(
    address: str,
    *,
    tls: bool,
    ca_file: str | None = None,
    authority: str | None = None,
    interceptors: Sequence[Any] = (),
    timeout: float | None = None,
) -> Any:
    """Open a gRPC channel to ``address`` (TLS or plaintext) with the given client interceptors.

    The caller closes it with ``.close()``.
    """
    import grpc

    options: list[tuple[str, Any]] = []
    if authority:
        options.append(("grpc.default_authority", authority))
    if tls:
        roots = None
        if ca_file:
            with open(ca_file, "rb") as fh:
                roots = fh.read()
        if authority:
            options.append(("grpc.ssl_target_name_override", authority))
        raw = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=roots), options)
    else:
        raw = grpc.insecure_channel(address, options)
    chain = list(interceptors)
    if timeout is not None:
        # Fold the first interceptor into the timeout one: one grpcio layer instead of two.
        chain[:1] = [_default_timeout_interceptor(timeout, chain[0] if chain else None)]
    return grpc.intercept_channel(raw, *chain) if chain else raw
