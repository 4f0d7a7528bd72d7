"""gRPC messages with invalid fields: each gets ``INVALID_ARGUMENT`` with a message naming the field; bytes
that are not a message at all are refused by grpcio, and the server keeps serving."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb

pytestmark = pytest.mark.reliability

OK = {"account_id": "acct-1", "email": "a@example.com"}

# (id, method, request, fragment of the status details)
CASES: list[tuple[str, str, Any, str]] = [
    ("add-empty-account", "Add", pb.AddRequest(email="a@example.com"), "account_id is required"),
    (
        "add-account-slash",
        "Add",
        pb.AddRequest(account_id="a/b", email="a@example.com"),
        "not a valid account id",
    ),
    ("add-account-long", "Add", pb.AddRequest(account_id="a" * 65, email="a@example.com"), "1-64 letters"),
    (
        "add-account-unicode",
        "Add",
        pb.AddRequest(account_id="ácct", email="a@example.com"),
        "not a valid account",
    ),
    ("add-empty-email", "Add", pb.AddRequest(account_id="acct-1"), "email is required"),
    (
        "add-email-no-at",
        "Add",
        pb.AddRequest(account_id="acct-1", email="nobody"),
        "use the form name@example.com",
    ),
    (
        "add-email-numeric-tld",
        "Add",
        pb.AddRequest(account_id="a", email="a@1.2.3.4"),
        "is not an email address",
    ),
    ("add-email-unicode", "Add", pb.AddRequest(account_id="a", email="ü@example.com"), "is not ASCII"),
    (
        "add-email-huge",
        "Add",
        pb.AddRequest(account_id="a", email="a" * 100_000 + "@x.io"),
        "the limit is 254",
    ),
    ("add-reason-long", "Add", pb.AddRequest(**OK, reason="r" * 513), "reason is 513 characters long"),
    ("add-reason-escape", "Add", pb.AddRequest(**OK, reason="\x1b[31mred"), "U+001B"),
    (
        "add-inject",
        "Add",
        pb.AddRequest(account_id="x' OR 1=1 --", email="a@example.com"),
        "not a valid account",
    ),
    ("get-bad-email", "Get", pb.GetRequest(account_id="acct-1", email="@"), "is not an email address"),
    ("delete-no-account", "Delete", pb.DeleteRequest(email="a@example.com"), "account_id is required"),
    (
        "list-size-negative",
        "List",
        pb.ListRequest(account_id="acct-1", page_size=-5),
        "page_size -5 is out of range",
    ),
    ("list-size-huge", "List", pb.ListRequest(account_id="acct-1", page_size=2**31 - 1), "is out of range"),
    (
        "list-token-garbage",
        "List",
        pb.ListRequest(account_id="acct-1", page_token="zzz"),
        "not issued by this",
    ),
    ("list-token-huge", "List", pb.ListRequest(account_id="acct-1", page_token="A" * 100_000), "not issued"),
    ("export-bad-account", "Export", pb.ExportRequest(account_id="-leading-dash"), "not a valid account id"),
]


@pytest.mark.parametrize(("method", "message", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_invalid_field_gets_invalid_argument_naming_it(
    stub: Any,
    service_log: Any,
    figures: Any,
    request: pytest.FixtureRequest,
    method: str,
    message: Any,
    fragment: str,
) -> None:
    call = getattr(stub, method)
    with pytest.raises(grpc.RpcError) as info:
        response = call(message, timeout=10)
        if method == "Export":
            list(response)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert fragment in details
    assert len(details) < 600  # a huge input is never echoed whole
    figures.add("bad_input", request.node.callspec.id, area="example service gRPC messages")


@pytest.mark.parametrize(
    "payload",
    [b"\x0a\x02\xff\xfe\x12\x0da@example.com", b"\xff\xff\xff\xff", b"\x0a\x05abc"],
    ids=["string-not-utf8", "not-protobuf", "truncated"],
)
def test_bytes_that_are_not_a_message_are_refused_and_the_server_keeps_serving(
    grpc_addr: str, stub: Any, account: str, figures: Any, request: pytest.FixtureRequest, payload: bytes
) -> None:
    with grpc.insecure_channel(grpc_addr) as channel:
        raw = channel.unary_unary("/suppression.v1.SuppressionService/Add")
        with pytest.raises(grpc.RpcError) as info:
            raw(payload, timeout=10)
    # grpcio answers a request it cannot parse with INTERNAL before the servicer runs (docs/reliability.md)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "Exception deserializing request!"
    added = stub.Add(pb.AddRequest(account_id=account, email="after@example.com"), timeout=10)
    assert added.created
    figures.add("bad_input", f"grpc-{request.node.callspec.id}", area="example service gRPC messages")
