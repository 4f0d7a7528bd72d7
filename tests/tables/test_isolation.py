"""Isolation between tests with --dynamodb-tables (pytester): ``dualmode_fresh_tables`` with
``scope="module"``, ``recreate=True`` and a bad scope; ``dynamodb_resource`` answered in-process; and
emptying the embedded tables without a single DynamoDB request."""

from __future__ import annotations

import pytest

TEMPLATE = """
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
  Counters:
    Type: AWS::Serverless::SimpleTable
    Properties: {TableName: counters}
"""

# The keys in a table, for the pytester modules below (they import it).
HELPERS = """
def keys(dynamodb, table):
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(next(iter(item.values()))["S"] for item in items)
"""

ARGS = ("-p", "no:cacheprovider", "--dynamodb-tables", "tables.yaml")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project whose template declares two tables, ``orders`` (with a TTL) and ``counters``."""
    pytester.makefile(".yaml", tables=TEMPLATE)
    pytester.makepyfile(helpers=HELPERS)
    return pytester


def test_module_scope_empties_once_per_module(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_a_unmarked="""
def test_leaves_items_behind(dynamodb):
    dynamodb.put_item(TableName="orders", Item={"pk": {"S": "from-a"}})
    dynamodb.put_item(TableName="counters", Item={"id": {"S": "from-a"}})
""",
        test_b_module="""
import pytest
from helpers import keys

pytestmark = pytest.mark.dualmode_fresh_tables(scope="module")

def test_first_starts_empty(dynamodb):
    assert keys(dynamodb, "orders") == keys(dynamodb, "counters") == []
    dynamodb.put_item(TableName="orders", Item={"pk": {"S": "b1"}})

def test_second_sees_the_first_ones_items(dynamodb):
    assert keys(dynamodb, "orders") == ["b1"]
    dynamodb.put_item(TableName="orders", Item={"pk": {"S": "b2"}})
    dynamodb.put_item(TableName="counters", Item={"id": {"S": "b2"}})

def test_third_too(dynamodb):
    assert keys(dynamodb, "orders") == ["b1", "b2"]
""",
        test_c_module="""
import pytest
from helpers import keys

pytestmark = pytest.mark.dualmode_fresh_tables("orders", scope="module")

def test_a_new_module_is_emptied_again(dynamodb):
    assert keys(dynamodb, "orders") == []
    assert keys(dynamodb, "counters") == ["b2"]  # not named: kept
    dynamodb.put_item(TableName="orders", Item={"pk": {"S": "c1"}})

def test_and_only_once(dynamodb):
    assert keys(dynamodb, "orders") == ["c1"]
""",
    )
    result = project.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=6)


def test_a_bad_scope_is_a_clear_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_bad="""
import pytest

@pytest.mark.dualmode_fresh_tables(scope="session")
def test_bad_scope(dynamodb):
    pass

def test_unmarked_still_runs(dynamodb):
    pass
"""
    )
    result = project.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*UsageError: dualmode_fresh_tables(scope='session'): use 'function' or 'module'*"]
    )


def test_recreate_restores_the_templates_settings(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_recreate="""
import pytest
from helpers import keys

def ttl(dynamodb):
    return dynamodb.describe_time_to_live(TableName="orders")["TimeToLiveDescription"]["TimeToLiveStatus"]

def test_changes_data_and_settings(dynamodb):
    off = {"Enabled": False, "AttributeName": "expires"}
    dynamodb.update_time_to_live(TableName="orders", TimeToLiveSpecification=off)
    assert ttl(dynamodb) == "DISABLED"
    dynamodb.put_item(TableName="orders", Item={"pk": {"S": "x"}})
    dynamodb.put_item(TableName="counters", Item={"id": {"S": "kept"}})

@pytest.mark.dualmode_fresh_tables("orders")
def test_emptying_keeps_the_settings(dynamodb):
    assert keys(dynamodb, "orders") == []
    assert ttl(dynamodb) == "DISABLED"
    dynamodb.put_item(TableName="orders", Item={"pk": {"S": "y"}})

@pytest.mark.dualmode_fresh_tables("orders", recreate=True)
def test_recreating_restores_them(dynamodb):
    assert keys(dynamodb, "orders") == []
    assert ttl(dynamodb) == "ENABLED"  # from the template again
    assert keys(dynamodb, "counters") == ["kept"]  # not named: untouched
"""
    )
    result = project.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=3)


def test_dynamodb_resource_needs_no_socket(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_resource="""
import socket

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

def test_resource_with_the_network_blocked(dynamodb, dynamodb_resource, dynamodb_endpoint, monkeypatch):
    def refuse(self, address):
        raise OSError(f"blocked by the test: connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    # The block works: a client of the same endpoint that does use HTTP cannot reach it.
    over_http = boto3.session.Session().client(
        "dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1",
        aws_access_key_id="a", aws_secret_access_key="b", config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(EndpointConnectionError):
        over_http.list_tables()
    table = dynamodb_resource.Table("orders")
    table.put_item(Item={"pk": "r", "n": 7})
    assert table.get_item(Key={"pk": "r"})["Item"] == {"pk": "r", "n": 7}
    assert dynamodb.get_item(TableName="orders", Key={"pk": {"S": "r"}})["Item"]["n"] == {"N": "7"}
"""
    )
    result = project.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1)


def test_emptying_the_embedded_tables_sends_no_request(project: pytest.Pytester) -> None:
    # Counted with botocore's public before-call event on the `dynamodb` client, the one the reset's
    # scan-and-delete path would use: a silent fallback to it shows up as Scan/BatchWriteItem calls.
    project.makepyfile(
        test_requests="""
import pytest
from helpers import keys

CALLS = []

def count(model, **_):
    CALLS.append(model.name)  # returns None: the request goes on

def fill(dynamodb):
    for i in range(30):
        dynamodb.put_item(TableName="orders", Item={"pk": {"S": str(i)}})
        dynamodb.put_item(TableName="counters", Item={"id": {"S": str(i)}})

def test_reset_sends_nothing(dynamodb, dynamodb_reset):
    dynamodb.meta.events.register("before-call.dynamodb", count)  # stays on for the tests below
    fill(dynamodb)
    CALLS.clear()
    dynamodb_reset()
    assert CALLS == []
    assert keys(dynamodb, "orders") == keys(dynamodb, "counters") == []
    assert CALLS == ["Scan", "Scan"]  # the counter does see this client's requests
    fill(dynamodb)
    CALLS.clear()  # the marker of the next test resets before it starts

@pytest.mark.dualmode_fresh_tables
def test_the_marker_sends_nothing(dynamodb):
    assert CALLS == []
    assert keys(dynamodb, "orders") == keys(dynamodb, "counters") == []

def test_a_fallback_would_be_counted(dynamodb, dynamodb_reset, monkeypatch):
    # What a moto whose layout the fast path does not know would cause: scanning and deleting.
    import pytest_dualmode.tables.local as local

    monkeypatch.setattr(local, "_moto_tables", lambda region, names: None)
    dynamodb.put_item(TableName="orders", Item={"pk": {"S": "z"}})
    CALLS.clear()
    dynamodb_reset("orders")
    assert {"DescribeTable", "Scan", "BatchWriteItem"} <= set(CALLS)
    assert keys(dynamodb, "orders") == []
"""
    )
    result = project.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=3)
