"""The target down before the run, going away mid-run (gRPC and HTTP), and answering slower than
``--request-timeout``: every collected test is in the JUnit report exactly once, and only the tests that
passed are reported passed."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rel_support import assert_accounted, assert_no_traceback, junit_outcomes, start_standalone

pytestmark = pytest.mark.reliability

KEY_ID, SECRET = "AKIDRELIABILITYGONE1", "reliability-gone-secret-not-real"
SIGNING_ENV = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_target_down_before_the_run_stops_it_before_any_test(
    pytester: pytest.Pytester, run_pytest: Any, clean_env: Any, figures: Any
) -> None:
    clean_env(**SIGNING_ENV)
    pytester.makepyfile(
        test_down="""
        def test_grpc(grpc_channel):
            pass

        def test_http(http):
            pass
        """
    )
    grpc_port, http_port = closed_port(), closed_port()
    result = run_pytest(
        f"--addr=127.0.0.1:{grpc_port}",
        f"--http-addr=http://127.0.0.1:{http_port}",
        "--connect-timeout=1",
        "--junitxml=junit.xml",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: the remote target is unreachable:",
            f"  --addr 127.0.0.1:{grpc_port}: not reachable within 1s (Connection refused)",
            f"  --http-addr http://127.0.0.1:{http_port}: not reachable within 1s (Connection refused)",
            "Check the address and that the service is up*--connect-timeout.",
        ]
    )
    assert_no_traceback(result.stdout.str() + result.stderr.str())
    junit = pytester.path / "junit.xml"
    assert not junit.exists() or junit_outcomes(junit) == {}  # nothing ran, so nothing is reported passed
    figures.add("fault", "target down before the run", tests=0, detail="usage error before any test, exit 4")


GONE_TESTS = """
import os, signal, socket, time, uuid

import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb
from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc

ACCOUNT = f"gone-{uuid.uuid4().hex[:8]}"


def test_1_grpc_before(grpc_channel):
    stub = pb_grpc.SuppressionServiceStub(grpc_channel)
    assert stub.Add(pb.AddRequest(account_id=ACCOUNT, email="a@example.com")).created


def test_2_http_before(http):
    assert http.get(f"/v1/suppressions/{ACCOUNT}/a@example.com").status_code == 200


def test_3_the_service_goes_away(dualmode_target):
    os.kill(int(os.environ["REL_SERVICE_PID"]), signal.SIGKILL)
    host, port = dualmode_target.grpc_addr.rsplit(":", 1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.05)
    pytest.fail("the service still accepts connections")


def test_4_grpc_after(grpc_channel):
    stub = pb_grpc.SuppressionServiceStub(grpc_channel)
    stub.Get(pb.GetRequest(account_id=ACCOUNT, email="a@example.com"))


def test_5_http_after(http):
    http.get(f"/v1/suppressions/{ACCOUNT}/a@example.com")


def test_6_unrelated():
    pass
