"""Cost: Lambda's REPORT line parsed, GB-seconds summed, the price table applied; fates classified."""

from __future__ import annotations

import pytest

from pytest_dualmode.cli.invoke import cost
from pytest_dualmode.cli.invoke.backend import Outcome
from pytest_dualmode.cli.invoke.fate import classify

LAMBDA_TAIL = (
    "END RequestId: 3f1f\n"
    "REPORT RequestId: 3f1f\tDuration: 2250.25 ms\tBilled Duration: 2251 ms\tMemory Size: 2048 MB\t"
    "Max Memory Used: 138 MB\tInit Duration: 439.25 ms\t\n"
)


def test_the_report_line_of_a_lambda_log_tail_is_parsed():
    report = cost.parse_report("output\n" + LAMBDA_TAIL)
    assert report == cost.Report(
        duration_ms=2250.25, billed_ms=2251, memory_mb=2048, max_memory_mb=138, init_ms=439.25
    )


def test_without_billed_duration_the_duration_and_init_are_rounded_up():
    report = cost.parse_report(
        "REPORT RequestId: r\tDuration: 10.20 ms\tMemory Size: 128 MB\tInit Duration: 5.5 ms"
    )
    assert report is not None and report.billed_ms == 16 and report.max_memory_mb is None


def test_a_tail_without_report_line_has_no_report():
    assert cost.parse_report("START\nsome output\n") is None


def test_gb_seconds_and_price_sum_every_invocation_that_ran():
    invocations = [
        {"billed_ms": 2000, "memory_mb": 1024, "error_type": None},
        {"billed_ms": 500, "memory_mb": 2048, "error_type": "Runtime.ExitError"},
        {"billed_ms": None, "memory_mb": None, "error_type": "TooManyRequestsException"},  # never ran
        {"billed_ms": None, "memory_mb": None, "error_type": "ServiceException"},  # ran, no REPORT
    ]
    total = cost.total(invocations, region="eu-west-1", architecture="arm64")
    assert total["gb_seconds"] == pytest.approx(3.0)
    assert total["invocations"] == 3 and total["unreported"] == 1
    assert total["usd"] == pytest.approx(3.0 * cost.PRICE_PER_GB_S["arm64"] + 3 * cost.PRICE_PER_REQUEST)
    assert (total["region"], total["architecture"], "note" in total) == ("eu-west-1", "arm64", False)


def test_an_unknown_region_is_estimated_at_the_default_price_and_says_so():
    total = cost.total([{"billed_ms": 1000, "memory_mb": 1024}], region="xx-moon-1", architecture=None)
    assert total["architecture"] == "x86_64" and total["price_per_gb_s"] == cost.PRICE_PER_GB_S["x86_64"]
    assert "no price for xx-moon-1" in total["note"] and "xx-moon-1" in cost.cost_line(total)


def result(counts: dict, outcome: str = "passed", exit_code: int = 0, **extra) -> dict:
    full = dict.fromkeys(("passed", "failed", "skipped", "errors", "not_run"), 0) | counts
    return {
        "schema": "pytest-dualmode.result/1",
        "outcome": outcome,
        "exit_code": exit_code,
        "counts": full,
    } | extra


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome(result({"passed": 2})), ("passed", None)),
        (Outcome(result({"failed": 1}, "failed", 1)), ("tests_failed", None)),
        (Outcome(result({"errors": 1}, "failed", 1)), ("tests_failed", None)),
        (
            Outcome(result({}, "error", 2, error={"type": "CollectionError", "message": "x"})),
            ("collection_error", "CollectionError"),
        ),
        (Outcome(result({}, "error", 4, error={"type": "UsageError"})), ("collection_error", "UsageError")),
        (Outcome(result({}, "error", 5)), ("collection_error", "CollectionError")),
        (Outcome(result({}, "error", 4, error={"type": "ConfigError"})), ("infrastructure", "ConfigError")),
        (Outcome(result({}, "error", 3, error={"type": "InternalError"})), ("tests_failed", None)),
        (Outcome(result({"passed": 1, "not_run": 2}, "timeout", 2)), ("infrastructure", "Handler.Deadline")),
        (Outcome(result({"failed": 1, "not_run": 2}, "timeout", 1)), ("tests_failed", None)),
        (
            Outcome(None, function_error="Unhandled", error_type="Runtime.OutOfMemory"),
            ("infrastructure", "Runtime.OutOfMemory"),
        ),
        (
            Outcome(None, error_type="TooManyRequestsException"),
            ("infrastructure", "TooManyRequestsException"),
        ),
        (Outcome(None, error_type="ReadTimeout"), ("infrastructure", "ReadTimeout")),
        (Outcome(result({"passed": 1}), function_error="Unhandled"), ("infrastructure", "Unhandled")),
        (None, ("infrastructure", "NotInvoked")),
    ],
)
def test_each_invocation_has_one_fate(outcome, expected):
    assert classify(outcome) == expected
