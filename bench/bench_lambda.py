"""The Lambda handler's costs: cold init, warm invocation overhead, and resident memory over warm invocations.

1. **Cold init**: importing the handler module (``from pytest_dualmode.aws_lambda import handler``) in a
   fresh interpreter, against a bare ``import pytest, grpc, botocore`` (what a Lambda running this suite
   imports anyway).
   Each round starts one child of each (order swapped every round); the import is timed inside the child, so
   interpreter start-up is left out. Median of the rounds, and their ratio. Target: at most 1.1x.
2. **Warm overhead**: in one child process, warm invocations of the handler on a small suite (5 tests, 10 ms),
   minus the tests' own time (the sum of their durations), against a bare ``pytest.main`` on the same suite
   (its wall time minus the same tests' time), alternating. Two set-ups: as in a Lambda zip (no third-party
   plugin entry points: ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``, the dualmode plugin loaded with ``-p``) and with
   every plugin this environment has installed. Target: handler overhead at most 50 ms (zip set-up).
3. **Memory**: resident set size (``/proc/self/statm``) of one child after 10 warm invocations, then 100 more.
   Target: at most 2 MB growth.

Run: ``python bench/bench_lambda.py [--rounds N]`` (about a minute on 2 shared cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLD_TARGET = 1.1
WARM_TARGET_MS = 50.0
RSS_TARGET_MB = 2.0
CHILD_TIMEOUT = 120.0

SUITE = """
import time
import pytest

@pytest.mark.parametrize("n", range(5))
def test_ten_ms(n):
    time.sleep(0.01)
"""

COLD_CHILD = """
import sys, time
t = time.perf_counter()
{stmt}
print(time.perf_counter() - t)
"""


def _child(args: list[str], env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed ({out.returncode}): {out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1]


def cold_init(rounds: int) -> tuple[float, float]:
    """Median import time (s) of the baseline and of the handler module."""
    stmts = {
        "base": "import pytest, grpc, botocore",
        "handler": "from pytest_dualmode.aws_lambda import handler",
    }
    times: dict[str, list[float]] = {"base": [], "handler": []}
    for i in range(rounds):
        for name in ("base", "handler") if i % 2 == 0 else ("handler", "base"):
            times[name].append(float(_child(["-c", COLD_CHILD.format(stmt=stmts[name])])))
    return statistics.median(times["base"]), statistics.median(times["handler"])


def _warm_child(root: str, zip_like: bool, rounds: int) -> None:
    """In the child: alternate handler invocations and bare pytest.main runs; print the medians (ms)."""
    import contextlib
    import io

    import pytest

    from pytest_dualmode.aws_lambda import handler

    os.environ["LAMBDA_TASK_ROOT"] = root
    os.chdir(root)
    extra = ["-p", "pytest_dualmode.plugin"] if zip_like else []
    if zip_like:
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"

    class Durations:
        def __init__(self) -> None:
            self.total = 0.0

        def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
            self.total += report.duration

    def run_handler() -> float:
        start = time.perf_counter()
        result = handler({}, None)
        wall = time.perf_counter() - start
        assert result["outcome"] == "passed", result["summary"]
        return wall - sum(t["duration"] for t in result["tests"])

    def run_bare() -> float:
        durations = Durations()
        start = time.perf_counter()
        code = pytest.main(["-q", "-p", "no:cacheprovider", *extra, root], plugins=[durations])
        assert code == 0
        return time.perf_counter() - start - durations.total

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        for _ in range(5):
            run_handler()
            run_bare()
        handler_ms, bare_ms = [], []
        for i in range(rounds):
            for run in (run_handler, run_bare) if i % 2 == 0 else (run_bare, run_handler):
                (handler_ms if run is run_handler else bare_ms).append(run() * 1000)
            sink.seek(0)
            sink.truncate()
    print(json.dumps({"handler": statistics.median(handler_ms), "bare": statistics.median(bare_ms)}))


def _rss_child(root: str) -> None:
    """In the child: RSS after 10 warm invocations and after 100 more (MB)."""
    import contextlib
    import io

    from pytest_dualmode.aws_lambda import handler

    os.environ["LAMBDA_TASK_ROOT"] = root
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    page = os.sysconf("SC_PAGE_SIZE")

    def rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page / 1e6

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        for _ in range(10):
            handler({}, None)
        before = rss_mb()
        for _ in range(100):
            handler({}, None)
            sink.seek(0)
            sink.truncate()
        after = rss_mb()
    print(json.dumps({"before": before, "after": after}))


def main() -> None:
    """Run the three measurements and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds per measurement (default 15)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, root, *rest = args.child
        if kind == "warm":
            _warm_child(root, rest[0] == "zip", int(rest[1]))
        else:
            _rss_child(root)
        return
    me = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory() as root:
        Path(root, "test_suite.py").write_text(SUITE)
        base, mine = cold_init(args.rounds)
        print(
            f"cold init    handler import {mine * 1000:7.1f} ms   bare pytest+grpc+botocore"
            f" {base * 1000:7.1f} ms   ratio {mine / base:.2f}x (target <= {COLD_TARGET}x)"
        )
        for setup in ("zip", "all-plugins"):
            warm = json.loads(_child([me, "--child", "warm", root, setup, str(max(args.rounds, 10))]))
            target = f" (target <= {WARM_TARGET_MS:.0f} ms)" if setup == "zip" else ""
            print(
                f"warm {setup:<11} handler overhead {warm['handler']:6.1f} ms{target}   bare pytest.main "
                f"{warm['bare']:6.1f} ms   handler - bare {warm['handler'] - warm['bare']:+6.1f} ms"
            )
        rss = json.loads(_child([me, "--child", "rss", root]))
        print(
            f"memory       RSS {rss['before']:.1f} MB after 10 warm invocations, {rss['after']:.1f} MB"
            f" after 100 more   growth {rss['after'] - rss['before']:+.2f} MB (target <= {RSS_TARGET_MB} MB)"
        )


if __name__ == "__main__":
    main()
