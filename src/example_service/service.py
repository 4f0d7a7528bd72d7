"""The service object: validated operations over the store, served by both APIs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from example_service import validation as v
from example_service.store import Suppression, SuppressionStore

GRPC_SERVICE_NAME = "suppression.v1.SuppressionService"


class SuppressionService:
    """The suppression-list service, over DynamoDB, with a gRPC and an HTTP JSON API.

    ``dynamodb_client`` is a boto3 DynamoDB client; the table ``table`` is created when missing and
    waited for (at most ``table_timeout`` seconds) until it is ACTIVE. With ``create_table=False`` the
    service neither creates nor waits for it (no DynamoDB request at all): the table is declared
    elsewhere, by its CloudFormation template (``example_service/tables.yaml``, which staging's stack
    deploys and ``--dynamodb-tables`` creates in tests), and must exist before the first request.
    Serve it with :meth:`register_grpc` (the servicer and the standard health service) and
    :attr:`wsgi_app`.

    The operation methods (:meth:`add`, :meth:`get`, ...) validate their arguments and raise
    :class:`~example_service.errors.ServiceError` subclasses; both APIs are thin layers over them.
    """

    def __init__(
        self,
        dynamodb_client: Any,
        table: str = "suppressions",
        *,
        create_table: bool = True,
        table_timeout: float = 60.0,
    ) -> None:
        from example_service.http_api import HttpApi

        self.store = SuppressionStore(dynamodb_client, table)
        if create_table:
            self.store.ensure_table(timeout=table_timeout)
        self._serving = True
        self._health_servicers: list[Any] = []
        self._lock = threading.Lock()
        self.wsgi_app: Callable[..., Iterable[bytes]] = HttpApi(self)

    # -- operations -------------------------------------------------------------------------------

    def add(self, account_id: object, email: object, reason: object = "") -> tuple[Suppression, bool]:
        """Suppress ``email`` for the account; returns the record and True if it was created now."""
        account = v.validate_account_id(account_id)
        address = v.validate_email(email)
        why = v.validate_reason(reason)
        return self.store.add(account, address, why)

    def get(self, account_id: object, email: object) -> Suppression:
        """The suppression of ``email``; raises NotFound when there is none."""
        return self.store.get(v.validate_account_id(account_id), v.validate_email(email))

    def list_page(
        self, account_id: object, page_size: object = None, page_token: object = ""
    ) -> tuple[list[Suppression], str]:
        """One page of the account's suppressions in email order and the next page's token ("" at the end)."""
        account = v.validate_account_id(account_id)
        size = v.validate_page_size(page_size)
        after = v.decode_page_token(page_token, account)
        return self.store.list_page(account, size, after)

    def delete(self, account_id: object, email: object) -> None:
        """Remove the suppression of ``email``; raises NotFound when there is none."""
        self.store.delete(v.validate_account_id(account_id), v.validate_email(email))

    def export(self, account_id: object) -> Iterator[Suppression]:
        """Every suppression of the account, in email order (the first page is read before returning)."""
        return self.store.export(v.validate_account_id(account_id))

    # -- serving ----------------------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """False once :meth:`set_serving` turned it off (shutting down): health checks then fail."""
        return self._serving

    def set_serving(self, serving: bool) -> None:
        """Report SERVING or NOT_SERVING on ``GET /healthz`` and the gRPC health service."""
        self._serving = serving
        with self._lock:
            servicers = list(self._health_servicers)
        if not servicers:  # HTTP only: no need to import gRPC
            return
        from grpc_health.v1 import health_pb2

        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for health in servicers:
            for name in ("", GRPC_SERVICE_NAME):
                health.set(name, status)

    def register_grpc(self, server: Any) -> None:
        """Add the SuppressionService servicer and the standard ``grpc.health.v1`` service to ``server``."""
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc

        from example_service.gen.suppression.v1 import suppression_pb2_grpc
        from example_service.grpc_api import SuppressionServicer

        suppression_pb2_grpc.add_SuppressionServiceServicer_to_server(SuppressionServicer(self), server)
        health_servicer = health.HealthServicer()
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if self._serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", GRPC_SERVICE_NAME):
            health_servicer.set(name, status)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        with self._lock:
            self._health_servicers.append(health_servicer)
