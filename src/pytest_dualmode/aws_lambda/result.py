"""The run result (``pytest-dualmode.result/1``, defined in docs/result-schema.md): assembly, outcome,
summary, the 6 MB cut, and :class:`SuiteFailed`, the function error of a run that did not pass."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "pytest-dualmode.result/1"
OUTCOMES = ("passed", "failed", "error", "timeout")
COUNT_KEYS = ("passed", "failed", "skipped", "errors", "not_run")
_COUNT_OF = {
    "passed": "passed",
    "failed": "failed",
    "skipped": "skipped",
    "error": "errors",
    "not_run": "not_run",
}
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
DEFAULT_RESPONSE_LIMIT = 6_000_000  # under Lambda's 6 MB, with room for the runtime's framing
NOT_FOUND = (
    "not found: no collected test matches this selected node id (was the package built from other tests?)"
)
_EXIT_OF_ERROR = {"EventError": 4, "ConfigError": 4, "UsageError": 4, "SelectionError": 4, "NoTests": 5}


class SuiteFailed(Exception):
    """The function error of a run whose outcome is not ``passed`` (Lambda's ``errorType``: ``SuiteFailed``).

    Its message is a compact JSON summary (outcome, exit_code, counts, first failures); ``result`` holds the
    whole result for in-process callers.
    """

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(compact_summary(result))
        self.result = result


@dataclass
class SuiteRun:
    """What one ``pytest.main`` call produced."""

    name: str
    exit_code: int
    records: list[dict[str, Any]] = field(default_factory=list)
    collected: list[str] = field(default_factory=list)
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    junit: bytes | None = None
    duration_s: float = 0.0
    deadline: bool = False
    error: dict[str, str] | None = None
    missing: list[str] = field(default_factory=list)


def counts_of(tests: Sequence[dict[str, Any]]) -> dict[str, int]:
    """``counts`` for a list of test records."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for test in tests:
        counts[_COUNT_OF[test["outcome"]]] += 1
    return counts


def _outcome(error: Any, deadline: bool, counts: dict[str, int], exit_codes: Sequence[int]) -> str:
    if error:
        return "error"
    if deadline:
        return "timeout"
    if counts["failed"] or counts["errors"] or counts["not_run"] or any(c not in (0, 5) for c in exit_codes):
        return "failed"
    return "passed"


def build(
    runs: Sequence[SuiteRun],
    *,
    collect_only: bool,
    multi: bool,
    missing: Sequence[str],
    duration_s: float,
    shard: dict[str, int] | None,
    redact: Callable[[str], str],
) -> dict[str, Any]:
    """The result of an event's runs (a single run, or the suites in order)."""
    from pytest_dualmode.aws_lambda import junit

    tests = [t for run in runs for t in run.records]
    missing = list(dict.fromkeys([*(m for run in runs for m in run.missing), *missing]))
    if not collect_only:
        tests += [{"nodeid": m, "outcome": "not_run", "duration": 0.0, "message": NOT_FOUND} for m in missing]
    counts = counts_of(tests)
    not_run = [{"nodeid": t["nodeid"], "reason": t["message"]} for t in tests if t["outcome"] == "not_run"]
    collected = list(dict.fromkeys(n for run in runs for n in run.collected))
    error = next((run.error for run in runs if run.error), None)
    exit_code = next((run.exit_code for run in runs if run.error), 0)
    if error is None and missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        error = {
            "type": "SelectionError",
            "message": f"{len(missing)} selected node ids are not in this package: "
            f"{shown}; collect again (collect_only) from the deployed package",
        }
    deadline = any(run.deadline for run in runs)
    if error is None and not deadline and not (collected if collect_only else tests):
        error = {
            "type": "NoTests",
            "message": "no tests were collected; check args, select and the packaged tests",
        }
    outcome = _outcome(error, deadline, counts, [r.exit_code for r in runs])
    if error is not None:
        exit_code = _EXIT_OF_ERROR.get(error["type"], exit_code or 3)
    elif outcome != "passed":
        exit_code = next((r.exit_code for r in runs if r.exit_code not in (0, 5)), 0) or (
            1 if counts["failed"] or counts["errors"] else 2
        )
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "outcome": outcome,
        "exit_code": exit_code,
        "counts": counts,
        "tests": [{k: v for k, v in t.items() if k != "crash"} for t in tests],
        "not_run": not_run,
        "duration_s": round(duration_s, 3),
        "junit_xml": None,
    }
    if not collect_only:
        reports = [run.junit for run in runs if run.junit]
        result["junit_xml"] = junit.encode(junit.merge(reports, not_run), redact)
    if collect_only:
        result["collected"] = collected
    if error is not None:
        result["error"] = error
    errors = [e for run in runs for e in run.collection_errors]
    if errors:
        result["collection_errors"] = errors
    if shard is not None:
        result["shard"] = shard
    if multi:
        result["suites"] = [
            {
                "name": run.name,
                "outcome": _outcome(run.error, run.deadline, counts_of(run.records), [run.exit_code]),
                "exit_code": run.exit_code,
                "counts": counts_of(run.records),
                "duration_s": round(run.duration_s, 3),
            }
            for run in runs
        ]
    result["summary"] = "\n".join(summary_lines(result, tests))
    return result


