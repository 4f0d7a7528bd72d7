"""The verifier in front of async servers: an ASGI middleware and a ``grpc.aio`` server interceptor.

Both hand each request to the same :class:`~pytest_dualmode.sigv4.verifier.Verifier` as the WSGI
middleware and the sync interceptor do (the gRPC one asks the sync interceptor itself, so both
share its rules and its ``authorities``); only the way a request is read and refused differs.

Importing this module imports neither grpc nor an ASGI framework.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from pytest_dualmode.sigv4.verifier import (
    SignatureError,
    SigV4ServerInterceptor,
    Verifier,
    _rejecting_handler,
    rejection_body,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Request bodies larger than this are refused with 413 before the app sees them (as the WSGI server does).
MAX_BODY = 16 * 1024 * 1024


class SigV4AsgiMiddleware:
    """ASGI middleware that answers HTTP requests failing SigV4 verification with 403.

    The body is the WSGI middleware's (``{"error": {"code": "UNAUTHENTICATED", ...}}``). The path
    is the request's ``raw_path`` (as sent); the body is read whole, verified, and replayed to the
    app. Lifespan events pass through untouched.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], verifier: Verifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Verify an HTTP request, then pass it on or answer 403 (413 for an oversized body)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":  # the client went away
                break
            size += len(message.get("body", b""))
            if size > MAX_BODY:
                await _answer(
                    send, 413, b'{"error": {"code": "PAYLOAD_TOO_LARGE", "message": "body too large"}}'
                )
                return
            if not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        try:
            self.verifier.verify(
                scope["method"],
                _raw_path(scope),
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                body,
            )
        except SignatureError as exc:
            await _answer(send, 403, rejection_body(exc.reason))
            return
        replay = iter(messages)

        async def receive_again() -> Message:
            # The messages read for the check first, then whatever comes next (a disconnect).
            for message in replay:
                return message
            return await receive()

        await self.app(scope, receive_again, send)


async def _answer(send: Send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if raw:
        path = raw.decode("latin-1").partition("?")[0]
        if "://" in path:  # an absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return path
    # No raw_path: re-encode the decoded path as a client would have sent it.
    return quote(scope.get("root_path", "") + scope["path"], safe="/!$&'()*+,;=:@~")


class SigV4AioServerInterceptor:
    """A ``grpc.aio.ServerInterceptor`` that rejects calls failing SigV4 verification with UNAUTHENTICATED.

    It asks ``inner`` (the sync :class:`~pytest_dualmode.sigv4.verifier.SigV4ServerInterceptor`)
    whether to refuse a call, so both kinds of server apply the same rules and answer to the same
    ``authorities``; all four call kinds are refused with a handler of their own kind.
    """

    def __init__(self, inner: SigV4ServerInterceptor) -> None:
        import grpc

        # Registered, not inherited, so that importing this module does not import grpc.
        grpc.aio.ServerInterceptor.register(SigV4AioServerInterceptor)
        self.inner = inner

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], handler_call_details: Any
    ) -> Any:
        """Verify the call's metadata; hand on to ``continuation`` or return a rejecting handler."""
        reason = self.inner.rejection(handler_call_details)
        handler = await continuation(handler_call_details)
        if reason is None:
            return handler
        import grpc

        async def reject(request: Any, context: Any) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

        return _rejecting_handler(handler, reason, reject)
