"""Settings shared by every test of the project."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# schemathesis (a dev dependency, used through its Python API by the reliability suite) autoloads a
# pytest plugin that costs about a second in every pytest process, pytester's subprocesses included.
# No run here needs the plugin; the subprocesses inherit this. pytest-asyncio and anyio (dev dependencies
# for the async-service tests) are off in subprocesses too: the runs that test them turn them on with -p.
if "no:schemathesis" not in os.environ.get("PYTEST_ADDOPTS", ""):
    os.environ["PYTEST_ADDOPTS"] = (
        os.environ.get("PYTEST_ADDOPTS", "") + " -p no:schemathesis -p no:asyncio -p no:anyio"
    ).strip()


# tests/system and tests/go_service each define the session's `dualmode_service`, and one pytest session
# serves one service (the plugin's address fixtures are session-scoped). So the Go suite is left out of a
# run that does not ask for it by path, and tests/cli/test_go_example_modes.py runs it locally in a pytest
# process of its own (as the Go team's own repository would), beside its remote and Lambda runs.
_GO_SUITE = Path(__file__).resolve().parent / "go_service"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave tests/go_service out unless a command-line argument points into it."""
    if collection_path != _GO_SUITE:
        return None
    asked = (Path(str(arg).split("::", 1)[0]).resolve() for arg in config.args)
    return not any(path.is_relative_to(_GO_SUITE) for path in asked)


def _wait_for_port(
    port: int, what: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Return once 127.0.0.1:``port`` accepts a connection; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                pytest.fail(f"{what} exited with code {process.returncode} before it listened")
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")
            time.sleep(0.05)


@contextlib.contextmanager
def _moto_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, "moto's server", 30, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="session")
def start_moto() -> Callable[[], contextlib.AbstractContextManager[str]]:
    """``with start_moto() as url:`` a fresh ``python -m moto.server`` on 127.0.0.1 (ephemeral port), already
    accepting connections, stopped on leaving the block.

    Its own process, because moto's backends are global to a process: a server in this one would share
    them with the in-process embedded DynamoDB of pytester runs. (And this conftest, packaged with
    tests/system into the Lambda zip, must not import moto: the packager would ship all of it.)
    """
    return _moto_server


@contextlib.contextmanager
def _ready_process(command: list[str], env: dict[str, str], what: str) -> Iterator[dict[str, Any]]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None and process.stderr is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else b""
        if not line:
            process.kill()
            pytest.fail(f"{what} printed no ready line within 60 s: {process.stderr.read()[-2000:]!r}")
        yield json.loads(line)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture(scope="session")
def ready_process() -> Callable[..., contextlib.AbstractContextManager[dict[str, Any]]]:
    """``with ready_process(command, env, what) as ready:`` runs a process that prints one JSON ready line
    (the example service, the Go service, the front door) and gives that line; fails naming ``what``,
    with the end of its stderr, when none comes within 60 s; SIGTERM, then SIGKILL after 15 s, on leaving.
    """
    return _ready_process


@contextlib.contextmanager
def _standalone_example(
    dynamodb_url: str, *args: str, keys: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    command = [sys.executable, "-m", "example_service", "--dynamodb-endpoint", dynamodb_url]
    command += ["--grpc-port", "0", "--http-port", "0", *args]
    with tempfile.TemporaryDirectory(prefix="example-keys-") as folder:
        if keys is not None:
            creds = Path(folder) / "creds.json"
            creds.write_text(json.dumps(keys))
            command += ["--sigv4-credentials", str(creds)]
        with _ready_process(command, env, "the example service") as ready:
            yield ready


@pytest.fixture(scope="session")
def standalone_example() -> Callable[..., contextlib.AbstractContextManager[dict[str, Any]]]:
    """``with standalone_example(dynamodb_url, *args, keys=None) as ready:`` ``python -m example_service`` on
    that DynamoDB with ephemeral ports and ``args``; ``keys`` (``{key id: secret}``) puts it behind its SigV4
    front door, accepting those keys; ``ready`` is its ready line ``{"grpc": "127.0.0.1:P", "http": URL}``."""
    return _standalone_example
