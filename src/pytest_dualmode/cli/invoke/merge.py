"""Merging shard results into one run result (docs/result-schema.md) in which every test appears once.

Rules (also in docs/invoke.md):

* The total is the collected node ids, in collection order. A collected test that no shard reported is
  ``not_run`` with a reason naming its shard and what happened to it (no result, or left out of it).
* A test reported more than once (by its shard twice, or also by another shard) keeps one record, chosen
  deterministically: a record of a test that ran beats ``not_run``; then the record of the shard the
  test was assigned to; then the worse outcome (error > failed > passed > skipped); then the lower shard
  index; then the earlier position in that shard's result.
* A test a shard reported but collection did not list is kept (it ran, and its failure must count),
  after the collected ones, under the same rule.
* Re-runs (``--reruns``) never change which record is kept, nor a shard's own ``counts``: they add
  ``attempts`` to the record (the kept one first), and a failed or errored test that passed in a
  re-run becomes ``flaky`` (counted once, under ``flaky``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_dualmode.cli.invoke.backend import RESULT_SCHEMA
from pytest_dualmode.cli.invoke.fanout import ShardRun
from pytest_dualmode.cli.invoke.fate import EXIT_INFRASTRUCTURE
from pytest_dualmode.cli.invoke.rerun import failed_ids

_RANK = {"error": 4, "failed": 3, "passed": 2, "skipped": 1, "not_run": 0}
_COUNT_KEY = {
    "passed": "passed",
    "failed": "failed",
    "skipped": "skipped",
    "error": "errors",
    "not_run": "not_run",
    "flaky": "flaky",
}
COUNT_KEYS = ("passed", "failed", "skipped", "errors", "not_run", "flaky")
# exit codes that outrank "tests failed", as in pytest: internal error, usage error, interrupted
_EXIT_PRIORITY = (3, 4, 2)


def merge(
    collected: Sequence[str],
    shards: Sequence[ShardRun],
    *,
    duration_s: float,
    fail_on_flaky: bool = False,
) -> dict[str, Any]:
    """Merge ``shards`` into one result over ``collected``; see the module docstring for the rules.

    The returned dict follows docs/result-schema.md, with each test record's ``shard`` (0-based index)
    and a ``shards`` array of per-shard information. ``junit_xml`` is left for the caller to fill.
    ``fail_on_flaky`` makes a flaky test fail the run (``exit_reason`` ``flaky``, exit code 1).
    """
    owner = {nodeid: shard.index for shard in shards for nodeid in shard.nodeids}
    candidates: dict[str, list[tuple[tuple[int, int, int, int, int], dict[str, Any]]]] = {}
    reasons: dict[tuple[int, str], str] = {}
    for shard in shards:
        result = shard.outcome.result if shard.outcome else None
        if result is None:
            continue
        for item in result.get("not_run") or []:
            if isinstance(item, dict) and isinstance(item.get("nodeid"), str):
                reasons[(shard.index, item["nodeid"])] = str(item.get("reason") or "not run")
        for position, record in enumerate(result.get("tests") or []):
            if not isinstance(record, dict) or not isinstance(record.get("nodeid"), str):
                continue
            outcome = str(record.get("outcome"))
            outcome = outcome if outcome in _RANK else "error"  # an outcome this reader does not know
            nodeid = record["nodeid"]
            key = (
                outcome == "not_run",
                owner.get(nodeid, shard.index) != shard.index,
                -_RANK[outcome],
                shard.index,
                position,
            )
            candidates.setdefault(nodeid, []).append(
                (key, {**record, "outcome": outcome, "shard": shard.index})
            )

    by_index = {shard.index: shard for shard in shards}
    tests: list[dict[str, Any]] = []
    order = list(dict.fromkeys(collected))
    known = set(order)
    extras = sorted(
        (n for n in candidates if n not in known), key=lambda n: min(c[0] for c in candidates[n])[3:]
    )
    for nodeid in order + extras:
        if nodeid in candidates:
            record = dict(min(candidates[nodeid], key=lambda c: c[0])[1])
        else:
            lost_in = by_index.get(owner.get(nodeid, -1))
            record = {"nodeid": nodeid, "outcome": "not_run", "duration": 0.0, "shard": owner.get(nodeid)}
            record["message"] = _lost_reason(lost_in)
        if record["outcome"] == "not_run":
            reason = reasons.get((record["shard"], nodeid)) or record.get("message") or "not run"
            record["message"] = reason
        tests.append(record)
    _add_attempts(tests, shards)

    counts = dict.fromkeys(COUNT_KEYS, 0)
    for record in tests:
        counts[_COUNT_KEY[record["outcome"]]] += 1
    merged: dict[str, Any] = {
        "schema": RESULT_SCHEMA,
        "counts": counts,
        "tests": tests,
        "not_run": [
            {"nodeid": t["nodeid"], "reason": t["message"]} for t in tests if t["outcome"] == "not_run"
        ],
        "duration_s": round(duration_s, 3),
        "junit_xml": None,
        "truncated": any(
            bool(s.outcome and s.outcome.result and s.outcome.result.get("truncated")) for s in shards
        ),
        "shards": [shard_info(shard) for shard in shards],
    }
    flaky = {t["nodeid"] for t in tests if t["outcome"] == "flaky"}
    # a shard whose failures all passed on a re-run no longer fails the run
    cleared = {s.index for s in shards if (ids := failed_ids(s)) and set(ids) <= flaky}
    merged["outcome"], merged["exit_code"], error = _verdict(counts, shards, cleared)
    merged["exit_reason"] = _exit_reason(counts, shards, fail_on_flaky)
    merged["exit_code"] = _exit_code(merged["exit_reason"], merged["exit_code"], shards)
    if merged["exit_reason"] == "flaky" and merged["outcome"] == "passed":
        merged["outcome"] = "failed"
    if error:
        merged["error"] = error
    if extras:
        merged["unexpected"] = extras
    return merged


def shard_info(shard: ShardRun) -> dict[str, Any]:
    """The per-shard entry of the merged result's ``shards`` array."""
    outcome = shard.outcome
    result = outcome.result if outcome else None
    info: dict[str, Any] = {
        "index": shard.index,
        "count": shard.count,
        # assigned tests; for a single invocation without collection, the tests it reported
        "tests": len(shard.nodeids) or len((result or {}).get("tests") or []),
        "status": shard_status(shard),
        "outcome": result.get("outcome") if result else None,
        "exit_code": shard_exit_code(shard),
        "counts": result.get("counts") if result else None,
        "duration_s": round(shard.duration_s, 3),
        "attempts": shard.attempts,
        "throttled": shard.throttled,
        "function_error": outcome.function_error if outcome else None,
        "error": outcome.error if outcome and result is None else None,
        "request_id": outcome.request_id if outcome else None,
        "fate": shard.fate[0],
        "error_type": shard.fate[1],
        "invocations": [
            {**item, "attempt": n}  # numbered over the shard's invocations, re-runs included
            for n, item in enumerate((i for run in (shard, *shard.reruns) for i in run.invocations), 1)
        ],
    }
    if shard.earlier_errors:
        info["rerun_after"] = list(shard.earlier_errors)
    if result and result.get("report_s3"):
        info["report_s3"] = result["report_s3"]
    return info


