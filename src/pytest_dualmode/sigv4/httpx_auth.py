"""The signer on ``httpx``: an ``httpx.Auth`` that SigV4-signs each request, sync or async.

The same :class:`~pytest_dualmode.sigv4.signer.Signer` signs as for ``requests`` and gRPC, with the
same rules as :class:`~pytest_dualmode.sigv4.transport.RequestsSigV4Auth`: the final URL (a ``+`` in
the query sent as ``%20``), the ``host``, and the body bytes when the signer signs payloads; old
signing headers are replaced, never signed twice.

Redirects: httpx applies an auth once per ``send`` and builds each redirected request from a copy
of the previous one, dropping only ``Authorization`` for another host, so the session token and the
old date would go on to it. :meth:`HttpxSigV4Auth.on_request` (a request event hook, installed by
:func:`pytest_dualmode.aio_clients.async_http_client`) strips every signing header from such a copy
and signs it again when it goes to the host that was signed.

Importing this module imports httpx.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Generator
from typing import Any

import httpx

from pytest_dualmode.sigv4.signer import Signer, host_from_url
from pytest_dualmode.sigv4.wire import SIGNING_HEADERS

_SIGNED_HOST = "dualmode.sigv4.host"  # request extension: the host signed (shared by redirect copies)


class HttpxSigV4Auth(httpx.Auth):
    """An ``httpx.Auth`` that SigV4-signs every request with ``signer``."""

    def __init__(self, signer: Signer, *, url_form: Callable[[str], str] | None = None) -> None:
        """``url_form`` rewrites the URL before it is signed into the form the transport will send
        (:func:`pytest_dualmode.aio_clients.aiohttp_url_form`); None: httpx's form is what is sent."""
        self.signer = signer
        self._url_form = url_form
        # httpx reads a streamed body before the flow when the payload hash is signed.
        self.requires_request_body = signer.sign_payload
        self._signed: weakref.WeakSet[httpx.Request] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"<HttpxSigV4Auth {self.signer!r}>"

    def sign(self, request: httpx.Request) -> None:
        """Sign ``request`` in place (its old signing headers replaced)."""
        for name in SIGNING_HEADERS:
            request.headers.pop(name, None)
        if self._url_form is not None:
            sent = self._url_form(str(request.url))
            if sent != str(request.url):
                request.url = httpx.URL(sent)
        query = request.url.query
        if b"+" in query:
            # A space in params is encoded "+"; send "%20", which every server reads as a space.
            request.url = request.url.copy_with(query=query.replace(b"+", b"%20"))
        url = str(request.url)
        body = request.content if self.signer.sign_payload else None
        request.headers.update(self.signer.sign(request.method, url, request.headers, body))
        request.extensions[_SIGNED_HOST] = host_from_url(url)
        self._signed.add(request)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign the request and send it."""
        self.sign(request)
        yield request

    def _redirected(self, request: httpx.Request) -> bool:
        """Strip a redirected copy of a signed request; True when it goes to the signed host again."""
        if request in self._signed or _SIGNED_HOST not in request.extensions:
            return False
        for name in SIGNING_HEADERS:
            request.headers.pop(name, None)
        return host_from_url(str(request.url)) == request.extensions[_SIGNED_HOST]

    def on_request(self, request: httpx.Request) -> None:
        """Request hook (``httpx.Client``): a redirected copy of a signed request loses its signing
        headers, and is signed again when it goes to the same host."""
        if self._redirected(request):
            if self.signer.sign_payload:
                request.read()
            self.sign(request)

    async def aon_request(self, request: httpx.Request) -> None:
        """:meth:`on_request` for an ``httpx.AsyncClient``."""
        if self._redirected(request):
            if self.signer.sign_payload:
                await request.aread()
            self.sign(request)


def hooks(auth: Any) -> dict[str, list[Any]]:
    """The event hooks an ``httpx.AsyncClient`` signing with ``auth`` needs (none when unsigned)."""
    return {"request": [auth.aon_request]} if isinstance(auth, HttpxSigV4Auth) else {}
