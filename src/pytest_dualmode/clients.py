"""Client-side helpers shared by the fixtures: the base-URL HTTP session and the gRPC channel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests


class BaseUrlSession(requests.Session):
    """A :class:`requests.Session` that takes paths relative to ``base_url`` and has a default timeout.

    ``session.get("/v1/items")`` requests ``{base_url}/v1/items``; absolute URLs (a scheme and a host,
    ``https://other.example/x``) pass unchanged. A path whose query holds a URL (``/cb?next=https://x``)
    is still a path.
    """

    def __init__(self, base_url: str, *, timeout: float | None = None) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """Send a request; a relative ``url`` is joined to :attr:`base_url`."""
        if isinstance(url, bytes):
            url = url.decode()
        parts = urlsplit(url)
        if not (parts.scheme and parts.netloc):
            # Appended, not urljoin'ed: urljoin takes "items:batch" for a URL of scheme "items".
            url = self.base_url + url.lstrip("/")
        if self.default_timeout is not None and kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if isinstance(self.verify, str) and kwargs.get("verify") is None:
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE win over a session's own CA file; a CA file
            # given to this session (--tls-ca-file) is meant for this target, so it goes with each request.
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """Redo the auth of a redirected request: a signing auth (one with ``on_redirect``) re-signs it
        for the same host and strips its signing headers for another; any other auth is left to
        ``requests`` (which keeps ``Authorization`` for the same host and drops it otherwise)."""
        on_redirect = getattr(self.auth, "on_redirect", None)
        if on_redirect is None:
            super().rebuild_auth(prepared_request, response)
            return
        same_host = not self.should_strip_auth(response.request.url or "", prepared_request.url or "")
        on_redirect(prepared_request, same_host=same_host)

    def __repr__(self) -> str:
        return f"<BaseUrlSession {self.base_url}>"


def make_channel(
    address: str,
    *,
    tls: bool,
    ca_file: str | None = None,
    authority: str | None = None,
    signer: Any = None,
    interceptors: Sequence[Any] = (),
    timeout: float | None = None,
    proxy: bool = True,
    client_cert: str | None = None,
    client_key: str | None = None,
    metadata: Sequence[tuple[str, str]] = (),
) -> Any:
    """Open a gRPC channel to ``address`` (TLS or plaintext).

    ``signer`` (a :class:`~pytest_dualmode.sigv4.signer.Signer`) SigV4-signs every call for
    ``authority`` (or ``address`` when no authority is given); ``timeout`` is the deadline, in seconds,
    of every call made without one. ``interceptors`` are other client interceptors; they see each call
    signed. ``proxy=False`` ignores the ``grpc_proxy``/``https_proxy``/``http_proxy`` variables.
    ``client_cert``/``client_key`` (PEM files) present a client certificate (mutual TLS, as an Envoy
    front may require); ``metadata`` is added to every call (an API key). The caller closes the channel
    with ``.close()``.
    """
    import grpc

    options, (roots, key, chain) = channel_parts(
        tls=tls,
        ca_file=ca_file,
        authority=authority,
        proxy=proxy,
        client_cert=client_cert,
        client_key=client_key,
    )
    if tls:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=roots, private_key=key, certificate_chain=chain
        )
        channel = grpc.secure_channel(address, credentials, options)
    else:
        channel = grpc.insecure_channel(address, options)
    if metadata:
        interceptors = (*interceptors, metadata_interceptor(metadata))
    if interceptors:
        channel = grpc.intercept_channel(channel, *interceptors)
    if signer is None and timeout is None:
        return channel
    from pytest_dualmode.sigv4.channel import SigningChannel

    # Signing and the default deadline wrap the channel rather than intercept it: grpcio's interceptor
    # layer alone costs a few percent of a loopback call, the wrapper next to nothing.
    return SigningChannel(channel, signer, authority or address, timeout=timeout)


def channel_parts(
    *,
    tls: bool,
    ca_file: str | None,
    authority: str | None,
    proxy: bool,
    client_cert: str | None,
    client_key: str | None,
) -> tuple[list[tuple[str, Any]], tuple[bytes | None, bytes | None, bytes | None]]:
    """The grpcio channel options and the TLS material (CA, client key, client certificate: PEM bytes
    or ``None``) of :func:`make_channel`'s arguments, for the sync and the ``grpc.aio`` channels alike.

    The files are read here, once: a missing one fails where the channel is made, not at a call.
    """
    options: list[tuple[str, Any]] = []
    if not proxy:
        options.append(("grpc.enable_http_proxy", 0))
    if authority:
        options.append(("grpc.default_authority", authority))
    roots = key = chain = None
    if tls:
        if ca_file:
            with open(ca_file, "rb") as fh:
                roots = fh.read()
        if authority:
            options.append(("grpc.ssl_target_name_override", authority))
        if client_cert and client_key:
            with open(client_key, "rb") as fh:
                key = fh.read()
            with open(client_cert, "rb") as fh:
                chain = fh.read()
    return options, (roots, key, chain)


def metadata_interceptor(metadata: Sequence[tuple[str, str]]) -> Any:
    """A gRPC client interceptor adding ``metadata`` to every call of all four kinds (``--header``)."""
    import grpc

    extra = tuple(metadata)

    class _Details(grpc.ClientCallDetails):
        def __init__(self, details: Any) -> None:
            self.method = details.method
            self.timeout = details.timeout
            self.metadata = (*(details.metadata or ()), *extra)
            self.credentials = details.credentials
            self.wait_for_ready = details.wait_for_ready
            self.compression = getattr(details, "compression", None)

    class MetadataInterceptor(
        grpc.UnaryUnaryClientInterceptor,
        grpc.UnaryStreamClientInterceptor,
        grpc.StreamUnaryClientInterceptor,
        grpc.StreamStreamClientInterceptor,
    ):
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            return continuation(_Details(details), request)

        def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
            return continuation(_Details(details), request)

        def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
            return continuation(_Details(details), requests)

        def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
            return continuation(_Details(details), requests)

    return MetadataInterceptor()
