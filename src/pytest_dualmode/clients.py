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
) -> Any:
    """Open a gRPC channel to ``address`` (TLS or plaintext).

    ``signer`` (a :class:`~pytest_dualmode.sigv4.signer.Signer`) SigV4-signs every call for
    ``authority`` (or ``address`` when no authority is given); ``timeout`` is the deadline, in seconds,
    of every call made without one. ``interceptors`` are other client interceptors; they see each call
    signed. ``proxy=False`` ignores the ``grpc_proxy``/``https_proxy``/``http_proxy`` variables. The
    caller closes the channel with ``.close()``.
    """
    import grpc

    options: list[tuple[str, Any]] = []
    if not proxy:
        options.append(("grpc.enable_http_proxy", 0))
    if authority:
        options.append(("grpc.default_authority", authority))
    if tls:
        roots = None
        if ca_file:
            with open(ca_file, "rb") as fh:
                roots = fh.read()
        if authority:
            options.append(("grpc.ssl_target_name_override", authority))
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=roots), options)
    else:
        channel = grpc.insecure_channel(address, options)
    if interceptors:
        channel = grpc.intercept_channel(channel, *interceptors)
    if signer is None and timeout is None:
        return channel
    from pytest_dualmode.sigv4.channel import SigningChannel

    # Signing and the default deadline wrap the channel rather than intercept it: grpcio's interceptor
    # layer alone costs a few percent of a loopback call, the wrapper next to nothing.
    return SigningChannel(channel, signer, authority or address, timeout=timeout)
