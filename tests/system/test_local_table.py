"""Local mode only: look at the DynamoDB table behind the service through the ``dynamodb`` fixture."""

from __future__ import annotations

from typing import Any

import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb

pytestmark = pytest.mark.local_only

TABLE = "suppressions"


def test_the_table_comes_from_the_services_template(
    dynamodb: Any, dualmode_settings: Any, stub: Any, account: str
) -> None:
    # --dynamodb-tables (set in the ini) created it when the local DynamoDB started, as staging's stack does.
    assert any(path.endswith("example_service/tables.yaml") for path in dualmode_settings.dynamodb_tables)
    stub.Add(pb.AddRequest(account_id=account, email="t@example.com"))  # the service is up, on that table
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # Only the template declares a stream: the table the service creates when it finds none has no
    # stream, so this fails if the service (not the template) made it.
    assert table.get("StreamSpecification") == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_table_has_the_documented_keys(dynamodb: Any, stub: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="k@example.com"))  # the service is up
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("account_id", "HASH"),
        ("email", "RANGE"),
    }


def test_an_add_is_one_item_in_the_table(dynamodb: Any, stub: Any, account: str) -> None:
    added = stub.Add(pb.AddRequest(account_id=account, email="Item@Example.com", reason="why")).suppression
    items = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="account_id = :a",
        ExpressionAttributeValues={":a": {"S": account}},
        ConsistentRead=True,
    )["Items"]
    assert items == [
        {
            "account_id": {"S": account},
            "email": {"S": "item@example.com"},
            "reason": {"S": "why"},
            "created_at_ms": {"N": str(added.created_at.ToMilliseconds())},
        }
    ]


def test_an_item_written_directly_is_served_by_both_apis(
    dynamodb: Any, stub: Any, http: Any, account: str
) -> None:
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "account_id": {"S": account},
            "email": {"S": "direct@example.com"},
            "reason": {"S": "imported"},
            "created_at_ms": {"N": "1700000000123"},
        },
    )
    assert stub.Get(pb.GetRequest(account_id=account, email="direct@example.com")).reason == "imported"
    body = http.get(f"/v1/suppressions/{account}/direct@example.com").json()
    assert body["created_at"] == "2023-11-14T22:13:20.123Z"


def test_a_delete_removes_the_item(dynamodb: Any, stub: Any, account: str) -> None:
    stub.Add(pb.AddRequest(account_id=account, email="rm@example.com"))
    stub.Delete(pb.DeleteRequest(account_id=account, email="rm@example.com"))
    key = {"account_id": {"S": account}, "email": {"S": "rm@example.com"}}
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
