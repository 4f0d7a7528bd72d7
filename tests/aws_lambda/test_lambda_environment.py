"""The execution environment's id in every result; a re-run refuses the environment of an earlier attempt."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from pytest_dualmode.aws_lambda import runner


def test_every_result_names_its_environment_and_counts_its_invocations(task_root: Any, invoke: Any) -> None:
    task_root.write({"test_a.py": "def test_a():\n    pass\n"})
    first = invoke({})
    second = invoke({"bogus": 1})  # an event error is answered from the same environment too
    assert first["outcome"] == "passed" and second["error"]["type"] == "EventError"
    assert first["environment"]["id"] == second["environment"]["id"] == runner.ENVIRONMENT_ID
    assert second["environment"]["invocation"] == first["environment"]["invocation"] + 1


def test_an_event_avoiding_another_environment_runs(task_root: Any, invoke: Any) -> None:
    task_root.write({"test_a.py": "def test_a():\n    pass\n"})
    result = invoke({"avoid_environments": ["0123456789abcdef"]})
    assert result["outcome"] == "passed" and result["counts"]["passed"] == 1


def test_an_environment_listed_in_avoid_environments_exits_without_running(tmp_path: Any) -> None:
    # os._exit ends the process, so the handler runs in a child interpreter
    code = (
        "from pytest_dualmode.aws_lambda import runner\n"
        "runner.handle({'avoid_environments': [runner.ENVIRONMENT_ID]}, None)\n"
        "print('still running')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == runner.REFUSAL_EXIT_CODE
    assert runner.REFUSAL_MARKER in done.stdout and "still running" not in done.stdout


def test_the_tests_listed_in_first_run_before_the_others(task_root: Any, invoke: Any) -> None:
    task_root.write({"test_order.py": "".join(f"def test_{n}():\n    pass\n\n" for n in "abcd")})
    result = invoke({"first": ["test_order.py::test_c", "test_order.py::test_d"]})
    assert [t["nodeid"].split("::")[1] for t in result["tests"]] == ["test_c", "test_d", "test_a", "test_b"]
    selected = invoke(
        {"select": ["test_order.py::test_a", "test_order.py::test_c"], "first": ["test_order.py::test_c"]}
    )
    assert [t["nodeid"].split("::")[1] for t in selected["tests"]] == ["test_c", "test_a"]
