"""``dualmode invoke`` end to end over the wire: the CLI, boto3's client, a fake Lambda API on 127.0.0.1."""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from importlib import resources

import pytest
from test_invoke_fakes import FakeLambda, FakeSuite, Reply, suite_responder

from pytest_dualmode.cli import invoke as invoke_module
from pytest_dualmode.cli import main
from pytest_dualmode.cli.invoke.fanout import Backoff

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    # throttle waits of milliseconds keep these fast (the policy itself is tested in test_invoke_fanout)
    monkeypatch.setattr(invoke_module, "Backoff", functools.partial(Backoff, base_s=0.01, cap_s=0.02))


def assert_schema(result: dict) -> None:
    """The merged result follows the run result's JSON Schema (docs/result-schema.md)."""
    import jsonschema

    schema = json.loads((resources.files("pytest_dualmode.aws_lambda") / "result.schema.json").read_text())
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(result)]
    assert errors == []


def suite_of(n: int, outcome: str = "passed") -> dict[str, tuple]:
    return {f"tests/test_m.py::test_{i:02d}": (outcome, 0.1 * (i + 1)) for i in range(n)}


def dualmode(fake: FakeLambda, *args: str) -> int:
    return main(["invoke", "--function-name", "f", "--endpoint-url", fake.url, *args])


def test_fan_out_merges_every_test_once_and_writes_json_and_junit(tmp_path, capsys):
    suite = FakeSuite(suite_of(10))
    with FakeLambda(suite_responder(suite)) as fake:
        code = dualmode(
            fake,
            "--shards",
            "3",
            "--json",
            str(tmp_path / "r.json"),
            "--junitxml",
            str(tmp_path / "r.xml"),
            "--",
            "-k",
            "test",
        )
    out, err = capsys.readouterr()
    assert code == 0
    collect, *shards = fake.invokes()
    assert collect == {"args": ["-k", "test"], "raise_on_failure": False, "collect_only": True}
    assert sorted(e["shard"]["index"] for e in shards) == [0, 1, 2] and {
        e["shard"]["count"] for e in shards
    } == {3}
    assert all(e["args"] == ["-k", "test"] and e["raise_on_failure"] is False for e in shards)
    selected = [n for e in shards for n in e["select"]]
    assert sorted(selected) == sorted(suite.tests)  # each test sent to exactly one shard
    result = json.loads((tmp_path / "r.json").read_text())
    assert [t["nodeid"] for t in result["tests"]] == list(suite.tests)
    assert (result["outcome"], result["exit_code"], result["counts"]["passed"]) == ("passed", 0, 10)
    assert result["strategy"] == "round-robin" and len(result["shards"]) == 3
    assert_schema(result)
    cases = ET.parse(tmp_path / "r.xml").getroot().find("testsuite").findall("testcase")
    assert len(cases) == 10
    assert err.count("dualmode invoke: [") == 3 and "[3/3]" in err
    assert (
        "10 tests in 3 shards (round robin: no durations history), up to 3 at once, in f in eu-west-1" in err
    )
    assert (
        "shard  tests  passed" in out
        and "== 10 passed in" in out
        and "(3 shards, round-robin): passed, exit code 0 ==" in out
    )
    assert out.count("----- log tail of shard") == 3


def test_the_previous_json_balances_the_next_run_by_duration(tmp_path, capsys):
    suite = FakeSuite(suite_of(8))
    path = tmp_path / "r.json"
    with FakeLambda(suite_responder(suite)) as fake:
        assert dualmode(fake, "--shards", "2", "--json", str(path)) == 0
        assert dualmode(fake, "--shards", "2", "--json", str(path)) == 0
    err = capsys.readouterr().err
    assert "by previous durations, longest shard ~1.8s" in err  # durations 0.1..0.8: 3.6 s over 2 shards
    assert json.loads(path.read_text())["strategy"] == "durations"


def test_a_failing_test_exits_1_and_is_listed(capsys):
    tests = suite_of(4)
    tests["tests/test_m.py::test_01"] = ("failed", 0.2, "assert 1 == 2")
    with FakeLambda(suite_responder(FakeSuite(tests))) as fake:
        code = dualmode(fake, "--shards", "2", "--log-tail", "failed")
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED tests/test_m.py::test_01 - assert 1 == 2" in out
    assert out.count("----- log tail of shard") == 1  # only the failed shard's
    assert "3 passed, 1 failed" in out and ": tests_failed, exit code 1 ==" in out


