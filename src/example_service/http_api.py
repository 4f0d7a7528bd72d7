"""The HTTP JSON API: a plain WSGI application over :class:`~example_service.SuppressionService`.

Routes (all bodies JSON; errors are ``{"error": {"code": ..., "message": ...}}``):

- ``POST   /v1/suppressions``                        add ``{account_id, email, reason}``: 201 or 200
- ``GET    /v1/suppressions/{account_id}/{email}``   one suppression, 404 when missing
- ``GET    /v1/suppressions/{account_id}``           a page: ``?page_size=N&page_token=T``
- ``DELETE /v1/suppressions/{account_id}/{email}``   204, 404 when missing
- ``GET    /v1/suppressions/{account_id}:export``    every suppression, streamed as NDJSON
- ``GET    /healthz`` and ``GET /openapi.json``
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from example_service.errors import InvalidArgument, ServiceError
from example_service.store import Suppression
from example_service.validation import show

if TYPE_CHECKING:
    from example_service.service import SuppressionService

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
PREFIX = "/v1/suppressions"
_ADD_FIELDS = ("account_id", "email", "reason")
_LIST_PARAMS = ("page_size", "page_token")

StartResponse = Callable[..., Any]
Response = tuple[int, list[tuple[str, str]], Iterable[bytes]]


class HttpError(ServiceError):
    """An HTTP-level error (bad route, method, media type or body size) with its own status."""

    def __init__(self, status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or []

    @property
    def http_status(self) -> int:
        """The HTTP status of this error."""
        return self.status


def _dumps(obj: object) -> bytes:
    # backslashreplace keeps even an unpaired surrogate (only ever in an error message) valid JSON.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


def json_response(status: int, obj: object, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A complete JSON response."""
    body = _dumps(obj)
    head = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers]
    return status, head, [body]


@cache
def openapi_document() -> bytes:
    """The OpenAPI 3 description of this API (``openapi.json`` in the package)."""
    return resources.files("example_service").joinpath("openapi.json").read_bytes()


def _method_check(environ: dict[str, Any], *allowed: str) -> str:
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if method not in allowed:
        raise HttpError(
            405,
            "METHOD_NOT_ALLOWED",
            f"{method} is not allowed on {environ.get('PATH_INFO', '')}; use {' or '.join(allowed)}",
            [("Allow", ", ".join(allowed))],
        )
    return method


def _utf8(raw: str, what: str) -> str:
    """WSGI hands over URL bytes as latin-1 text (PEP 3333); get the UTF-8 text back."""
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise InvalidArgument(f"the request {what} is not valid UTF-8") from None


