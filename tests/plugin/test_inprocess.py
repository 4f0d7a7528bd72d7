"""The in-process DynamoDB path gives moto's own answers, byte for byte, only faster.

Each test drives a battery of DynamoDB operations (every attribute type, nested values, errors,
pagination, transactions, table descriptions with timestamps) through a real boto3 client and
compares the fast steps of ``pytest_dualmode.local.inprocess`` with moto's own, on the same input.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
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


def test_the_fast_serializer_writes_moto_s_bytes_for_every_answer(
    db: EmbeddedDynamoDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.responses import DynamoHandler

    fast_handler = inprocess._handler_class()
    assert fast_handler is not DynamoHandler, "moto's internals changed: the fast path is off"
    compared: list[str] = []

    class Checking(fast_handler):  # type: ignore[misc,valid-type]
        def serialized(self, action_result: Any) -> Any:
            stock = DynamoHandler.serialized(self, action_result)
            fast = super().serialized(action_result)
            assert (fast[0], fast[2]) == (stock[0], stock[2]), self._get_action()
            same = {k: v for k, v in fast[1].items() if k.lower() != "date"}
            assert same == {k: v for k, v in stock[1].items() if k.lower() != "date"}
            compared.append(self._get_action())
            return fast

    monkeypatch.setattr(inprocess, "_handler_class", lambda: Checking)
    _battery(db.client())
    # Every operation of the battery was answered, and compared, through the fast serializer.
    assert len(compared) > 40
    assert {"GetItem", "Query", "Scan", "TransactWriteItems", "DescribeTable", "BatchGetItem"} <= set(
        compared
    )


def _recording(calls: list[tuple[Any, str, Any]]) -> Callable[[Any], Any]:
    """``moto_request_and_url`` that also builds moto's own request from the same botocore request."""
    from moto.core.request import normalize_request

    real = inprocess.moto_request_and_url

    def both(request: Any) -> Any:
        ours, raw_url = real(request)
        calls.append((ours, raw_url, normalize_request(request)))
        return ours, raw_url

    return both


def _comparable(environ: dict[str, Any]) -> list[tuple[str, Any]]:
    """The environ in order, with its objects replaced by what they hold or stand for."""
    out: list[tuple[str, Any]] = []
    for key, value in environ.items():
        if key == "wsgi.input":
            position = value.tell()
            value.seek(0)
            out.append((key, ("input", value.read())))
            value.seek(position)
        elif key in ("werkzeug.request", "wsgi.errors"):
            out.append((key, type(value).__name__))
        else:
            out.append((key, value))
    return out


@pytest.mark.parametrize(
    "endpoint", [None, "http://localhost", "http://localhost:80", "http://LocalHost:8000"]
)
def test_moto_requests_are_built_as_moto_builds_them(
    db: EmbeddedDynamoDB, monkeypatch: pytest.MonkeyPatch, endpoint: str | None
) -> None:
    calls: list[tuple[Any, str, Any]] = []
    monkeypatch.setattr(inprocess, "moto_request_and_url", _recording(calls))
    if endpoint is None:
        client = db.client()
    else:
        import boto3

        client = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=db.region,
            aws_access_key_id="AKIDX",
            aws_secret_access_key="x",
        )
        inprocess.attach(client, key_id="AKIDX", region=db.region)
    _battery(client)
    assert len(calls) > 40
    for ours, raw_url, theirs in calls:
        assert _comparable(ours.environ) == _comparable(theirs.environ)
        # the body as werkzeug's form parser leaves it: read, no form, no files
        for attribute in ("form", "files", "values", "args"):
            mine, stock = getattr(ours, attribute), getattr(theirs, attribute)
            assert (type(mine), mine.to_dict(flat=False)) == (type(stock), stock.to_dict(flat=False))
        assert (ours.get_data(), ours.stream.read()) == (theirs.get_data(), theirs.stream.read())
        # the remembered URL is werkzeug's, for the first request and every later one
        assert (ours.data, raw_url, ours.raw_url, list(ours.headers.items())) == (
            theirs.data,
            theirs.raw_url,
            theirs.raw_url,
            list(theirs.headers.items()),
        )