def test_one_shard_is_one_invocation_without_collection(capsys, tmp_path):
    suite = FakeSuite(suite_of(3))
    signed = f"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, Signature={'c' * 64}"
    log = f"START\n{signed}\nkey {SECRET}\n== 3 passed ==\n"
    with FakeLambda(suite_responder(suite, log=log)) as fake:
        code = dualmode(fake, "--json", str(tmp_path / "r.json"), "--", "-x")
    out, err = capsys.readouterr()
    assert code == 0
    assert fake.invokes() == [{"args": ["-x"], "raise_on_failure": False}]
    result = json.loads((tmp_path / "r.json").read_text())
    assert [t["nodeid"] for t in result["tests"]] == list(suite.tests) and "unexpected" not in result
    assert (result["strategy"], result["counts"]["passed"], result["shards"][0]["tests"]) == ("single", 3, 3)
    assert_schema(result)
    assert "== 3 passed ==" in out  # the decoded log tail
    assert SECRET not in out + err and "c" * 64 not in out and "Authorization: [REDACTED]" in out


def test_a_crashed_shard_is_re_run_once_and_the_run_passes(tmp_path, capsys):
    suite = FakeSuite(suite_of(4))
    crashed = []

    def respond(event, number):
        if event.get("shard", {}).get("index") == 1 and not crashed:
            crashed.append(number)
            return Reply(
                body={"errorType": "Runtime.ExitError", "errorMessage": "signal: killed"},
                function_error="Unhandled",
            )
        return Reply(body=suite.run(event), log="ok\n")

    with FakeLambda(respond) as fake:
        code = dualmode(fake, "--shards", "2", "--json", str(tmp_path / "r.json"))
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    info = result["shards"][1]
    assert info["attempts"] == 2 and info["rerun_after"] == [
        "function error (Unhandled): Runtime.ExitError: signal: killed"
    ]
    assert "re-run after a crash" in capsys.readouterr().err


def test_a_shard_that_times_out_twice_is_infrastructure_with_its_tests_not_run(tmp_path, capsys):
    suite = FakeSuite(suite_of(4))

    def respond(event, number):
        if event.get("shard", {}).get("index") == 0:
            return Reply(
                body={"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 30.00 seconds"},
                function_error="Unhandled",
            )
        return Reply(body=suite.run(event))

    with FakeLambda(respond) as fake:
        code = dualmode(fake, "--shards", "2", "--json", str(tmp_path / "r.json"))
    assert code == 75  # no test failed: the infrastructure's exit code
    assert len(fake.invokes()) == 1 + 1 + 2  # collect, shard 1, shard 0 twice
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["counts"] == {"passed": 2, "failed": 0, "skipped": 0, "errors": 0, "not_run": 2, "flaky": 0}
    assert len(result["tests"]) == 4 and result["outcome"] == "error"
    assert result["exit_reason"] == "infrastructure"
    lost = result["shards"][0]
    assert (lost["fate"], lost["error_type"]) == ("infrastructure", "Sandbox.Timedout")
    assert [(i["attempt"], i["fate"], i["error_type"]) for i in lost["invocations"]] == [
        (1, "infrastructure", "Sandbox.Timedout"),
        (2, "infrastructure", "Sandbox.Timedout"),
    ]
    assert_schema(result)
    reason = result["not_run"][0]["reason"]
    assert reason.startswith(
        "shard 1/2 returned no result (after a re-run): function error (Unhandled): Sandbox.Timedout"
    )
    out = capsys.readouterr().out
    assert "NOT RUN tests/test_m.py::test_00" in out and "infrastructure (Sandbox.Timedout)" in out
    assert "infrastructure failures (2, not test failures):" in out


def test_throttled_shards_back_off_and_complete(capsys):
    suite = FakeSuite(suite_of(6))
    refusals = []

    def respond(event, number):
        if "select" in event and len(refusals) < 4:
            refusals.append(number)
            return Reply(429, {"message": "Rate Exceeded."}, error_code="TooManyRequestsException")
        return Reply(body=suite.run(event))

    with FakeLambda(respond) as fake:
        code = dualmode(fake, "--shards", "3", "--max-concurrency", "2")
    assert code == 0 and len(refusals) == 4
    assert len(fake.invokes()) == 1 + 3 + 4
    assert "throttled" in capsys.readouterr().err


def test_a_read_timeout_loses_the_shard_without_re_running_it(capsys, monkeypatch):
    suite = FakeSuite(suite_of(2))
    monkeypatch.setattr("pytest_dualmode.cli.invoke.backend.READ_TIMEOUT_MARGIN_S", 0.5)

    def respond(event, number):
        slow = event.get("shard", {}).get("index") == 1
        return Reply(body=suite.run(event), delay_s=3.0 if slow else 0.0)

    with FakeLambda(respond) as fake:
        code = dualmode(fake, "--shards", "2", "--timeout", "0.5")
    assert code == 75
    assert len(fake.invokes()) == 3  # collect + 2 shards, the slow one not repeated
    assert "no response within 1s (read timeout)" in capsys.readouterr().out


