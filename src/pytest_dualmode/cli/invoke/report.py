"""What ``dualmode invoke`` prints: progress lines, log tails, failures, the per-shard table, the summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from pytest_dualmode.cli.invoke.fanout import ShardRun
from pytest_dualmode.cli.invoke.merge import shard_status
from pytest_dualmode.redaction import redact_local as redact

MAX_LISTED = 30  # failures / not-run tests listed by name; the JSON and JUnit files have them all
_COLUMNS = ("passed", "failed", "skipped", "errors", "not_run")
_COUNTED = (*_COLUMNS, "flaky")
_LABEL = {"failed": "FAILED", "error": "ERROR", "not_run": "NOT RUN", "flaky": "FLAKY"}


def counts_text(counts: dict[str, int] | None) -> str:
    """``3 passed, 1 failed`` (zero counts left out, as pytest does)."""
    if not counts:
        return "no result"
    parts = [f"{counts.get(key, 0)} {key.replace('_', ' ')}" for key in _COUNTED if counts.get(key)]
    return ", ".join(parts) or "no tests"


def progress_line(shard: ShardRun, done: int, total: int) -> str:
    """The stderr line printed when a shard finishes."""
    result = shard.outcome.result if shard.outcome else None
    what = counts_text(result.get("counts")) if result else (shard.outcome.error if shard.outcome else "?")
    extra = []
    if shard.throttled:
        extra.append(f"throttled {shard.throttled}x")
    if shard.earlier_errors:
        extra.append("re-run after a crash")
    fate, error_type = shard.fate
    if fate == "infrastructure":
        extra.append(f"infrastructure: {error_type}")
    note = f" ({', '.join(extra)})" if extra else ""
    status = shard_status(shard)
    return (
        f"dualmode invoke: [{done}/{total}] {shard.label} {status}: {what} in {shard.duration_s:.1f}s{note}"
    )


def log_tails(shards: Sequence[ShardRun], which: str, out: TextIO) -> None:
    """Print the decoded (and redacted) log tails: ``all``, only ``failed`` shards', or ``none``."""
    if which == "none":
        return
    for shard in shards:
        outcome = shard.outcome
        if outcome is None or not outcome.log_tail.strip():
            continue
        if which == "failed" and shard_status(shard) == "passed":
            continue
        request = f", request {outcome.request_id}" if outcome.request_id else ""
        print(f"----- log tail of {shard.label}{request} -----", file=out)
        print(outcome.log_tail.rstrip("\n"), file=out)


def problems(tests: Sequence[dict[str, Any]], out: TextIO) -> None:
    """List failed, errored and not-run tests, pytest's short-summary style, at most ``MAX_LISTED``."""
    bad = [t for t in tests if t["outcome"] in _LABEL]
    for record in bad[:MAX_LISTED]:
        crash = redact(crash_line(record))
        first = f" - {crash[:200]}" if crash else ""
        attempts = record.get("attempts") or []
        if attempts:
            first += f" ({'/'.join(a['outcome'] for a in attempts)} in {len(attempts)} attempts)"
        print(f"{_LABEL[record['outcome']]} {record['nodeid']}{first}", file=out)
    if len(bad) > MAX_LISTED:
        print(
            f"... and {len(bad) - MAX_LISTED} more (all of them are in the --json and --junitxml files)",
            file=out,
        )


def crash_line(record: Mapping[str, Any]) -> str:
    """What failed, in one line, as pytest's short summary says it: the record's ``crash``, else the first
    ``E   `` line of the failure text, else its first line (a skip reason, a not-run reason)."""
    crash = str(record.get("crash") or "").strip()
    if crash:
        return crash.splitlines()[0]
    lines = str(record.get("message") or "").strip().splitlines()
    for line in lines:
        if line.startswith("E ") and line[1:].strip():
            return line[1:].strip()
    return lines[0] if lines else ""


def shard_table(shards: Sequence[ShardRun], out: TextIO) -> None:
    """The per-shard table: tests assigned, counts, duration, attempts, throttles and status."""
    header = ("shard", "tests", *_COLUMNS, "duration", "attempts", "throttled", "reruns", "fate")
    rows: list[tuple[str, ...]] = [header]
    for shard in shards:
        result = shard.outcome.result if shard.outcome else None
        counts = (result or {}).get("counts") or {}
        cells = [str(counts.get(key, "-")) if result else "-" for key in _COLUMNS]
        fate, error_type = shard.fate
        rows.append(
            (
                f"{shard.index + 1}/{shard.count}",
                str(len(shard.nodeids)) if shard.nodeids else str(sum(counts.values()) if counts else "-"),
                *cells,
                f"{shard.duration_s:.1f}s",
                str(shard.attempts),
                str(shard.throttled),
                str(len(shard.reruns)),
                f"{fate} ({error_type})" if error_type else fate,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        line = "  ".join(
            cell.rjust(width) if i < len(row) - 1 else cell
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        print(line.rstrip(), file=out)


def infrastructure(shards: Sequence[dict[str, Any]], out: TextIO) -> None:
    """The invocations the infrastructure failed (retried or not), apart from the tests' failures."""
    lines = []
    for info in shards:
        label = f"shard {info['index'] + 1}/{info['count']}"
        for item in info.get("invocations") or []:
            if item.get("fate") == "infrastructure":
                what = "re-run" if item.get("rerun") else "attempt"
                lines.append(f"  {label} {what} {item['attempt']}: {item.get('error_type')}")
    if lines:
        print(f"infrastructure failures ({len(lines)}, not test failures):", file=out)
        for line in lines[:MAX_LISTED]:
            print(line, file=out)


def summary_line(merged: dict[str, Any], strategy: str) -> str:
    """The last line: counts, wall time, shards and the outcome, e.g. ``== 198 passed, 2 failed in ...``."""
    shards = len(merged.get("shards") or [])
    plural = "s" if shards != 1 else ""
    how = f", {strategy}" if shards > 1 else ""
    return (
        f"== {counts_text(merged['counts'])} in {merged['duration_s']:.1f}s "
        f"({shards} shard{plural}{how}): {merged.get('exit_reason', merged['outcome'])}, "
        f"exit code {merged['exit_code']} =="
    )
