"""The deadline, and tests that try to end the run: each collected test accounted for, the handler alive."""

from __future__ import annotations

import threading
import time
from typing import Any

from pytest_dualmode.aws_lambda.junit import decode

# test_wait sleeps until an absolute time (UNTIL, epoch seconds), so the tests hold whatever pytest's start-up
# costs on a busy machine: with 6 s left and a 4.5 s margin, it ends with 3.7 s left (under the margin, well
# before the interrupt at 2.25 s, which is also the last moment a later suite may start).
TIMED = {
    "test_timed.py": """
        import os, time
        def test_quick():
            pass
        def test_wait():
            time.sleep(max(0.0, float(os.environ["UNTIL"]) - time.time()))
        def test_after_1():
            pass
        def test_after_2():
            pass
    """
}


def _event(left_at_wake_s: float = 3.7, remaining_s: float = 6.0, **extra: Any) -> dict[str, Any]:
    until = time.time() + remaining_s - left_at_wake_s
    return {"deadline_margin_ms": 4500, "raise_on_failure": False, "env": {"UNTIL": repr(until)}, **extra}


def _outcomes(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["nodeid"].split("::")[1], t["outcome"]) for t in result["tests"]]


def test_a_suite_that_outlasts_the_deadline_reports_what_did_not_run(task_root: Any, invoke: Any) -> None:
    task_root.write(TIMED)
    result = invoke(_event(), remaining_ms=6000)
    assert result["outcome"] == "timeout" and result["exit_code"] == 2
    assert _outcomes(result) == [
        ("test_quick", "passed"),
        ("test_wait", "passed"),
        ("test_after_1", "not_run"),
        ("test_after_2", "not_run"),
    ]
    assert [n["nodeid"] for n in result["not_run"]] == [
        "test_timed.py::test_after_1",
        "test_timed.py::test_after_2",
    ]
    assert all(n["reason"].startswith("deadline: not started") for n in result["not_run"])
    xml = decode(result["junit_xml"])
    assert xml is not None and xml.count("pytest-dualmode.not_run") == 2 and xml.count("<testcase") == 4
    assert "raised" not in result


def test_a_test_still_running_at_half_the_margin_is_interrupted(task_root: Any, invoke: Any) -> None:
    task_root.write(
        {
            "test_hang.py": """
        import time
        def test_swallows_exceptions():
            for _ in range(100):
                try:
                    time.sleep(0.1)
                except Exception:
                    pass
        def test_after():
            pass
    """
        }
    )
    result = invoke({"deadline_margin_ms": 2000, "raise_on_failure": False}, remaining_ms=3000)
    assert result["duration_s"] < 5, "the hanging test was not interrupted"
    assert result["outcome"] == "timeout"
    first, second = result["tests"]
    assert first["outcome"] == "not_run" and first["message"].startswith("deadline: interrupted during call")
    assert second["outcome"] == "not_run" and second["message"].startswith("deadline: not started")
    xml = decode(result["junit_xml"]) or ""
    assert xml.count("<testcase") == 2 and xml.count("pytest-dualmode.not_run") == 2, xml  # each test once
    assert "<failure" not in xml and 'failures="0"' in xml and 'skipped="2"' in xml


def test_no_test_starts_when_the_margin_is_already_gone(task_root: Any, invoke: Any) -> None:
    task_root.write(TIMED)
    result = invoke(
        {"env": {"DUALMODE_DEADLINE_MARGIN_MS": "5000"}, "raise_on_failure": False}, remaining_ms=4000
    )
    assert result["outcome"] == "timeout" and result["counts"]["not_run"] == 4
    assert "margin 5000 ms" in result["not_run"][0]["reason"]


def test_off_the_main_thread_tests_are_still_not_started_late(task_root: Any, invoke: Any) -> None:
    task_root.write(TIMED)
    results: list[dict[str, Any]] = []
    event = _event()
    worker = threading.Thread(target=lambda: results.append(invoke(event, remaining_ms=6000)))
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive() and results, "the handler did not finish off the main thread"
    assert results[0]["outcome"] == "timeout" and results[0]["counts"] == {
        "passed": 2,
        "failed": 0,
        "skipped": 0,
        "errors": 0,
        "not_run": 2,
    }


