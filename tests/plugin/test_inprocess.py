"""The in-process DynamoDB path gives moto's own answers, and changes nothing outside its client.

A battery of DynamoDB operations (every attribute type, nested values, errors, pagination,
transactions, table descriptions with timestamps) runs through a real boto3 client answered
in-process, and again through the embedded DynamoDB's HTTP endpoint (moto's server app on a real
socket); every answer must be the same.
"""

from __future__ import annotations

import datetime
import io
import random
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_dualmode.local import inprocess
from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB

TABLE = "battery"


def _random_value(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A random DynamoDB AttributeValue, nesting maps and lists up to three levels."""
    kinds = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"] + (["M", "L"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "S":
        return {"S": rng.choice(["", "plain", "ünïcode ✓", "with.dot", "x" * rng.randint(1, 50)])}
    if kind == "N":
        return {"N": rng.choice(["0", "-1", "3.14159", "1E+10", str(rng.randint(-(10**12), 10**12))])}
    if kind == "B":
        return {"B": bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": sorted({f"s{rng.randint(0, 99)}" for _ in range(rng.randint(1, 4))})}
    if kind == "NS":
        return {"NS": sorted({str(rng.randint(0, 99)) for _ in range(rng.randint(1, 4))})}
    if kind == "BS":
        return {"BS": sorted({bytes([rng.randrange(256)]) for _ in range(rng.randint(1, 4))})}
    if kind == "M":
        return {"M": {f"f{i}": _random_value(rng, depth + 1) for i in range(rng.randint(0, 4))}}
    return {"L": [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]}


def _battery(client: Any) -> None:
    """Every kind of request the tests compare: writes, reads, pages, errors, transactions, tables."""
    from botocore.exceptions import ClientError

    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "team", "Value": "dualmode"}],
    )
    client.describe_table(TableName=TABLE)
    client.list_tables(Limit=1)
    rng = random.Random(20261127)
    for i in range(30):
        item = {"pk": {"S": f"p{i % 3}"}, "sk": {"N": str(i)}, "g": {"S": f"g{i % 2}"}}
        item.update({f"a{j}": _random_value(rng) for j in range(rng.randint(0, 6))})
        client.put_item(TableName=TABLE, Item=item, ReturnConsumedCapacity="TOTAL")
    client.get_item(TableName=TABLE, Key={"pk": {"S": "p0"}, "sk": {"N": "0"}}, ConsistentRead=True)
    client.get_item(TableName=TABLE, Key={"pk": {"S": "p0"}, "sk": {"N": "999"}})
    client.get_item(
        TableName=TABLE,
        Key={"pk": {"S": "p1"}, "sk": {"N": "1"}},
        ProjectionExpression="pk, #g",
        ExpressionAttributeNames={"#g": "g"},
        ReturnConsumedCapacity="INDEXES",
    )
    page = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p2"}},
        Limit=4,
    )
    client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p2"}},
        ExclusiveStartKey=page["LastEvaluatedKey"],
        ScanIndexForward=False,
    )
    client.query(
        TableName=TABLE,
        IndexName="by-g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "g1"}},
        Select="COUNT",
    )
    client.scan(TableName=TABLE, FilterExpression="sk > :n", ExpressionAttributeValues={":n": {"N": "20"}})
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "p0"}, "sk": {"N": "3"}},
        UpdateExpression="SET hits = if_not_exists(hits, :z) + :one, labels = :t",
        ExpressionAttributeValues={":z": {"N": "0"}, ":one": {"N": "1"}, ":t": {"SS": ["a", "b"]}},
        ReturnValues="ALL_NEW",
    )
    client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "p0"}, "sk": {"N": "3"}},
        UpdateExpression="REMOVE labels",
        ReturnValues="UPDATED_OLD",
    )
    client.delete_item(TableName=TABLE, Key={"pk": {"S": "p1"}, "sk": {"N": "4"}}, ReturnValues="ALL_OLD")
    with pytest.raises(ClientError):
        client.put_item(
            TableName=TABLE,
            Item={"pk": {"S": "p0"}, "sk": {"N": "0"}},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    with pytest.raises(ClientError):
        client.get_item(TableName="missing", Key={"pk": {"S": "x"}})
    with pytest.raises(ClientError):
        client.get_item(TableName=TABLE, Key={"pk": {"S": ""}, "sk": {"N": "1"}})
    client.batch_write_item(
        RequestItems={
            TABLE: [
                {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": str(n)}, "v": {"B": b"\x00\xff"}}}}
                for n in range(5)
            ]
        }
    )
    client.batch_get_item(
        RequestItems={TABLE: {"Keys": [{"pk": {"S": "b"}, "sk": {"N": str(n)}} for n in range(5)]}}
    )
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "t"}, "sk": {"N": "1"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "t"}, "sk": {"N": "2"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"L": [{"N": "1"}, {"M": {"x": {"NULL": True}}}]}},
                }
            },
        ]
    )
    with pytest.raises(ClientError):
        client.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "t"}, "sk": {"N": "1"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
        )
    client.transact_get_items(
        TransactItems=[{"Get": {"TableName": TABLE, "Key": {"pk": {"S": "t"}, "sk": {"N": "2"}}}}]
    )
    arn = client.describe_table(TableName=TABLE)["Table"]["TableArn"]
    client.list_tags_of_resource(ResourceArn=arn)
    client.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    client.describe_time_to_live(TableName=TABLE)
    client.describe_continuous_backups(TableName=TABLE)
    client.delete_table(TableName=TABLE)


@pytest.fixture
def db() -> Iterator[EmbeddedDynamoDB]:
    """A fresh embedded DynamoDB, stopped (and emptied) after the test."""
    with EmbeddedDynamoDB() as running:
        yield running


VOLATILE = {"ResponseMetadata", "TableId", "RequestId"}  # new for every table or request


def _stable(value: Any) -> Any:
    """``value`` with what differs between two runs of the battery (ids, timestamps) blanked."""
    if isinstance(value, dict):
        return {k: "<volatile>" if k in VOLATILE else _stable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return "<time>"
    return value


def _answers(client: Any) -> list[tuple[str, int, Any]]:
    """Run the battery on ``client``; every operation's name, HTTP status and parsed answer."""
    seen: list[tuple[str, int, Any]] = []

    def record(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        seen.append((model.name, http_response.status_code, _stable(parsed)))

    client.meta.events.register("after-call.dynamodb", record)
    _battery(client)
    return seen


def test_in_process_answers_are_those_of_moto_s_server_over_http() -> None:
    with EmbeddedDynamoDB() as db:
        in_process = _answers(db.client())
    with EmbeddedDynamoDB() as db:
        over_http = _answers(db.client(in_process=False))
    assert len(in_process) > 40
    assert {"GetItem", "Query", "Scan", "TransactWriteItems", "DescribeTable", "BatchGetItem"} <= {
        name for name, _, _ in in_process
    }
    assert {status for _, status, _ in in_process} >= {200, 400}  # answers and errors alike
    assert in_process == over_http


def test_in_process_use_changes_nothing_outside_its_client(db: EmbeddedDynamoDB) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError
    from moto.core import responses, utils

    db.client().list_tables()
    # No process-wide patch: moto's own function in moto's module, as imported.
    assert responses.method_names_from_class is utils.method_names_from_class
    # Another client of the same endpoint still goes over the socket: stop it, and it cannot connect.
    other = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=db.url,
        region_name=db.region,
        aws_access_key_id="AKIDX",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    in_process = db.client()
    db.stop()
    assert in_process.list_tables()["TableNames"] == []  # in-process needs no socket
    with pytest.raises(EndpointConnectionError):
        other.list_tables()


def test_an_unusual_request_is_answered_as_moto_s_server_answers_it(db: EmbeddedDynamoDB) -> None:
    """Bytes header values, a body given as a stream, a query string: moto's server path takes them all."""
    import requests
    from botocore.awsrequest import AWSRequest

    body = b'{"Limit": 1}'
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": b"DynamoDB_20120810.ListTables"}
    prepared = AWSRequest(
        method="POST", url=f"{db.url}/?x=1", data=io.BytesIO(body), headers=headers
    ).prepare()
    ours = inprocess.send(prepared, authorization=_authorization(db))
    theirs = requests.post(
        f"{db.url}/?x=1",
        data=body,
        headers={
            **{k: v.decode() if isinstance(v, bytes) else v for k, v in headers.items()},
            "Authorization": _authorization(db),
        },
        timeout=10,
    )
    assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content)
    assert ours.status_code == 200


def _authorization(db: EmbeddedDynamoDB) -> str:
    """An unsigned ``Authorization`` header naming the embedded DynamoDB's key and region, as
    :func:`inprocess.attach` sends."""
    from pytest_dualmode.local.fake_aws import FAKE_KEY_ID

    scope = f"{FAKE_KEY_ID}/20000101/{db.region}/dynamodb/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"
