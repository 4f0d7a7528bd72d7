"""Fan-out wall time of ``dualmode invoke`` over 8 shards: duration-aware (longest first) vs round robin.

The suite: 200 tests that sleep, with skewed durations (a few long, many short; Zipf-like, shuffled into
collection order with a fixed seed) adding up to 60 s, the longest under 60 / 8 s, so the ideal wall time
of 8 shards is max(total / 8, longest) = 7.5 s. Each backend runs the suite twice, side by side:

1. round robin (no history, the first run), whose merged result becomes the history;
2. duration-aware (longest-processing-time first on that history), the second run.

Backends (both by default; ``--backend`` picks one):

- ``process``: ``dualmode invoke --emulate``'s backend. The suite is packaged with ``dualmode package``
  (pytest, the plugin and the handler in a zip) and every shard runs in its own emulated Lambda runtime
  process (a clean interpreter via the runtime client), so the wall time includes each shard's process
  start, imports and collection of the 200 tests: what an offline fan-out costs on this machine.
- ``threads``: a light in-process backend that sleeps each selected test's duration in the invoking
  thread: the same sharding, concurrency and merge code with no per-shard start-up, which isolates the
  sharding's balance from this machine's process start-up cost.

Reported per backend and strategy: the fan-out wall time (first invoke to last merge input; collection
is timed separately), the ideal, their ratio (target for duration-aware: <= 1.15), the longest and
shortest shard, and duration-aware against round robin. Every run is bounded: each invocation by its
timeout, each fan-out by the backend's bounded waits.

Run: ``python bench/bench_fanout.py [--backend process|threads|both] [--shards 8]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_dualmode.cli._inv_backend import Outcome
from pytest_dualmode.cli._inv_fanout import Backoff, ShardRun, run_all
from pytest_dualmode.cli._inv_merge import merge
from pytest_dualmode.cli._inv_shard import plan_shards

TARGET = 1.15
TESTS = 200
TOTAL_S = 60.0
LONGEST_S = 5.0  # under TOTAL_S / 8, so the ideal is total / N
INVOKE_TIMEOUT_S = 120.0


def skewed_durations(n: int = TESTS, total: float = TOTAL_S, longest: float = LONGEST_S) -> list[float]:
    """Zipf-like durations summing to ``total`` with the longest ``longest``, in a shuffled (fixed) order."""
    low, high = 0.0, 4.0  # find the exponent s for which longest / total matches d_i ~ 1 / (i+1)**s
    for _ in range(60):
        s = (low + high) / 2
        weights = [1 / (i + 1) ** s for i in range(n)]
        if weights[0] / sum(weights) * total > longest:
            high = s
        else:
            low = s
    durations = [round(w / sum(weights) * total, 3) for w in weights]
    random.Random(20240601).shuffle(durations)
    return durations


SUITE = """
import os
import time

import pytest

DURATIONS = {durations!r}


@pytest.mark.parametrize("i", range(len(DURATIONS)))
def test_sleep(i):
    time.sleep(DURATIONS[i] * float(os.environ.get("BENCH_FANOUT_SCALE", "1")))
"""


class SleepBackend:
    """In-process stand-in for a function: sleeps the selected tests' durations, returns a run result."""

    description = "in-process threads"
    function_timeout_s: float | None = INVOKE_TIMEOUT_S

    def __init__(self, durations: dict[str, float]) -> None:
        self.durations = durations

    def invoke(self, event: dict[str, Any]) -> Outcome:
        """Collect, or 'run' the selected tests by sleeping each one's duration."""
        if event.get("collect_only"):
            return Outcome(_result([], collected=list(self.durations)))
        scale = float((event.get("env") or {}).get("BENCH_FANOUT_SCALE", "1"))
        tests = []
        for nodeid in event.get("select") or list(self.durations):
            start = time.monotonic()
            time.sleep(self.durations[nodeid] * scale)
            tests.append({"nodeid": nodeid, "outcome": "passed", "duration": time.monotonic() - start})
        return Outcome(_result(tests))

    def close(self) -> None:
        """Nothing to release."""


