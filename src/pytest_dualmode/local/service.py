"""What the user's ``dualmode_service`` fixture returns: the parts of their service to serve locally."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LocalService:
    """The user's service, as the local stack serves it.

    ``grpc``: a callable ``register(server)`` that adds servicers to a ``grpc.Server`` (for example
    ``lambda server: add_MyServicer_to_server(svc, server)``), or a sequence of them.
    ``http``: a WSGI application, an ASGI application (an async ``app(scope, receive, send)``:
    Starlette, FastAPI, ...; detected), or None when the service has no HTTP API.
    ``on_stop``: called once when the local stack stops (close pools, flush, ...).
    ``grpc_aio``: instead of ``grpc``, ``register(server)`` callables for a ``grpc.aio.Server``
    (servicers with ``async def`` methods; the generated ``add_..._to_server`` works as is).
    ``asgi``: instead of ``http``, an ASGI application (for one the detection would miss).

    Async parts are served on one event loop in a background thread that the plugin owns (never the
    test's loop), so sync and async tests alike can use them.
    """

    grpc: Callable[[Any], object] | Sequence[Callable[[Any], object]] | None = None
    http: Callable[..., Iterable[bytes]] | None = None
    on_stop: Callable[[], object] | None = field(default=None)
    grpc_aio: Callable[[Any], object] | Sequence[Callable[[Any], object]] | None = None
    asgi: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        from pytest_dualmode.local.apps import check_async_parts

        check_async_parts(self)

    def grpc_registrations(self) -> list[Callable[[Any], object]]:
        """The gRPC ``register`` callables as a list (empty when there is no gRPC API)."""
        parts = self.grpc if self.grpc is not None else self.grpc_aio
        if parts is None:
            return []
        if callable(parts):
            return [parts]
        return list(parts)

    @property
    def grpc_is_aio(self) -> bool:
        """True when the gRPC servicers are for ``grpc.aio`` (``grpc_aio=``)."""
        return self.grpc is None and self.grpc_aio is not None

    def http_app(self) -> tuple[str, Callable[..., Any]] | None:
        """``("wsgi" | "asgi", app)``, or None when the service has no HTTP API."""
        if self.asgi is not None:
            return "asgi", self.asgi
        if self.http is None:
            return None
        from pytest_dualmode.local.apps import http_app_kind

        return http_app_kind(self.http), self.http
