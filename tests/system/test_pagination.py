"""List pagination over both transports: several pages, opaque tokens, no gaps and no repeats."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb

EMAILS = [f"user{i:02}@example.com" for i in range(25)]


@pytest.fixture
def filled(stub: Any, account: str) -> str:
    """An account with the 25 addresses of EMAILS, added in reverse order."""
    for email in reversed(EMAILS):
        stub.Add(pb.AddRequest(account_id=account, email=email, reason="bulk"))
    return account


def test_25_items_in_pages_of_10_over_grpc(stub: Any, filled: str) -> None:
    pages: list[list[str]] = []
    token = ""
    for _ in range(10):  # bounded: a token that never ends would fail the test, not hang it
        page = stub.List(pb.ListRequest(account_id=filled, page_size=10, page_token=token))
        pages.append([s.email for s in page.suppressions])
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [email for page in pages for email in page] == EMAILS  # in email order, each exactly once


def test_25_items_in_pages_of_10_over_http(http: Any, filled: str) -> None:
    pages: list[list[str]] = []
    params = {"page_size": "10"}
    for _ in range(10):
        response = http.get(f"/v1/suppressions/{filled}", params=params)
        assert response.status_code == 200
        body = response.json()
        pages.append([s["email"] for s in body["suppressions"]])
        if not body["next_page_token"]:
            break
        params["page_token"] = body["next_page_token"]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [email for page in pages for email in page] == EMAILS


def test_a_grpc_page_token_continues_over_http(stub: Any, http: Any, filled: str) -> None:
    first = stub.List(pb.ListRequest(account_id=filled, page_size=20))
    rest = http.get(f"/v1/suppressions/{filled}", params={"page_token": first.next_page_token}).json()
    assert [s.email for s in first.suppressions] + [s["email"] for s in rest["suppressions"]] == EMAILS
    assert rest["next_page_token"] == ""


def test_the_default_page_holds_everything_of_a_small_account(http: Any, stub: Any, account: str) -> None:
    for email in ("c@example.com", "a@example.com", "b@example.com"):
        stub.Add(pb.AddRequest(account_id=account, email=email))
    body = http.get(f"/v1/suppressions/{account}").json()
    assert [s["email"] for s in body["suppressions"]] == ["a@example.com", "b@example.com", "c@example.com"]
    assert body["next_page_token"] == ""


def test_an_empty_account_lists_nothing(stub: Any, account: str) -> None:
    page = stub.List(pb.ListRequest(account_id=account, page_size=5))
    assert list(page.suppressions) == [] and page.next_page_token == ""


def test_writes_between_pages_are_seen_by_the_next_page(stub: Any, filled: str) -> None:
    first = stub.List(pb.ListRequest(account_id=filled, page_size=10))
    stub.Add(pb.AddRequest(account_id=filled, email="zzz-late@example.com"))  # sorts after the cursor
    stub.Delete(pb.DeleteRequest(account_id=filled, email=EMAILS[24]))
    rest: list[str] = []
    token = first.next_page_token
    for _ in range(10):
        page = stub.List(pb.ListRequest(account_id=filled, page_size=10, page_token=token))
        rest += [s.email for s in page.suppressions]
        token = page.next_page_token
        if not token:
            break
    assert rest == [*EMAILS[10:24], "zzz-late@example.com"]


def test_a_token_only_continues_its_own_account(stub: Any, filled: str, account: str) -> None:
    token = stub.List(pb.ListRequest(account_id=filled, page_size=5)).next_page_token
    other = account + "-other"
    with pytest.raises(grpc.RpcError) as info:
        stub.List(pb.ListRequest(account_id=other, page_size=5, page_token=token))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "belongs to another account's listing" in info.value.details()
