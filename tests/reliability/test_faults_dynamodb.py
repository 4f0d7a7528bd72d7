"""DynamoDB going away mid-run in local mode: the embedded one stopped, and an external one
(``--dynamodb-endpoint``) killed. The service answers UNAVAILABLE / 503, the tests that needed the database
fail, the others pass, the session ends cleanly, and the JUnit report accounts for every test once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rel_support import assert_accounted, assert_no_traceback, junit_outcomes, start_moto

pytestmark = pytest.mark.reliability

# The service talks to DynamoDB over HTTP (as a service in its own process would), so stopping the
# endpoint cuts it off; few retries keep the failing calls short.
CONFTEST = """
import pytest
from pytest_dualmode import LocalService

@pytest.fixture(scope="session")
def dualmode_service(dynamodb_endpoint):
    import boto3
    from botocore.config import Config
    from example_service import SuppressionService

    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5),
    )
    svc = SuppressionService(client, table="faults")
    return LocalService(grpc=svc.register_grpc, http=svc.wsgi_app)
"""

TESTS = """
import os, signal, time, uuid

import grpc
import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb
from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc

ACCOUNT = f"ddb-{uuid.uuid4().hex[:8]}"


def test_1_add_before(grpc_channel):
    stub = pb_grpc.SuppressionServiceStub(grpc_channel)
    assert stub.Add(pb.AddRequest(account_id=ACCOUNT, email="a@example.com")).created


def test_2_dynamodb_goes_away(request, dynamodb_endpoint):
    KILL(request)


def test_3_add_after(grpc_channel):
    stub = pb_grpc.SuppressionServiceStub(grpc_channel)
    stub.Add(pb.AddRequest(account_id=ACCOUNT, email="b@example.com"))


def test_4_grpc_says_unavailable(grpc_channel):
    stub = pb_grpc.SuppressionServiceStub(grpc_channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Get(pb.GetRequest(account_id=ACCOUNT, email="a@example.com"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_5_http_says_503(http):
    response = http.get(f"/v1/suppressions/{ACCOUNT}/a@example.com")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "UNAVAILABLE"


def test_6_http_get_after(http):
    assert http.get(f"/v1/suppressions/{ACCOUNT}/a@example.com").status_code == 200


def test_7_unrelated():
    pass
"""

EXPECTED = {
    "test_ddb.py::test_1_add_before": "passed",
    "test_ddb.py::test_2_dynamodb_goes_away": "passed",
    "test_ddb.py::test_3_add_after": "failed",
    "test_ddb.py::test_4_grpc_says_unavailable": "passed",
    "test_ddb.py::test_5_http_says_503": "passed",
    "test_ddb.py::test_6_http_get_after": "failed",
    "test_ddb.py::test_7_unrelated": "passed",
}

STOP_EMBEDDED = """
def KILL(request):
    # the plugin's stack holds the embedded DynamoDB; stopping it closes its endpoint mid-run
    request.getfixturevalue("dualmode_local_stack")._embedded.stop()
"""

KILL_EXTERNAL = """
def KILL(request):
    import socket
    from urllib.parse import urlsplit

    os.kill(int(os.environ["REL_DYNAMODB_PID"]), signal.SIGKILL)
    endpoint = urlsplit(request.getfixturevalue("dynamodb_endpoint"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the killed server's port refuses connections
        try:
            socket.create_connection((endpoint.hostname, endpoint.port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.05)
    pytest.fail("the killed DynamoDB still accepts connections")
"""


def check(result: pytest.RunResult, pytester: pytest.Pytester) -> None:
    result.assert_outcomes(passed=5, failed=2)
    assert "error" not in result.parseoutcomes()  # teardown of the half-dead stack raised nothing
    result.stdout.fnmatch_lines(
        [
            "*_ test_3_add_after _*",
            "*status = StatusCode.UNAVAILABLE",
            "*details = *the database is unreachable*",
        ]
    )
    assert_no_traceback(result.stderr.str(), "stderr")
    assert_accounted(junit_outcomes(pytester.path / "junit.xml"), EXPECTED)


def test_the_embedded_dynamodb_stopped_mid_run(
    pytester: pytest.Pytester, run_pytest: Any, clean_env: Any, figures: Any
) -> None:
    clean_env()
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ddb=TESTS + STOP_EMBEDDED)
    check(run_pytest("--junitxml=junit.xml", "--tb=short"), pytester)
    figures.add(
        "fault",
        "embedded DynamoDB stopped mid-run",
        tests=7,
        detail="database calls answered UNAVAILABLE / 503; 2 tests failed, teardown clean",
    )


def test_an_external_dynamodb_killed_mid_run(
    pytester: pytest.Pytester,
    run_pytest: Any,
    clean_env: Any,
    tmp_path: Path,
    children: list[Any],
    figures: Any,
) -> None:
    child, url = start_moto(tmp_path / "moto.log")
    children.append(child)
    clean_env(REL_DYNAMODB_PID=str(child.pid))
    pytester.makeconftest(CONFTEST)  # dynamodb_endpoint is now the external server
    pytester.makepyfile(test_ddb=TESTS + KILL_EXTERNAL)
    check(
        run_pytest(f"--dynamodb-endpoint={url}", "--connect-timeout=5", "--junitxml=junit.xml", "--tb=short"),
        pytester,
    )
    figures.add(
        "fault",
        "external DynamoDB (--dynamodb-endpoint) killed mid-run",
        tests=7,
        detail="SIGKILL; database calls answered UNAVAILABLE / 503; 2 tests failed",
    )