def shard_status(shard: ShardRun) -> str:
    """One word for the table: passed, failed, timeout, error (a result), function-error, lost (no result)."""
    outcome = shard.outcome
    if outcome is None or outcome.result is None:
        return "lost"
    if outcome.function_error:
        return "function-error"
    return str(outcome.result.get("outcome", "error"))


def shard_exit_code(shard: ShardRun) -> int:
    """The shard's pytest exit code: 3 (internal error) without a result, at least 1 on a function error."""
    outcome = shard.outcome
    if outcome is None or outcome.result is None:
        return 3
    code = outcome.result.get("exit_code")
    code = code if isinstance(code, int) else 3
    return max(code, 1) if outcome.function_error else code


def _lost_reason(shard: ShardRun | None) -> str:
    if shard is None:
        return "assigned to no shard"
    outcome = shard.outcome
    if outcome is None or outcome.result is None:
        error = outcome.error if outcome else "never invoked"
        tries = " (after a re-run)" if shard.attempts > 1 else ""
        return f"{shard.label} returned no result{tries}: {error}"
    cut = "; its result was truncated" if outcome.result.get("truncated") else ""
    return f"{shard.label} did not report this test (shard outcome {outcome.result.get('outcome')}{cut})"


def _verdict(
    counts: dict[str, int], shards: Sequence[ShardRun], cleared: set[int]
) -> tuple[str, int, dict[str, str] | None]:
    """The merged outcome and pytest's exit code (see docs/invoke.md, "Exit codes"), and the error."""
    codes = {s.index: shard_exit_code(s) for s in shards}
    codes.update({i: 0 for i in cleared if codes.get(i) == 1})
    if not sum(counts.values()) and codes and set(codes.values()) == {5}:
        return (
            "error",
            5,
            {"type": "NoTests", "message": "no tests were collected; check the pytest arguments"},
        )
    code = next((c for c in _EXIT_PRIORITY if c in codes.values()), None)
    if code is None:
        code = 1 if counts["failed"] or counts["errors"] or counts["not_run"] or any(codes.values()) else 0
    broken = [s for s in shards if shard_status(s) in ("lost", "function-error", "error")]
    if broken:
        detail = "; ".join(f"{s.label}: {_shard_problem(s)}" for s in broken)
        return "error", code, {"type": "ShardFailed", "message": detail}
    if counts["failed"] or counts["errors"]:
        return "failed", code, None
    if counts["not_run"]:
        if all(shard_status(s) == "timeout" for s in shards if _has_not_run(s)):
            return "timeout", code, None
        return "error", code, {"type": "TestsLost", "message": f"{counts['not_run']} tests were not reported"}
    if code:
        detail = "; ".join(f"{s.label} exited {codes[s.index]}" for s in shards if codes[s.index])
        return "error", code, {"type": "ShardFailed", "message": detail}
    return "passed", 0, None


