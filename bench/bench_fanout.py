"""Fan-out wall time of ``dualmode invoke`` over 8 shards: duration-aware vs round robin, cold vs warm.

The suite: 200 tests that sleep, with skewed durations (a few long, many short; Zipf-like, shuffled into
collection order with a fixed seed) adding up to 60 s, the longest under 60 / 8 s, so the ideal wall time
of 8 shards is max(total / 8, longest) = 7.5 s. Each backend runs the same fan-outs side by side:

1. round robin (no history), whose merged result becomes the history;
2. duration-aware (longest-processing-time first on that history);
3. the start-up floor: the duration-aware shards with every sleep 0 (what a fan-out costs beyond the tests).

Backends (all by default; ``--backend`` picks one):

- ``threads``: a light in-process backend that sleeps each selected test's duration in the invoking
  thread: the same sharding, concurrency and merge code with no per-shard start-up, which isolates the
  sharding's balance from this machine's process start-up cost.
- ``process``: ``dualmode invoke --emulate``'s backend on the suite packaged with ``dualmode package``
  (pytest, the plugin and the handler in a zip), every shard in an emulated Lambda runtime process (a clean
  interpreter, the runtime client, the handler), measured two ways, interleaved, on the same shard plans:

  - **cold**: a new runtime process for every invocation (``keep_warm=False``): each shard pays the
    interpreter, the runtime client, pytest's import and the plugin's, 8 at once on this machine's cores.
    What an on-demand fleet pays when no environment is warm.
  - **warm**: runtimes kept between invocations. ``Emulator.warm(8)`` starts 8 concurrently first (as
    provisioned concurrency does; timed and printed), then one untimed-for-the-target fan-out with every
    sleep 0 gives each runtime its first invocation (pytest loads there; printed too). The timed fan-outs
    then run in these 8 warm runtimes: the steady state of a Lambda fleet that has served the suite before.

Reported per backend and strategy: the fan-out wall time (first invoke to last merge input; collection is
timed separately), the ideal, their ratio, the longest and shortest shard, and the machine's 1-minute load.
Targets: duration-aware <= 1.15x the ideal for ``threads`` and for warm emulated runtimes (the cold line is
reported beside it, without a target: its start-up is this machine's, not the sharding's). Bounded: each
invocation by its timeout, each fan-out by the backend's bounded waits; about 1.5 minutes in all.

Run: ``python bench/bench_fanout.py [--backend process|threads|both] [--shards 8]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_dualmode.cli.invoke.backend import Outcome
from pytest_dualmode.cli.invoke.fanout import Backoff, ShardRun, run_all
from pytest_dualmode.cli.invoke.merge import merge
from pytest_dualmode.cli.invoke.shard import plan_shards

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


def package_suite(durations: list[float], work: Path) -> tuple[Path, float]:
    """Package the sleeping suite with ``dualmode package``; returns (zip, packaging seconds)."""
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
    return work / "synthetic.zip", time.monotonic() - start


def emulated(zip_path: Path, *, keep_warm: bool) -> Any:
    """``dualmode invoke --emulate``'s backend on ``zip_path``, cold or keeping runtimes warm."""
    from pytest_dualmode.cli.invoke.emulated import EmulatedBackend

    return EmulatedBackend(
        zip_path, timeout_s=INVOKE_TIMEOUT_S, label="bench-fanout", keep_warm=keep_warm, log=lambda _: None
    )


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


def report(name: str, merged: dict[str, Any], ideal: float, load: float) -> float:
    """Print one line for a fan-out; returns its wall / ideal ratio."""
    walls = [s["duration_s"] for s in merged["shards"]]
    ratio = merged["duration_s"] / ideal
    print(
        f"  {name:<8} {merged['strategy']:<12} wall {merged['duration_s']:6.2f}s  ideal {ideal:5.2f}s  "
        f"ratio {ratio:4.2f}x  shards {min(walls):5.2f}-{max(walls):5.2f}s  "
        f"{merged['counts']['passed']}/{len(merged['tests'])} passed, exit {merged['exit_code']}  "
        f"load {load:.1f}"
    )
    return ratio


def collect(name: str, backend: Any, durations: list[float]) -> list[str]:
    """The suite's node ids from one ``collect_only`` invocation (timed)."""
    start = time.monotonic()
    collected = backend.invoke({"collect_only": True, "raise_on_failure": False})
    ids = list((collected.result or {}).get("collected") or [])
    if len(ids) != len(durations):
        sys.exit(f"{name}: collected {len(ids)} tests, expected {len(durations)}: {collected.error}")
    print(f"  {name:<8} collection    {time.monotonic() - start:5.2f}s (one invocation)")
    return ids


