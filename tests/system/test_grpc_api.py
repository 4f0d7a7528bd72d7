"""The gRPC API: each operation, its errors, and the standard health service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb


def rpc_error(call: Any, request: Any) -> grpc.RpcError:
    """The RpcError that the unary ``call(request)`` raises (fails the test if it succeeds)."""
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return info.value


def test_add_creates_a_record_that_get_returns(stub: Any, account: str) -> None:
    added = stub.Add(pb.AddRequest(account_id=account, email="bounce@example.com", reason="hard bounce"))
    assert added.created is True
    record = added.suppression
    assert (record.account_id, record.email, record.reason) == (account, "bounce@example.com", "hard bounce")
    assert record.created_at.ToDatetime(tzinfo=UTC) > datetime(2020, 1, 1, tzinfo=UTC)
    assert stub.Get(pb.GetRequest(account_id=account, email="bounce@example.com")) == record


def test_add_is_idempotent_and_keeps_the_first_record(stub: Any, account: str) -> None:
    first = stub.Add(pb.AddRequest(account_id=account, email="twice@example.com", reason="first"))
    second = stub.Add(pb.AddRequest(account_id=account, email="twice@example.com", reason="second"))
    assert (first.created, second.created) == (True, False)
    assert second.suppression == first.suppression  # same reason, same creation time


def test_emails_are_matched_case_insensitively(stub: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="Mixed.Case@Example.COM"))
    got = stub.Get(pb.GetRequest(account_id=account, email="mixed.case@example.com"))
    assert got.email == "mixed.case@example.com"
    again = stub.Add(pb.AddRequest(account_id=account, email="MIXED.CASE@EXAMPLE.COM"))
    assert again.created is False


def test_get_of_a_missing_address_is_not_found(stub: Any, account: str) -> None:
    error = rpc_error(stub.Get, pb.GetRequest(account_id=account, email="nobody@example.com"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "nobody@example.com is not on the suppression list" in error.details()


def test_delete_removes_the_record(stub: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="gone@example.com"))
    assert stub.Delete(pb.DeleteRequest(account_id=account, email="gone@example.com")) == pb.DeleteResponse()
    error = rpc_error(stub.Get, pb.GetRequest(account_id=account, email="gone@example.com"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_delete_of_a_missing_address_is_not_found(stub: Any, account: str) -> None:
    error = rpc_error(stub.Delete, pb.DeleteRequest(account_id=account, email="never@example.com"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_adding_again_after_a_delete_creates_a_new_record(stub: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="back@example.com", reason="old"))
    stub.Delete(pb.DeleteRequest(account_id=account, email="back@example.com"))
    again = stub.Add(pb.AddRequest(account_id=account, email="back@example.com", reason="new"))
    assert again.created is True and again.suppression.reason == "new"


@pytest.mark.parametrize(
    "reason",
    [
        "Zurückgewiesen: Postfach voll",
        "退信：邮箱已满",  # noqa: RUF001 - a real Chinese reason, full-width colon included
        "📧🚫 bounced",
        "line one\nline two\ttabbed",
        "r" * 512,
        "",
    ],
    ids=["german", "chinese", "emoji", "whitespace", "512-chars", "empty"],
)
def test_reasons_round_trip_unchanged(stub: Any, account: str, reason: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="u@example.com", reason=reason))
    assert stub.Get(pb.GetRequest(account_id=account, email="u@example.com")).reason == reason


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        ({"email": "not-an-email"}, "email 'not-an-email' is not an email address"),
        ({"email": ""}, "email is required"),
        ({"email": "a" * 250 + "@example.com"}, "the limit is 254"),
        ({"reason": "r" * 513}, "reason is 513 characters long; the limit is 512"),
        ({"reason": "nul\x00byte"}, "U+0000"),
        ({"account_id": ""}, "account_id is required"),
        ({"account_id": "a/b"}, "account_id 'a/b' is not a valid account id"),
        ({"account_id": "x" * 65}, "is not a valid account id"),
    ],
    ids=[
        "bad-email",
        "no-email",
        "long-email",
        "long-reason",
        "nul-reason",
        "no-account",
        "slash-account",
        "long-account",
    ],
)
def test_invalid_adds_are_invalid_argument(
    stub: Any, account: str, fields: dict[str, str], mentions: str
) -> None:
    request = pb.AddRequest(**{"account_id": account, "email": "ok@example.com", "reason": "r", **fields})
    error = rpc_error(stub.Add, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert mentions in error.details()


@pytest.mark.parametrize(
    ("page_size", "page_token", "mentions"),
    [
        (101, "", "page_size 101 is out of range; use 1-100"),
        (-5, "", "page_size -5 is out of range"),
        (10, "garbage", "page_token 'garbage' was not issued by this service"),
    ],
)
def test_invalid_lists_are_invalid_argument(
    stub: Any, account: str, page_size: int, page_token: str, mentions: str
) -> None:
    error = rpc_error(
        stub.List, pb.ListRequest(account_id=account, page_size=page_size, page_token=page_token)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert mentions in error.details()


def test_the_standard_health_service_reports_serving(grpc_channel: Any) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(grpc_channel)
    for service in ("", "suppression.v1.SuppressionService"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
