"""Shard invocations that fail at the Lambda API: throttled, a 5xx from Lambda, a crashed runtime, a response
over the payload limit. Once end to end (boto3 against a fake Lambda Invoke API on 127.0.0.1), and as a
property over any mix of shard fates (the fan-out and the merge, with a scripted backend). Either way the
merged result lists every collected test exactly once, and only tests that a shard reported passed as
passed."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from rel_settings import fuzz_settings
from rel_support import junit_outcomes, result_outcomes

from pytest_dualmode.cli import main
from pytest_dualmode.cli.invoke.backend import Outcome, Throttled
from pytest_dualmode.cli.invoke.fanout import Backoff, ShardRun, run_all
from pytest_dualmode.cli.invoke.merge import merge

pytestmark = pytest.mark.reliability

SCHEMA = "pytest-dualmode.result/1"
IDS = [f"tests/test_api.py::test_{i:02d}" for i in range(12)]


def result_for(records: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A handler result (docs/result-schema.md) for these test records."""
    counts = dict.fromkeys(("passed", "failed", "skipped", "errors", "not_run"), 0)
    for r in records:
        counts[{"error": "errors"}.get(r["outcome"], r["outcome"])] += 1
    bad = counts["failed"] + counts["errors"]
    return {
        "schema": SCHEMA,
        "outcome": "failed" if bad else "passed",
        "exit_code": 1 if bad else 0,
        "counts": counts,
        "tests": records,
        "not_run": [
            {"nodeid": r["nodeid"], "reason": r["message"]} for r in records if r["outcome"] == "not_run"
        ],
        "duration_s": 0.01,
        "junit_xml": None,
        "summary": "fake",
        **extra,
    }


class FakeLambda:
    """Lambda's Invoke API on 127.0.0.1, answering like the handler would, with scripted failures per shard.

    Shard 0 is throttled twice, shard 1 gets one 500 from Lambda, shard 2's runtime crashes every time,
    shard 3's response is over the payload limit, shard 4 has a failing test; shard 5 is fine.
    """

    def __init__(self) -> None:
        from pytest_dualmode.local.http_server import WsgiServer

        self.calls: dict[int, int] = {}
        self._lock = threading.Lock()
        self.server = WsgiServer(self.app).start()

    def app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """The Invoke route only (the CLI is given --timeout, so the configuration is never read)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        event = json.loads(environ["wsgi.input"].read(length) or b"{}")
        status, headers, body = self.answer(event)
        log = base64.b64encode(b"START fake\nsecret AWS_SECRET_ACCESS_KEY=" + SECRET.encode() + b"\nEND\n")
        start_response(
            status, [("Content-Type", "application/json"), ("X-Amz-Log-Result", log.decode()), *headers]
        )
        return [json.dumps(body).encode()]

    def answer(self, event: dict[str, Any]) -> tuple[str, list[tuple[str, str]], Any]:
        if event.get("collect_only"):
            return "200 OK", [], result_for([], collected=IDS)
        shard = event["shard"]["index"]
        with self._lock:
            self.calls[shard] = call = self.calls.get(shard, 0) + 1
        records = [{"nodeid": n, "outcome": "passed", "duration": 0.1} for n in event["select"]]
        if shard == 0 and call <= 2:
            error = {"Type": "User", "message": "Rate Exceeded."}
            return "429 Too Many Requests", [("x-amzn-ErrorType", "TooManyRequestsException")], error
        if shard == 1 and call == 1:
            return (
                "500 Internal Server Error",
                [("x-amzn-ErrorType", "ServiceException")],
                {"Message": "boom"},
            )
        if shard == 2:
            crash = {"errorType": "Runtime.ExitError", "errorMessage": "exited with signal: killed"}
            return "200 OK", [("X-Amz-Function-Error", "Unhandled")], crash
        if shard == 3:
            too_big = {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": "Response payload size "
                       "exceeded maximum allowed payload size (6291556 bytes)."}  # fmt: skip
            return "200 OK", [("X-Amz-Function-Error", "Unhandled")], too_big
        if shard == 4:
            records[0] = {**records[0], "outcome": "failed", "message": "assert 1 == 2"}
        return "200 OK", [], result_for(records, shard=event["shard"])

    def close(self) -> None:
        """Stop the server."""
        self.server.stop()


SECRET = "FakeLambdaLogSecret0123456789abcdefGHIJK"


@pytest.fixture
def fake_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    """The fake Lambda API, with fake credentials for boto3 to sign with."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFAKELAMBDA000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-lambda-secret-not-real")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    fake = FakeLambda()
    try:
        yield fake
    finally:
        fake.close()


