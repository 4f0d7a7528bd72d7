"""What the plugin costs a run that uses none of it: pytest with the plugin vs with ``-p no:dualmode``.

Each sample is a fresh ``python -m pytest`` process on a file of a few plain tests (no dualmode
fixture), in a directory with its own ``pytest.ini`` so no enclosing project's configuration
applies. Other installed pytest plugins are blocked (``-p no:NAME``) in both variants, so the
plugin, found through its entry point as users get it, is the only difference. The variants
alternate (order swapped every round). The figures are the medians of the per-round differences of
whole-process wall time and CPU time (user + system): each pair runs back to back, so a change in
the machine's load (2 shared cores) mostly cancels out, and CPU time hardly moves with the load.
Target: at most 20 ms added, in both.

It also runs pytest once in-process per variant and lists which heavy modules (grpc, boto3,
botocore, moto, requests, ...) are in ``sys.modules`` afterwards: a plugin that imports lazily
loads none of grpc, boto3 or moto here. It also times importing the plugin module alone (after
pytest), to tell its import cost from what its hooks cost.

``--dont-write-bytecode`` measures the same as a CI container that sets ``PYTHONDONTWRITEBYTECODE=1``
sees it: ordinary bytecode is there (pip compiled it), but pytest cannot keep its assertion-rewritten
copies of the plugin's modules (it rewrites every module of a plugin's distribution), so it parses
them again on every run. The bench fills a private ``PYTHONPYCACHEPREFIX`` in its warm-up runs,
deletes pytest's rewritten copies from it, then measures with ``PYTHONDONTWRITEBYTECODE=1``. The
target is read on the default run.

Run: ``python bench/bench_plugin_import.py [--rounds N] [--dont-write-bytecode]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import clean_env, machine_line, other_plugins

TARGET_MS = 20.0
TIME_BUDGET = 35.0  # seconds for the timed rounds: no round starts that would end past it
CHILD_TIMEOUT = 30.0
HEAVY = ("grpc", "boto3", "botocore", "moto", "requests", "urllib3", "google.protobuf", "werkzeug", "flask")
MUST_NOT_LOAD = ("grpc", "boto3", "moto")

PLAIN_TESTS = """
import pytest


def test_add():
    assert 1 + 1 == 2


def test_text():
    assert "dual".upper() == "DUAL"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_square(n):
    assert n * n >= n


def test_tmp_path(tmp_path):
    (tmp_path / "f").write_text("x")
    assert (tmp_path / "f").read_text() == "x"
