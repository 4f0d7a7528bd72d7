"""The DynamoDB store: table creation and the wait for ACTIVE, conditional writes, error mapping."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from example_service import NotFound, SuppressionService, SuppressionStore, TableNotReadyError, Unavailable


class SlowTableClient:
    """Wraps a real client; ``describe_table`` reports CREATING a few times before the real answer.

    Real DynamoDB keeps a new table in CREATING for seconds; moto makes it ACTIVE at once.
    """

    def __init__(self, client: Any, creating_polls: int, status: str = "CREATING") -> None:
        self._client = client
        self.creating_polls = creating_polls
        self.status = status
        self.describes = 0
        self.created = 0

    def create_table(self, **kwargs: Any) -> Any:
        self.created += 1
        return self._client.create_table(**kwargs)

    def describe_table(self, **kwargs: Any) -> Any:
        response = self._client.describe_table(**kwargs)  # raises ResourceNotFound before creation
        self.describes += 1
        if self.creating_polls > 0:
            self.creating_polls -= 1
            response["Table"]["TableStatus"] = self.status
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class FakeClock:
    """A monotonic clock that only moves when the store sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def _table() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def test_the_store_creates_its_table_and_waits_while_it_is_creating(dynamodb_client: Any) -> None:
    client = SlowTableClient(dynamodb_client, creating_polls=4)
    clock = FakeClock()
    store = SuppressionStore(client, _table())
    store.ensure_table(timeout=30, sleep=clock.sleep, monotonic=clock.monotonic)
    assert client.created == 1
    assert client.creating_polls == 0, "returned before the table left CREATING"
    assert len(clock.sleeps) >= 4 and all(0 < s <= 1.0 for s in clock.sleeps)
    record, created = store.add("acct", "a@example.com", "")
    assert created and store.get("acct", "a@example.com") == record


def test_the_service_waits_for_a_slow_table_with_real_sleeps(dynamodb_client: Any) -> None:
    client = SlowTableClient(dynamodb_client, creating_polls=3)
    service = SuppressionService(client, table=_table(), table_timeout=10)
    assert client.creating_polls == 0
    assert service.add("acct", "b@example.com")[1] is True


def test_a_table_that_never_becomes_active_fails_in_bounded_time(dynamodb_client: Any) -> None:
    client = SlowTableClient(dynamodb_client, creating_polls=10_000)
    clock = FakeClock()
    name = _table()
    with pytest.raises(TableNotReadyError, match=rf"{name}' is still CREATING after 5s"):
        SuppressionStore(client, name).ensure_table(timeout=5, sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.now <= 5.0


def test_a_deleting_table_is_reported_at_once(dynamodb_client: Any) -> None:
    name = _table()
    SuppressionStore(dynamodb_client, name).ensure_table()
    client = SlowTableClient(dynamodb_client, creating_polls=1, status="DELETING")
    with pytest.raises(TableNotReadyError, match="is DELETING; wait until it is gone or pick another"):
        SuppressionStore(client, name).ensure_table(timeout=5)


def test_an_existing_table_is_reused_not_recreated(dynamodb_client: Any) -> None:
    name = _table()
    SuppressionStore(dynamodb_client, name).ensure_table()
    client = SlowTableClient(dynamodb_client, creating_polls=0)
    SuppressionStore(client, name).ensure_table()
    assert client.created == 0


def test_losing_the_creation_race_to_another_process_is_fine(dynamodb_client: Any) -> None:
    name = _table()

    class RacingClient(SlowTableClient):
        def describe_table(self, **kwargs: Any) -> Any:
            if self.describes == 0 and self.created == 0:
                self.describes += 1
                dynamodb_client.create_table(  # the other process wins
                    TableName=name,
                    KeySchema=[
                        {"AttributeName": "account_id", "KeyType": "HASH"},
                        {"AttributeName": "email", "KeyType": "RANGE"},
                    ],
                    AttributeDefinitions=[
                        {"AttributeName": "account_id", "AttributeType": "S"},
                        {"AttributeName": "email", "AttributeType": "S"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                )
                raise dynamodb_client.exceptions.ResourceNotFoundException(
                    {"Error": {"Code": "ResourceNotFoundException", "Message": "not yet"}}, "DescribeTable"
                )
            return super().describe_table(**kwargs)

    client = RacingClient(dynamodb_client, creating_polls=0)
    SuppressionStore(client, name).ensure_table(timeout=5)
    assert client.created == 1  # it tried, got ResourceInUseException, and waited instead


def test_a_table_with_another_key_schema_is_refused(dynamodb_client: Any) -> None:
    name = _table()
    dynamodb_client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(TableNotReadyError, match="pick another table name"):
        SuppressionStore(dynamodb_client, name).ensure_table()


def test_add_is_a_conditional_write(service: SuppressionService, account: str) -> None:
    first, created = service.add(account, "Dup@Example.com", "first")
    again, created_again = service.add(account, "dup@example.com", "second")
    assert (created, created_again) == (True, False)
    assert again == first and again.reason == "first"


def test_delete_of_a_missing_item_is_not_found(service: SuppressionService, account: str) -> None:
    with pytest.raises(NotFound, match=f"a@example.com is not on the suppression list of account {account}"):
        service.delete(account, "a@example.com")


def test_the_last_page_has_no_token_even_when_it_is_full(service: SuppressionService, account: str) -> None:
    for i in range(4):
        service.add(account, f"u{i}@example.com")
    first, token = service.list_page(account, 2)
    second, last = service.list_page(account, 2, token)
    assert [r.email for r in first + second] == [f"u{i}@example.com" for i in range(4)]
    assert token and last == ""


def test_export_reads_past_the_first_page(service: SuppressionService, account: str) -> None:
    for i in range(105):  # the export reads 100 items per query
        service.store.add(account, f"u{i:03}@example.com", "")
    assert [r.email for r in service.export(account)] == [f"u{i:03}@example.com" for i in range(105)]


def test_an_unreachable_database_is_unavailable_not_internal(client_factory: Any) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = client_factory(f"http://127.0.0.1:{port}", retries={"max_attempts": 1}, connect_timeout=1)
    store = SuppressionStore(client, "suppressions")
    with pytest.raises(Unavailable, match="the database is unreachable; retry the Get later"):
        store.get("acct", "a@example.com")


def test_throttling_is_unavailable(dynamodb_client: Any) -> None:
    from botocore.exceptions import ClientError

    class Throttled:
        def get_item(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "GetItem")

    with pytest.raises(Unavailable, match="busy"):
        SuppressionStore(Throttled(), "t").get("acct", "a@example.com")