def _read_json_object(environ: dict[str, Any]) -> dict[str, Any]:
    content_type = str(environ.get("CONTENT_TYPE", ""))
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        raise HttpError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type {show(content_type)} is not supported; send a JSON body with "
            "Content-Type: application/json",
        )
    charset = params.strip().lower().removeprefix("charset=").strip('"')
    if params.strip() and charset not in ("utf-8", "utf8"):
        raise HttpError(
            415, "UNSUPPORTED_MEDIA_TYPE", f"charset {show(params.strip())} is not supported; use UTF-8"
        )
    raw_length = str(environ.get("CONTENT_LENGTH") or "0")
    if not (raw_length.isascii() and raw_length.isdigit()):  # str.isdigit() alone accepts '²'
        raise InvalidArgument(f"Content-Length {show(raw_length)} is not a number")
    if len(raw_length) > 12 or int(raw_length) > MAX_BODY:  # (int() refuses thousands of digits)
        shown = raw_length if len(raw_length) <= 12 else f"{raw_length[:12]}..."
        raise HttpError(413, "PAYLOAD_TOO_LARGE", f"the body is {shown} bytes; the limit is {MAX_BODY}")
    length = int(raw_length)
    body = environ["wsgi.input"].read(length) if length else b""
    if not body:
        raise InvalidArgument('the body is empty; send {"account_id": ..., "email": ..., "reason": ...}')
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidArgument("the body is not valid UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"the body is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise InvalidArgument(
            f'the body must be a JSON object like {{"account_id": ..., "email": ...}}, '
            f"not a JSON {type(data).__name__}"
        )
    unknown = sorted(set(data) - set(_ADD_FIELDS))
    if unknown:
        raise InvalidArgument(f"unknown field {show(unknown[0])}; the fields are {', '.join(_ADD_FIELDS)}")
    return data


def _query(environ: dict[str, Any]) -> dict[str, str]:
    text = _utf8(str(environ.get("QUERY_STRING", "")), "query string")
    try:
        parsed = parse_qs(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidArgument("the request query string is not valid UTF-8") from None
    params: dict[str, str] = {}
    for name, values in parsed.items():
        if name not in _LIST_PARAMS:
            raise InvalidArgument(f"unknown query parameter {show(name)}; use {' and '.join(_LIST_PARAMS)}")
        if len(values) > 1:
            raise InvalidArgument(f"query parameter {name} is given {len(values)} times; give it once")
        params[name] = values[0]
    return params


class HttpApi:
    """The WSGI application of the HTTP JSON API (see the module docstring for the routes)."""

    def __init__(self, service: SuppressionService) -> None:
        self._service = service

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        try:
            status, headers, body = self._route(environ)
        except ServiceError as exc:
            status, headers, body = json_response(exc.http_status, exc.to_json(), getattr(exc, "headers", []))
        except Exception:
            log.exception(
                "unexpected error serving %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
            )
            status, headers, body = json_response(
                500,
                {
                    "error": {
                        "code": "INTERNAL",
                        "message": "internal error (the service log has the details)",
                    }
                },
            )
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return body

    def _route(self, environ: dict[str, Any]) -> Response:
        path = _utf8(str(environ.get("PATH_INFO", "")), "path")
        if path == "/healthz":
            _method_check(environ, "GET")
            serving = self._service.serving
            return json_response(200 if serving else 503, {"status": "SERVING" if serving else "NOT_SERVING"})
        if path == "/openapi.json":
            _method_check(environ, "GET")
            doc = openapi_document()
            return 200, [("Content-Type", "application/json"), ("Content-Length", str(len(doc)))], [doc]
        if path == PREFIX:
            _method_check(environ, "POST")
            return self._add(environ)
        if path.startswith(PREFIX + "/"):
            account, slash, email = path[len(PREFIX) + 1 :].partition("/")
            if slash:
                if _method_check(environ, "GET", "DELETE") == "DELETE":
                    self._service.delete(account, email)
                    return 204, [], []
                return json_response(200, self._service.get(account, email).to_json())
            if account.endswith(":export"):
                _method_check(environ, "GET")
                return self._export(account.removesuffix(":export"))
            if account:
                _method_check(environ, "GET")
                params = _query(environ)
                records, token = self._service.list_page(
                    account, params.get("page_size"), params.get("page_token", "")
                )
                return json_response(
                    200, {"suppressions": [r.to_json() for r in records], "next_page_token": token}
                )
        raise HttpError(404, "NOT_FOUND", f"no route for {show(path, 80)}; the API lives under {PREFIX}")

    def _add(self, environ: dict[str, Any]) -> Response:
        data = _read_json_object(environ)
        for required in ("account_id", "email"):
            if required not in data:
                raise InvalidArgument(f'the body has no {required}; send {{"account_id": ..., "email": ...}}')
        record, created = self._service.add(data["account_id"], data["email"], data.get("reason", ""))
        location = f"{PREFIX}/{quote(record.account_id)}/{quote(record.email, safe='@')}"
        return json_response(
            201 if created else 200,
            {"suppression": record.to_json(), "created": created},
            [("Location", location)],
        )

    def _export(self, account: str) -> Response:
        records = self._service.export(account)  # reads the first page: errors still get a status

        def lines(records: Iterator[Suppression]) -> Iterator[bytes]:
            for record in records:
                yield _dumps(record.to_json()) + b"\n"

        return 200, [("Content-Type", "application/x-ndjson")], lines(records)
