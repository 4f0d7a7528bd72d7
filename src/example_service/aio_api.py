"""The example service's async APIs: a ``grpc.aio`` servicer and an ASGI app (Starlette).

The same operations as :mod:`example_service.grpc_api` and :mod:`example_service.http_api`, over the
same :class:`~example_service.SuppressionService`, written the way an async service is: ``async def``
handlers, the blocking DynamoDB calls run in a worker thread (``asyncio.to_thread``) so the event loop
keeps serving. The plugin serves them with ``LocalService(grpc_aio=..., http=asgi_app(svc))``.

Starlette is a development dependency of this project: import this module only where it is installed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from example_service.errors import InvalidArgument, ServiceError
from example_service.gen.suppression.v1 import suppression_pb2 as pb
from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc
from example_service.grpc_api import to_proto

if TYPE_CHECKING:
    from example_service.service import SuppressionService

T = TypeVar("T")
PREFIX = "/v1/suppressions"


async def _run(context: grpc.aio.ServicerContext, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in a worker thread; a ServiceError becomes its gRPC status."""
    try:
        return await asyncio.to_thread(call, *args)
    except ServiceError as exc:
        await context.abort(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL), exc.message)
        raise  # unreachable: abort raises


class AsyncSuppressionServicer(pb_grpc.SuppressionServiceServicer):
    """``suppression.v1.SuppressionService`` with ``async def`` methods, for a ``grpc.aio`` server."""

    def __init__(self, service: SuppressionService) -> None:
        self._service = service

    async def Add(self, request: pb.AddRequest, context: grpc.aio.ServicerContext) -> pb.AddResponse:
        """Suppress an address (idempotent)."""
        add = self._service.add
        record, created = await _run(context, add, request.account_id, request.email, request.reason)
        return pb.AddResponse(suppression=to_proto(record), created=created)

    async def Get(self, request: pb.GetRequest, context: grpc.aio.ServicerContext) -> pb.Suppression:
        """One suppression, or NOT_FOUND."""
        return to_proto(await _run(context, self._service.get, request.account_id, request.email))

    async def List(self, request: pb.ListRequest, context: grpc.aio.ServicerContext) -> pb.ListResponse:
        """One page of the account's suppressions."""
        page = self._service.list_page
        records, token = await _run(context, page, request.account_id, request.page_size, request.page_token)
        return pb.ListResponse(suppressions=[to_proto(r) for r in records], next_page_token=token)

    async def Delete(self, request: pb.DeleteRequest, context: grpc.aio.ServicerContext) -> pb.DeleteResponse:
        """Remove a suppression, or NOT_FOUND."""
        await _run(context, self._service.delete, request.account_id, request.email)
        return pb.DeleteResponse()

    async def Export(
        self, request: pb.ExportRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Suppression]:
        """Stream every suppression of the account."""
        records = await _run(context, lambda: list(self._service.export(request.account_id)))
        for record in records:
            yield to_proto(record)


def register_grpc_aio(service: SuppressionService) -> Callable[[Any], Awaitable[None]]:
    """An async ``register(server)`` for ``LocalService(grpc_aio=...)``: the servicer and health."""

    async def register(server: Any) -> None:
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc

        pb_grpc.add_SuppressionServiceServicer_to_server(AsyncSuppressionServicer(service), server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in ("", "suppression.v1.SuppressionService"):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    return register


def asgi_app(service: SuppressionService) -> Any:
    """The HTTP JSON API (:mod:`example_service.http_api`'s routes but export) as a Starlette app."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def error(exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=exc.http_status)

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def healthz(request: Request) -> Response:
        serving = service.serving
        return JSONResponse({"status": "SERVING" if serving else "NOT_SERVING"}, 200 if serving else 503)

    async def add(request: Request) -> Response:
        try:
            data = json.loads(await request.body())
            if not isinstance(data, dict) or "account_id" not in data or "email" not in data:
                raise InvalidArgument('send a JSON object {"account_id": ..., "email": ...}')
            record, created = await call(
                service.add, data["account_id"], data["email"], data.get("reason", "")
            )
        except ValueError:
            return error(InvalidArgument("the body is not JSON"))
        except ServiceError as exc:
            return error(exc)
        return JSONResponse({"suppression": record.to_json(), "created": created}, 201 if created else 200)

    async def one(request: Request) -> Response:
        account, email = request.path_params["account"], request.path_params["email"]
        try:
            if request.method == "DELETE":
                await call(service.delete, account, email)
                return Response(status_code=204)
            return JSONResponse((await call(service.get, account, email)).to_json())
        except ServiceError as exc:
            return error(exc)

    async def page(request: Request) -> Response:
        q = request.query_params
        try:
            records, token = await call(
                service.list_page, request.path_params["account"], q.get("page_size"), q.get("page_token", "")
            )
        except ServiceError as exc:
            return error(exc)
        return JSONResponse({"suppressions": [r.to_json() for r in records], "next_page_token": token})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route(PREFIX, add, methods=["POST"]),
            Route(PREFIX + "/{account}/{email}", one, methods=["GET", "DELETE"]),
            Route(PREFIX + "/{account}", page),
        ]
    )
