"""Merging shard results: each collected test once, duplicates resolved, lost tests not_run, exit codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from test_invoke_fakes import make_result

from pytest_dualmode.cli.invoke.backend import Outcome
from pytest_dualmode.cli.invoke.fanout import ShardRun
from pytest_dualmode.cli.invoke.junit import decode, encode, junit_address, merged_xml
from pytest_dualmode.cli.invoke.merge import merge

A, B, C, D = (f"tests/test_m.py::test_{x}" for x in "abcd")


def rec(nodeid: str, outcome: str = "passed", duration: float = 1.0, message: str | None = None) -> dict:
    r = {"nodeid": nodeid, "outcome": outcome, "duration": duration}
    if message:
        r["message"] = message
    return r


def shard(index: int, count: int, nodeids, result=None, **outcome) -> ShardRun:
    run = ShardRun(index, count, tuple(nodeids), attempts=1, duration_s=1.0)
    run.outcome = Outcome(result, **outcome)
    return run


def by_id(merged: dict) -> dict[str, dict]:
    return {t["nodeid"]: t for t in merged["tests"]}


def test_clean_shards_merge_in_collection_order():
    shards = [
        shard(0, 2, [A, C], make_result([rec(A), rec(C)])),
        shard(1, 2, [B, D], make_result([rec(B), rec(D, "skipped", message="no db")])),
    ]
    merged = merge([A, B, C, D], shards, duration_s=2.5)
    assert [t["nodeid"] for t in merged["tests"]] == [A, B, C, D]
    assert merged["counts"] == {"passed": 3, "failed": 0, "skipped": 1, "errors": 0, "not_run": 0, "flaky": 0}
    assert merged["exit_reason"] == "passed"
    assert [s["fate"] for s in merged["shards"]] == ["passed", "passed"]
    assert (merged["outcome"], merged["exit_code"]) == ("passed", 0)
    assert merged["schema"] == "pytest-dualmode.result/1"
    assert [t["shard"] for t in merged["tests"]] == [0, 1, 0, 1]
    assert [s["status"] for s in merged["shards"]] == ["passed", "passed"]
    assert sum(merged["counts"].values()) == len(merged["tests"])


def test_a_test_missing_from_its_shards_result_is_not_run_with_a_reason():
    shards = [
        shard(0, 2, [A, C], make_result([rec(A)])),  # C vanished
        shard(1, 2, [B, D], make_result([rec(B), rec(D)])),
    ]
    merged = merge([A, B, C, D], shards, duration_s=1)
    assert by_id(merged)[C]["outcome"] == "not_run"
    assert "shard 1/2 did not report this test" in by_id(merged)[C]["message"]
    assert merged["not_run"] == [{"nodeid": C, "reason": by_id(merged)[C]["message"]}]
    # the shard's result lacks a test: not the tests' failure, so the infrastructure exit code
    assert (merged["outcome"], merged["exit_code"], merged["exit_reason"]) == ("error", 75, "infrastructure")
    assert merged["error"]["type"] == "TestsLost"


def test_a_lost_shard_makes_its_tests_not_run_and_the_infrastructure_exit_code():
    shards = [
        shard(0, 2, [A, C], make_result([rec(A), rec(C)])),
        shard(
            1,
            2,
            [B, D],
            None,
            error="function error (Unhandled): Runtime.ExitError: exit status 137",
            function_error="Unhandled",
            error_type="Runtime.ExitError",
        ),
    ]
    shards[1].attempts = 2
    merged = merge([A, B, C, D], shards, duration_s=1)
    assert [by_id(merged)[n]["outcome"] for n in (B, D)] == ["not_run", "not_run"]
    reason = by_id(merged)[B]["message"]
    assert reason.startswith("shard 2/2 returned no result (after a re-run): function error (Unhandled)")
    assert (merged["outcome"], merged["exit_code"], merged["exit_reason"]) == ("error", 75, "infrastructure")
    assert (merged["shards"][1]["fate"], merged["shards"][1]["error_type"]) == (
        "infrastructure",
        "Runtime.ExitError",
    )
    assert "shard 2/2" in merged["error"]["message"]
    assert merged["counts"]["not_run"] == 2


def test_a_deadline_stop_reports_the_handlers_reason_and_outcome_timeout():
    result = make_result([rec(A), rec(C, "not_run", 0.0)], outcome="timeout", exit_code=2)
    result["not_run"] = [{"nodeid": C, "reason": "deadline: 2000 ms left"}]
    shards = [shard(0, 2, [A, C], result), shard(1, 2, [B], make_result([rec(B)]))]
    merged = merge([A, B, C], shards, duration_s=1)
    assert by_id(merged)[C] == {
        "nodeid": C,
        "outcome": "not_run",
        "duration": 0.0,
        "shard": 0,
        "message": "deadline: 2000 ms left",
    }
    assert (merged["outcome"], merged["exit_code"], merged["exit_reason"]) == (
        "timeout",
        75,
        "infrastructure",
    )
    assert merged["shards"][0]["error_type"] == "Handler.Deadline"


def test_duplicates_keep_the_owners_record_and_the_worse_outcome_deterministically():
    shards = [
        # shard 0 owns A and reports it twice (call passed, teardown error): the worse outcome wins
        shard(0, 2, [A, B], make_result([rec(A), rec(B), rec(A, "error", message="teardown boom")])),
        # shard 1 also reported A (passed) and B (failed): the owner's records win over a stranger's
        shard(1, 2, [C], make_result([rec(A), rec(B, "failed", message="x"), rec(C)])),
    ]
    merged = merge([A, B, C], shards, duration_s=1)
    assert [t["nodeid"] for t in merged["tests"]] == [A, B, C]
    assert by_id(merged)[A]["outcome"] == "error" and by_id(merged)[A]["shard"] == 0
    assert by_id(merged)[B]["outcome"] == "passed" and by_id(merged)[B]["shard"] == 0
    assert merge([A, B, C], list(reversed(shards)), duration_s=1)["tests"] == merged["tests"]
    assert (merged["outcome"], merged["exit_code"]) == ("failed", 1)


def test_a_run_record_beats_not_run_from_any_shard():
    shards = [
        shard(0, 2, [A], make_result([rec(A, "not_run", 0.0)])),
        shard(1, 2, [B], make_result([rec(B), rec(A, "failed", message="ran here")])),
    ]
    merged = merge([A, B], shards, duration_s=1)
    assert by_id(merged)[A]["outcome"] == "failed" and by_id(merged)[A]["shard"] == 1
    assert merged["counts"]["not_run"] == 0


def test_a_reported_test_that_was_not_collected_is_kept_at_the_end():
    shards = [shard(0, 1, [A], make_result([rec(D, "failed", message="surprise"), rec(A)]))]
    merged = merge([A], shards, duration_s=1)
    assert [t["nodeid"] for t in merged["tests"]] == [A, D]
    assert merged["unexpected"] == [D]
    assert merged["exit_code"] == 1


def test_a_function_error_fails_the_run_even_with_a_passing_result():
    shards = [shard(0, 1, [A], make_result([rec(A)]), function_error="Unhandled")]
    merged = merge([A], shards, duration_s=1)
    assert (merged["outcome"], merged["exit_code"]) == ("error", 75)
    assert merged["shards"][0]["status"] == "function-error"
    assert merged["shards"][0]["fate"] == "infrastructure"


@pytest.mark.parametrize(
    ("codes", "expected"),
    [((0, 0), 0), ((1, 0), 1), ((1, 4), 4), ((2, 1), 2), ((3, 4), 3), ((4, 2), 4)],
)
def test_exit_code_priority_follows_pytest(codes, expected):
    shards = []
    for i, code in enumerate(codes):
        outcome = "failed" if code == 1 else "passed" if code == 0 else "error"
        records = [rec(f"t{i}", "failed" if code == 1 else "passed")]
        shards.append(shard(i, len(codes), [f"t{i}"], make_result(records, outcome=outcome, exit_code=code)))
    assert merge([f"t{i}" for i in range(len(codes))], shards, duration_s=1)["exit_code"] == expected


def test_a_run_that_found_no_tests_keeps_exit_code_5():
    empty = make_result([], outcome="error", exit_code=5)
    merged = merge([], [shard(0, 1, [], empty)], duration_s=1)
    assert (merged["outcome"], merged["exit_code"], merged["tests"]) == ("error", 5, [])


def test_junit_address_matches_pytests_mangling():
    assert junit_address("tests/system/test_x.py::TestA::test_b[1-a::b]") == (
        "tests.system.test_x.TestA",
        "test_b[1-a::b]",
    )
    assert junit_address("test_y.py::test_z") == ("test_y", "test_z")


def test_merged_junit_has_each_test_once_with_the_shards_full_testcase():
    shards = [
        shard(0, 2, [A, C], make_result([rec(A), rec(C, "failed", message="assert 1 == 2")])),
        shard(1, 2, [B, D], None, error="crashed"),
    ]
    merged = merge([A, B, C, D], shards, duration_s=3)
    xml_by_shard = {s.index: decode(s.outcome.result["junit_xml"]) for s in shards if s.outcome.result}
    root = ET.fromstring(merged_xml(merged["tests"], xml_by_shard, duration_s=3))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["test_a", "test_b", "test_c", "test_d"]
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == (
        "4",
        "1",
        "2",
        "0",
    )
    assert cases[2].find("failure").text == "full traceback of test_c"  # from the shard's own report
    assert cases[0].find("system-out").text == "shard output of test_a"
    not_run = cases[1].find("skipped")
    assert not_run.get("type") == "pytest-dualmode.not_run"
    assert not_run.get("message").startswith("not run: shard 2/2 returned no result")


def test_junit_without_shard_xml_is_built_from_the_records():
    shards = [
        shard(
            0,
            1,
            [A, B],
            make_result(
                [rec(A, "error", message="fixture boom\nmore"), rec(B, "skipped", message="why")], junit=False
            ),
        )
    ]
    merged = merge([A, B], shards, duration_s=1)
    root = ET.fromstring(merged_xml(merged["tests"], {0: None}, duration_s=1))
    cases = root.find("testsuite").findall("testcase")
    assert cases[0].find("error").get("message") == "fixture boom"
    assert cases[0].find("error").text == "fixture boom\nmore"
    assert cases[1].find("skipped").get("message") == "why"


def test_junit_encoding_round_trips_and_rejects_garbage():
    assert decode(encode("<x/>")) == "<x/>"
    assert encode("<x/>") == encode("<x/>")  # reproducible (no gzip timestamp)
    assert decode({"encoding": "gzip+base64", "data": "not base64!"}) is None
    assert decode({"encoding": "zip", "data": ""}) is None
    assert decode(None) is None
