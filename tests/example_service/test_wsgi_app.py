"""The HTTP JSON API as a WSGI app, called directly: routes, methods, bodies, and error bodies."""

from __future__ import annotations

import io
import json
import re
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from example_service import SuppressionService, SuppressionStore


def call(
    app: Any,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    content_type: str = "application/json",
    query: str = "",
    content_length: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Call a WSGI app the way a server would (PATH_INFO as latin-1 text, PEP 3333)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, "latin-1"),
        "QUERY_STRING": query,
        "CONTENT_TYPE": content_type if body is not None else "",
        "CONTENT_LENGTH": content_length if content_length is not None else str(len(body or b"")),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    chunks = b"".join(app(environ, start_response))
    return int(seen["status"].split()[0]), dict(seen["headers"]), chunks


def add(app: Any, account: str, email: str, reason: str = "r") -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"account_id": account, "email": email, "reason": reason}).encode()
    return call(app, "POST", "/v1/suppressions", body)


def error_of(body: bytes) -> dict[str, str]:
    data = json.loads(body)
    assert set(data) == {"error"} and set(data["error"]) == {"code", "message"}
    return dict(data["error"])


def test_health_follows_the_serving_state(dynamodb_client: Any) -> None:
    service = SuppressionService(dynamodb_client, table="example-service-tests")
    assert call(service.wsgi_app, "GET", "/healthz")[::2] == (200, b'{"status":"SERVING"}')
    service.set_serving(False)
    assert call(service.wsgi_app, "GET", "/healthz")[::2] == (503, b'{"status":"NOT_SERVING"}')


def test_openapi_document_describes_every_route(service: SuppressionService) -> None:
    status, headers, body = call(service.wsgi_app, "GET", "/openapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/healthz",
        "/v1/suppressions",
        "/v1/suppressions/{account_id}",
        "/v1/suppressions/{account_id}:export",
        "/v1/suppressions/{account_id}/{email}",
    }


def test_add_then_add_again_is_201_then_200(service: SuppressionService, account: str) -> None:
    status, headers, body = add(service.wsgi_app, account, "New@Example.com")
    assert status == 201 and headers["Location"] == f"/v1/suppressions/{account}/new@example.com"
    first = json.loads(body)
    assert first["created"] is True and first["suppression"]["email"] == "new@example.com"
    status, _, body = add(service.wsgi_app, account, "new@example.com", "another reason")
    assert status == 200 and json.loads(body) == {**first, "created": False}


def test_an_email_with_a_slash_is_addressable(service: SuppressionService, account: str) -> None:
    assert add(service.wsgi_app, account, "a/b@example.com")[0] == 201
    status, _, body = call(service.wsgi_app, "GET", f"/v1/suppressions/{account}/{quote('a/b@example.com')}")
    assert status == 200 and json.loads(body)["email"] == "a/b@example.com"


def test_delete_is_204_then_404_with_a_json_body(service: SuppressionService, account: str) -> None:
    add(service.wsgi_app, account, "gone@example.com")
    status, _, body = call(service.wsgi_app, "DELETE", f"/v1/suppressions/{account}/gone@example.com")
    assert (status, body) == (204, b"")
    status, _, body = call(service.wsgi_app, "DELETE", f"/v1/suppressions/{account}/gone@example.com")
    assert status == 404 and error_of(body)["code"] == "NOT_FOUND"


def test_export_streams_ndjson(service: SuppressionService, account: str) -> None:
    for name in ("b", "a", "c"):
        add(service.wsgi_app, account, f"{name}@example.com")
    status, headers, body = call(service.wsgi_app, "GET", f"/v1/suppressions/{account}:export")
    assert status == 200 and headers["Content-Type"] == "application/x-ndjson"
    assert "Content-Length" not in headers  # streamed
    lines = body.decode().splitlines()
    assert [json.loads(line)["email"] for line in lines] == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/suppressions", "POST"),
        ("GET", "/v1/suppressions", "POST"),
        ("POST", "/healthz", "GET"),
        ("PATCH", "/v1/suppressions/acct/a@example.com", "GET, DELETE"),
        ("DELETE", "/v1/suppressions/acct", "GET"),
        ("POST", "/v1/suppressions/acct:export", "GET"),
    ],
)
def test_a_wrong_method_is_405_with_allow(
    service: SuppressionService, method: str, path: str, allow: str
) -> None:
    status, headers, body = call(service.wsgi_app, method, path)
    assert status == 405 and headers["Allow"] == allow
    assert error_of(body)["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    "path", ["/", "/v2/suppressions", "/v1/suppressions/", "/v1/suppression", "/healthz/x"]
)
def test_an_unknown_route_is_404_json(service: SuppressionService, path: str) -> None:
    status, _, body = call(service.wsgi_app, "GET", path)
    assert status == 404 and error_of(body) == {
        "code": "NOT_FOUND",
        "message": f"no route for {path!r}; the API lives under /v1/suppressions",
    }


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"{}", "text/plain", 415, "Content-Type 'text/plain' is not supported"),
        (b"{}", "application/json; charset=latin-1", 415, "use UTF-8"),
        (b"", "application/json", 400, "the body is empty"),
        (b"{not json", "application/json", 400, "the body is not valid JSON"),
        (b"\xff\xfe{}", "application/json", 400, "not valid UTF-8"),
        (b"[1, 2]", "application/json", 400, "must be a JSON object"),
        (b"[" * 30000 + b"]" * 30000, "application/json", 400, "not valid JSON"),
        (
            b'{"account_id": "a", "email": "a@example.com", "admin": true}',
            "application/json",
            400,
            "unknown field 'admin'",
        ),
        (b'{"account_id": "a"}', "application/json", 400, "the body has no email"),
        (b'{"account_id": "a", "email": 5}', "application/json", 400, "email must be a string, got int"),
        (
            b'{"account_id": "a", "email": "a@example.com", "reason": null}',
            "application/json",
            400,
            "reason must be a string, got NoneType",
        ),
        (
            b'{"account_id": "a", "email": "a@example.com", "reason": "\\ud800"}',
            "application/json",
            400,
            "U\\+D800",
        ),
        (b'{"account_id": "a", "email": "a@example.com"}', "application/json; charset=utf-8", 201, None),
    ],
)
def test_add_request_bodies(
    service: SuppressionService, body: bytes, content_type: str, status: int, message: str | None
) -> None:
    if status == 201:  # the control: a good body with a charset is accepted
        body = body.replace(b'"a"', f'"{service.store.table}-ok-{id(body)}"'.encode())
    got, _, response = call(service.wsgi_app, "POST", "/v1/suppressions", body, content_type=content_type)
    assert got == status, response
    if message:
        assert re.search(message, error_of(response)["message"])