def _has_not_run(shard: ShardRun) -> bool:
    result = shard.outcome.result if shard.outcome else None
    reported = {t.get("nodeid") for t in (result or {}).get("tests") or [] if isinstance(t, dict)}
    return bool(result and (result.get("not_run") or set(shard.nodeids) - reported))


def _shard_problem(shard: ShardRun) -> str:
    outcome = shard.outcome
    if outcome is None:
        return "never invoked"
    if outcome.result is None:
        return outcome.error or "no result"
    if outcome.function_error:
        return f"function error ({outcome.function_error}) with a {outcome.result.get('outcome')} result"
    error = outcome.result.get("error") or {}
    return f"{error.get('type', 'error')}: {error.get('message', '')}".strip()


def _add_attempts(tests: list[dict[str, Any]], shards: Sequence[ShardRun]) -> None:
    """Add each re-run's records as ``attempts`` of the tests it re-ran; mark the ones that passed flaky."""
    by_id = {t["nodeid"]: t for t in tests}
    for shard in shards:
        if not shard.reruns:
            continue
        position = len(shard.invocations) - 1  # index of the invocation that gave the shard's result
        for run in shard.reruns:
            position += len(run.invocations)
            result = run.outcome.result if run.outcome else None
            reported = {
                r["nodeid"]: r
                for r in (result or {}).get("tests") or []
                if isinstance(r, dict) and isinstance(r.get("nodeid"), str)
            }
            for nodeid in run.nodeids:
                record = by_id.get(nodeid)
                if record is None:
                    continue
                attempts = record.setdefault("attempts", [_attempt(record, shard.index, _first(shard))])
                again = reported.get(nodeid)
                if again is None:
                    why = run.outcome.error if run.outcome and result is None else "not reported"
                    again = {"nodeid": nodeid, "outcome": "not_run", "duration": 0.0, "message": why}
                attempts.append(_attempt(again, shard.index, position))
    for record in tests:
        attempts = record.get("attempts")
        if not attempts or record["outcome"] not in ("failed", "error"):
            continue
        if any(a["outcome"] == "passed" for a in attempts[1:]):
            record["outcome"] = "flaky"


def _first(shard: ShardRun) -> int:
    return max(0, len(shard.invocations) - 1)


def _attempt(record: dict[str, Any], shard: int, invocation: int) -> dict[str, Any]:
    outcome = str(record.get("outcome"))
    return {
        "outcome": outcome if outcome in _RANK else "error",
        "duration": float(record.get("duration") or 0.0),
        "message": record.get("message"),
        "shard": shard,
        "invocation": invocation,
    }


def _exit_reason(counts: dict[str, int], shards: Sequence[ShardRun], fail_on_flaky: bool) -> str:
    """Why the run ends as it does (docs/invoke.md, "Exit codes"), strongest first."""
    fates = {s.fate[0] for s in shards}
    if "collection_error" in fates:
        return "collection_error"
    # a shard that failed without a failed test (pytest exited non-zero anyway) fails the run too
    odd = any(s.fate[0] == "tests_failed" and not failed_ids(s) for s in shards)
    if counts["failed"] or counts["errors"] or odd:
        return "tests_failed"
    if counts["flaky"] and fail_on_flaky:
        return "flaky"
    if "infrastructure" in fates or counts["not_run"]:
        return "infrastructure"
    return "passed"


def _exit_code(reason: str, pytest_code: int, shards: Sequence[ShardRun]) -> int:
    """The process exit code: pytest's for test and collection problems, 75 for infrastructure only."""
    if reason == "infrastructure":
        return EXIT_INFRASTRUCTURE
    if reason == "flaky":
        return 1
    if reason == "collection_error":
        codes = {shard_exit_code(s) for s in shards if s.fate[0] == "collection_error"}
        return next((c for c in (*_EXIT_PRIORITY, 5) if c in codes), 2)
    if reason == "tests_failed":  # pytest's precedence over the shards that ran (infrastructure excluded)
        codes = {shard_exit_code(s) for s in shards if s.fate[0] != "infrastructure"}
        return next((c for c in _EXIT_PRIORITY if c in codes), 1)
    return pytest_code
