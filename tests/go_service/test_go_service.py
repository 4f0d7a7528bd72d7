"""The Go service's API over gRPC and HTTP: the same operations and shapes as the Python example's."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb


def test_go_grpc_add_get_delete(stub: Any, account: str) -> None:
    added = stub.Add(pb.AddRequest(account_id=account, email="Ann@Example.com", reason="bounce"))
    assert added.created and added.suppression.email == "ann@example.com"
    got = stub.Get(pb.GetRequest(account_id=account, email="ann@example.com"))
    assert (got.reason, got.created_at) == ("bounce", added.suppression.created_at)
    stub.Delete(pb.DeleteRequest(account_id=account, email="ann@example.com"))
    with pytest.raises(grpc.RpcError) as missing:
        stub.Get(pb.GetRequest(account_id=account, email="ann@example.com"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_go_grpc_add_is_idempotent(stub: Any, account: str) -> None:
    first = stub.Add(pb.AddRequest(account_id=account, email="b@example.com", reason="first"))
    again = stub.Add(pb.AddRequest(account_id=account, email="b@example.com", reason="second"))
    assert first.created and not again.created
    assert again.suppression.reason == "first"


def test_go_grpc_rejects_bad_arguments(stub: Any, account: str) -> None:
    for request in (
        pb.AddRequest(account_id=account, email="not-an-address"),
        pb.AddRequest(account_id="", email="a@example.com"),
        pb.AddRequest(account_id=account, email="a@example.com", reason="x" * 513),
    ):
        with pytest.raises(grpc.RpcError) as bad:
            stub.Add(request)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request


def test_go_grpc_lists_in_pages(stub: Any, account: str) -> None:
    emails = [f"user{i:02d}@example.com" for i in range(7)]
    for email in reversed(emails):
        stub.Add(pb.AddRequest(account_id=account, email=email))
    seen, token = [], ""
    while True:
        page = stub.List(pb.ListRequest(account_id=account, page_size=3, page_token=token))
        assert len(page.suppressions) <= 3
        seen += [s.email for s in page.suppressions]
        token = page.next_page_token
        if not token:
            break
    assert seen == emails


def test_go_grpc_export_streams_every_suppression(stub: Any, account: str) -> None:
    for i in range(5):
        stub.Add(pb.AddRequest(account_id=account, email=f"e{i}@example.com"))
    streamed = [s.email for s in stub.Export(pb.ExportRequest(account_id=account))]
    assert streamed == [f"e{i}@example.com" for i in range(5)]


def test_go_http_round_trip(http: Any, account: str) -> None:
    created = http.post(
        "/v1/suppressions", json={"account_id": account, "email": "C@example.com", "reason": "r"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["suppression"]["email"] == "c@example.com"
    assert (
        http.post("/v1/suppressions", json={"account_id": account, "email": "c@example.com"}).status_code
        == 200
    )
    got = http.get(f"/v1/suppressions/{account}/c@example.com")
    assert got.status_code == 200 and got.json()["reason"] == "r"
    assert http.delete(f"/v1/suppressions/{account}/c@example.com").status_code == 204
    missing = http.get(f"/v1/suppressions/{account}/c@example.com")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_go_http_bad_body_is_400(http: Any, account: str) -> None:
    answer = http.post("/v1/suppressions", data=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "INVALID_ARGUMENT"


def test_go_http_list_and_export(http: Any, account: str) -> None:
    for i in range(4):
        http.post("/v1/suppressions", json={"account_id": account, "email": f"h{i}@example.com"})
    page = http.get(f"/v1/suppressions/{account}", params={"page_size": 3}).json()
    assert len(page["suppressions"]) == 3 and page["next_page_token"]
    rest = http.get(f"/v1/suppressions/{account}", params={"page_token": page["next_page_token"]}).json()
    assert [s["email"] for s in rest["suppressions"]] == ["h3@example.com"] and rest["next_page_token"] == ""
    export = http.get(f"/v1/suppressions/{account}:export")
    assert export.headers["Content-Type"] == "application/x-ndjson"
    assert [json.loads(line)["email"] for line in export.text.splitlines()] == [
        f"h{i}@example.com" for i in range(4)
    ]


def test_go_grpc_and_http_share_one_store(stub: Any, http: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="x@example.com", reason="via grpc"))
    assert http.get(f"/v1/suppressions/{account}/x@example.com").json()["reason"] == "via grpc"
    http.post(
        "/v1/suppressions", json={"account_id": account, "email": "y@example.com", "reason": "via http"}
    )
    assert stub.Get(pb.GetRequest(account_id=account, email="y@example.com")).reason == "via http"


@pytest.mark.local_only
def test_go_service_writes_the_embedded_dynamodb(stub: Any, dynamodb: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="z@example.com"))
    item = dynamodb.get_item(
        TableName="suppressions", Key={"account_id": {"S": account}, "email": {"S": "z@example.com"}}
    )["Item"]
    assert item["created_at_ms"]["N"].isdigit()


@pytest.mark.local_only
def test_go_unsigned_calls_are_refused_by_the_front_door(
    dualmode_grpc_addr: str, dualmode_signer: Any, account: str
) -> None:
    if dualmode_signer is None:
        pytest.skip("--no-sigv4: no front door to refuse anything")
    from example_service.gen.suppression.v1 import suppression_pb2_grpc

    with grpc.insecure_channel(dualmode_grpc_addr) as channel, pytest.raises(grpc.RpcError) as refused:
        suppression_pb2_grpc.SuppressionServiceStub(channel).Get(
            pb.GetRequest(account_id=account, email="a@example.com"), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
