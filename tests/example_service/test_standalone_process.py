"""``python -m example_service`` as a separate process: the ready line, real requests, clean stops."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

# The SigV4 front door the service process runs: a missing module fails these tests, never skips them.
import pytest_dualmode.sigv4.verifier  # noqa: F401

READY_TIMEOUT = 30.0


class Standalone:
    """A running ``python -m example_service``; its stdout lines arrive on a queue (bounded reads)."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["PYTHONFAULTHANDLER"] = "1"  # a SIGABRT (see stop) prints every thread's stack
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "example_service", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")  # EOF

    def ready(self) -> dict[str, str]:
        """The parsed ready line (fails the test, with stderr, if the process dies or is slow)."""
        try:
            line = self.lines.get(timeout=READY_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no ready line within {READY_TIMEOUT}s")
        if not line:
            pytest.fail(f"exited {self.proc.wait(5)} before it was ready: {self.stderr()}")
        return dict(json.loads(line))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` and return the exit code; past ``timeout``, fail with every thread's stack."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            self.proc.wait(10)
            pytest.fail(f"still running {timeout:g}s after signal {sig}; its threads:\n{self.stderr()}")

    def finish(self, timeout: float = 30.0) -> int:
        """Wait (bounded) for the process to end on its own."""
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read() if self.proc.poll() is not None else "(still running)"

    def rest_of_stdout(self) -> list[str]:
        out = []
        while (line := self.lines.get(timeout=5)) != "":
            out.append(line)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def standalone(moto_endpoint: str) -> Iterator[Any]:
    """A factory of standalone processes against moto; any left running are killed at the end."""
    started: list[Standalone] = []

    def start(*extra: str, endpoint: str | None = moto_endpoint) -> Standalone:
        args = ["--grpc-port", "0", "--http-port", "0", "--table", "standalone-tests", *extra]
        if endpoint:
            args = ["--dynamodb-endpoint", endpoint, *args]
        process = Standalone(*args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ready_line_serves_both_apis_and_sigterm_exits_0(standalone: Any, account: str) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from example_service.gen.suppression.v1 import suppression_pb2 as pb
    from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc

    service = standalone()
    addresses = service.ready()
    assert set(addresses) == {"grpc", "http"}
    assert addresses["grpc"].startswith("127.0.0.1:") and addresses["http"].startswith("http://127.0.0.1:")
    with grpc.insecure_channel(addresses["grpc"]) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        pb_grpc.SuppressionServiceStub(channel).Add(
            pb.AddRequest(account_id=account, email="standalone@example.com", reason="via gRPC"), timeout=5
        )
    with requests.Session() as http:  # one keep-alive connection for both requests
        assert http.get(f"{addresses['http']}/healthz", timeout=5).json() == {"status": "SERVING"}
        got = http.get(f"{addresses['http']}/v1/suppressions/{account}/standalone@example.com", timeout=5)
        assert got.status_code == 200 and got.json()["reason"] == "via gRPC"
        assert got.headers.get("Connection", "").lower() != "close"
    assert service.stop(signal.SIGTERM) == 0
    assert service.rest_of_stdout() == []  # exactly one line on stdout
    assert "Traceback" not in service.stderr()


def test_sigint_exits_0_too(standalone: Any) -> None:
    service = standalone()
    service.ready()
    assert service.stop(signal.SIGINT) == 0
    assert "Traceback" not in service.stderr()


def test_sigterm_during_an_open_keepalive_connection_still_exits(standalone: Any) -> None:
    service = standalone()
    http_url = service.ready()["http"]
    with socket.create_connection(("127.0.0.1", int(http_url.rsplit(":", 1)[1])), timeout=5) as idle:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(1024).startswith(b"HTTP/1.1 200")
        assert service.stop(signal.SIGTERM) == 0  # the idle connection does not hold the process


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grpc-port", "abc"], "argument --grpc-port: 'abc' is not a port; use 0-65535"),
        (["--http-port", "70000"], "argument --http-port: '70000' is not a port"),
        (["--http-port", "\u00b2"], "argument --http-port: '\u00b2' is not a port"),
        (
            ["--dynamodb-endpoint", "localhost:8000"],
            "'localhost:8000' is not a URL; use e.g. http://127.0.0.1:8000",
        ),
        (["--table-timeout", "-1"], "'-1' is not a number of seconds"),
    ],
)
def test_bad_arguments_exit_2_with_the_value_and_the_fix(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "example_service", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_unreachable_dynamodb_exits_1_naming_it(standalone: Any) -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    service = standalone(endpoint=endpoint)
    assert service.finish() == 1
    stderr = service.stderr()
    assert f"error: DynamoDB at {endpoint} is not usable" in stderr and "Traceback" not in stderr
    assert service.rest_of_stdout() == []


def test_no_create_table_leaves_the_table_to_its_template(standalone: Any, dynamodb_client: Any) -> None:
    # It sends DynamoDB nothing at start: ready even with nothing listening on the endpoint...
    unreachable = standalone("--no-create-table", endpoint=f"http://127.0.0.1:{_free_port()}")
    assert set(unreachable.ready()) == {"grpc", "http"}
    assert unreachable.stop(signal.SIGTERM) == 0
    # ...and on a DynamoDB without its table it creates none (the default would: see the tests above).
    on_moto = standalone("--no-create-table", "--table", "no-create-tests")
    on_moto.ready()
    assert on_moto.stop(signal.SIGTERM) == 0
    assert "Traceback" not in on_moto.stderr()
    with pytest.raises(dynamodb_client.exceptions.ResourceNotFoundException):
        dynamodb_client.describe_table(TableName="no-create-tests")


def test_sigterm_while_it_waits_for_dynamodb_exits_0_at_once(standalone: Any) -> None:
    """A DynamoDB that accepts the connection and never answers holds the start; SIGTERM ends it cleanly
    (not as "DynamoDB is not usable", which an ``except Exception`` around the start would make of it)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(READY_TIMEOUT)
        service = standalone(endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}")
        accepted, _ = silent.accept()  # the service's own connection: it now waits for an answer
        with accepted:
            assert service.stop(signal.SIGTERM, timeout=10) == 0
    stderr = service.stderr()
    assert "not usable" not in stderr and "Traceback" not in stderr, stderr
    assert service.rest_of_stdout() == []


@pytest.mark.parametrize("which", ["--grpc-port", "--http-port"])
def test_a_taken_port_exits_1_naming_it(standalone: Any, which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = standalone(which, str(port))
        assert service.finish() == 1
    stderr = service.stderr()
    kind = "gRPC" if which == "--grpc-port" else "HTTP"
    assert f"cannot bind the {kind} port 127.0.0.1:{port}" in stderr and "Traceback" not in stderr


@pytest.fixture
def sigv4_file(tmp_path: Any) -> tuple[str, str, str]:
    """A credentials file for the front door: (path, access key id, secret)."""
    import secrets

    key_id, secret = "AKIDSTANDALONETEST01", secrets.token_urlsafe(24)
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({key_id: secret}))
    return str(path), key_id, secret


def test_the_sigv4_front_door_rejects_unsigned_calls_on_both_apis(
    standalone: Any, sigv4_file: tuple[str, str, str]
) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    service = standalone("--sigv4-credentials", sigv4_file[0])
    addresses = service.ready()
    unsigned = requests.get(f"{addresses['http']}/healthz", timeout=5)
    assert unsigned.status_code == 403 and unsigned.json()["error"]["code"] == "UNAUTHENTICATED"
    with grpc.insecure_channel(addresses["grpc"]) as channel, pytest.raises(grpc.RpcError) as info:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert service.stop() == 0


SIGNED_SUITE = """
import uuid
from example_service.gen.suppression.v1 import suppression_pb2 as pb, suppression_pb2_grpc as pb_grpc

def test_signed_grpc_write_then_signed_http_read(grpc_channel, http):
    account = f"signed-{uuid.uuid4()}"
    pb_grpc.SuppressionServiceStub(grpc_channel).Add(pb.AddRequest(account_id=account, email="s@example.com"))
    assert http.get(f"/v1/suppressions/{account}/s@example.com").status_code == 200

def test_signed_health(http):
    assert http.get("/healthz").json() == {"status": "SERVING"}
"""


def test_signed_requests_pass_the_front_door(
    standalone: Any,
    sigv4_file: tuple[str, str, str],
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, key_id, secret = sigv4_file
    service = standalone("--sigv4-credentials", path)
    addresses = service.ready()
    pytester.makepyfile(test_signed=SIGNED_SUITE)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--addr",
        addresses["grpc"],
        "--http-addr",
        addresses["http"],
        "--grpc-plaintext",
    )
    result.assert_outcomes(passed=2)
    assert secret not in result.stdout.str() + result.stderr.str()
    assert service.stop() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("[1, 2]", "must be a non-empty JSON object"),
        ("{not json", "is not valid JSON"),
    ],
    ids=["missing", "not-an-object", "not-json"],
)
def test_a_bad_credentials_file_exits_2(tmp_path: Any, content: str | None, message: str) -> None:
    path = tmp_path / "keys.json"
    if content is not None:
        path.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "example_service", "--sigv4-credentials", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "error: --sigv4-credentials:" in result.stderr and str(path) in result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
