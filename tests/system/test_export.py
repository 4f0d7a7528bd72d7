"""The export: every suppression of an account, streamed over gRPC and as NDJSON over HTTP."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb


@pytest.fixture
def thirty(stub: Any, account: str) -> list[str]:
    """30 addresses added to the test's account; returns them in email order."""
    emails = [f"export{i:02}@example.com" for i in range(30)]
    for email in emails:
        stub.Add(pb.AddRequest(account_id=account, email=email, reason=f"reason of {email}"))
    return emails


def test_grpc_export_streams_every_record_in_order(stub: Any, account: str, thirty: list[str]) -> None:
    records = list(stub.Export(pb.ExportRequest(account_id=account)))
    assert [r.email for r in records] == thirty
    assert all(r.account_id == account and r.reason == f"reason of {r.email}" for r in records)


def test_http_export_streams_ndjson(http: Any, account: str, thirty: list[str]) -> None:
    response = http.get(f"/v1/suppressions/{account}:export", stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    records = [json.loads(line) for line in response.iter_lines() if line]
    assert [r["email"] for r in records] == thirty


def test_exports_of_an_empty_account_are_empty(stub: Any, http: Any, account: str) -> None:
    assert list(stub.Export(pb.ExportRequest(account_id=account))) == []
    response = http.get(f"/v1/suppressions/{account}:export")
    assert response.status_code == 200 and response.content == b""


def test_export_of_an_invalid_account_is_refused_on_both_transports(stub: Any, http: Any) -> None:
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Export(pb.ExportRequest(account_id="-bad-")))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    response = http.get("/v1/suppressions/-bad-:export")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == info.value.details()


def test_a_partly_read_export_can_be_abandoned(stub: Any, account: str, thirty: list[str]) -> None:
    stream = stub.Export(pb.ExportRequest(account_id=account))
    assert next(stream).email == thirty[0]
    stream.cancel()
    assert stub.Get(pb.GetRequest(account_id=account, email=thirty[1])).email == thirty[1]  # still serving
