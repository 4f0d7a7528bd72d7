"""Malformed events and bad handler settings: an error result naming the field and the fix, never a traceback.

The JSON Schema shipped beside the handler must agree with the hand-written validator on every case it can
express.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode.aws_lambda.event import EventError, Shard, Suite, parse_event

BAD_EVENTS: list[tuple[Any, str, str]] = [
    # (event, field named in the message, words of the message)
    ([1, 2], "event", "expected an object"),
    ("run everything", "event", "expected an object"),
    ({"argz": []}, "event.argz", "unknown field 'argz'"),
    ({"args": [], "x": 1, "y": 2}, "event", "unknown fields 'x', 'y'"),
    ({"args": "-k smoke"}, "event.args", "expected an array"),
    ({"args": ["-k", 5]}, "event.args[1]", "expected a string, got number 5"),
    ({"args": ["-k", None]}, "event.args[1]", "got null"),
    ({"args": ["a\x00b"]}, "event.args[0]", "NUL"),
    ({"args": ["x" * 5000]}, "event.args[0]", "at most 4096"),
    ({"args": ["-q"] * 300}, "event.args", "at most 256"),
    ({"args": ["--pdb"]}, "event.args[0]", "debugger"),
    ({"args": ["--junitxml=out.xml"]}, "event.args[0]", "junit_xml"),
    ({"args": ["--rootdir", "/"]}, "event.args[0]", "task root is the rootdir"),
    ({"args": ["-n4"]}, "event.args[0]", "dualmode invoke --shards"),
    ({"args": ["--lf"]}, "event.args[0]", "cache is off"),
    ({"args": ["--collect-only"]}, "event.args[0]", "collect_only"),
    ({"select": []}, "event.select", "is empty"),
    ({"select": "test_a.py"}, "event.select", "expected an array"),
    ({"select": ["-k"]}, "event.select[0]", "is not a node id"),
    ({"select": ["  "]}, "event.select[0]", "is not a node id"),
    ({"select": [{"nodeid": "x"}]}, "event.select[0]", "expected a string"),
    ({"suites": {}}, "event.suites", "expected an array"),
    ({"suites": []}, "event.suites", "is empty"),
    ({"suites": ["main"]}, "event.suites[0]", "expected an object"),
    ({"suites": [{"args": []}]}, "event.suites[0].name", "is missing"),
    ({"suites": [{"name": ""}]}, "event.suites[0].name", "non-empty single line"),
    ({"suites": [{"name": "a"}, {"name": "a"}]}, "event.suites[1].name", "used twice"),
    ({"suites": [{"name": "a", "args": ["--pdb"]}]}, "event.suites[0].args[0]", "debugger"),
    ({"suites": [{"name": "a", "marker": "x"}]}, "event.suites[0].marker", "unknown field"),
    ({"collect_only": "yes"}, "event.collect_only", "expected true or false"),
    ({"collect_only": 1}, "event.collect_only", "expected true or false"),
    ({"raise_on_failure": 0}, "event.raise_on_failure", "expected true or false"),
    ({"shard": [0, 8]}, "event.shard", "expected an object"),
    ({"shard": {"index": 0}}, "event.shard.count", "is missing"),
    ({"shard": {"index": 8, "count": 8}}, "event.shard.index", "indexes run from 0 to count-1"),
    ({"shard": {"index": -1, "count": 8}}, "event.shard.index", "from 0 to"),
    ({"shard": {"index": 0, "count": True}}, "event.shard.count", "expected an integer"),
    ({"shard": {"index": 0.5, "count": 2}}, "event.shard.index", "expected an integer"),
    ({"env": ["A=1"]}, "event.env", "expected an object"),
    ({"env": {"1ABC": "x"}}, "event.env", "not an environment variable name"),
    ({"env": {"AWS_LAMBDA_RUNTIME_API": "x"}}, "event.env.AWS_LAMBDA_RUNTIME_API", "Lambda runtime"),
    ({"env": {"LAMBDA_TASK_ROOT": "/"}}, "event.env.LAMBDA_TASK_ROOT", "Lambda runtime"),
    ({"env": {"A": "x" * 40_000}}, "event.env.A", "at most 32768"),
    ({"deadline_margin_ms": "2000"}, "event.deadline_margin_ms", "expected an integer"),
    ({"deadline_margin_ms": 1_000_000}, "event.deadline_margin_ms", "from 0 to 900000"),
    ({"deadline_margin_ms": 2.5}, "event.deadline_margin_ms", "expected an integer"),
]
# Cases a JSON Schema cannot express (the validator is stricter there).
SEMANTIC_ONLY = {"event.args[0]", "event.suites[0].args[0]", "event.suites[1].name", "event.shard.index"}


@pytest.mark.parametrize(
    ("event", "field", "words"), BAD_EVENTS, ids=[f"{i}-{c[1]}" for i, c in enumerate(BAD_EVENTS)]
)
def test_malformed_event_returns_an_error_result_naming_the_field(
    event: Any, field: str, words: str, invoke: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(event)
    assert "raised" not in result, "a malformed event is returned, not raised"
    assert result["outcome"] == "error" and result["exit_code"] == 4
    assert result["error"]["type"] == "EventError"
    message = result["error"]["message"]
    assert message.startswith(field + ":"), message
    assert words in message, message
    assert "Traceback" not in message and result["tests"] == [] and result["counts"]["passed"] == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("dualmode: error EventError: " + field)


def test_an_env_value_is_never_echoed(invoke: Any) -> None:
    result = invoke({"env": {"AWS_SECRET_ACCESS_KEY": ["wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"]}})
    assert result["error"]["message"].startswith("event.env.AWS_SECRET_ACCESS_KEY:")
    assert "wJalrXUtnFEMI" not in json.dumps(result)


def test_the_reason_for_a_secret_named_variable_stays_readable(invoke: Any) -> None:
    message = invoke({"env": {"AWS_SECRET_ACCESS_KEY": 1}})["error"]["message"]
    assert message == "event.env.AWS_SECRET_ACCESS_KEY: expected a string value, got number; quote it"


def test_valid_events_parse_into_their_fields() -> None:
    assert parse_event(None) == parse_event({})
    event = parse_event(
        {
            "args": ["-k", "smoke"],
            "select": ["./t/test_a.py::test_x"],
            "suites": [
                {"name": "main", "args": ["-m", "not destructive"]},
                {"name": "destructive", "select": ["t"]},
            ],
            "collect_only": True,
            "shard": {"index": 2, "count": 8},
            "raise_on_failure": False,
            "env": {"DUALMODE_ADDR": "api.internal:443"},
            "deadline_margin_ms": 0,
        }
    )
    assert event.args == ("-k", "smoke") and event.select == ("./t/test_a.py::test_x",)
    assert event.suites == (Suite("main", ("-m", "not destructive")), Suite("destructive", (), ("t",)))
    assert event.shard == Shard(2, 8) and event.collect_only and not event.raise_on_failure
    assert event.env == {"DUALMODE_ADDR": "api.internal:443"} and event.deadline_margin_ms == 0


def test_the_event_error_carries_its_field() -> None:
    with pytest.raises(EventError) as info:
        parse_event({"suites": [{"name": "a", "select": [3]}]})
    assert info.value.field == "event.suites[0].select[0]"


def _schema(name: str) -> Any:
    return json.loads(resources.files("pytest_dualmode.aws_lambda").joinpath(name).read_text())


@pytest.mark.parametrize(
    ("event", "field"),
    [(e, f) for e, f, _ in BAD_EVENTS if f not in SEMANTIC_ONLY]
    + [
        ({"args": ["-k", "x"], "select": ["a.py"], "suites": [{"name": "m"}], "env": {"A": "b"}}, None),
        (None, None),
    ],
)
def test_the_event_schema_agrees_with_the_validator(event: Any, field: str | None) -> None:
    import jsonschema  # a dev dependency: the handler itself validates by hand

    errors = list(jsonschema.Draft202012Validator(_schema("event.schema.json")).iter_errors(event))
    assert bool(errors) == (field is not None), [e.message for e in errors]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DUALMODE_DEADLINE_MARGIN_MS": "soon"}, "DUALMODE_DEADLINE_MARGIN_MS"),
        ({"DUALMODE_DEADLINE_MARGIN_MS": "-5"}, "DUALMODE_DEADLINE_MARGIN_MS"),
        ({"DUALMODE_RESULTS_S3": "https://bucket/prefix"}, "DUALMODE_RESULTS_S3"),
        ({"DUALMODE_RESULTS_S3": "s3://Bad_Bucket/x"}, "DUALMODE_RESULTS_S3"),
        ({"DUALMODE_MAX_RESPONSE_BYTES": "10"}, "DUALMODE_MAX_RESPONSE_BYTES"),
    ],
)
def test_bad_handler_settings_are_a_config_error_before_any_test(
    env: dict[str, str], variable: str, invoke: Any, task_root: Any
) -> None:
    task_root.write({"test_never.py": "def test_x():\n    raise AssertionError('must not run')\n"})
    result = invoke({"env": env})
    assert result["outcome"] == "error" and result["error"]["type"] == "ConfigError", result
    assert result["error"]["message"].startswith(variable) and "use e.g." in result["error"]["message"]
    assert result["tests"] == [] and "raised" in result  # a bad configuration is a failed invocation


def test_the_documented_events_are_valid() -> None:
    import jsonschema

    doc = Path(__file__).resolve().parents[2] / "docs" / "lambda.md"
    blocks = re.findall(r"```json\n(.*?)```", doc.read_text(), re.S)
    assert len(blocks) == 3
    for block in blocks:
        event = json.loads(block)
        parse_event(event)
        jsonschema.validate(event, _schema("event.schema.json"))


def test_a_missing_task_root_is_a_config_error(
    invoke: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path / "gone"))
    result = invoke({"raise_on_failure": False})
    assert result["error"]["type"] == "ConfigError" and "LAMBDA_TASK_ROOT" in result["error"]["message"]
