"""Bad Lambda events and function settings through the real handler: each comes back as an ``error`` result
(docs/result-schema.md) whose message names the field and the fix, never echoes a secret, and no traceback
is printed."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from rel_support import assert_no_traceback

from pytest_dualmode.aws_lambda import SuiteFailed, handler

pytestmark = pytest.mark.reliability

SECRET_VALUE = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"

# (id, event, what the error message must contain)
EVENTS: list[tuple[str, Any, list[str]]] = [
    ("event-array", ["-k", "smoke"], ["event: expected an object, got array", '{"args": ["-k", "smoke"]}']),
    ("event-string", "run the tests", ["event: expected an object, got string"]),
    ("event-number", 42, ["event: expected an object, got number 42"]),
    ("unknown-field", {"argz": ["-x"]}, ["event.argz: unknown field 'argz'", "the known fields are args"]),
    ("unknown-fields", {"a": 1, "b": 2}, ["event: unknown fields 'a', 'b'"]),
    ("args-string", {"args": "-k smoke"}, ["event.args: expected an array, got string", "e.g. ["]),
    ("args-item-number", {"args": ["-k", 5]}, ["event.args[1]: expected a string, got number 5"]),
    ("args-junitxml", {"args": ["--junitxml=out.xml"]}, ["event.args[0]", "not allowed here", "junit_xml"]),
    ("args-xdist", {"args": ["-n", "4"]}, ["event.args[0]", "not allowed here", "dualmode invoke --shards"]),
    ("args-pdb", {"args": ["--pdb"]}, ["event.args[0]", "a debugger would wait for input"]),
    ("args-nul", {"args": ["-k", "a\x00b"]}, ["event.args[1]: contains a NUL character"]),
    ("args-huge-list", {"args": ["-v"] * 10_000}, ["event.args: has 10000 entries; at most 256"]),
    ("select-empty", {"select": []}, ["event.select: is empty"]),
    ("select-option", {"select": ["-k"]}, ["event.select[0]: '-k' is not a node id"]),
    ("select-huge-string", {"select": ["t" * 5_000_000]}, ["event.select[0]: is 5000000 characters long"]),
    ("select-huge-list", {"select": ["t.py::t"] * 200_000}, ["event.select: has 200000 entries"]),
    ("shard-index-too-big", {"shard": {"index": 8, "count": 8}}, ["event.shard.index: is 8 but count is 8"]),
    ("shard-count-bool", {"shard": {"index": 0, "count": True}}, ["event.shard.count: expected an integer"]),
    ("shard-missing-count", {"shard": {"index": 0}}, ["event.shard.count: is missing"]),
    ("collect-only-string", {"collect_only": "true"}, ["event.collect_only: expected true or false"]),
    ("raise-on-failure-int", {"raise_on_failure": 0}, ["event.raise_on_failure: expected true or false"]),
    ("margin-negative", {"deadline_margin_ms": -1}, ["event.deadline_margin_ms: is -1; it must be from 0"]),
    ("margin-float", {"deadline_margin_ms": 2.5}, ["event.deadline_margin_ms: expected an integer"]),
    (
        "suites-duplicate",
        {"suites": [{"name": "a"}, {"name": "a"}]},
        ["event.suites[1].name: 'a' is used twice"],
    ),
    ("suites-no-name", {"suites": [{"args": []}]}, ["event.suites[0].name: is missing"]),
    (
        "env-reserved",
        {"env": {"AWS_LAMBDA_FUNCTION_NAME": "x"}},
        ["event.env.AWS_LAMBDA_FUNCTION_NAME: belongs"],
    ),
    ("env-bad-name", {"env": {"1ABC": "x"}}, ["event.env: '1ABC' is not an environment variable name"]),
    ("env-nested", {"env": {"DUALMODE_ADDR": {"host": "x"}}}, ["event.env.DUALMODE_ADDR: expected a string"]),
]


@pytest.fixture
def empty_task_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty task root (a bad event must be refused before anything is collected)."""
    root = tmp_path / "task"
    root.mkdir()
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(root))
    return root


def call(event: Any) -> dict[str, Any]:
    """The handler's result, whether returned or raised as :class:`SuiteFailed`."""
    try:
        result = handler(event, None)
    except SuiteFailed as exc:
        result = exc.result
    json.dumps(result)  # a Lambda response must be JSON
    return result


def check_error_result(result: dict[str, Any], kind: str) -> str:
    """The result is a schema-valid ``error`` result of ``kind`` with no tests; returns its message."""
    import jsonschema

    schema = json.loads(
        resources.files("pytest_dualmode.aws_lambda").joinpath("result.schema.json").read_text()
    )
    jsonschema.validate(result, schema)
    assert result["outcome"] == "error" and result["exit_code"] == 4
    assert result["error"]["type"] == kind
    assert result["tests"] == [] and sum(result["counts"].values()) == 0
    return str(result["error"]["message"])


@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in EVENTS], ids=[c[0] for c in EVENTS])
def test_a_bad_event_returns_an_error_result_naming_the_field(
    empty_task_root: Path,
    capsys: pytest.CaptureFixture[str],
    figures: Any,
    request: pytest.FixtureRequest,
    event: Any,
    expected: list[str],
) -> None:
    result = call(event)
    message = check_error_result(result, "EventError")
    for part in expected:
        assert part in message
    assert len(message) < 1000  # a huge input is never echoed whole
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(result["summary"])  # the summary is the last thing in the log
    assert_no_traceback(out + err)
    figures.add("bad_input", request.node.callspec.id, area="Lambda events")


def test_an_env_value_is_never_echoed_in_the_error(
    empty_task_root: Path, capsys: pytest.CaptureFixture[str], figures: Any
) -> None:
    result = call({"env": {"AWS_SECRET_ACCESS_KEY": [SECRET_VALUE]}})
    message = check_error_result(result, "EventError")
    assert message.startswith("event.env.AWS_SECRET_ACCESS_KEY") and "quote it" in message
    out, err = capsys.readouterr()
    assert SECRET_VALUE not in json.dumps(result) + out + err
    figures.add("bad_input", "env-secret-not-echoed", area="Lambda events")


def test_the_reason_for_a_secret_named_variable_stays_readable(empty_task_root: Path) -> None:
    """Only the detail is redacted, not the field path (the word after ``SECRET_ACCESS_KEY:`` was masked)."""
    message = check_error_result(call({"env": {"AWS_SECRET_ACCESS_KEY": 1}}), "EventError")
    assert message == "event.env.AWS_SECRET_ACCESS_KEY: expected a string value, got number; quote it"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DUALMODE_DEADLINE_MARGIN_MS", "soon", "DUALMODE_DEADLINE_MARGIN_MS='soon' is not a whole number"),
        (
            "DUALMODE_MAX_RESPONSE_BYTES",
            "12",
            "DUALMODE_MAX_RESPONSE_BYTES='12' is not a whole number from 4096",
        ),
        ("DUALMODE_RESULTS_S3", "bucket-without-scheme", "DUALMODE_RESULTS_S3"),
    ],
    ids=["margin-env", "response-limit-env", "results-s3-env"],
)
def test_a_bad_function_setting_returns_a_config_error(
    empty_task_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    figures: Any,
    request: pytest.FixtureRequest,
    variable: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(variable, value)
    result = call({})
    assert expected in check_error_result(result, "ConfigError")
    out, err = capsys.readouterr()
    assert_no_traceback(out + err)
    figures.add("bad_input", request.node.callspec.id, area="Lambda function settings")
