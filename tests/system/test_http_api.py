"""The HTTP JSON API: each route, its status codes, and its JSON error bodies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

BASE = "/v1/suppressions"


def add(http: Any, account: str, email: str, reason: str = "r") -> Any:
    return http.post(BASE, json={"account_id": account, "email": email, "reason": reason})


def error_of(response: Any) -> dict[str, str]:
    """The ``{"error": {"code", "message"}}`` body of an error response (checked to have that shape)."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return dict(body["error"])


def test_post_creates_201_then_returns_the_existing_record_200(http: Any, account: str) -> None:
    created = add(http, account, "new@example.com", "complaint")
    assert created.status_code == 201
    assert created.headers["Location"] == f"{BASE}/{account}/new@example.com"
    body = created.json()
    assert body["created"] is True
    assert body["suppression"]["reason"] == "complaint"
    again = add(http, account, "NEW@example.com", "something else")
    assert again.status_code == 200
    assert again.json() == {"suppression": body["suppression"], "created": False}


def test_get_returns_the_record(http: Any, account: str) -> None:
    add(http, account, "read@example.com", "bounce")
    got = http.get(f"{BASE}/{account}/read@example.com")
    assert got.status_code == 200
    record = got.json()
    assert {k: record[k] for k in ("account_id", "email", "reason")} == {
        "account_id": account,
        "email": "read@example.com",
        "reason": "bounce",
    }
    assert record["created_at"].endswith("Z")


def test_get_of_a_missing_address_is_404_with_a_json_error(http: Any, account: str) -> None:
    missing = http.get(f"{BASE}/{account}/nobody@example.com")
    assert missing.status_code == 404
    assert error_of(missing) == {
        "code": "NOT_FOUND",
        "message": f"nobody@example.com is not on the suppression list of account {account}",
    }


def test_delete_is_204_then_404(http: Any, account: str) -> None:
    add(http, account, "del@example.com")
    deleted = http.delete(f"{BASE}/{account}/del@example.com")
    assert deleted.status_code == 204 and deleted.content == b""
    again = http.delete(f"{BASE}/{account}/del@example.com")
    assert again.status_code == 404 and error_of(again)["code"] == "NOT_FOUND"


def test_healthz(http: Any) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "SERVING"}


def test_the_openapi_document_is_served(http: Any) -> None:
    doc = http.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.") and f"{BASE}/{{account_id}}/{{email}}" in doc["paths"]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"email": "no-at-sign"}, "email 'no-at-sign' is not an email address"),
        ({"email": "a@b@example.com"}, "is not an email address"),
        ({"reason": "x" * 513}, "reason is 513 characters long; the limit is 512"),
        ({"account_id": "has space"}, "account_id 'has space' is not a valid account id"),
        ({"email": 12345}, "email must be a string, got int"),
        ({"extra": "field"}, "unknown field 'extra'"),
    ],
    ids=["no-at", "two-ats", "long-reason", "bad-account", "number-email", "unknown-field"],
)
def test_invalid_bodies_are_400(http: Any, account: str, body: dict[str, Any], mentions: str) -> None:
    response = http.post(BASE, json={"account_id": account, "email": "ok@example.com", **body})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "INVALID_ARGUMENT" and mentions in error["message"]


def test_malformed_json_is_400(http: Any) -> None:
    response = http.post(
        BASE, data=b'{"account_id": "a", "email": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "not valid JSON" in error_of(response)["message"]


def test_a_wrong_content_type_is_415(http: Any, account: str) -> None:
    response = http.post(
        BASE,
        data=f"account_id={account}&email=a@example.com",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415 and error_of(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_an_oversize_body_is_413(http: Any, account: str) -> None:
    body = json.dumps({"account_id": account, "email": "big@example.com", "reason": "x" * 70_000})
    response = http.post(BASE, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_of(response)["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("path", ["/v2/suppressions", "/nope", f"{BASE}/"])
def test_an_unknown_route_is_404_json(http: Any, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404 and error_of(response)["code"] == "NOT_FOUND"


def test_a_wrong_method_is_405(http: Any, account: str) -> None:
    response = http.put(f"{BASE}/{account}/a@example.com", json={})
    assert response.status_code == 405 and response.headers["Allow"] == "GET, DELETE"
    assert error_of(response)["code"] == "METHOD_NOT_ALLOWED"


def test_a_bad_page_token_is_400_not_500(http: Any, account: str) -> None:
    response = http.get(f"{BASE}/{account}", params={"page_token": "eyJub3QiOiJvdXJzIn0"})
    assert response.status_code == 400
    assert "was not issued by this service" in error_of(response)["message"]


def test_injection_looking_values_are_stored_verbatim(http: Any, account: str) -> None:
    reasons = [
        "'; DROP TABLE suppressions; --",
        '{"$ne": null}',
        "<script>alert(1)</script>",
        "${jndi:ldap://x}",
    ]
    for i, reason in enumerate(reasons):
        assert add(http, account, f"inj{i}@example.com", reason).status_code == 201
    page = http.get(f"{BASE}/{account}").json()
    assert [s["reason"] for s in page["suppressions"]] == reasons


def test_addresses_with_special_characters_are_reachable_by_path(http: Any, account: str) -> None:
    emails = ["first.last+tag@example.com", "o'brien@example.com", "a/b@example.com", "x%y@example.com"]
    for email in emails:
        assert add(http, account, email).status_code == 201
    for email in emails:
        got = http.get(f"{BASE}/{account}/{quote(email, safe='@')}")
        assert got.status_code == 200 and got.json()["email"] == email
