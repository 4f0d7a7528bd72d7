"""Splitting collected node ids into shards: duration-aware (longest first) or round robin.

Everything here is pure and deterministic: the same node ids, history and shard count always give the
same shards, so a re-run of a CI job distributes tests the same way.
"""

from __future__ import annotations

import heapq
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_dualmode.cli import CliError

RESULT_SCHEMA_MAJOR = "pytest-dualmode.result/1"

# --shards auto: aim for this much test time per shard (with history) ...
AUTO_TARGET_SHARD_S = 60.0
# ... or this many tests per shard (without history) ...
AUTO_TESTS_PER_SHARD = 25
# ... and never more shards than this (Lambda's default account concurrency is 1000; stay polite).
AUTO_MAX_SHARDS = 64
# With a known function timeout, keep a shard's expected time under this share of it.
AUTO_TIMEOUT_SHARE = 0.5


@dataclass(frozen=True)
class Plan:
    """The shards to invoke: ``shards[i]`` holds node ids in collection order; ``strategy`` says how."""

    shards: tuple[tuple[str, ...], ...]
    strategy: str  # "durations" or "round-robin"
    estimates: tuple[float, ...]  # expected seconds per shard (0.0 each for round robin)


def load_durations(path: Path, *, where: str) -> dict[str, float]:
    """Read per-test durations from a previous run's JSON result (``--json`` output or a shard result).

    The result's ``durations`` map (the history a merged result carries, with timings of tests that did
    not run that time) first, then its tests' own durations over it. A missing file is not an error
    (first run: no history); an unreadable one is, naming ``where`` it came from and the fix.
    """
    data = read_result(path, where=where)
    durations: dict[str, float] = {}
    kept = data.get("durations")
    for nodeid, duration in (kept if isinstance(kept, dict) else {}).items():
        if isinstance(nodeid, str) and isinstance(duration, int | float) and duration >= 0:
            durations[nodeid] = float(duration)
    durations.update(test_durations(data.get("tests") or []))
    return durations


def test_durations(tests: Sequence[object]) -> dict[str, float]:
    """``{nodeid: duration}`` of the records of tests that ran (a ``not_run`` one tells nothing)."""
    durations: dict[str, float] = {}
    for record in tests:
        if not isinstance(record, dict) or record.get("outcome") == "not_run":
            continue
        nodeid, duration = record.get("nodeid"), record.get("duration")
        if isinstance(nodeid, str) and isinstance(duration, int | float) and duration >= 0:
            durations[nodeid] = float(duration)
    return durations


def read_result(path: Path, *, where: str) -> dict[str, Any]:
    """A previous run's JSON result, ``{}`` when the file does not exist; CliError when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CliError(f"cannot read the previous result {path} ({where}): {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise CliError(
            f"{path} ({where}) is not JSON; pass the --json file of a previous `dualmode invoke` run"
        ) from None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(RESULT_SCHEMA_MAJOR):
        raise CliError(
            f"{path} ({where}) is not a {RESULT_SCHEMA_MAJOR} result; "
            "pass the --json file of a previous `dualmode invoke` run"
        )
    return data


def auto_shard_count(
    nodeids: Sequence[str], durations: Mapping[str, float], *, function_timeout_s: float | None
) -> int:
    """Choose N for ``--shards auto`` (documented in docs/invoke.md).

    With history: enough shards for about ``AUTO_TARGET_SHARD_S`` of tests each, and, when the function's
    timeout is known, for each shard to expect at most half of it. Without history: one shard per
    ``AUTO_TESTS_PER_SHARD`` tests. Always between 1 and ``min(len(nodeids), AUTO_MAX_SHARDS)``.
    """
    if not nodeids:
        return 1
    known = [durations[n] for n in nodeids if n in durations]
    if known:
        total = sum(estimate_durations(nodeids, durations).values())
        target = AUTO_TARGET_SHARD_S
        if function_timeout_s:
            target = min(target, function_timeout_s * AUTO_TIMEOUT_SHARE)
        wanted = math.ceil(total / target) if target > 0 else 1
    else:
        wanted = math.ceil(len(nodeids) / AUTO_TESTS_PER_SHARD)
    return max(1, min(wanted, len(nodeids), AUTO_MAX_SHARDS))


def estimate_durations(nodeids: Sequence[str], durations: Mapping[str, float]) -> dict[str, float]:
    """Each test's expected duration: its history, or the mean of the known ones for a new test."""
    known = [durations[n] for n in nodeids if n in durations]
    default = statistics.fmean(known) if known else 0.0
    return {n: durations.get(n, default) for n in nodeids}


def plan_shards(nodeids: Sequence[str], count: int, durations: Mapping[str, float]) -> Plan:
    """Split ``nodeids`` into ``count`` shards (fewer if there are fewer tests; never an empty shard).

    With any history for these tests: longest-processing-time first (sort by expected duration, longest
    first, ties by collection order; give each test to the least loaded shard, ties to the shard with
    fewer tests, then the lowest index).
    Without history: round robin in collection order. Inside a shard the tests keep collection order, so
    module- and class-scoped fixtures are set up once per shard, as in a local run.
    """
    if count < 1:
        raise ValueError(f"shard count must be >= 1, got {count}")
    unique = list(dict.fromkeys(nodeids))  # a node id collected twice runs once
    count = max(1, min(count, len(unique)))
    order = {nodeid: i for i, nodeid in enumerate(unique)}
    if not any(n in durations for n in unique):
        return Plan(tuple(tuple(unique[i::count]) for i in range(count)), "round-robin", (0.0,) * count)

    expected = estimate_durations(unique, durations)
    by_length = sorted(unique, key=lambda n: (-expected[n], order[n]))
    # (load, tests, index): the least loaded shard on top; the test count spreads zero-duration tests
    heap = [(0.0, 0, i) for i in range(count)]
    assigned: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for nodeid in by_length:
        load, _, index = heapq.heappop(heap)
        assigned[index].append(nodeid)
        loads[index] = load + expected[nodeid]
        heapq.heappush(heap, (loads[index], len(assigned[index]), index))
    shards = tuple(tuple(sorted(b, key=order.__getitem__)) for b in assigned)
    return Plan(shards, "durations", tuple(loads))
