"""--dynamodb-tables end to end (pytester): tables created before the service, reset between tests,
the resource fixture, cleanup, run ids, and the errors and warnings a user sees."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

TEMPLATE = """
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: g, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      GlobalSecondaryIndexes:
        - IndexName: by-g
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: KEYS_ONLY}
      LocalSecondaryIndexes:
        - IndexName: by-pk-g
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: g, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
  Counters:
    Type: AWS::Serverless::SimpleTable
    Properties: {TableName: counters}
"""

CHECKS = """
import pytest

def test_created_as_declared(dynamodb):
    t = dynamodb.describe_table(TableName="orders")["Table"]
    assert [k["AttributeName"] for k in t["KeySchema"]] == ["pk", "sk"]
    assert t["GlobalSecondaryIndexes"][0]["IndexName"] == "by-g"
    assert t["GlobalSecondaryIndexes"][0]["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert t["LocalSecondaryIndexes"][0]["IndexName"] == "by-pk-g"
    assert t["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    ttl = dynamodb.describe_time_to_live(TableName="orders")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    assert sorted(dynamodb.list_tables()["TableNames"]) == ["counters", "orders"]

def test_resource_shares_the_client(dynamodb, dynamodb_resource):
    dynamodb_resource.Table("orders").put_item(Item={"pk": "a", "sk": "b", "g": "x", "n": 3})
    item = dynamodb.get_item(TableName="orders", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})["Item"]
    assert item["n"] == {"N": "3"}
    got = dynamodb_resource.Table("orders").query(
        IndexName="by-g", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": "x"}
    )["Items"]
    assert got == [{"pk": "a", "sk": "b", "g": "x"}]
    with dynamodb_resource.Table("counters").batch_writer() as batch:
        for i in range(30):
            batch.put_item(Item={"id": str(i)})
    assert dynamodb.scan(TableName="counters", Select="COUNT")["Count"] == 30
    assert dynamodb_resource.meta.client.meta.endpoint_url == dynamodb.meta.endpoint_url

def test_reset_empties_every_declared_table(dynamodb, dynamodb_reset):
    assert dynamodb.scan(TableName="orders", Select="COUNT")["Count"] == 1  # from the test before
    dynamodb_reset()
    assert dynamodb.scan(TableName="orders", Select="COUNT")["Count"] == 0
    assert dynamodb.scan(TableName="counters", Select="COUNT")["Count"] == 0
    assert dynamodb.describe_table(TableName="orders")["Table"]["GlobalSecondaryIndexes"]

def test_recreate_and_unknown_names(dynamodb, dynamodb_reset):
    off = {"Enabled": False, "AttributeName": "expires"}
    dynamodb.update_time_to_live(TableName="orders", TimeToLiveSpecification=off)
    dynamodb_reset("orders", recreate=True)
    ttl = dynamodb.describe_time_to_live(TableName="orders")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    with pytest.raises(pytest.UsageError, match="'nope' not declared by --dynamodb-tables"):
        dynamodb_reset("nope")

@pytest.mark.dualmode_fresh_tables("counters")
def test_marker_empties_before_the_test(dynamodb):
    assert dynamodb.scan(TableName="counters", Select="COUNT")["Count"] == 0
    dynamodb.put_item(TableName="counters", Item={"id": {"S": "left-behind"}})

@pytest.mark.dualmode_fresh_tables
def test_marker_again(dynamodb):
    assert dynamodb.scan(TableName="counters", Select="COUNT")["Count"] == 0
"""


@pytest.fixture
def tables_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with a template declaring two tables, and a dualmode_service that needs them."""
    pytester.makefile(".yaml", tables=TEMPLATE)
    pytester.makeconftest(
        """
import pytest
from pytest_dualmode import LocalService

@pytest.fixture(scope="session")
def dualmode_service(dynamodb):
    # The service starts against tables that already exist, as it does in staging.
    assert "orders" in dynamodb.list_tables()["TableNames"]
    return LocalService(http=lambda environ, start: [start("200 OK", []) or b"ok"][0:0] or [b"ok"])
"""
    )
    return pytester


def test_tables_are_created_as_declared_and_reset_between_tests(tables_project: pytest.Pytester) -> None:
    tables_project.makepyfile(
        test_tables=CHECKS + "\ndef test_service_saw_them(http):\n    assert http.get('/').ok\n"
    )
    result = tables_project.runpytest_subprocess("-p", "no:cacheprovider", "--dynamodb-tables", "tables.yaml")
    result.assert_outcomes(passed=7, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "dualmode: tables from --dynamodb-tables: orders, counters",
            "*properties not applied to the local tables: orders (resource Orders in tables.yaml): "
            "PointInTimeRecoverySpecification*",
        ]
    )


