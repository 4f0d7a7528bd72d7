"""CPU cost of ``dualmode invoke``'s live progress: the same fake fan-out with and without it.

The fan-out: 48 shards of 8 tests over 8 concurrent workers, each invocation a sleep of 1.5 s in an
in-process backend (the client's share of a real fan-out is waiting), so one fan-out takes about 9 s.
Three variants run interleaved, ``--rounds`` times each, measuring the process's CPU time
(``time.process_time``: every thread; ``resource.getrusage`` is printed beside it) and the wall time:

- **baseline**: a line per finished shard (what ``dualmode invoke`` printed before the live progress);
- **ci-log**: :class:`Progress` as in a CI log (the shard lines, a status line every 10 s, a 1 s tick);
- **terminal**: :class:`Progress` with the terminal display (rich's ``Live``, redrawn on every event
  and tick), its output sent to /dev/null as if to a terminal.

Reported: CPU seconds per fan-out (median), the CPU each display adds as a ratio to the baseline and as
a share of one core over the fan-out's wall time. Target: the added CPU is under 1% of a core. rich is
imported once before the timed rounds (its one-off import is printed apart).

Run: ``python bench/bench_progress.py [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from typing import Any

from pytest_dualmode.cli.invoke import report
from pytest_dualmode.cli.invoke.backend import Outcome
from pytest_dualmode.cli.invoke.fanout import Backoff, ShardRun, run_all
from pytest_dualmode.cli.invoke.progress import Progress

SHARDS, TESTS_PER_SHARD, WORKERS, SHARD_S = 48, 8, 8, 1.5
TARGET_SHARE = 0.01


class SleepingBackend:
    """Each invocation sleeps ``SHARD_S`` and answers a passed result for its selected tests."""

    description = "a sleeping fake"
    function_timeout_s = 60.0

    def invoke(self, event: dict[str, Any]) -> Outcome:
        time.sleep(SHARD_S)
        tests = [{"nodeid": n, "outcome": "passed", "duration": 0.1} for n in event["select"]]
        counts = {"passed": len(tests), "failed": 0, "skipped": 0, "errors": 0, "not_run": 0}
        result = {"schema": "pytest-dualmode.result/1", "outcome": "passed", "exit_code": 0}
        return Outcome({**result, "counts": counts, "tests": tests, "not_run": []})

    def close(self) -> None:
        pass


def fan_out(variant: str, sink: Any) -> tuple[float, float, float]:
    """One fan-out; returns (CPU s by process_time, CPU s by getrusage, wall s)."""
    shards = [ShardRun(i, SHARDS, tuple(f"t{i}_{j}" for j in range(TESTS_PER_SHARD))) for i in range(SHARDS)]
    hooks: dict[str, Any] = {}
    progress = None
    if variant == "baseline":
        hooks["on_done"] = lambda s, n: print(report.progress_line(s, n, SHARDS), file=sink, flush=True)
    else:
        progress = Progress(sink, line=report.progress_line, live=variant == "terminal")
        hooks = {"on_start": progress.started, "on_done": progress.finished, "on_tick": progress.tick}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, wall = time.process_time(), time.monotonic()
    if progress is not None:
        progress.begin(shards, estimates=[SHARD_S] * SHARDS, max_concurrency=WORKERS)
    event = lambda s: {"select": list(s.nodeids)}  # noqa: E731
    run_all(SleepingBackend(), shards, event, max_concurrency=WORKERS, policy=Backoff(), **hooks)
    if progress is not None:
        progress.close()
    after = resource.getrusage(resource.RUSAGE_SELF)
    rusage = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    return time.process_time() - cpu, rusage, time.monotonic() - wall


def main() -> int:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    start = time.process_time()
    import rich.live  # noqa: F401  (the one-off import, measured apart)

    print(f"importing rich: {1000 * (time.process_time() - start):.0f} ms of CPU, once per run")
    variants = ("baseline", "ci-log", "terminal")
    results: dict[str, list[tuple[float, float, float]]] = {v: [] for v in variants}
    with open(os.devnull, "w", encoding="utf-8") as sink:
        for _ in range(rounds):
            for variant in variants:
                results[variant].append(fan_out(variant, sink))
    base_cpu = statistics.median(r[0] for r in results["baseline"])
    load = os.getloadavg()[0]
    print(
        f"{SHARDS} shards x {SHARD_S}s over {WORKERS} workers, {rounds} rounds interleaved, load {load:.1f}"
    )
    head = ("variant", "CPU s", "rusage s", "wall s", "vs baseline", "added, % of a core")
    print(f"{head[0]:10} {head[1]:>8} {head[2]:>9} {head[3]:>7} {head[4]:>12} {head[5]:>19}")
    worst = 0.0
    for variant in variants:
        cpu = statistics.median(r[0] for r in results[variant])
        rus = statistics.median(r[1] for r in results[variant])
        wall = statistics.median(r[2] for r in results[variant])
        share = (cpu - base_cpu) / wall
        if variant != "baseline":
            worst = max(worst, share)
        print(f"{variant:10} {cpu:8.3f} {rus:9.3f} {wall:7.2f} {cpu / base_cpu:11.2f}x {100 * share:18.2f}%")
    verdict = "meets" if worst < TARGET_SHARE else "MISSES"
    print(f"the live display adds at most {100 * worst:.2f}% of a core: {verdict} the < 1% target")
    return 0 if worst < TARGET_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