def test_collection_errors_stop_before_the_fan_out(tmp_path, capsys):
    def respond(event, number):
        return Reply(
            body={
                "schema": "pytest-dualmode.result/1",
                "outcome": "error",
                "exit_code": 2,
                "counts": {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "not_run": 0},
                "tests": [],
                "not_run": [],
                "duration_s": 0.1,
                "junit_xml": None,
                "collected": [],
                "error": {
                    "type": "CollectionError",
                    "message": "tests/test_x.py: ImportError: No module named 'requests_aws4auth'",
                },
            },
            log="ERROR collecting tests/test_x.py\n",
        )

    with FakeLambda(respond) as fake:
        code = dualmode(fake, "--shards", "4", "--json", str(tmp_path / "r.json"))
    out = capsys.readouterr().out
    assert code == 2 and len(fake.invokes()) == 1
    assert "collection failed (error, exit code 2): CollectionError tests/test_x.py: ImportError" in out
    assert "ERROR collecting tests/test_x.py" in out
    assert json.loads((tmp_path / "r.json").read_text())["exit_code"] == 2


def test_no_tests_collected_exits_5(capsys, tmp_path):
    with FakeLambda(suite_responder(FakeSuite({}))) as fake:
        assert dualmode(fake, "--shards", "auto", "--json", str(tmp_path / "r.json")) == 5
    assert "no tests collected" in capsys.readouterr().out
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["exit_code"], result["error"]["type"]) == (5, "NoTestsCollected")
    assert_schema(result)


def test_shards_auto_uses_one_shard_per_25_tests_without_history(capsys):
    suite = FakeSuite(suite_of(60))
    with FakeLambda(suite_responder(suite)) as fake:
        assert dualmode(fake, "--shards", "auto", "--log-tail", "none") == 0
    assert len(fake.invokes()) == 1 + 3
    assert "60 tests in 3 shards" in capsys.readouterr().err


def test_an_unknown_function_is_a_one_line_error(capsys):
    with FakeLambda(suite_responder(FakeSuite({})), functions=()) as fake, pytest.raises(SystemExit) as exc:
        dualmode(fake, "--shards", "2")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "dualmode invoke: error: cannot read the configuration of f in eu-west-1: ResourceNotFoundException"
    )
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shards", "0"], "argument --shards: '0' is not a shard count; use a whole number >= 1 or 'auto'"),
        (["--shards", "many"], "argument --shards: 'many' is not a shard count"),
        (
            ["--max-concurrency", "-1"],
            "argument --max-concurrency: '-1' is not a whole number >= 1 (e.g. --max-concurrency 8)",
        ),
        (
            ["--timeout", "soon"],
            "argument --timeout: 'soon' is not a number of seconds > 0 (e.g. --timeout 300)",
        ),
        (
            ["--env", "NOVALUE"],
            "argument --env: 'NOVALUE' is not K=V (e.g. --env DUALMODE_ADDR=api.internal:443)",
        ),
        (["--log-tail", "some"], "argument --log-tail: invalid choice: 'some'"),
    ],
)
def test_bad_arguments_name_the_value_and_the_fix(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["invoke", "--function-name", "f", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--function-name is required (e.g. --function-name system-tests-staging), or --emulate ZIP"),
        (
            ["--function-name", "f", "--durations-from", "nope.json"],
            "--durations-from nope.json: no such file",
        ),
        (
            ["--function-name", "f", "--json", "no/such/dir/r.json"],
            "--json no/such/dir/r.json: folder no/such/dir does not exist",
        ),
        (
            ["--emulate", "missing.zip"],
            "--emulate missing.zip: no such file; build one with `dualmode package -o missing.zip`",
        ),
    ],
)
def test_bad_setups_are_clear_errors_before_any_invoke(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["invoke", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_collection_without_result_still_writes_the_json_file(tmp_path, capsys):
    def crash(event: dict, number: int) -> Reply:
        # An init error: the runtime died before the handler returned anything.
        return Reply(
            body={"errorType": "Runtime.ExitError", "errorMessage": "exit 1"}, function_error="Unhandled"
        )

    with FakeLambda(crash) as fake:
        code = dualmode(fake, "--shards", "2", "--json", str(tmp_path / "r.json"))
    assert code == 75
    result = json.loads((tmp_path / "r.json").read_text())
    assert_schema(result)
    assert result["outcome"] == "error" and result["exit_code"] == 75
    assert (result["exit_reason"], result["error_type"]) == ("infrastructure", "Runtime.ExitError")
    assert result["error"]["type"] == "CollectionFailed"
    assert "returned no result" in capsys.readouterr().out
