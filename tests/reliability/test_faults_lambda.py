"""Lambda faults through the real handler, in this process as Lambda runs it: the deadline reached mid-test
(a hanging test, one that swallows the first interrupt) and a result over the response limit. The result
and its JUnit XML list every collected test exactly once, and never as passed when it did not pass."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from rel_support import assert_no_traceback, junit_outcomes, result_outcomes

from pytest_dualmode.aws_lambda import SuiteFailed, handler
from pytest_dualmode.aws_lambda.junit import decode
from pytest_dualmode.aws_lambda.result import size_of

pytestmark = pytest.mark.reliability


class Context:
    """The parts of Lambda's context the handler reads: a deadline ``remaining_ms`` from now."""

    def __init__(self, remaining_ms: float) -> None:
        self.aws_request_id = "rel-request"
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left."""
        return int(max(0.0, self._deadline - time.monotonic()) * 1000)


@pytest.fixture
def task_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write test files into a fresh task root (``LAMBDA_TASK_ROOT``); returns the writer."""
    root = tmp_path / "task"
    root.mkdir()
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(root))

    def write(files: dict[str, str]) -> Path:
        for name, text in files.items():
            (root / name).write_text(textwrap.dedent(text))
        return root

    return write


def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The handler's result, returned or raised."""
    try:
        result = handler(event, context)
    except SuiteFailed as exc:
        result = exc.result
    json.dumps(result)
    return result


DEADLINE_TESTS = """
import time

def test_a_quick():
    pass

def test_b_hangs():
    time.sleep(60)

def test_c_never_started():
    pass
"""

SWALLOWING_TESTS = """
import time

def test_a_quick():
    pass

def test_b_swallows_the_first_interrupt():
    try:
        time.sleep(60)
    except BaseException:
        time.sleep(60)

def test_c_never_started():
    pass
"""


@pytest.mark.parametrize("tests", [DEADLINE_TESTS, SWALLOWING_TESTS], ids=["hanging", "swallowing"])
def test_the_deadline_reached_mid_test_reports_every_test_once(
    task_root: Any,
    capsys: pytest.CaptureFixture[str],
    figures: Any,
    request: pytest.FixtureRequest,
    tests: str,
) -> None:
    task_root({"test_deadline.py": tests})
    started = time.monotonic()
    result = run({"deadline_margin_ms": 4000}, Context(remaining_ms=6000))
    # Interrupted with 2 s left: the result is out before Lambda would kill the run, even on a busy machine.
    assert time.monotonic() - started < 6.0
    assert result["outcome"] == "timeout"
    outcomes = result_outcomes(result)
    names = {nodeid.split("::")[1]: outcome for nodeid, outcome in outcomes.items()}
    assert names.pop("test_a_quick") == "passed"
    assert set(names.values()) == {"not_run"}  # the interrupted test and the one never started
    assert len(names) == 2
    assert {n["nodeid"] for n in result["not_run"]} == {n for n, o in outcomes.items() if o == "not_run"}
    assert all(n["reason"].startswith("deadline:") for n in result["not_run"])
    xml = junit_outcomes(decode(result["junit_xml"]) or b"")  # each test once (an interrupted one was twice)
    assert {k.rsplit("::", 1)[1]: v for k, v in xml.items()} == {
        "test_a_quick": "passed",
        **dict.fromkeys(names, "skipped"),  # not_run tests appear as skipped, with the reason
    }
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(result["summary"])
    assert_no_traceback(err, "stderr")
    figures.add(
        "fault",
        f"Lambda deadline reached mid-test ({request.node.callspec.id})",
        tests=3,
        detail="outcome timeout: 1 passed, the interrupted test and the one after it not_run",
    )


PAYLOAD_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(100))
def test_passes(n):
    pass

@pytest.mark.parametrize("n", range(30))
def test_fails_loudly(n):
    assert False, "x" * 3000
"""


def test_a_result_over_the_response_limit_is_cut_but_its_counts_stay_exact(
    task_root: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], figures: Any
) -> None:
    from pytest_dualmode.cli.invoke.backend import Outcome
    from pytest_dualmode.cli.invoke.fanout import ShardRun
    from pytest_dualmode.cli.invoke.merge import merge

    task_root({"test_payload.py": PAYLOAD_TESTS})
    monkeypatch.setenv("DUALMODE_MAX_RESPONSE_BYTES", "8192")
    result = run({}, Context(remaining_ms=120_000))
    capsys.readouterr()
    assert result["truncated"] is True
    assert size_of(result) <= 8192
    assert result["counts"] == {"passed": 100, "failed": 30, "skipped": 0, "errors": 0, "not_run": 0}
    kept = result_outcomes({**result, "counts": {"kept": len(result["tests"])}})
    assert set(kept.values()) <= {"failed"}  # what was dropped first is the passed records
    assert result["outcome"] == "failed" and result["exit_code"] == 1
    # Merged as a shard by `dualmode invoke`, a dropped record is never turned into a pass.
    collected = [f"test_payload.py::test_passes[{n}]" for n in range(100)]
    collected += [f"test_payload.py::test_fails_loudly[{n}]" for n in range(30)]
    shard = ShardRun(0, 1, tuple(collected), outcome=Outcome(result), attempts=1)
    merged = merge(collected, [shard], duration_s=1.0)
    merged_outcomes = result_outcomes(merged)
    assert list(merged_outcomes) == collected
    assert {merged_outcomes[n] for n in kept} == {"failed"}
    assert "passed" not in {merged_outcomes[n] for n in collected if n not in kept}  # dropped: not_run
    assert merged["counts"]["failed"] == 30 and merged["truncated"] is True
    assert merged["exit_code"] != 0
    figures.add(
        "fault",
        "Lambda result over the response limit",
        tests=130,
        detail="cut to 8 KB with truncated: true; counts exact; dropped records never merged as passed",
    )