def _result(tests: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    counts = {"passed": len(tests), "failed": 0, "skipped": 0, "errors": 0, "not_run": 0}
    return {"schema": "pytest-dualmode.result/1", "outcome": "passed", "exit_code": 0, "counts": counts,
            "tests": tests, "not_run": [], "duration_s": 0.0, "junit_xml": None, **extra}  # fmt: skip


def process_backend(durations: list[float], work: Path) -> tuple[Any, float]:
    """Package the sleeping suite and open it in emulated runtimes; returns (backend, packaging seconds)."""
    from pytest_dualmode.cli._inv_emulate import EmulatedBackend
    from pytest_dualmode.cli.package import PackageOptions, build_package

    suite = work / "synthetic"
    suite.mkdir()
    (suite / "test_synthetic.py").write_text(SUITE.format(durations=durations))
    (work / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    start = time.monotonic()
    options = PackageOptions(
        output=work / "synthetic.zip", tests=[str(suite)], python=python, without_boto=True
    )
    build_package(options, log=lambda _: None)
    packaged = time.monotonic() - start
    return EmulatedBackend(work / "synthetic.zip", timeout_s=INVOKE_TIMEOUT_S, label="bench-fanout"), packaged


def fan_out(
    backend: Any, ids: list[str], shards: int, history: dict[str, float], scale: float = 1.0
) -> dict[str, Any]:
    """Plan, run and merge one fan-out; returns the merged result with the plan's strategy and wall time.

    ``scale`` multiplies every test's sleep (0: the start-up floor, the same shards doing no work).
    """
    plan = plan_shards(ids, shards, history)
    runs = [ShardRun(i, len(plan.shards), nodeids) for i, nodeids in enumerate(plan.shards)]

    def event(shard: ShardRun) -> dict[str, Any]:
        return {"select": list(shard.nodeids), "shard": {"index": shard.index, "count": shard.count},
                "raise_on_failure": False, "env": {"BENCH_FANOUT_SCALE": str(scale)}}  # fmt: skip

    start = time.monotonic()
    run_all(backend, runs, event, max_concurrency=shards, policy=Backoff())
    wall = time.monotonic() - start
    merged = merge(ids, runs, duration_s=wall)
    merged["strategy"] = plan.strategy
    return merged


def report(name: str, merged: dict[str, Any], ideal: float) -> float:
    """Print one line for a fan-out; returns its wall / ideal ratio."""
    walls = [s["duration_s"] for s in merged["shards"]]
    ratio = merged["duration_s"] / ideal
    print(
        f"  {name:<8} {merged['strategy']:<12} wall {merged['duration_s']:6.2f}s  ideal {ideal:5.2f}s  "
        f"ratio {ratio:4.2f}x  shards {min(walls):5.2f}-{max(walls):5.2f}s  "
        f"{merged['counts']['passed']}/{len(merged['tests'])} passed, exit {merged['exit_code']}"
    )
    return ratio


def bench(name: str, backend: Any, shards: int, durations: list[float]) -> bool:
    """Round robin, then duration-aware on its history; print both and the comparison."""
    start = time.monotonic()
    collected = backend.invoke({"collect_only": True, "raise_on_failure": False})
    ids = list((collected.result or {}).get("collected") or [])
    if len(ids) != len(durations):
        sys.exit(f"{name}: collected {len(ids)} tests, expected {len(durations)}: {collected.error}")
    print(f"  {name:<8} collection    {time.monotonic() - start:5.2f}s (one invocation)")
    ideal = max(sum(durations) / shards, *durations)
    rr = fan_out(backend, ids, shards, {})
    history = {t["nodeid"]: t["duration"] for t in rr["tests"] if t["outcome"] == "passed"}
    lpt = fan_out(backend, ids, shards, history)
    floor = fan_out(backend, ids, shards, history, scale=0.0)
    ok = all(r["exit_code"] == 0 and len(r["tests"]) == len(ids) for r in (rr, lpt, floor))
    report(name, rr, ideal)
    ratio = report(name, lpt, ideal)
    speedup = rr["duration_s"] / lpt["duration_s"]
    verdict = "meets" if ratio <= TARGET else "misses"
    net = (lpt["duration_s"] - floor["duration_s"]) / ideal
    print(f"  {name:<8} start-up floor {floor['duration_s']:5.2f}s (same {shards} shards, every sleep 0); "
          f"duration-aware net of it: {net:4.2f}x ideal")  # fmt: skip
    print(f"  {name:<8} duration-aware {ratio:4.2f}x ideal ({verdict} the {TARGET}x target); "
          f"round robin / duration-aware = {speedup:4.2f}x")  # fmt: skip
    return ok and ratio <= TARGET


def main() -> int:
    """Run the benchmark; exit 1 when a duration-aware fan-out misses the target or a run failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("process", "threads", "both"), default="both")
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()
    durations = skewed_durations()
    print(
        f"suite: {len(durations)} sleeping tests, {sum(durations):.1f}s in total, "
        f"longest {max(durations):.2f}s, median {sorted(durations)[len(durations) // 2]:.3f}s; "
        f"{args.shards} shards"
    )
    results = []
    if args.backend in ("threads", "both"):
        backend = SleepBackend({f"test_synthetic.py::test_sleep[{i}]": d for i, d in enumerate(durations)})
        results.append(bench("threads", backend, args.shards, durations))
    if args.backend in ("process", "both"):
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
            backend, packaged = process_backend(durations, Path(tmp))
            print(f"  process  packaging     {packaged:5.2f}s (dualmode package, not part of the fan-out)")
            try:
                results.append(bench("process", backend, args.shards, durations))
            finally:
                backend.close()
    print(json.dumps({"all_met": all(results)}))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
