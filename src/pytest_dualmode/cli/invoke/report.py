"""What ``dualmode invoke`` prints: progress lines, log tails, failures, the per-shard table, the summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from pytest_dualmode.cli.invoke.fanout import ShardRun
from pytest_dualmode.cli.invoke.merge import shard_status
from pytest_dualmode.redaction import redact_local as redact

MAX_LISTED = 30  # failures / not-run tests listed by name; the JSON and JUnit files have them all
_COLUMNS = ("passed", "failed", "skipped", "errors", "not_run")
_LABEL = {"failed": "FAILED", "error": "ERROR", "not_run": "NOT RUN"}


def counts_text(counts: dict[str, int] | None) -> str:
    """``3 passed, 1 failed`` (zero counts left out, as pytest does)."""
    if not counts:
        return "no result"
    parts = [f"{counts.get(key, 0)} {key.replace('_', ' ')}" for key in _COLUMNS if counts.get(key)]
    return ", ".join(parts) or "no tests"


def progress_line(shard: ShardRun, done: int, total: int) -> str:
    """The stderr line printed when a shard finishes."""
    result = shard.outcome.result if shard.outcome else None
    what = counts_text(result.get("counts")) if result else (shard.outcome.error if shard.outcome else "?")
    extra = []
    if shard.throttled:
        extra.append(f"throttled {shard.throttled}x")
    if shard.attempts > 1:
        extra.append("re-run after a crash")
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
        message = redact(str(record.get("message") or "")).strip().splitlines()
        first = f" - {message[0][:200]}" if message else ""
        print(f"{_LABEL[record['outcome']]} {record['nodeid']}{first}", file=out)
    if len(bad) > MAX_LISTED:
        print(
            f"... and {len(bad) - MAX_LISTED} more (all of them are in the --json and --junitxml files)",
            file=out,
        )


def shard_table(shards: Sequence[ShardRun], out: TextIO) -> None:
    """The per-shard table: tests assigned, counts, duration, attempts, throttles and status."""
    header = ("shard", "tests", *_COLUMNS, "duration", "attempts", "throttled", "status")
    rows: list[tuple[str, ...]] = [header]
    for shard in shards:
        result = shard.outcome.result if shard.outcome else None
        counts = (result or {}).get("counts") or {}
        cells = [str(counts.get(key, "-")) if result else "-" for key in _COLUMNS]
        rows.append(
            (
                f"{shard.index + 1}/{shard.count}",
                str(len(shard.nodeids)) if shard.nodeids else str(sum(counts.values()) if counts else "-"),
                *cells,
                f"{shard.duration_s:.1f}s",
                str(shard.attempts),
                str(shard.throttled),
                shard_status(shard),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        line = "  ".join(
            cell.rjust(width) if i < len(row) - 1 else cell
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        print(line.rstrip(), file=out)


def summary_line(merged: dict[str, Any], strategy: str) -> str:
    """The last line: counts, wall time, shards and the outcome, e.g. ``== 198 passed, 2 failed in ...``."""
    shards = len(merged.get("shards") or [])
    plural = "s" if shards != 1 else ""
    how = f", {strategy}" if shards > 1 else ""
    return (
        f"== {counts_text(merged['counts'])} in {merged['duration_s']:.1f}s "
        f"({shards} shard{plural}{how}): {merged['outcome']}, exit code {merged['exit_code']} =="
    )
