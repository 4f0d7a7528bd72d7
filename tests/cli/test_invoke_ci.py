"""``dualmode invoke`` in CI, over the wire (boto3 against a fake Lambda API): re-runs and flaky tests,
infrastructure fates and their exit code, --lf / --ff, the durations history, the cost from REPORT lines."""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET

import pytest
from test_invoke_cli import assert_schema, dualmode
from test_invoke_fakes import FakeLambda, FakeSuite, Reply, junit_for

from pytest_dualmode.cli import invoke as invoke_module
from pytest_dualmode.cli.invoke.fanout import REFUSAL_MARKER, Backoff

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
IDS = [f"tests/test_m.py::test_{i}" for i in range(6)]
FLAKY, BAD = IDS[1], IDS[4]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setattr(invoke_module, "Backoff", functools.partial(Backoff, base_s=0.01, cap_s=0.02))


def report_line(billed_ms: int, memory_mb: int = 1024) -> str:
    return (
        f"END RequestId: r\nREPORT RequestId: r\tDuration: {billed_ms - 0.5} ms\t"
        f"Billed Duration: {billed_ms} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: 80 MB\t\n"
    )


class Environments:
    """A fake Lambda whose invocations run in numbered environments; FLAKY fails in its first run only."""

    def __init__(self, suite: FakeSuite) -> None:
        self.suite = suite
        self.flaky_runs = 0

    def respond(self, event: dict, number: int) -> Reply:
        result = self.suite.run(event)
        for record in result["tests"]:
            if record["nodeid"] == FLAKY:
                self.flaky_runs += 1
                if self.flaky_runs > 1:
                    record.update(outcome="passed")
                    record.pop("message", None)
        _recount(result)
        result["junit_xml"] = junit_for(result["tests"])
        result["environment"] = {"id": f"env-{number}", "invocation": 1}
        return Reply(body=result, log=f"START\n{result['summary']}\n" + report_line(1000))


def _recount(result: dict) -> None:
    keys = {
        "passed": "passed",
        "failed": "failed",
        "error": "errors",
        "skipped": "skipped",
        "not_run": "not_run",
    }
    counts = dict.fromkeys(keys.values(), 0)
    for record in result["tests"]:
        counts[keys[record["outcome"]]] += 1
    result["counts"] = counts
    bad = counts["failed"] + counts["errors"]
    result["outcome"], result["exit_code"] = ("failed", 1) if bad else ("passed", 0)


def suite() -> FakeSuite:
    tests: dict[str, tuple] = {n: ("passed", 0.1 * (i + 1)) for i, n in enumerate(IDS)}
    tests[FLAKY] = ("failed", 0.2, "assert 0 == 1")
    tests[BAD] = ("failed", 0.5, "assert 'always'")
    return FakeSuite(tests)


def test_reruns_make_a_flaky_test_and_keep_every_attempt(tmp_path):
    envs = Environments(suite())
    with FakeLambda(envs.respond) as fake:
        code = dualmode(
            fake, "--shards", "2", "--reruns", "2", "--json", str(tmp_path / "r.json"),
            "--junitxml", str(tmp_path / "j.xml"),
        )  # fmt: skip
    result = json.loads((tmp_path / "r.json").read_text())
    assert_schema(result)
    tests = {t["nodeid"]: t for t in result["tests"]}
    assert code == 1 and result["exit_reason"] == "tests_failed"
    assert result["counts"] == {"passed": 4, "failed": 1, "skipped": 0, "errors": 0, "not_run": 0, "flaky": 1}
    assert len(result["tests"]) == len(IDS)
    assert tests[FLAKY]["outcome"] == "flaky"
    assert [a["outcome"] for a in tests[FLAKY]["attempts"]] == ["failed", "passed"]
    assert [a["outcome"] for a in tests[BAD]["attempts"]] == ["failed", "failed", "failed"]  # 2 re-runs
    # the shards' own tallies are their first results', whatever the re-runs did
    assert [s["counts"]["failed"] for s in result["shards"]] == [1, 1]
    # re-runs select only the failed tests and avoid every environment that ran them before
    reruns = [e for e in fake.invokes() if "avoid_environments" in e]
    assert sorted(len(e["avoid_environments"]) for e in reruns) == [1, 1, 2]
    assert all(set(e["select"]) <= {FLAKY, BAD} for e in reruns)
    shard = result["shards"][tests[BAD]["shard"]]
    assert [i["rerun"] for i in shard["invocations"]] == [False, True, True]
    assert [i["attempt"] for i in shard["invocations"]] == [1, 2, 3]
    assert [a["invocation"] for a in tests[BAD]["attempts"]] == [0, 1, 2]
    # JUnit in Surefire's shape: flakyFailure in a passing testcase, rerunFailure after the failure
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "j.xml").iter("testcase")}
    flaky, bad = cases["test_1"], cases["test_4"]
    assert flaky.find("failure") is None and len(flaky.findall("flakyFailure")) == 1
    assert flaky.find("flakyFailure/stackTrace") is not None
    assert bad.find("failure") is not None and len(bad.findall("rerunFailure")) == 2
    suite_el = next(ET.parse(tmp_path / "j.xml").iter("testsuite"))
    assert (suite_el.get("tests"), suite_el.get("failures")) == ("6", "1")