def test_the_ini_form_is_relative_to_the_ini_file(
    tables_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables_project.makeini("[pytest]\ndualmode_dynamodb_tables = tables.yaml\n")
    tables_project.makepyfile(
        test_t="def test_t(dynamodb):\n    dynamodb.describe_table(TableName='orders')\n"
    )
    monkeypatch.chdir(tables_project.mkdir("elsewhere"))
    result = tables_project.runpytest_subprocess(
        "-p", "no:cacheprovider", str(tables_project.path / "test_t.py")
    )
    result.assert_outcomes(passed=1, warnings=1)


def test_a_table_declared_twice_stops_the_run(tables_project: pytest.Pytester) -> None:
    tables_project.makeini("[pytest]\ndualmode_dynamodb_tables = tables.yaml, tables.yaml\n")
    tables_project.makepyfile(test_t="def test_t():\n    pass\n")
    result = tables_project.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*table 'orders' is declared twice*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dynamodb-tables", "missing.yaml"],
            "*--dynamodb-tables 'missing.yaml' (from --dynamodb-tables) is not an existing file*",
        ),
        (
            ["--dynamodb-tables", "bad.yaml"],
            "*bad.yaml: resource T, Properties.TableName: Ref AWS::StackName has no value*",
        ),
    ],
)
def test_bad_table_files_stop_the_run_before_any_test(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makefile(
        ".yaml",
        bad="Resources:\n  T:\n    Type: AWS::Serverless::SimpleTable\n"
        "    Properties: {TableName: !Ref AWS::StackName}\n",
    )
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_remote_mode_ignores_the_tables_and_their_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(dualmode_settings):\n    assert dualmode_settings.is_remote\n")
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--dynamodb-tables",
        "absent.yaml",
        "--http-addr",
        "http://127.0.0.1:9",
        "--collect-only",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()


@pytest.fixture
def moto_server(start_moto: Any) -> Iterator[str]:
    """moto's server in its own process on a free port (an external DynamoDB-compatible server)."""
    with start_moto() as url:
        yield url


def test_tables_in_an_external_dynamodb_and_reset_by_scanning(
    tables_project: pytest.Pytester, moto_server: str
) -> None:
    tables_project.makepyfile(
        test_ext="""
def test_first(dynamodb, dynamodb_resource, dynamodb_reset):
    for i in range(60):
        dynamodb.put_item(TableName="orders", Item={"pk": {"S": str(i)}, "sk": {"S": "s"}})
    dynamodb_resource.Table("orders").put_item(Item={"pk": "via-resource", "sk": "s"})
    assert dynamodb.scan(TableName="orders", Select="COUNT")["Count"] == 61
    dynamodb_reset("orders")
    assert dynamodb.scan(TableName="orders", Select="COUNT")["Count"] == 0
"""
    )
    args = ["-p", "no:cacheprovider", "--dynamodb-tables", "tables.yaml", "--dynamodb-endpoint", moto_server]
    tables_project.runpytest_subprocess(*args).assert_outcomes(passed=1, warnings=1)
    # The tables persist in that server: a second run keeps them (same keys) instead of failing.
    tables_project.runpytest_subprocess(*args).assert_outcomes(passed=1, warnings=1)


def test_an_existing_table_with_other_keys_is_refused(
    tables_project: pytest.Pytester, moto_server: str
) -> None:
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    for _ in range(100):  # moto's server is starting: a bounded wait for its first answer
        try:
            client.list_tables()
            break
        except Exception:
            import time

            time.sleep(0.1)
    client.create_table(
        TableName="orders",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    tables_project.makepyfile(test_e="def test_e(dynamodb):\n    pass\n")
    result = tables_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--dynamodb-tables", "tables.yaml", "--dynamodb-endpoint", moto_server
    )
    result.assert_outcomes(errors=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*table 'orders' (resource Orders in tables.yaml) already exists*with keys*"]
    )


def test_cleanup_runs_even_when_the_test_fails(tables_project: pytest.Pytester) -> None:
    tables_project.makepyfile(
        test_c="""
CALLS = []

def test_fails(dynamodb, dualmode_cleanup):
    dynamodb.put_item(TableName="counters", Item={"id": {"S": "x"}})
    dualmode_cleanup.register_item("counters", {"id": "x"})
    dualmode_cleanup.register(CALLS.append, "second")
    dualmode_cleanup.register(CALLS.append, "first")
    assert False, "the test fails"

def test_after(dynamodb):
    assert CALLS == ["first", "second"]
    assert dynamodb.scan(TableName="counters", Select="COUNT")["Count"] == 0

def test_a_failing_cleanup_is_a_teardown_error(dualmode_cleanup):
    dualmode_cleanup.register(lambda: 1 / 0)
"""
    )
    result = tables_project.runpytest_subprocess("-p", "no:cacheprovider", "--dynamodb-tables", "tables.yaml")
    result.assert_outcomes(passed=2, failed=1, errors=1, warnings=1)
    result.stdout.fnmatch_lines(["*dualmode_cleanup could not undo everything:*", "*ZeroDivisionError*"])


def test_run_ids_differ_per_run_and_per_worker_but_share_a_prefix(pytester: pytest.Pytester) -> None:
    out = pytester.path / "ids.txt"
    pytester.makepyfile(
        test_r=f"""
import pytest

@pytest.mark.parametrize("i", range(4))
def test_r(dualmode_run_id, i):
    with open({str(out)!r}, "a") as fh:
        fh.write(dualmode_run_id + "\\n")
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2").assert_outcomes(passed=4)
    ids = set(out.read_text().split())
    assert len(ids) == 2, ids  # one per worker
    assert len({i.rsplit("-", 1)[0] for i in ids}) == 1  # the controller's id, shared
    assert {i.rsplit("-", 1)[1] for i in ids} == {"gw0", "gw1"}
    assert re.fullmatch(r"dm-\d{14}-[0-9a-f]{6}", next(iter(ids)).rsplit("-", 1)[0])
    out.unlink()
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--run-id", "ci-42").assert_outcomes(passed=4)
    assert set(out.read_text().split()) == {"ci-42"}
    out.unlink()
    env_shard = {"DUALMODE_SHARD_INDEX": "3", "DUALMODE_RUN_ID": "ci-43"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env_shard.items():
            mp.setenv(k, v)
        pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)
    assert set(out.read_text().split()) == {"ci-43-s3"}


def test_remote_cleanup_deletes_from_the_regions_dynamodb_even_when_the_test_fails(
    pytester: pytest.Pytester, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import boto3

    # "Staging's" DynamoDB: moto's server, reached as a VPC endpoint would be (AWS_ENDPOINT_URL_DYNAMODB).
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDREMOTECLEANUP", "AWS_SECRET_ACCESS_KEY": "remote-cleanup-secret",
        "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL_DYNAMODB": moto_server,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    client = boto3.client("dynamodb")
    for _ in range(100):  # moto's server is starting: a bounded wait for its first answer
        try:
            client.list_tables()
            break
        except Exception:
            time.sleep(0.1)
    client.create_table(
        TableName="shared",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    client.put_item(TableName="shared", Item={"pk": {"S": "someone-elses"}})

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pytester.makepyfile(
        test_remote="""
import boto3

def test_writes_then_fails(http, dualmode_run_id, dualmode_cleanup):
    key = f"{dualmode_run_id}-order"
    boto3.client("dynamodb").put_item(TableName="shared", Item={"pk": {"S": key}})
    dualmode_cleanup.register_item("shared", {"pk": key})
    assert http.get("/").status_code == 500, "fails after writing"
"""
    )
    try:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--http-addr", f"http://127.0.0.1:{server.server_address[1]}"
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    result.assert_outcomes(failed=1)
    left = client.scan(TableName="shared")["Items"]
    assert left == [{"pk": {"S": "someone-elses"}}]
