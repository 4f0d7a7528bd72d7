"""The handler on small suites in a read-only task root: the documented result, selection, suites, errors."""

from __future__ import annotations

import json
import os
import sys
from importlib import resources
from typing import Any

import pytest

from pytest_dualmode.aws_lambda.junit import decode

MIXED = {
    "test_mixed.py": """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture-broke")

        @pytest.fixture
        def bad_teardown():
            yield
            raise RuntimeError("teardown-broke")

        def test_pass():
            pass

        def test_fail():
            assert 1 == 2, "mixed-failure"

        def test_skip():
            pytest.skip("not today")

        @pytest.mark.xfail(reason="known bug")
        def test_xfail():
            assert False

        def test_setup_error(broken):
            pass

        def test_teardown_error(bad_teardown):
            pass

        @pytest.mark.parametrize("n", [1, 2])
        def test_param(n):
            assert n
    """
}


def _validate(result: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(
        resources.files("pytest_dualmode.aws_lambda").joinpath("result.schema.json").read_text()
    )
    jsonschema.validate(result, schema)
    assert sum(result["counts"].values()) == len(result["tests"])


def test_result_has_one_record_per_test_and_the_documented_shape(
    task_root: Any, invoke: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    task_root.write(MIXED)
    result = invoke({"raise_on_failure": False, "shard": {"index": 1, "count": 4}})
    _validate(result)
    outcomes = {t["nodeid"].split("::")[1]: t["outcome"] for t in result["tests"]}
    assert outcomes == {
        "test_pass": "passed",
        "test_fail": "failed",
        "test_skip": "skipped",
        "test_xfail": "skipped",
        "test_setup_error": "error",
        "test_teardown_error": "error",
        "test_param[1]": "passed",
        "test_param[2]": "passed",
    }
    assert result["counts"] == {"passed": 3, "failed": 1, "skipped": 2, "errors": 2, "not_run": 0}
    assert (
        result["outcome"] == "failed"
        and result["exit_code"] == 1
        and result["shard"] == {"index": 1, "count": 4}
    )
    messages = {t["nodeid"].split("::")[1]: t.get("message", "") for t in result["tests"]}
    assert "mixed-failure" in messages["test_fail"] and messages["test_skip"] == "not today"
    assert messages["test_xfail"] == "xfail: known bug" and "fixture-broke" in messages["test_setup_error"]
    assert "teardown-broke" in messages["test_teardown_error"] and "message" not in result["tests"][0]
    xml = decode(result["junit_xml"])
    assert xml is not None and xml.count("<testcase") == 8 and "mixed-failure" in xml
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-4:] == result["summary"].splitlines(), "the summary is not the last thing printed"
    assert out[-4].startswith(
        "dualmode: FAILED exit_code=1 passed=3 failed=1 skipped=2 errors=2 not_run=0 shard=1/4"
    )
    assert out[-3] == "dualmode: FAILED test_mixed.py::test_fail - AssertionError: mixed-failure"
    assert out[-2] == "dualmode: ERROR test_mixed.py::test_setup_error - RuntimeError: fixture-broke"


def test_a_failed_run_raises_suite_failed_with_a_compact_summary(task_root: Any, invoke: Any) -> None:
    task_root.write(MIXED)
    result = invoke({})
    summary = result["raised"]
    assert (
        summary["outcome"] == "failed" and summary["exit_code"] == 1 and summary["counts"] == result["counts"]
    )
    assert [f["nodeid"] for f in summary["failures"]][:1] == ["test_mixed.py::test_fail"]
    assert len(json.dumps(summary)) < 4096


def test_a_passing_run_returns_and_leaves_no_trace(task_root: Any, invoke: Any, tmp_path: Any) -> None:
    task_root.write(
        {"tests/test_ok.py": "import os\ndef test_env():\n    assert os.environ['EXTRA'] == 'on'\n"}
    )
    before_env, before_path, before_cwd = dict(os.environ), list(sys.path), os.getcwd()
    before_files = task_root.listing()
    result = invoke({"env": {"EXTRA": "on", "HOME": "/nonexistent"}})
    assert result["outcome"] == "passed" and result["exit_code"] == 0 and "raised" not in result
    assert task_root.listing() == before_files, "the run wrote into the read-only task root"
    assert dict(os.environ) == before_env and sys.path == before_path and os.getcwd() == before_cwd
    assert not any(m.startswith("test_ok") for m in sys.modules)


def test_select_runs_node_ids_and_reports_the_missing_ones(task_root: Any, invoke: Any) -> None:
    task_root.write(MIXED | {"test_other.py": "def test_one():\n    pass\n"})
    selected = ["test_mixed.py::test_param", "./test_other.py", "test_mixed.py::test_gone", "nope.py::test_x"]
    result = invoke({"select": selected, "raise_on_failure": False})
    _validate(result)
    ids = [t["nodeid"] for t in result["tests"]]
    assert ids == [
        "test_mixed.py::test_param[1]",
        "test_mixed.py::test_param[2]",
        "test_other.py::test_one",
        "test_mixed.py::test_gone",
        "nope.py::test_x",
    ]
    assert result["counts"] == {"passed": 3, "failed": 0, "skipped": 0, "errors": 0, "not_run": 2}
    assert result["outcome"] == "error" and result["error"]["type"] == "SelectionError"
    assert "test_mixed.py::test_gone" in result["error"]["message"] and result["exit_code"] == 4


def test_collect_only_lists_node_ids_and_runs_nothing(task_root: Any, invoke: Any) -> None:
    task_root.write(MIXED)
    result = invoke({"collect_only": True, "args": ["-k", "param or pass"]})
    _validate(result)
    assert result["collected"] == [
        "test_mixed.py::test_pass",
        "test_mixed.py::test_param[1]",
        "test_mixed.py::test_param[2]",
    ]
    assert result["outcome"] == "passed" and result["tests"] == [] and result["junit_xml"] is None


def test_suites_run_in_order_with_their_own_arguments(task_root: Any, invoke: Any) -> None:
    task_root.write(MIXED)
    event = {
        "args": ["-k", "not fail"],
        "suites": [
            {"name": "params", "args": ["-k", "param"]},
            {"name": "skips", "select": ["test_mixed.py::test_skip"]},
        ],
        "select": ["test_mixed.py::test_param[2]", "test_mixed.py::test_skip"],
    }
    result = invoke(event)
    _validate(result)
    assert [t["nodeid"] for t in result["tests"]] == [
        "test_mixed.py::test_param[2]",
        "test_mixed.py::test_skip",
    ]
    assert [
        (s["name"], s["outcome"], s["counts"]["passed"], s["counts"]["skipped"]) for s in result["suites"]
    ] == [("params", "passed", 1, 0), ("skips", "passed", 0, 1)]
    assert result["outcome"] == "passed"
    xml = decode(result["junit_xml"])
    assert xml is not None and xml.count("<testsuite ") == 2


def test_without_a_visible_entry_point_the_plugin_is_loaded_once(task_root: Any, invoke: Any) -> None:
    test = "def test_settings(dualmode_settings):\n    assert dualmode_settings.mode == 'local'\n"
    task_root.write({"test_uses_plugin.py": test})
    for env in ({}, {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}):
        result = invoke({"env": env})
        assert result["outcome"] == "passed", result["summary"]


def test_a_bad_dualmode_setting_is_a_usage_error_naming_it(task_root: Any, invoke: Any) -> None:
    task_root.write({"test_x.py": "def test_x():\n    pass\n"})
    result = invoke({"env": {"DUALMODE_ADDR": "staging"}, "raise_on_failure": False})
    assert (
        result["outcome"] == "error" and result["error"]["type"] == "UsageError" and result["exit_code"] == 4
    )
    assert "DUALMODE_ADDR" in result["error"]["message"] and "'staging'" in result["error"]["message"]


def test_a_collection_error_is_an_error_and_the_other_tests_are_not_run(task_root: Any, invoke: Any) -> None:
    task_root.write(
        {"test_good.py": "def test_fine():\n    pass\n", "test_broken.py": "import no_such_module_here\n"}
    )
    result = invoke({"raise_on_failure": False})
    _validate(result)
    assert result["outcome"] == "error" and result["error"]["type"] == "CollectionError"
    assert "no_such_module_here" in result["error"]["message"]
    assert result["collection_errors"][0]["nodeid"] == "test_broken.py"
    assert [(t["nodeid"], t["outcome"]) for t in result["tests"]] == [("test_good.py::test_fine", "not_run")]
    assert "collection fails" in result["not_run"][0]["reason"]


def test_no_tests_is_an_error_not_a_pass(task_root: Any, invoke: Any) -> None:
    task_root.write({"test_x.py": "def test_x():\n    pass\n"})
    result = invoke({"args": ["-k", "nothing_matches"], "raise_on_failure": False})
    assert result["outcome"] == "error" and result["error"]["type"] == "NoTests" and result["exit_code"] == 5


def test_secrets_never_reach_the_result_or_the_log(
    task_root: Any, invoke: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret, token = (
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
        "IQoJb3JpZ2luX2VjEXAMPLETOKENvalue1234567890abc",
    )
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    task_root.write(
        {
            "test_leak.py": f"""
        import os
        def test_leak():
            print("Authorization: AWS4-HMAC-SHA256 Credential=AKID/x, Signature=abcdef0123456789abcdef")
            assert os.environ.get("SESSION") == "{secret}", "token=" + os.environ["SESSION"]
    """
        }
    )
    result = invoke(
        {"env": {"SESSION": token, "AWS_SESSION_TOKEN": token}, "args": ["-o", "junit_logging=all"]}
    )
    text = json.dumps(result) + (decode(result["junit_xml"]) or "") + capsys.readouterr().out
    assert result["counts"]["failed"] == 1 and "[REDACTED]" in text
    for value in (secret, token, "abcdef0123456789abcdef"):
        assert value not in text


def test_failure_messages_are_cut_to_a_bound(task_root: Any, invoke: Any) -> None:
    task_root.write(
        {"test_long.py": "def test_long():\n    raise AssertionError('start ' + 'x' * 50_000 + ' the-end')\n"}
    )
    result = invoke({"raise_on_failure": False})
    message = result["tests"][0]["message"]
    assert len(message) <= 4200 and "characters cut" in message and "the-end" in message