def test_a_run_whose_failures_were_all_flaky_passes_unless_fail_on_flaky(tmp_path, capsys):
    tests = suite()
    tests.tests[BAD] = ("passed", 0.5)
    for flag, expected in (((), (0, "passed")), (("--fail-on-flaky",), (1, "flaky"))):
        envs = Environments(FakeSuite(dict(tests.tests)))
        with FakeLambda(envs.respond) as fake:
            code = dualmode(fake, "--shards", "2", "--reruns", "1", "--json", str(tmp_path / "r.json"), *flag)
        result = json.loads((tmp_path / "r.json").read_text())
        assert (code, result["exit_reason"]) == expected
        assert result["counts"]["flaky"] == 1 and result["counts"]["failed"] == 0
    out = capsys.readouterr().out
    assert f"FLAKY {FLAKY}" in out and "1 flaky" in out


def test_a_rerun_landing_in_an_environment_it_avoids_is_tried_again_elsewhere(tmp_path):
    envs = Environments(suite())
    refused = []

    def respond(event, number):
        if "avoid_environments" in event and not refused:
            refused.append(number)  # the handler exits: Lambda reports Runtime.ExitError
            tail = f"{REFUSAL_MARKER}: env-1 ran an earlier attempt\n" + report_line(3)
            payload = {"errorType": "Runtime.ExitError", "errorMessage": "exit status 75"}
            return Reply(body=payload, function_error="Unhandled", log=tail)
        return envs.respond(event, number)

    with FakeLambda(respond) as fake:
        dualmode(fake, "--shards", "1", "--lf", "--reruns", "1", "--json", str(tmp_path / "r.json"))
    result = json.loads((tmp_path / "r.json").read_text())
    invocations = result["shards"][0]["invocations"]
    assert [(i["rerun"], i["error_type"]) for i in invocations] == [
        (False, None),
        (True, "EnvironmentRefused"),
        (True, None),
    ]
    assert {t["nodeid"]: t["outcome"] for t in result["tests"]}[FLAKY] == "flaky"


def test_infrastructure_only_exits_75_and_is_reported_apart(tmp_path, capsys):
    passing = FakeSuite({n: ("passed", 0.1) for n in IDS})

    def respond(event, number):
        if event.get("shard", {}).get("index") == 1:
            return Reply(429, {"message": "Rate Exceeded."}, error_code="TooManyRequestsException")
        return Reply(body=passing.run(event))

    with FakeLambda(respond) as fake:
        code = dualmode(fake, "--shards", "2", "--json", str(tmp_path / "r.json"))
    result = json.loads((tmp_path / "r.json").read_text())
    assert (code, result["exit_code"], result["exit_reason"]) == (75, 75, "infrastructure")
    lost = result["shards"][1]
    assert (lost["fate"], lost["error_type"]) == ("infrastructure", "TooManyRequestsException")
    assert result["counts"]["failed"] == 0 and result["counts"]["not_run"] == 3
    out = capsys.readouterr().out
    assert "infrastructure (TooManyRequestsException)" in out and ": infrastructure, exit code 75 ==" in out


def test_a_test_failure_outranks_infrastructure_in_the_exit_code(tmp_path):
    broken = suite()

    def respond(event, number):
        if event.get("shard", {}).get("index") == 1:
            return Reply(500, {"message": "boom"}, error_code="ServiceException")
        return Reply(body=broken.run(event))

    with FakeLambda(respond) as fake:
        code = dualmode(fake, "--shards", "2", "--json", str(tmp_path / "r.json"))
    result = json.loads((tmp_path / "r.json").read_text())
    assert (code, result["exit_reason"]) == (1, "tests_failed")
    assert [s["fate"] for s in result["shards"]] == ["tests_failed", "infrastructure"]
    assert result["shards"][1]["error_type"] == "ServiceException"
    assert len(result["shards"][1]["invocations"]) == 2  # a 5xx is re-run once, as before


