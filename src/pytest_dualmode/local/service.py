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
    ``http``: a WSGI application, or None when the service has no HTTP API.
    ``on_stop``: called once when the local stack stops (close pools, flush, ...).
    """

    grpc: Callable[[Any], object] | Sequence[Callable[[Any], object]] | None = None
    http: Callable[..., Iterable[bytes]] | None = None
    on_stop: Callable[[], object] | None = field(default=None)

    def grpc_registrations(self) -> list[Callable[[Any], object]]:
        """The gRPC ``register`` callables as a list (empty when there is no gRPC API)."""
        if self.grpc is None:
            return []
        if callable(self.grpc):
            return [self.grpc]
        return list(self.grpc)