"""

MODULES_PROBE = """
import json, sys
import pytest
code = pytest.main(sys.argv[1:])
heavy = json.loads(sys.stdin.read())
loaded = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({"exit": int(code), "loaded": loaded}))
"""


def pytest_cmd(extra: list[str]) -> list[str]:
    """The measured command: quiet, no cache writes, the plain test file."""
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, "test_plain.py"]


def run_timed(cwd: Path, extra: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one pytest process; exits if the tests did not pass."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        pytest_cmd(extra),
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or "6 passed" not in proc.stdout:
        sys.exit(f"benchmark run failed ({' '.join(extra) or 'plugin'}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime


def heavy_modules(cwd: Path, extra: list[str], env: dict[str, str]) -> list[str]:
    """The heavy modules loaded by one in-process pytest run of the plain tests."""
    cmd = [sys.executable, "-c", MODULES_PROBE, "-q", "-p", "no:cacheprovider", *extra, "test_plain.py"]
    proc = subprocess.run(
        cmd,
        check=False,
        cwd=cwd,
        env=env,
        input=json.dumps(HEAVY),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["exit"] != 0:
        sys.exit(f"module probe failed:\n{proc.stdout}\n{proc.stderr}")
    return list(result["loaded"])


def plugin_import_ms(env: dict[str, str], runs: int = 5) -> float:
    """Median milliseconds to import ``pytest_dualmode.plugin`` in fresh processes that imported pytest."""
    probe = (
        "import time, pytest; t = time.perf_counter(); import pytest_dualmode.plugin; "
        "print((time.perf_counter() - t) * 1000)"
    )
    samples = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", probe], check=False, env=env, capture_output=True, text=True, timeout=60
        )
        if proc.returncode != 0:
            sys.exit(f"importing pytest_dualmode.plugin failed:\n{proc.stderr}")
        samples.append(float(proc.stdout))
    return statistics.median(samples)


def main() -> None:
    """Interleave the two variants, then print medians, the added milliseconds and the module check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="samples per variant (default 20)")
    parser.add_argument(
        "--dont-write-bytecode",
        action="store_true",
        help="measure as with PYTHONDONTWRITEBYTECODE=1 (see the docstring)",
    )
    opts = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    env = clean_env()
    with tempfile.TemporaryDirectory(prefix="dualmode-bench-") as tmp:
        cwd = Path(tmp)
        if opts.dont_write_bytecode:
            env = {**env, "PYTHONPYCACHEPREFIX": str(cwd / "pycache")}  # filled by the warm-up runs
        (cwd / "pytest.ini").write_text("[pytest]\n")
        (cwd / "test_plain.py").write_text(PLAIN_TESTS)
        blocked = other_plugins()
        variants = {"plugin": blocked, "no:dualmode": [*blocked, "-p", "no:dualmode"]}
        names = list(variants)
        for name in names:  # warm the file-system and bytecode caches once, not measured
            run_timed(cwd, variants[name], env)
        if opts.dont_write_bytecode:  # keep the ordinary bytecode, lose pytest's rewritten copies
            for rewritten in (cwd / "pycache").rglob("*-pytest-*.pyc"):
                rewritten.unlink()
            env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
        wall: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        deadline = time.monotonic() + TIME_BUDGET
        round_time = 0.0
        for rnd in range(opts.rounds):
            if time.monotonic() + round_time > deadline:
                print(f"note: time budget reached after {rnd} rounds")
                break
            round_start = time.monotonic()
            for name in names if rnd % 2 == 0 else names[::-1]:
                w, c = run_timed(cwd, variants[name], env)
                wall[name].append(w)
                cpu[name].append(c)
            round_time = time.monotonic() - round_start
        loaded = {name: heavy_modules(cwd, variants[name], env) for name in names}
        import_ms = plugin_import_ms(clean_env())  # as installed, whatever the mode above

    def added_ms(samples: dict[str, list[float]]) -> float:
        # the median of per-round differences: the two runs of a round are back to back
        pairs = zip(samples["plugin"], samples["no:dualmode"], strict=True)
        return statistics.median(a - b for a, b in pairs) * 1000

    cache = ", PYTHONDONTWRITEBYTECODE=1" if opts.dont_write_bytecode else ""
    rounds = len(wall["plugin"])
    print(f"\npytest run of 6 plain tests (no dualmode fixture{cache}), {rounds} interleaved rounds")
    print(
        f"{'variant':<14}{'median wall ms':>16}{'fastest ms':>12}{'median CPU ms':>15}   heavy modules loaded"
    )
    for name in names:
        print(
            f"{name:<14}{statistics.median(wall[name]) * 1000:>16.0f}{min(wall[name]) * 1000:>12.0f}"
            f"{statistics.median(cpu[name]) * 1000:>15.0f}   {', '.join(loaded[name]) or '-'}"
        )
    added_wall, added_cpu = added_ms(wall), added_ms(cpu)
    verdict = "met" if max(added_wall, added_cpu) <= TARGET_MS else "MISSED"
    if opts.dont_write_bytecode:
        verdict = f"{verdict} (for reference: the target is read on the default run)"
    print(
        f"added by the plugin (median of per-round differences): wall {added_wall:+.1f} ms, "
        f"CPU {added_cpu:+.1f} ms; target <= {TARGET_MS:.0f} ms for both: {verdict}"
    )
    print(
        "of which importing pytest_dualmode.plugin after pytest (median of 5 fresh processes): "
        f"{import_ms:.1f} ms"
    )
    others = ", ".join(arg.removeprefix("no:") for arg in blocked[1::2]) or "none"
    print(f"other pytest plugins, blocked in both variants: {others}")
    extra = sorted(set(loaded["plugin"]) - set(loaded["no:dualmode"]))
    bad = [m for m in extra if m in MUST_NOT_LOAD]
    print(
        f"heavy modules the plugin adds: {', '.join(extra) or 'none'}"
        f"{'  <- should be lazy: ' + ', '.join(bad) if bad else ''}"
    )

    print(machine_line(load_at_start))


if __name__ == "__main__":
    main()