def test_last_failed_runs_only_the_previous_failures_and_keeps_the_other_durations(tmp_path, capsys):
    path = tmp_path / "r.json"
    with FakeLambda(Environments(suite()).respond) as fake:
        assert dualmode(fake, "--shards", "2", "--json", str(path)) == 1
    first = json.loads(path.read_text())
    assert set(first["durations"]) == set(IDS)

    with FakeLambda(Environments(suite()).respond) as fake:
        code = dualmode(fake, "--shards", "2", "--lf", "--json", str(path))
        selected = sorted(n for e in fake.invokes() if "select" in e for n in e["select"])
    assert selected == sorted([FLAKY, BAD])  # FLAKY passes now: it ran again and its fate is passed
    second = json.loads(path.read_text())
    assert code == 1 and sorted(t["nodeid"] for t in second["tests"]) == sorted([FLAKY, BAD])
    assert set(second["durations"]) == set(IDS)  # the tests that did not run keep their old timing
    assert second["durations"][IDS[0]] == first["durations"][IDS[0]]
    assert "2 of 6 tests failed last time (--json" in capsys.readouterr().err


def test_last_failed_without_failures_runs_everything(tmp_path, capsys):
    passing = FakeSuite({n: ("passed", 0.1) for n in IDS})
    path = tmp_path / "r.json"
    for _ in range(2):
        with FakeLambda(lambda e, n: Reply(body=passing.run(e))) as fake:
            code = dualmode(fake, "--lf", "--json", str(path))
            selected = [n for e in fake.invokes() if "select" in e for n in e["select"]]
        assert code == 0 and sorted(selected) == sorted(IDS)
    assert "--lf: no test failed in --json" in capsys.readouterr().err


def test_failed_first_puts_the_previous_failures_first_in_each_shard(tmp_path):
    path = tmp_path / "r.json"
    with FakeLambda(Environments(suite()).respond) as fake:
        dualmode(fake, "--shards", "2", "--json", str(path))
    with FakeLambda(Environments(suite()).respond) as fake:
        dualmode(fake, "--shards", "2", "--ff", "--durations-from", str(path))
        events = [e for e in fake.invokes() if "select" in e]
    assert sorted(n for e in events for n in e["select"]) == sorted(IDS)
    assert all(e["select"][0] in (FLAKY, BAD) for e in events if {FLAKY, BAD} & set(e["select"]))
    # the handler runs the tests in "first" before the others (pytest would keep collection order)
    assert sorted(n for e in events for n in e.get("first", [])) == sorted([FLAKY, BAD])


def test_the_cost_sums_the_report_lines_of_every_invocation(tmp_path, capsys):
    envs = Environments(suite())
    with FakeLambda(envs.respond) as fake:
        dualmode(
            fake,
            "--shards",
            "2",
            "--reruns",
            "1",
            "--architecture",
            "arm64",
            "--json",
            str(tmp_path / "r.json"),
        )
    result = json.loads((tmp_path / "r.json").read_text())
    calls = len(fake.invokes())  # the collection, 2 shards, 2 re-runs: each billed 1000 ms at 1024 MB
    assert calls == 5
    assert result["cost"]["gb_seconds"] == pytest.approx(5.0)
    assert (result["cost"]["invocations"], result["cost"]["region"]) == (5, "eu-west-1")
    assert result["cost"]["architecture"] == "arm64"
    assert all(
        i["billed_ms"] == 1000 and i["memory_mb"] == 1024 for s in result["shards"] for i in s["invocations"]
    )
    assert "cost: 5 invocations, 5.000 GB-s billed" in capsys.readouterr().out


def test_the_price_follows_the_functions_architecture_read_from_its_configuration(tmp_path):
    passing = FakeSuite({n: ("passed", 0.1) for n in IDS})
    reply = Reply(body=passing.run({}), log="START\n" + report_line(2000, memory_mb=512))
    with FakeLambda(lambda e, n: reply, architectures=("arm64",)) as fake:
        code = dualmode(fake, "--json", str(tmp_path / "r.json"))  # no --timeout: the configuration is read
    cost = json.loads((tmp_path / "r.json").read_text())["cost"]
    assert code == 0 and (cost["architecture"], cost["region"], cost["invocations"]) == (
        "arm64",
        "eu-west-1",
        1,
    )
    assert cost["gb_seconds"] == pytest.approx(1.0) and cost["price_per_gb_s"] == 0.0000133334