"""


def test_a_target_going_away_mid_run_fails_the_later_tests_and_nothing_else(
    pytester: pytest.Pytester,
    run_pytest: Any,
    clean_env: Any,
    moto_url: str,
    children: list[Any],
    tmp_path: Path,
    figures: Any,
) -> None:
    credentials = tmp_path / "keys.json"
    credentials.write_text(json.dumps({KEY_ID: SECRET}))
    child, ready = start_standalone(
        moto_url, tmp_path / "service.log", "--table", "gone", "--sigv4-credentials", str(credentials)
    )
    children.append(child)
    clean_env(**SIGNING_ENV, REL_SERVICE_PID=str(child.pid))
    pytester.makepyfile(test_gone=GONE_TESTS)
    result = run_pytest(
        f"--addr={ready['grpc']}",
        "--grpc-plaintext",
        f"--http-addr={ready['http']}",
        "--request-timeout=5",
        "--junitxml=junit.xml",
        "--tb=short",
    )
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_4_grpc_after _*",
            "*status = StatusCode.UNAVAILABLE*",
            "*_ test_5_http_after _*",
            "E   requests.exceptions.ConnectionError*",
        ]
    )
    assert_accounted(
        junit_outcomes(pytester.path / "junit.xml"),
        {
            "test_gone.py::test_1_grpc_before": "passed",
            "test_gone.py::test_2_http_before": "passed",
            "test_gone.py::test_3_the_service_goes_away": "passed",
            "test_gone.py::test_4_grpc_after": "failed",
            "test_gone.py::test_5_http_after": "failed",
            "test_gone.py::test_6_unrelated": "passed",
        },
    )
    assert SECRET not in result.stdout.str() + result.stderr.str()
    figures.add(
        "fault",
        "target killed mid-run (gRPC and HTTP)",
        tests=6,
        detail="4 passed, the 2 calls after the kill failed (UNAVAILABLE, ConnectionError)",
    )


class SlowTarget:
    """A gRPC server and an HTTP server on 127.0.0.1 whose ``Slow`` calls take 3 s (or until closed)."""

    def __init__(self) -> None:
        import grpc

        from pytest_dualmode.local.grpc_server import GrpcServer
        from pytest_dualmode.local.http_server import WsgiServer

        self.release = threading.Event()

        def fast(request: bytes, context: Any) -> bytes:
            return b"ok"

        def slow(request: bytes, context: Any) -> bytes:
            self.release.wait(3)
            return b"late"

        handlers = grpc.method_handlers_generic_handler(
            "rel.Slow",
            {
                "Fast": grpc.unary_unary_rpc_method_handler(fast),
                "Slow": grpc.unary_unary_rpc_method_handler(slow),
            },
        )

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            if environ["PATH_INFO"] == "/slow":
                self.release.wait(3)
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]

        self.grpc = GrpcServer([lambda server: server.add_generic_rpc_handlers((handlers,))]).start()
        self.http = WsgiServer(app).start()

    def close(self) -> None:
        """Wake the slow calls and stop both servers."""
        self.release.set()
        self.grpc.stop()
        self.http.stop()


@pytest.fixture
def slow_target() -> Iterator[SlowTarget]:
    """A target whose slow calls outlast a short ``--request-timeout``."""
    target = SlowTarget()
    try:
        yield target
    finally:
        target.close()


SLOW_TESTS = """
def test_http_fast(http):
    assert http.get("/fast").text == "ok"

def test_http_slow(http):
    http.get("/slow")

def test_grpc_fast(grpc_channel):
    assert grpc_channel.unary_unary("/rel.Slow/Fast")(b"x") == b"ok"

def test_grpc_slow(grpc_channel):
    grpc_channel.unary_unary("/rel.Slow/Slow")(b"x")

def test_both_fast_again(http, grpc_channel):
    assert http.get("/fast").text == "ok"
    assert grpc_channel.unary_unary("/rel.Slow/Fast")(b"x") == b"ok"
"""


def test_responses_slower_than_the_request_timeout_fail_only_their_tests(
    pytester: pytest.Pytester, run_pytest: Any, clean_env: Any, slow_target: SlowTarget, figures: Any
) -> None:
    clean_env()
    pytester.makepyfile(test_slow=SLOW_TESTS)
    result = run_pytest(
        f"--addr={slow_target.grpc.address}",
        "--grpc-plaintext",
        f"--http-addr={slow_target.http.url}",
        "--no-sigv4",
        "--request-timeout=1",
        "--junitxml=junit.xml",
        "--tb=short",
    )
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_http_slow _*",
            "E   requests.exceptions.ReadTimeout*read timeout=1*",
            "*_ test_grpc_slow _*",
            "*status = StatusCode.DEADLINE_EXCEEDED*",
        ]
    )
    assert_accounted(
        junit_outcomes(pytester.path / "junit.xml"),
        {
            "test_slow.py::test_http_fast": "passed",
            "test_slow.py::test_http_slow": "failed",
            "test_slow.py::test_grpc_fast": "passed",
            "test_slow.py::test_grpc_slow": "failed",
            "test_slow.py::test_both_fast_again": "passed",
        },
    )
    figures.add(
        "fault",
        "responses slower than --request-timeout",
        tests=5,
        detail="the 2 slow calls (3 s) failed after 1 s (ReadTimeout, DEADLINE_EXCEEDED); the rest passed",
    )
