"""Merged ``dualmode invoke`` results for the report tests (no tests here).

:func:`full_result` has every field the reports render: per-invocation timings and Lambda figures, shard
fates, a flaky test with its attempts, failures with pytest-style tracebacks, not-run tests, the cost and
the exit reason. :func:`plain_result` has only the fields every merged result has, so the reports are
also checked on results without the optional ones.
"""

from __future__ import annotations

import copy
from typing import Any

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

TRACEBACK = (
    """\
    def test_delete_is_204_then_404(http):
        response = http.delete("/items/1")
>       assert response.status_code == 204
E       assert 500 == 204
E        +  where 500 = <Response [500]>.status_code

/var/task/tests/system/test_http_api.py:41: AssertionError
----------------------------- Captured stdout call -----------------------------
request headers: {'Authorization': 'AWS4-HMAC-SHA256 \
Credential=AKIDEXAMPLE/20260101/eu-west-1/x/aws4_request, \
SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}
aws_secret_access_key="""
    + SECRET
    + "\n"
)

HELPER_TRACEBACK = """\
tests/system/test_grpc_api.py:88: in test_get_missing_is_not_found
    check(stub.Get(request))
tests/system/helpers.py:12: in check
    raise AssertionError("100% wrong: a,b")
E   AssertionError: 100% wrong: a,b

tests/system/helpers.py:12: AssertionError
"""


def _inv(attempt: int, start: float, end: float, fate: str, *, rerun: bool = False, **extra: Any) -> dict:
    duration_ms = (end - start) * 1000 - 150
    record = {
        "attempt": attempt,
        "start_s": start,
        "end_s": end,
        "init_ms": 420.0 if attempt == 1 else None,
        "duration_ms": round(duration_ms, 1),
        "billed_ms": float(int(duration_ms) + 1),
        "memory_mb": 1024,
        "max_memory_mb": 180,
        "fate": fate,
        "error_type": None,
        "rerun": rerun,
    }
    record.update(extra)
    return record


def full_result() -> dict[str, Any]:
    """A merged result of 4 shards (one a straggler, one re-run after an infrastructure failure)."""
    tests = [
        {
            "nodeid": "tests/system/test_http_api.py::test_create",
            "outcome": "passed",
            "duration": 1.2,
            "shard": 0,
        },
        {
            "nodeid": "tests/system/test_http_api.py::test_delete_is_204_then_404",
            "outcome": "failed",
            "duration": 0.8,
            "shard": 1,
            "message": TRACEBACK,
            "crash": "assert 500 == 204",
        },
        {
            "nodeid": "tests/system/test_grpc_api.py::test_get_missing_is_not_found",
            "outcome": "error",
            "duration": 0.1,
            "shard": 1,
            "message": HELPER_TRACEBACK,
        },
        {
            "nodeid": "tests/system/test_grpc_api.py::test_list_pages",
            "outcome": "flaky",
            "duration": 2.5,
            "shard": 2,
            "attempts": [
                {
                    "outcome": "failed",
                    "duration": 2.4,
                    "message": "E   TimeoutError: first try <timed out>",
                    "shard": 2,
                    "invocation": 1,
                },
                {"outcome": "passed", "duration": 2.5, "message": "", "shard": 2, "invocation": 2},
            ],
        },
        {
            "nodeid": "tests/system/test_grpc_api.py::test_slow_scan",
            "outcome": "passed",
            "duration": 9.5,
            "shard": 3,
        },
        {
            "nodeid": "tests/system/test_grpc_api.py::test_after_the_deadline",
            "outcome": "not_run",
            "duration": 0.0,
            "shard": 3,
            "message": "deadline: not started, 12.0 s left under the 15.0 s margin",
        },
    ]
    shards = [
        _shard(0, "passed", {"passed": 1}, [_inv(1, 0.5, 2.6, "passed")]),
        _shard(1, "tests_failed", {"failed": 1, "errors": 1}, [_inv(1, 0.5, 2.1, "tests_failed")]),
        _shard(
            2,
            "passed",
            {"passed": 1},
            [
                _inv(1, 0.6, 1.4, "infrastructure", error_type="Runtime.OutOfMemory"),
                _inv(2, 1.5, 4.3, "passed", rerun=True),
            ],
        ),
        _shard(3, "tests_failed", {"passed": 1, "not_run": 1}, [_inv(1, 0.6, 11.0, "tests_failed")]),
    ]
    return {
        "schema": "pytest-dualmode.result/1",
        "outcome": "failed",
        "exit_code": 1,
        "exit_reason": "tests failed",
        "counts": {"passed": 2, "failed": 1, "skipped": 0, "errors": 1, "not_run": 1, "flaky": 1},
        "tests": tests,
        "not_run": [{"nodeid": tests[-1]["nodeid"], "reason": tests[-1]["message"]}],
        "duration_s": 11.4,
        "junit_xml": None,
        "strategy": "durations",
        "shards": shards,
        "cost": {
            "gb_seconds": 17.3,
            "usd": 0.000231,
            "region": "eu-west-1",
            "architecture": "arm64",
            "price_per_gb_s": 0.0000133334,
            "price_per_request": 0.0000002,
            "invocations": 5,
        },
        "summary": "== 2 passed, 1 failed, 1 errors, 1 flaky, 1 not run in 11.4s (4 shards): failed ==",
    }


def plain_result() -> dict[str, Any]:
    """The same run with only the fields every merged result has (no invocations, fates, attempts, cost)."""
    result = copy.deepcopy(full_result())
    for key in ("exit_reason", "cost"):
        result.pop(key)
    result["counts"].pop("flaky")
    for test in result["tests"]:
        test.pop("attempts", None)
        if test["outcome"] == "flaky":
            test["outcome"] = "passed"
    for shard in result["shards"]:
        for key in ("fate", "error_type", "invocations"):
            shard.pop(key, None)
    return result


def _shard(index: int, fate: str, counts: dict[str, int], invocations: list[dict]) -> dict[str, Any]:
    full = dict.fromkeys(("passed", "failed", "skipped", "errors", "not_run"), 0) | counts
    status = {"passed": "passed", "tests_failed": "failed"}[fate]
    return {
        "index": index,
        "count": 4,
        "tests": sum(full.values()),
        "status": status,
        "outcome": status,
        "exit_code": 0 if status == "passed" else 1,
        "counts": full,
        "duration_s": round(invocations[-1]["end_s"] - invocations[0]["start_s"], 3),
        "attempts": len(invocations),
        "throttled": 0,
        "fate": fate,
        "error_type": next((i["error_type"] for i in invocations if i["error_type"]), None),
        "invocations": invocations,
    }
