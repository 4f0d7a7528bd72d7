"""What kind of HTTP app the user handed to :class:`~pytest_dualmode.local.service.LocalService`.

A WSGI app is a plain callable ``app(environ, start_response)``; an ASGI app (Starlette, FastAPI,
Django's ASGI handler, ...) is an async callable ``app(scope, receive, send)``. Anything else is a
mistake that gets a :class:`pytest.UsageError` naming what was passed and what to pass instead.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import pytest

AppKind = Literal["wsgi", "asgi"]


def _is_async_callable(obj: Any) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - the bound __call__ of an instance
    return call is not None and inspect.iscoroutinefunction(call)


def _positional(obj: Any) -> int | None:
    """How many positional arguments ``obj`` takes (None: any number, or its signature is unknown)."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _what(obj: Any) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__qualname__}"
    name = getattr(obj, "__qualname__", None)
    return f"{name} ({type(obj).__name__})" if name else f"an instance of {type(obj).__qualname__}"


def http_app_kind(app: Any, *, option: str = "http") -> AppKind:
    """``"wsgi"`` or ``"asgi"`` for ``app`` given as ``LocalService(option=app)``; raises
    :class:`pytest.UsageError` for an object that is neither."""
    hint = (
        "pass a WSGI app (app(environ, start_response)) as http= or an ASGI app "
        "(async app(scope, receive, send), e.g. a Starlette or FastAPI instance) as http= or asgi="
    )
    if not callable(app):
        raise pytest.UsageError(f"LocalService({option}=...) got {_what(app)}, which is not callable; {hint}")
    if isinstance(app, type):
        if _is_async_callable(getattr(app, "__call__", None)):  # noqa: B004
            raise pytest.UsageError(
                f"LocalService({option}=...) got {_what(app)}, not an app: pass an instance "
                f"({app.__name__}(...)), not the class"
            )
        if option == "asgi":
            raise pytest.UsageError(f"LocalService(asgi=...) got {_what(app)}, not an ASGI app; {hint}")
        return "wsgi"  # PEP 3333 allows a class whose instances are the response iterable
    count = _positional(app)
    if _is_async_callable(app):
        if count is not None and count != 3:
            raise pytest.UsageError(
                f"LocalService({option}=...) got the async callable {_what(app)} taking {count} "
                "positional arguments; an ASGI app takes (scope, receive, send)"
            )
        return "asgi"
    if option == "asgi":
        if count == 2:
            raise pytest.UsageError(
                f"LocalService(asgi=...) got {_what(app)}, which looks like a WSGI app "
                "(environ, start_response): pass it as http="
            )
        # ASGI 2 style (app(scope) returning an async callable) and other shapes: uvicorn tells them apart.
        return "asgi"
    if count is not None and count != 2:
        raise pytest.UsageError(
            f"LocalService(http=...) got {_what(app)} taking {count} positional arguments, "
            f"which is neither a WSGI nor an ASGI app; {hint}"
        )
    return "wsgi"


def check_async_parts(service: Any) -> None:
    """Refuse a :class:`~pytest_dualmode.local.service.LocalService` whose parts clash or are not apps."""
    if service.grpc is not None and service.grpc_aio is not None:
        raise pytest.UsageError(
            "LocalService got both grpc= and grpc_aio=: one gRPC server serves the service, so pass "
            "grpc= (a grpc.Server) or grpc_aio= (a grpc.aio.Server), not both"
        )
    if service.http is not None and service.asgi is not None:
        raise pytest.UsageError(
            "LocalService got both http= and asgi=: one HTTP server serves the service, so pass one "
            "(http= takes a WSGI or an ASGI app)"
        )
    if service.http is not None:
        http_app_kind(service.http)
    if service.asgi is not None:
        http_app_kind(service.asgi, option="asgi")