def test_throttled_and_failing_invocations_are_retried_or_accounted_for(
    fake_lambda: FakeLambda, tmp_path: Path, capsys: pytest.CaptureFixture[str], figures: Any
) -> None:
    json_path, junit_path = tmp_path / "result.json", tmp_path / "junit.xml"
    code = main(
        [
            "invoke",
            "--function-name",
            "system-tests",
            "--region",
            "us-east-1",
            "--endpoint-url",
            fake_lambda.server.url,
            "--timeout",
            "60",
            "--shards",
            "6",
            "--json",
            str(json_path),
            "--junitxml",
            str(junit_path),
        ]
    )
    out, err = capsys.readouterr()
    merged = json.loads(json_path.read_text())
    outcomes = result_outcomes(merged)
    assert list(outcomes) == IDS
    shards = {s["index"]: s for s in merged["shards"]}
    assert shards[0]["throttled"] == 2 and shards[0]["status"] == "passed"
    assert shards[1]["attempts"] == 2 and shards[1]["status"] == "passed"  # re-run after Lambda's 500
    assert shards[2]["attempts"] == 2 and shards[2]["status"] == "lost"  # crashed twice
    assert shards[3]["status"] == "lost" and "ResponseSizeTooLarge" in shards[3]["error"]
    by_shard: dict[int, list[str]] = {}
    for test in merged["tests"]:
        by_shard.setdefault(test["shard"], []).append(test["outcome"])
    assert by_shard[2] == by_shard[3] == ["not_run", "not_run"]
    assert sorted(by_shard[4]) == ["failed", "passed"]
    assert merged["counts"] == {"passed": 7, "failed": 1, "skipped": 0, "errors": 0, "not_run": 4, "flaky": 0}
    # a failed test outranks the lost shards (infrastructure), which stay reported apart
    assert code == merged["exit_code"] == 1 and merged["outcome"] == "error"
    assert merged["exit_reason"] == "tests_failed"
    assert [shards[i]["fate"] for i in (2, 3)] == ["infrastructure", "infrastructure"]
    assert sorted(junit_outcomes(junit_path).values()) == sorted(
        {"not_run": "skipped"}.get(o, o) for o in outcomes.values()
    )
    assert SECRET not in out + err + json_path.read_text() + junit_path.read_text()
    figures.add(
        "fault",
        "shard invocations throttled, failing at Lambda, crashing, over the payload limit",
        tests=12,
        detail="throttles retried, a 5xx re-run once; 2 lost shards' 4 tests not_run; exit 3",
    )


# ---- the same rules as a property ---------------------------------------------------------------

FATES = ("ok", "fail", "throttled", "throttled_out", "crash_once", "crash", "function_error", "partial",
         "duplicate", "truncated", "timeout", "read_timeout")  # fmt: skip