def bench(backends: dict[str, Any], shards: int, durations: list[float], ids: list[str]) -> dict[str, Any]:
    """Round robin, duration-aware (on round robin's history) and the floor, the backends interleaved.

    Every backend runs the same plans: the history comes from the first backend's round robin run.
    Returns, per backend, its duration-aware ratio, and whether it met its target (None: it has none)
    with every run passing.
    """
    ideal = max(sum(durations) / shards, *durations)
    runs: dict[str, dict[str, tuple[dict[str, Any], float]]] = {name: {} for name in backends}
    history: dict[str, float] = {}
    for step, scale in (("rr", 1.0), ("lpt", 1.0), ("floor", 0.0)):
        for name, backend in backends.items():
            merged = fan_out(backend, ids, shards, {} if step == "rr" else history, scale)
            runs[name][step] = (merged, os.getloadavg()[0])
            if step == "rr" and not history:
                history = {t["nodeid"]: t["duration"] for t in merged["tests"] if t["outcome"] == "passed"}
    met: dict[str, Any] = {}
    for name in backends:
        (rr, rr_load), (lpt, lpt_load), (floor, _) = runs[name]["rr"], runs[name]["lpt"], runs[name]["floor"]
        ok = all(r["exit_code"] == 0 and len(r["tests"]) == len(ids) for r in (rr, lpt, floor))
        report(name, rr, ideal, rr_load)
        ratio = report(name, lpt, ideal, lpt_load)
        net = (lpt["duration_s"] - floor["duration_s"]) / ideal
        print(f"  {name:<8} start-up floor {floor['duration_s']:5.2f}s (same {shards} shards, every sleep 0);"
              f" duration-aware net of it: {net:4.2f}x ideal")  # fmt: skip
        speedup = rr["duration_s"] / lpt["duration_s"]
        target = name != "cold"  # cold start-up is this machine's cost, reported beside the warm figure
        verdict = "no target"
        if target:
            verdict = f"{'meets' if ratio <= TARGET else 'misses'} the {TARGET}x target"
        print(f"  {name:<8} duration-aware {ratio:4.2f}x ideal ({verdict}); "
              f"round robin / duration-aware = {speedup:4.2f}x")  # fmt: skip
        met[name] = {"ratio": round(ratio, 3), "met": (ok and ratio <= TARGET) if target else None, "ok": ok}
    return met


def bench_processes(shards: int, durations: list[float]) -> dict[str, Any]:
    """The emulated runtimes, cold and warm, side by side on one package."""
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        zip_path, packaged = package_suite(durations, Path(tmp))
        print(f"  process  packaging     {packaged:5.2f}s (dualmode package, not part of the fan-out)")
        cold = emulated(zip_path, keep_warm=False)
        warm = emulated(zip_path, keep_warm=True)
        try:
            ids = collect("cold", cold, durations)
            start = time.monotonic()
            ready = warm.warm(shards)
            print(f"  warm     pre-start     {time.monotonic() - start:5.2f}s ({ready} of {shards} runtimes "
                  "initialised at once: Emulator.warm, as provisioned concurrency)")  # fmt: skip
            first = fan_out(warm, ids, shards, {}, scale=0.0)
            print(f"  warm     first use     {first['duration_s']:5.2f}s (a fan-out, every sleep 0: pytest "
                  "loads in each runtime on its first event; not held to the target)")  # fmt: skip
            print("  cold = a new runtime process per invocation; warm = the same 8 runtimes, kept between "
                  "invocations (a fleet's steady state)")  # fmt: skip
            return bench({"cold": cold, "warm": warm}, shards, durations, ids)
        finally:
            cold.close()
            warm.close()


def main() -> int:
    """Run the benchmark; exit 1 when a duration-aware fan-out with a target misses it or a run failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("process", "threads", "both"), default="both")
    parser.add_argument("--shards", type=int, default=8)
    args = parser.parse_args()
    durations = skewed_durations()
    started, load_at_start = time.monotonic(), os.getloadavg()[0]
    print(
        f"suite: {len(durations)} sleeping tests, {sum(durations):.1f}s in total, "
        f"longest {max(durations):.2f}s, median {sorted(durations)[len(durations) // 2]:.3f}s; "
        f"{args.shards} shards; {os.cpu_count()} CPUs, load {load_at_start:.1f} at start"
    )
    results: dict[str, Any] = {}
    if args.backend in ("threads", "both"):
        backend = SleepBackend({f"test_synthetic.py::test_sleep[{i}]": d for i, d in enumerate(durations)})
        ids = collect("threads", backend, durations)
        results.update(bench({"threads": backend}, args.shards, durations, ids))
    if args.backend in ("process", "both"):
        results.update(bench_processes(args.shards, durations))
    print(f"took {time.monotonic() - started:.0f}s; load {os.getloadavg()[0]:.1f} at end")
    all_met = all(r["ok"] and r["met"] is not False for r in results.values())
    print(json.dumps({"all_met": all_met, "duration_aware": results}))
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
