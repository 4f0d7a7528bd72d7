"""Both APIs over one store: what one transport writes, the other reads at once (read-your-writes)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from example_service.gen.suppression.v1 import suppression_pb2 as pb


def test_a_grpc_write_is_read_over_http_at_once(stub: Any, http: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="g2h@example.com", reason="from gRPC"))
    got = http.get(f"/v1/suppressions/{account}/g2h@example.com")
    assert got.status_code == 200 and got.json()["reason"] == "from gRPC"


def test_an_http_write_is_read_over_grpc_at_once(stub: Any, http: Any, account: str) -> None:
    posted = http.post(
        "/v1/suppressions", json={"account_id": account, "email": "h2g@example.com", "reason": "h"}
    )
    assert posted.status_code == 201
    assert stub.Get(pb.GetRequest(account_id=account, email="h2g@example.com")).reason == "h"


def test_an_http_delete_is_seen_over_grpc(stub: Any, http: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="del@example.com"))
    assert http.delete(f"/v1/suppressions/{account}/del@example.com").status_code == 204
    assert [s.email for s in stub.List(pb.ListRequest(account_id=account)).suppressions] == []


def test_both_transports_return_the_same_record(stub: Any, http: Any, account: str) -> None:
    added = stub.Add(
        pb.AddRequest(account_id=account, email="same@example.com", reason="Grüße ✓")
    ).suppression
    body = http.get(f"/v1/suppressions/{account}/same@example.com").json()
    assert (body["account_id"], body["email"], body["reason"]) == (
        added.account_id,
        added.email,
        added.reason,
    )
    http_time = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert http_time == added.created_at.ToDatetime(tzinfo=UTC)


def test_an_add_over_http_after_grpc_is_not_created_again(stub: Any, http: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="once@example.com", reason="grpc"))
    again = http.post(
        "/v1/suppressions", json={"account_id": account, "email": "once@example.com", "reason": "http"}
    )
    assert again.status_code == 200 and again.json()["suppression"]["reason"] == "grpc"


def test_concurrent_adds_of_one_address_create_it_exactly_once(stub: Any, account: str) -> None:
    request = pb.AddRequest(account_id=account, email="race@example.com", reason="racing")
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: stub.Add(request), range(8)))
    assert sum(r.created for r in responses) == 1
    assert len({r.suppression.SerializeToString() for r in responses}) == 1  # all report the one record
