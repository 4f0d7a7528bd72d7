"""The gRPC API: a grpcio servicer over :class:`~example_service.SuppressionService`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from example_service.errors import ServiceError
from example_service.gen.suppression.v1 import suppression_pb2 as pb
from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc
from example_service.store import Suppression

if TYPE_CHECKING:
    from example_service.service import SuppressionService

log = logging.getLogger(__name__)
T = TypeVar("T")


def to_proto(record: Suppression) -> pb.Suppression:
    """The protobuf message of a stored suppression."""
    message = pb.Suppression(account_id=record.account_id, email=record.email, reason=record.reason)
    message.created_at.FromDatetime(record.created_at)
    return message


def _abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    if isinstance(exc, ServiceError):
        context.abort(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL), exc.message)
    log.exception("unexpected error in a gRPC call")
    context.abort(grpc.StatusCode.INTERNAL, "internal error (the service log has the details)")


def _unary(
    method: Callable[[Any, Any, grpc.ServicerContext], T],
) -> Callable[[Any, Any, grpc.ServicerContext], T]:
    """Report ServiceError as its status and anything unexpected as INTERNAL (logged, not leaked)."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> T:
        try:
            return method(self, request, context)
        except Exception as exc:
            _abort(context, exc)
            raise  # unreachable: abort raises

    return wrapper


class SuppressionServicer(pb_grpc.SuppressionServiceServicer):
    """``suppression.v1.SuppressionService`` backed by a :class:`SuppressionService`."""

    def __init__(self, service: SuppressionService) -> None:
        self._service = service

    @_unary
    def Add(self, request: pb.AddRequest, context: grpc.ServicerContext) -> pb.AddResponse:
        """Suppress an address (idempotent: an existing record comes back with created=false)."""
        record, created = self._service.add(request.account_id, request.email, request.reason)
        return pb.AddResponse(suppression=to_proto(record), created=created)

    @_unary
    def Get(self, request: pb.GetRequest, context: grpc.ServicerContext) -> pb.Suppression:
        """One suppression, or NOT_FOUND."""
        return to_proto(self._service.get(request.account_id, request.email))

    @_unary
    def List(self, request: pb.ListRequest, context: grpc.ServicerContext) -> pb.ListResponse:
        """One page of the account's suppressions."""
        records, token = self._service.list_page(request.account_id, request.page_size, request.page_token)
        return pb.ListResponse(suppressions=[to_proto(r) for r in records], next_page_token=token)

    @_unary
    def Delete(self, request: pb.DeleteRequest, context: grpc.ServicerContext) -> pb.DeleteResponse:
        """Remove a suppression, or NOT_FOUND."""
        self._service.delete(request.account_id, request.email)
        return pb.DeleteResponse()

    def Export(self, request: pb.ExportRequest, context: grpc.ServicerContext) -> Iterator[pb.Suppression]:
        """Stream every suppression of the account."""
        try:
            for record in self._service.export(request.account_id):
                if not context.is_active():  # the client went away: stop reading the table
                    return
                yield to_proto(record)
        except Exception as exc:
            _abort(context, exc)
