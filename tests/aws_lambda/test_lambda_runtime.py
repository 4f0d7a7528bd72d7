"""The handler under the real runtime client (``awslambdaric``), talking to the local Runtime API server:
serialization, error payloads, the deadline header and warm invocations come from AWS's own client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dualmode.cli.emulate.runtime_api import RuntimeApiServer

TESTS = {
    "test_remote.py": """
        import os, time
        def test_passes():
            pass
        def test_fails():
            assert False, "runtime-failure"
        def test_slow():
            time.sleep(10)
        def test_crashes():
            os._exit(3)
    """
}


class Runtime:
    """An ``awslambdaric`` process serving one Runtime API server; its log goes to a file."""

    def __init__(self, api: RuntimeApiServer, root: Path, log: Path, handler: str | None = None) -> None:
        env = {**os.environ, **api.lambda_environment(task_root=str(root))}
        if handler:
            env["_HANDLER"] = handler
        env.pop("PYTEST_CURRENT_TEST", None)
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "awslambdaric", env["_HANDLER"]],
                env=env,
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """Kill the process (Lambda freezes or kills it too) and reap it."""
        self.process.kill()
        self.process.wait(timeout=10)

    def log_tail(self, size: int = 4096) -> str:
        """The last ``size`` bytes of the log, like Lambda's LogResult."""
        return self.log.read_bytes()[-size:].decode(errors="replace")


@pytest.fixture(scope="module")
def task_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite the runtime runs (its own, shared by this module's tests)."""
    root = tmp_path_factory.mktemp("runtime-task")
    for name, text in TESTS.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def runtime(
    task_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RuntimeApiServer, Runtime]]:
    """One Runtime API server and one warm runtime process for several invocations."""
    with RuntimeApiServer(function_name="runtime-tests") as api:
        proc = Runtime(api, task_root, tmp_path_factory.mktemp("log") / "runtime.log")
        try:
            yield api, proc
        finally:
            proc.stop()


def test_a_passing_run_is_a_success_payload(runtime: tuple[RuntimeApiServer, Runtime]) -> None:
    api, proc = runtime
    outcome = api.invoke(
        {"args": ["-k", "passes"], "shard": {"index": 0, "count": 2}}, 60, process=proc.process
    )
    assert not outcome.is_error, outcome
    result = outcome.json()
    assert result["schema"] == "pytest-dualmode.result/1" and result["outcome"] == "passed"
    assert result["counts"]["passed"] == 1 and result["shard"] == {"index": 0, "count": 2}
    assert proc.log_tail().rstrip().splitlines()[-1].startswith("dualmode: PASSED exit_code=0 passed=1")


def test_a_failed_run_is_a_function_error_with_a_compact_summary(
    runtime: tuple[RuntimeApiServer, Runtime],
) -> None:
    api, proc = runtime
    outcome = api.invoke({"args": ["-k", "passes or fails"]}, 60, process=proc.process)
    assert outcome.is_error and outcome.error_type == "SuiteFailed" and not outcome.timed_out
    summary = json.loads(outcome.error_message or "")
    assert summary["outcome"] == "failed" and summary["exit_code"] == 1
    assert summary["counts"] == {"passed": 1, "failed": 1, "skipped": 0, "errors": 0, "not_run": 0}
    assert summary["failures"][0]["nodeid"] == "test_remote.py::test_fails"
    assert "runtime-failure" in summary["failures"][0]["message"]
    tail = proc.log_tail()  # the 4 KB Lambda returns holds the counts and the first failure
    assert "passed=1 failed=1" in tail and "dualmode: FAILED test_remote.py::test_fails" in tail
    same = api.invoke(
        {"args": ["-k", "passes or fails"], "raise_on_failure": False}, 60, process=proc.process
    )
    assert not same.is_error and same.json()["counts"] == summary["counts"]  # warm, same answer


def test_the_deadline_comes_from_the_runtime_header(runtime: tuple[RuntimeApiServer, Runtime]) -> None:
    api, proc = runtime
    event = {"args": ["-k", "slow or passes"], "deadline_margin_ms": 3000, "raise_on_failure": False}
    outcome = api.invoke(event, 4.0, process=proc.process)
    assert not outcome.is_error and not outcome.timed_out, outcome
    result = outcome.json()
    assert result["outcome"] == "timeout" and result["duration_s"] < 4.0
    assert [(t["nodeid"].split("::")[1], t["outcome"]) for t in result["tests"]] == [
        ("test_passes", "passed"),
        ("test_slow", "not_run"),
    ]
    assert result["tests"][1]["message"].startswith("deadline: interrupted during call")


def test_a_bad_event_is_answered_with_an_error_result(runtime: tuple[RuntimeApiServer, Runtime]) -> None:
    api, proc = runtime
    outcome = api.invoke({"args": "-k passes"}, 60, process=proc.process)
    assert not outcome.is_error
    assert outcome.json()["error"]["message"].startswith("event.args: expected an array")


def test_a_test_that_kills_the_process_is_a_runtime_exit(task_root: Path, tmp_path: Path) -> None:
    with RuntimeApiServer() as api:
        proc = Runtime(api, task_root, tmp_path / "log")
        try:
            outcome = api.invoke({"args": ["-k", "crashes"]}, 60, process=proc.process)
        finally:
            proc.stop()
    assert (
        outcome.is_error
        and outcome.error_type == "Runtime.ExitError"
        and "exit status 3" in (outcome.error_message or "")
    )


def test_an_init_error_comes_back_at_once(task_root: Path, tmp_path: Path) -> None:
    with RuntimeApiServer() as api:
        proc = Runtime(api, task_root, tmp_path / "log", handler="pytest_dualmode.aws_lambda.no_such_handler")
        try:
            outcome = api.invoke({}, 60, process=proc.process)
        finally:
            proc.stop()
    assert outcome.is_error and outcome.init_error and outcome.error_type == "Runtime.HandlerNotFound", (
        outcome
    )
    assert api.init_error is not None


def test_an_invocation_that_outlives_its_timeout_is_timed_out(tmp_path: Path) -> None:
    with RuntimeApiServer() as api:  # nobody fetches the event: the wait is still bounded
        outcome = api.invoke({"args": []}, 0.2, grace_s=0.1)
    assert outcome.is_error and outcome.timed_out and outcome.error_type == "Sandbox.Timedout"
