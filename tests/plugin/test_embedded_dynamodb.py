"""The embedded DynamoDB: the in-process client and the HTTP endpoint share one state, per region."""

from __future__ import annotations

import pytest

from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB


def _table(client: object, name: str) -> None:
    client.create_table(  # type: ignore[attr-defined]
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_in_process_writes_are_read_over_http_in_the_same_region(region: str) -> None:
    import boto3

    with EmbeddedDynamoDB(region=region) as db:
        inproc = db.client()
        _table(inproc, "shared")
        inproc.put_item(TableName="shared", Item={"k": {"S": "a"}})
        over_http = db.client(in_process=False)
        assert over_http.get_item(TableName="shared", Key={"k": {"S": "a"}})["Item"] == {"k": {"S": "a"}}
        other = "ap-south-1"
        elsewhere = boto3.client(
            "dynamodb",
            endpoint_url=db.url,
            region_name=other,
            aws_access_key_id="AKIDX",
            aws_secret_access_key="x",
        )
        assert "shared" not in elsewhere.list_tables()["TableNames"]


def test_in_process_requests_are_not_signed() -> None:
    with EmbeddedDynamoDB() as db:
        client = db.client()
        seen: list[str] = []
        client.meta.events.register_first(
            "before-send.dynamodb",
            lambda request, **_: seen.append(request.headers.get("Authorization", b"")),
        )
        client.list_tables()
    # The header names key and region for moto; no signature was computed.
    assert len(seen) == 1 and "Signature" not in str(seen[0])


def test_in_process_use_never_builds_the_http_endpoint_s_app() -> None:
    """The HTTP endpoint's app (moto's dispatcher over every service) is built on its first request only."""
    with EmbeddedDynamoDB() as db:
        db.client().list_tables()
        assert db._server is not None
        assert db._server._server.app._app is None  # in-process answers come from DynamoDB's app alone
        db.client(in_process=False).list_tables()
        assert db._server._server.app._app is not None


def test_concurrent_first_http_requests_all_answer() -> None:
    """The HTTP app is built on first use; requests racing to be first all get real answers."""
    from concurrent.futures import ThreadPoolExecutor

    with EmbeddedDynamoDB() as db:
        clients = [db.client(in_process=False) for _ in range(6)]
        with ThreadPoolExecutor(len(clients)) as pool:
            results = list(pool.map(lambda c: c.list_tables()["TableNames"], clients))
        assert results == [[]] * len(clients)
        _table(clients[0], "after")
        assert db.client().list_tables()["TableNames"] == ["after"]