def test_later_suites_are_accounted_for_after_the_deadline(task_root: Any, invoke: Any) -> None:
    task_root.write(TIMED)
    suites = [
        {"name": "first", "args": ["-k", "wait or after_1"]},
        {"name": "second", "args": ["-k", "quick"]},
    ]
    result = invoke(_event(suites=suites), remaining_ms=6000)
    assert result["outcome"] == "timeout"
    assert [s["outcome"] for s in result["suites"]] == ["timeout", "timeout"], result["summary"]
    assert len(result["tests"]) == 3, (result["suites"], result["summary"])
    assert _outcomes(result) == [
        ("test_wait", "passed"),
        ("test_after_1", "not_run"),
        ("test_quick", "not_run"),
    ]


ENDINGS = {
    "test_endings.py": """
        import sys
        import pytest
        def test_exits():
            sys.exit(3)
        def test_fine():
            pass
        def test_interrupts():
            raise KeyboardInterrupt
        def test_never_reached():
            pass
    """
}


def test_system_exit_fails_one_test_and_keyboard_interrupt_stops_the_run(task_root: Any, invoke: Any) -> None:
    task_root.write(ENDINGS)
    result = invoke({"raise_on_failure": False})
    outcomes = [(t["nodeid"].split("::")[1], t["outcome"]) for t in result["tests"]]
    assert outcomes == [
        ("test_exits", "failed"),
        ("test_fine", "passed"),
        ("test_interrupts", "failed"),
        ("test_never_reached", "not_run"),
    ]
    assert (
        "SystemExit" in result["tests"][0]["message"] and "KeyboardInterrupt" in result["tests"][2]["message"]
    )
    assert result["not_run"][0]["reason"] == (
        "not run: the run stopped after KeyboardInterrupt in test_endings.py::test_interrupts"
    )
    assert result["outcome"] == "failed" and result["exit_code"] == 2


def test_pytest_exit_leaves_the_rest_not_run(task_root: Any, invoke: Any) -> None:
    task_root.write(
        {
            "test_stop.py": """
        import pytest
        def test_stops():
            pytest.exit("enough", returncode=0)
        def test_after():
            pass
    """
        }
    )
    result = invoke({"raise_on_failure": False})
    assert [t["outcome"] for t in result["tests"]] == ["not_run", "not_run"]
    assert "pytest.exit() was called: enough" in result["not_run"][1]["reason"]
    assert result["outcome"] == "failed" and result["exit_code"] == 2  # never 0 with tests left not_run


def test_a_conftest_that_exits_at_import_is_an_error_result(task_root: Any, invoke: Any) -> None:
    task_root.write({"conftest.py": "import sys\nsys.exit(4)\n", "test_x.py": "def test_x():\n    pass\n"})
    result = invoke({"raise_on_failure": False})
    assert result["outcome"] == "error" and result["error"]["type"] in ("InternalError", "UsageError")
    assert "SystemExit" in result["error"]["message"] or "conftest" in result["error"]["message"]
    again = invoke({"raise_on_failure": False})  # and the handler is fine for the next invocation
    assert again["outcome"] == result["outcome"]


def test_a_collection_cut_short_by_the_deadline_is_a_timeout_not_an_error(
    task_root: Any, invoke: Any
) -> None:
    task_root.write({"test_slow_import.py": "import time\ntime.sleep(8)\ndef test_never():\n    pass\n"})
    started = time.monotonic()
    result = invoke({"deadline_margin_ms": 2000, "raise_on_failure": False}, remaining_ms=3000)
    assert time.monotonic() - started < 7, "the hard stop did not interrupt the collection"
    assert result["outcome"] == "timeout", result["summary"]
    assert "error" not in result and not result.get("collection_errors")