@pytest.mark.parametrize(
    ("url", "method", "body", "headers"),
    [
        ("https://127.0.0.1:4566/", "POST", b"{}", {}),
        ("http://127.0.0.1:4566/?x=1", "POST", b"{}", {}),
        ("http://127.0.0.1:4566/path", "POST", b"{}", {}),
        ("http://[::1]:4566/", "POST", b"{}", {}),
        ("http://LocalHost:4566/", "POST", b"{}", {}),
        ("http://user@localhost:4566/", "POST", b"{}", {}),
        ("http://127.0.0.1:4566/", "GET", None, {}),
        ("http://127.0.0.1:4566/", "POST", b"{}", {"Host": "elsewhere"}),
        ("http://127.0.0.1:4566/", "POST", b"{}", {"x-amz-meta-my_key": "v"}),
    ],
    ids=[
        "https",
        "query",
        "path",
        "ipv6",
        "upper-case-host",
        "user-info",
        "get",
        "host-field",
        "underscore-name",
    ],
)
def test_requests_off_the_dynamodb_shape_take_moto_s_own_path(
    url: str, method: str, body: bytes | None, headers: dict[str, str]
) -> None:
    from botocore.awsrequest import AWSRequest
    from moto.core.request import normalize_request

    prepared = AWSRequest(method=method, url=url, data=body, headers=headers).prepare()
    ours, theirs = inprocess.moto_request(prepared), normalize_request(prepared)
    assert _comparable(ours.environ) == _comparable(theirs.environ)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4566/",
        "http://localhost/",
        "http://localhost:80/",
        "http://db-1.internal.example:8000/",
        "http://127.0.0.1:65535/",
        "http://127.0.0.1:0/",
    ],
)
def test_the_remembered_raw_url_is_werkzeug_s(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    from botocore.awsrequest import AWSRequest
    from moto.core.request import normalize_request

    monkeypatch.setattr(inprocess, "_RAW_URLS", {})
    for _ in range(2):  # worked out by werkzeug, then remembered
        prepared = AWSRequest(method="POST", url=url, data=b"{}").prepare()
        _, raw_url = inprocess.moto_request_and_url(prepared)
        assert raw_url == normalize_request(prepared).raw_url
    assert list(inprocess._RAW_URLS) == [url.removeprefix("http://").removesuffix("/")]


@pytest.mark.parametrize(
    ("content_type", "read_here"),
    [
        ("application/x-amz-json-1.0", True),
        ("application/x-www-form-urlencoded", False),  # a form: werkzeug's parser reads it
        (None, False),
    ],
)
def test_a_dynamodb_body_is_read_as_werkzeug_reads_it(content_type: str | None, read_here: bool) -> None:
    from botocore.awsrequest import AWSRequest
    from moto.core.request import normalize_request

    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"TableName": "t"}' if content_type != "application/x-www-form-urlencoded" else b"a=1&b=2"
    prepared = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=body, headers=headers).prepare()
    ours, theirs = inprocess.moto_request(prepared), normalize_request(prepared)
    assert ({"stream", "form", "files", "data"} <= vars(ours).keys()) is read_here
    for attribute in ("form", "files", "values"):
        mine, stock = getattr(ours, attribute), getattr(theirs, attribute)
        assert (type(mine), mine.to_dict(flat=False)) == (type(stock), stock.to_dict(flat=False))
    expected = (theirs.data, theirs.get_data(), theirs.stream.read())
    assert (ours.data, ours.get_data(), ours.stream.read()) == expected


def test_a_port_out_of_range_is_refused_as_moto_refuses_it() -> None:
    from botocore.awsrequest import AWSRequest
    from moto.core.request import normalize_request

    prepared = AWSRequest(method="POST", url="http://127.0.0.1:99999/", data=b"{}").prepare()
    with pytest.raises(ValueError, match="Port out of range") as theirs:
        normalize_request(prepared)
    with pytest.raises(ValueError, match="Port out of range") as ours:
        inprocess.moto_request_and_url(prepared)
    assert str(ours.value) == str(theirs.value)