class ScriptedBackend:
    """Invokes nothing: each shard's fate decides its outcome (thread-safe)."""

    description = "scripted shards"
    function_timeout_s = 60.0

    def __init__(self, fates: list[str], collected: list[str]) -> None:
        self.fates = fates
        self.collected = collected
        self.calls: dict[int, int] = {}
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Outcome:
        """The scripted outcome of one invocation."""
        shard = event["shard"]["index"]
        with self._lock:
            self.calls[shard] = call = self.calls.get(shard, 0) + 1
        fate = self.fates[shard]
        ids = event["select"]
        records = [{"nodeid": n, "outcome": "passed", "duration": 0.01} for n in ids]
        if fate in ("throttled", "throttled_out") and (call <= 2 or fate == "throttled_out"):
            raise Throttled("TooManyRequestsException: Rate Exceeded.")
        if fate == "crash" or (fate == "crash_once" and call == 1):
            return Outcome(None, function_error="Unhandled", error="Runtime.ExitError", rerun_ok=True)
        if fate == "read_timeout":
            return Outcome(None, error="no response within 90s (read timeout)")
        if fate == "fail":
            records = [
                {**r, "outcome": "failed", "message": "assert 0"} if i % 2 else r
                for i, r in enumerate(records)
            ]
        if fate == "partial":
            records = records[: len(records) // 2]
        if fate == "duplicate":
            other = [n for n in self.collected if n not in ids][:1]
            records = (
                records + records[:1] + [{"nodeid": n, "outcome": "failed", "duration": 0.0} for n in other]
            )
        if fate == "timeout":
            cut = len(records) // 2
            records = records[:cut] + [
                {**r, "outcome": "not_run", "message": "deadline: not started"} for r in records[cut:]
            ]
        result = result_for(records, shard=event["shard"])
        if fate == "timeout":
            result["outcome"] = "timeout"
            result["exit_code"] = 2
        if fate == "truncated":
            result = {**result, "tests": [], "truncated": True}
        return Outcome(result, function_error="Unhandled" if fate == "function_error" else None)

    def close(self) -> None:
        """Nothing to release."""


def test_any_mix_of_shard_fates_merges_every_test_once_and_no_false_pass(figures: Any) -> None:
    examples = 0

    @fuzz_settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(
        tests=st.integers(min_value=1, max_value=30),
        fates=st.lists(st.sampled_from(FATES), min_size=1, max_size=6),
    )
    def check(tests: int, fates: list[str]) -> None:
        nonlocal examples
        examples += 1
        collected = [f"tests/test_p.py::test_{i}" for i in range(tests)]
        shards = [ShardRun(i, len(fates), tuple(collected[i :: len(fates)])) for i in range(len(fates))]
        backend = ScriptedBackend(fates, collected)
        policy = Backoff(attempts=3, base_s=0.0001, cap_s=0.0002, budget_s=1.0)

        def event(shard: ShardRun) -> dict[str, Any]:
            return {"select": list(shard.nodeids), "shard": {"index": shard.index, "count": shard.count}}

        run_all(backend, shards, event, max_concurrency=4, policy=policy)
        merged = merge(collected, shards, duration_s=0.1)
        outcomes = result_outcomes(merged)
        assert list(outcomes) == collected  # every collected test once, in order; nothing invented
        for test in merged["tests"]:
            if test["outcome"] == "passed":  # reported passed by the shard it ran in
                result = shards[test["shard"]].outcome.result  # type: ignore[union-attr]
                assert any(
                    r["nodeid"] == test["nodeid"] and r["outcome"] == "passed" for r in result["tests"]
                )
        used = {fates[s.index] for s in shards if s.nodeids}  # a shard with no tests is never invoked
        all_pass = set(outcomes.values()) <= {"passed", "skipped"}
        broken = bool(used & {"function_error", "crash", "read_timeout", "throttled_out"})
        green = merged["exit_code"] == 0
        assert green == (merged["outcome"] == "passed")
        assert not green or (all_pass and not broken)  # never a green run that did not pass
        if all_pass and not broken and "duplicate" not in used:
            assert green  # and never a red one that did

    check()
    figures.add(
        "fuzz", "merged result: any mix of shard fates accounts for every test once", examples=examples
    )
