"""``--reruns N``: a shard's failed tests run again in a fresh invocation, up to N times, as soon as the shard
has finished (docs/invoke.md, "Flaky tests").

A re-run must not meet the failed attempt's state, so it never runs in the environment that ran an earlier
attempt: the event lists those environments (``avoid_environments``; the handler in one of them exits
without running, so Lambda retires it and the retry lands elsewhere), and the emulator starts a new
runtime for it. Only tests that failed or errored are re-run, only after their shard returned a result;
a shard lost to the infrastructure was already re-run once as a whole (fanout.run_shard).
"""

from __future__ import annotations

from typing import Any

from pytest_dualmode.cli.invoke.fanout import ShardRun

RERUN_OUTCOMES = ("failed", "error")


def failed_ids(run: ShardRun) -> tuple[str, ...]:
    """The node ids ``run`` reported as failed or errored, in its result's order."""
    result = run.outcome.result if run.outcome else None
    if result is None:
        return ()
    wanted = set(run.nodeids)
    ids = []
    for record in result.get("tests") or []:
        if not isinstance(record, dict) or record.get("outcome") not in RERUN_OUTCOMES:
            continue
        nodeid = record.get("nodeid")
        if isinstance(nodeid, str) and (not wanted or nodeid in wanted):
            ids.append(nodeid)
    return tuple(dict.fromkeys(ids))


class Reruns:
    """Decides the follow-up of each finished run (``run_all(follow_up=...)``) for ``--reruns N``."""

    def __init__(self, limit: int) -> None:
        """``limit``: re-runs per failing test at most (0: none)."""
        self.limit = limit
        self._root: dict[int, ShardRun] = {}

    def follow_up(self, run: ShardRun) -> ShardRun | None:
        """The next re-run for ``run``'s failed tests, or None (no failures, no result, limit reached)."""
        root = self._root.setdefault(run.index, run) if run.rerun_round == 0 else self._root[run.index]
        if run.rerun_round >= self.limit:
            return None
        failed = failed_ids(run)
        if not failed:
            return None
        seen = [r.environment for r in (root, *root.reruns)]
        again = ShardRun(
            run.index,
            run.count,
            failed,
            rerun_round=run.rerun_round + 1,
            avoid_environments=tuple(e for e in seen if e),
        )
        root.reruns.append(again)
        return again


def rerun_event(base: dict[str, Any], run: ShardRun) -> dict[str, Any]:
    """The event of a re-run: its failed node ids, the shard, and the environments to avoid."""
    event = {**base, "select": list(run.nodeids), "shard": {"index": run.index, "count": run.count}}
    event["avoid_environments"] = list(run.avoid_environments)
    return event