def test_the_raw_url_is_not_remembered_when_werkzeug_checks_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.awsrequest import AWSRequest
    from moto.core.request import Request
    from werkzeug.exceptions import SecurityError

    monkeypatch.setattr(inprocess, "_RAW_URLS", {})
    monkeypatch.setattr(Request, "trusted_hosts", ["127.0.0.1"])
    trusted = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=b"{}").prepare()
    assert inprocess.moto_request_and_url(trusted)[1] == "http://127.0.0.1:4566/"
    other = AWSRequest(method="POST", url="http://localhost:4566/", data=b"{}").prepare()
    with pytest.raises(SecurityError):
        inprocess.moto_request_and_url(other)
    assert inprocess._RAW_URLS == {}


def test_the_remembered_raw_urls_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.awsrequest import AWSRequest

    monkeypatch.setattr(inprocess, "_RAW_URLS", {})
    for port in range(1, inprocess._RAW_URLS_LIMIT + 10):
        prepared = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=b"{}").prepare()
        assert inprocess.moto_request_and_url(prepared)[1] == f"http://127.0.0.1:{port}/"
    assert len(inprocess._RAW_URLS) == inprocess._RAW_URLS_LIMIT


def test_unknown_moto_internals_fall_back_to_moto_s_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import serialize
    from moto.dynamodb.responses import DynamoHandler

    monkeypatch.delattr(serialize, "XFormedAttributePicker")
    inprocess._handler_class.cache_clear()
    try:
        assert inprocess._handler_class() is DynamoHandler
        with EmbeddedDynamoDB() as running:
            client = running.client()
            client.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            client.put_item(TableName="t", Item={"k": {"S": "a"}, "n": {"N": "1.5"}})
            item = client.get_item(TableName="t", Key={"k": {"S": "a"}})["Item"]
            assert item == {"k": {"S": "a"}, "n": {"N": "1.5"}}
    finally:
        monkeypatch.undo()
        inprocess._handler_class.cache_clear()
    assert inprocess._handler_class() is not DynamoHandler


def test_the_key_memo_stays_bounded(db: EmbeddedDynamoDB, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inprocess._KeyMemo, "LIMIT", 5)
    memo = inprocess._KeyMemo()
    monkeypatch.setattr(inprocess, "_MEMO", memo)
    _battery(db.client())
    assert 0 < len(memo._entries) <= 5


def test_the_fast_paths_are_the_ones_taken(db: EmbeddedDynamoDB, monkeypatch: pytest.MonkeyPatch) -> None:
    """A DynamoDB request never reaches werkzeug's builder, and dict answers are picked through the memo."""
    import moto.core.request

    def refuse(request: Any) -> Any:
        raise AssertionError(f"moto's builder used for {request.method} {request.url}")

    monkeypatch.setattr(moto.core.request, "normalize_request", refuse)
    memo = inprocess._KeyMemo()
    monkeypatch.setattr(inprocess, "_MEMO", memo)
    _battery(db.client())
    assert len(memo._entries) > 20


def test_moto_lists_the_handler_s_methods_once_and_every_other_class_as_before() -> None:
    from moto.core import responses, utils
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response

    handler = inprocess._handler_class()
    assert responses.method_names_from_class is not utils.method_names_from_class
    assert responses.method_names_from_class(handler) == utils.method_names_from_class(handler)
    assert "get_item" in responses.method_names_from_class(handler)
    for other in (DynamoHandler, S3Response):
        assert responses.method_names_from_class(other) == utils.method_names_from_class(other)


def test_a_method_lister_replaced_by_someone_else_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import responses

    def theirs(clazz: object) -> list[str]:
        return []

    monkeypatch.setattr(responses, "method_names_from_class", theirs)
    inprocess._remember_method_names(type("Handler", (), {}))
    assert responses.method_names_from_class is theirs


def test_a_header_value_werkzeug_refuses_is_refused_the_same_way() -> None:
    from botocore.awsrequest import AWSRequest
    from moto.core.request import normalize_request

    prepared = AWSRequest(
        method="POST", url="http://127.0.0.1:4566/", data=b"{}", headers={"X-Note": "a\nb"}
    ).prepare()
    with pytest.raises(ValueError) as theirs:
        normalize_request(prepared)
    with pytest.raises(ValueError) as ours:
        inprocess.moto_request(prepared)
    assert str(ours.value) == str(theirs.value)