def test_an_oversize_body_is_413_without_being_read(service: SuppressionService) -> None:
    status, _, body = call(service.wsgi_app, "POST", "/v1/suppressions", b"{}", content_length="70000")
    assert status == 413 and error_of(body) == {
        "code": "PAYLOAD_TOO_LARGE",
        "message": "the body is 70000 bytes; the limit is 65536",
    }


@pytest.mark.parametrize("length", ["ten", "\u00b2", "-1"])
def test_a_bad_content_length_is_400(service: SuppressionService, length: str) -> None:
    status, _, body = call(service.wsgi_app, "POST", "/v1/suppressions", b"{}", content_length=length)
    assert status == 400 and f"Content-Length {length!r} is not a number" in error_of(body)["message"]


def test_a_content_length_with_thousands_of_digits_is_413(service: SuppressionService) -> None:
    status, _, body = call(service.wsgi_app, "POST", "/v1/suppressions", b"{}", content_length="9" * 5000)
    assert status == 413 and error_of(body)["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page_size=abc", "page_size 'abc' is not a whole number"),
        ("page_size=1000", "page_size 1000 is out of range"),
        ("page_size=1&page_size=2", "page_size is given 2 times"),
        ("limit=5", "unknown query parameter 'limit'"),
        ("page_token=%FF", "query string is not valid UTF-8"),
        ("page_token=not-a-token", "was not issued by this service"),
    ],
)
def test_bad_list_queries_are_400(
    service: SuppressionService, account: str, query: str, message: str
) -> None:
    status, _, body = call(service.wsgi_app, "GET", f"/v1/suppressions/{account}", query=query)
    assert status == 400 and message in error_of(body)["message"]


def test_a_path_that_is_not_utf8_is_400(service: SuppressionService) -> None:
    status, _, body = call(service.wsgi_app, "GET", "/v1/suppressions/acct/%FF@example.com")
    assert status == 400 and error_of(body)["message"] == "the request path is not valid UTF-8"


def test_an_unexpected_failure_is_a_500_without_details(
    dynamodb_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def get_item(self, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals")

    service = SuppressionService(dynamodb_client, table="example-service-tests", create_table=False)
    service.store = SuppressionStore(Broken(), "t")
    status, _, body = call(service.wsgi_app, "GET", "/v1/suppressions/acct/a@example.com")
    assert status == 500 and error_of(body) == {
        "code": "INTERNAL",
        "message": "internal error (the service log has the details)",
    }
    assert b"secret internals" not in body and b"Traceback" not in body
    assert "secret internals" in caplog.text  # the operator still gets the details


def test_every_openapi_reference_resolves(service: SuppressionService) -> None:
    doc = json.loads(call(service.wsgi_app, "GET", "/openapi.json")[2])

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    found = refs(doc)
    assert found
    for ref in found:
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]  # a KeyError names the dangling reference


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_add_bodies = st.fixed_dictionaries(
    {},
    optional={
        "account_id": st.one_of(st.text(max_size=70), st.just("fuzz-acct"), _json_values),
        "email": st.one_of(st.emails(), st.text(max_size=300), _json_values),
        "reason": st.one_of(st.text(max_size=600), _json_values),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_add_bodies)
def test_any_json_body_gets_a_documented_answer_never_a_500(service: SuppressionService, body: Any) -> None:
    status, _, response = call(service.wsgi_app, "POST", "/v1/suppressions", json.dumps(body).encode())
    assert status in (200, 201, 400), response
    if status == 400:
        assert error_of(response)["code"] == "INVALID_ARGUMENT"
    else:
        assert json.loads(response)["suppression"]["email"] == str(body["email"]).lower()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_any_path_under_the_api_gets_json_never_a_500(service: SuppressionService, raw: bytes) -> None:
    path = "/v1/suppressions/" + quote(raw, safe="/:@")
    for method in ("GET", "DELETE"):
        status, _, body = call(service.wsgi_app, method, path)
        assert status in (200, 204, 400, 404, 405), body
        if status >= 400:
            assert error_of(body)["code"]