def error_result(
    kind: str, message: str, duration_s: float, shard: dict[str, int] | None = None
) -> dict[str, Any]:
    """The result of an invocation that could not run at all (bad event or configuration)."""
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "outcome": "error",
        "exit_code": _EXIT_OF_ERROR.get(kind, 3),
        "counts": dict.fromkeys(COUNT_KEYS, 0),
        "tests": [],
        "not_run": [],
        "duration_s": round(duration_s, 3),
        "junit_xml": None,
        "error": {"type": kind, "message": message},
    }
    if shard is not None:
        result["shard"] = shard
    result["summary"] = "\n".join(summary_lines(result, []))
    return result


def _line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summary_lines(result: dict[str, Any], tests: Sequence[dict[str, Any]], failures: int = 5) -> list[str]:
    """The compact summary printed last to stdout (so Lambda's 4 KB log tail always shows it)."""
    c = result["counts"]
    head = (
        f"dualmode: {result['outcome'].upper()} exit_code={result['exit_code']} passed={c['passed']} "
        f"failed={c['failed']} skipped={c['skipped']} errors={c['errors']} not_run={c['not_run']}"
    )
    if "collected" in result:
        head += f" collected={len(result['collected'])}"
    if "shard" in result:
        head += f" shard={result['shard']['index']}/{result['shard']['count']}"
    lines = [head + f" in {result['duration_s']:.2f}s"]
    if "error" in result:
        lines.append(_line(f"dualmode: error {result['error']['type']}: {result['error']['message']}"))
    bad = [t for t in tests if t["outcome"] in ("failed", "error")]
    for test in bad[:failures]:
        crash = test.get("crash") or next(iter((test.get("message") or "").strip().splitlines()[-1:]), "")
        lines.append(_line(f"dualmode: {test['outcome'].upper()} {test['nodeid']} - {crash}"))
    if len(bad) > failures:
        lines.append(f"dualmode: ... and {len(bad) - failures} more failed or errored")
    not_run = [t for t in tests if t["outcome"] == "not_run"]
    if not_run:
        lines.append(
            _line(f"dualmode: {len(not_run)} not run, first {not_run[0]['nodeid']}: {not_run[0]['message']}")
        )
    return lines


def compact_summary(result: dict[str, Any], failures: int = 5) -> str:
    """The JSON message of :class:`SuiteFailed`: small enough for Lambda's log tail and error payload."""
    first = [
        {"nodeid": t["nodeid"], "outcome": t["outcome"], "message": _line(t.get("message") or "", 300)}
        for t in result.get("tests", [])
        if t["outcome"] in ("failed", "error")
    ][:failures]
    summary: dict[str, Any] = {
        "schema": result["schema"],
        "outcome": result["outcome"],
        "exit_code": result["exit_code"],
        "counts": result["counts"],
        "failures": first,
        "duration_s": result["duration_s"],
    }
    for key in ("error", "shard", "report_s3", "truncated"):
        if key in result:
            value = result[key]
            summary[key] = {**value, "message": _line(value["message"], 600)} if key == "error" else value
    if result.get("not_run"):
        summary["first_not_run"] = {
            "nodeid": result["not_run"][0]["nodeid"],
            "reason": _line(result["not_run"][0]["reason"], 300),
        }
    return json.dumps(summary, separators=(",", ":"))


def size_of(result: dict[str, Any]) -> int:
    """Bytes of the result as JSON (ASCII-escaped: an upper bound for any encoder)."""
    return len(json.dumps(result, separators=(",", ":")))


TRUNCATED = (
    "dualmode: result truncated to fit Lambda's 6 MB response (messages cut, then JUnit XML dropped); "
    "set DUALMODE_RESULTS_S3 to keep the full report"
)


def _trim(out: dict[str, Any], stage: int, cut: Callable[[str, int], str]) -> None:
    tests = out["tests"]
    if stage == 0:
        for test in tests:
            if test.get("message"):
                test["message"] = cut(test["message"], 512)
    elif stage == 1:
        out["junit_xml"] = None
    elif stage == 2:
        for test in tests:
            test.pop("message", None)
        for entry in out.get("collection_errors", []):
            entry["message"] = cut(entry["message"], 512)
    elif stage == 3:
        out["tests"] = [t for t in tests if t["outcome"] in ("failed", "error", "not_run")]
    elif stage == 4:
        out["tests"], out["not_run"] = tests[:1000], out["not_run"][:1000]
    else:
        out["tests"], out["not_run"] = [], []
        if "collected" in out:
            out["collected"] = out["collected"][:1000]


def fit(result: dict[str, Any], limit: int, cut: Callable[[str, int], str]) -> dict[str, Any]:
    """Cut the result to ``limit`` bytes: messages cut to 512 characters, then no XML, then no messages, then
    only the failed, errored and not_run records; ``truncated: true`` when anything was cut (``counts`` stay
    exact)."""
    if size_of(result) <= limit:
        return result
    out = {**result, "tests": [dict(t) for t in result["tests"]], "truncated": True}
    if "collection_errors" in out:
        out["collection_errors"] = [dict(e) for e in out["collection_errors"]]
    out["summary"] = f"{result['summary']}\n{TRUNCATED}"
    for stage in range(6):
        _trim(out, stage, cut)
        if size_of(out) <= limit:
            break
    return out
