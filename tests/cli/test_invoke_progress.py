"""Live progress: the CI-log rule (a status line at most every 10 s, a clock injected), the ETA, the
fan-out's hooks, and the terminal display in a real pseudo-terminal, with stdout left to ``--json -``."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time

from test_invoke_fakes import FakeBackend, FakeLambda, FakeSuite, make_result, suite_responder

from pytest_dualmode.cli.invoke import report
from pytest_dualmode.cli.invoke.backend import Outcome
from pytest_dualmode.cli.invoke.fanout import Backoff, ShardRun, run_all
from pytest_dualmode.cli.invoke.progress import Progress, duration_text, is_live_terminal

NO_WAIT = Backoff(base_s=0.0, cap_s=0.0)


class Clock:
    """A settable time source."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shards(sizes: list[int]) -> list[ShardRun]:
    runs, n = [], 0
    for i, size in enumerate(sizes):
        runs.append(ShardRun(i, len(sizes), tuple(f"t{j}" for j in range(n, n + size))))
        n += size
    return runs


def finish(shard: ShardRun, took: float, failed: int = 0) -> ShardRun:
    """``shard`` done in ``took`` seconds, its first ``failed`` tests failed, the others passed."""
    records = [
        {"nodeid": n, "outcome": "failed" if i < failed else "passed", "duration": 0.1}
        for i, n in enumerate(shard.nodeids)
    ]
    result = make_result(records)
    shard.outcome, shard.attempts, shard.duration_s = Outcome(result), 1, took
    return shard


def plain(clock: Clock, out: io.StringIO) -> Progress:
    return Progress(out, line=report.progress_line, live=False, clock=clock, start=clock.now)


def test_a_ci_log_gets_shard_lines_at_once_and_a_status_line_at_most_every_10_s():
    clock, out = Clock(), io.StringIO()
    runs = shards([2, 2, 2])
    progress = plain(clock, out)
    progress.begin(runs, estimates=(20.0, 20.0, 20.0), max_concurrency=2)
    progress.started(runs[0])
    progress.started(runs[1])
    for t in (1, 5, 9.9):
        clock.now = 1000 + t
        progress.tick()
    assert out.getvalue() == ""  # the plan line was just printed: nothing for 10 s
    clock.now = 1010.0
    progress.tick()
    clock.now = 1015.0
    progress.tick()
    lines = out.getvalue().splitlines()
    assert lines == [
        "dualmode invoke: 0/6 tests; 2 of 3 shards running, 0 done, 1 waiting; 10s elapsed, ETA 30s"
    ]
    clock.now = 1016.0
    progress.finished(finish(runs[0], 16.0, failed=1), 1)  # a shard line is never held back
    progress.started(runs[2])
    assert (
        out.getvalue().splitlines()[-1]
        == "dualmode invoke: [1/3] shard 1/3 failed: 1 passed, 1 failed in 16.0s"
    )
    clock.now = 1019.9
    progress.tick()
    assert len(out.getvalue().splitlines()) == 2
    clock.now = 1020.0
    progress.tick()
    assert out.getvalue().splitlines()[-1] == (
        "dualmode invoke: 2/6 tests (1 passed, 1 failed); 2 of 3 shards running, 1 done; 20s elapsed, ETA 12s"
    )
    clock.now = 1030.0
    progress.finished(finish(runs[1], 30.0), 2)  # 10 s since the last status line: one is due
    progress.finished(finish(runs[2], 14.0), 3)
    clock.now = 1040.0
    progress.tick()  # nothing is running any more: the summary follows, no status line
    progress.close()
    assert out.getvalue().splitlines()[-3:] == [
        "dualmode invoke: [2/3] shard 2/3 passed: 2 passed in 30.0s",
        "dualmode invoke: 4/6 tests (3 passed, 1 failed); 1 of 3 shards running, 2 done; 30s elapsed, ETA 9s",
        "dualmode invoke: [3/3] shard 3/3 passed: 2 passed in 14.0s",
    ]


def test_the_eta_lays_waiting_shards_on_free_slots_and_learns_from_finished_ones():
    clock, out = Clock(), io.StringIO()
    runs = shards([1, 1, 1, 1])
    progress = plain(clock, out)
    progress.begin(runs, estimates=(10.0, 10.0, 20.0, 5.0), max_concurrency=2)
    assert progress.eta_s() == 30.0  # slots: 10+20, 10+5
    progress.started(runs[0])
    progress.started(runs[1])
    clock.now += 4
    assert progress.eta_s() == 26.0  # 6 left on both; 20 and 5 follow
    clock.now += 16  # the first shard took twice its estimate: the rest will too
    progress.finished(finish(runs[0], 20.0), 1)
    progress.started(runs[2])
    assert progress.eta_s() == 40.0  # shard 2: 2 * 20 = 40 from now; shard 1 (over its 20) and 3 on the other


def test_without_history_the_eta_waits_for_a_finished_shard_then_uses_its_seconds_per_test():
    clock, out = Clock(), io.StringIO()
    runs = shards([4, 2])
    progress = plain(clock, out)
    progress.begin(runs, max_concurrency=1)
    progress.started(runs[0])
    assert progress.eta_s() is None and "ETA" not in progress.status()
    clock.now += 8
    progress.finished(finish(runs[0], 8.0), 1)
    progress.started(runs[1])
    assert progress.eta_s() == 4.0  # 2 s per test


def test_re_runs_are_tallied_apart_and_never_count_a_test_twice():
    clock, out = Clock(), io.StringIO()
    first, again = shards([2]), [ShardRun(1, 2, ("t0",))]
    progress = plain(clock, out)
    progress.begin(first, max_concurrency=2)
    progress.finished(finish(first[0], 1.0, failed=1), 1)
    progress.begin(again, max_concurrency=2, rerun=True)
    progress.finished(finish(again[0], 1.0), 2)
    assert progress.status().startswith("dualmode invoke: 2/2 tests (1 passed, 1 failed; re-runs: 1 passed)")


def test_a_second_wave_may_reuse_shard_indexes():
    clock, out = Clock(), io.StringIO()
    first, again = shards([2, 2]), [ShardRun(0, 2, ("t0",))]  # shard 1/2's failed test, re-run
    progress = plain(clock, out)
    progress.begin(first, max_concurrency=2)
    for shard in first:
        progress.started(shard)
    progress.finished(finish(first[0], 1.0, failed=1), 1)
    progress.finished(finish(first[1], 1.0), 2)
    progress.begin(again, max_concurrency=2, rerun=True)
    assert "0 of 3 shards running, 2 done, 1 waiting" in progress.status()
    progress.started(again[0])
    assert "1 of 3 shards running, 2 done" in progress.status()
    progress.finished(finish(again[0], 1.0), 3)
    assert set(progress.timings) == {0, 1}


def test_one_invocation_without_collection_shows_an_unknown_total():
    progress = plain(Clock(), io.StringIO())
    progress.begin([ShardRun(0, 1, ())], max_concurrency=1, total_tests=None)
    assert progress.status().startswith("dualmode invoke: 0/? tests; 0 of 1 shards running")


def test_duration_text():
    assert [duration_text(s) for s in (0, 9.6, 65, 3725)] == ["0s", "10s", "1m05s", "1h02m"]


def test_run_all_calls_start_done_and_tick_from_the_callers_thread():
    import threading

    ids = [f"t{i}" for i in range(4)]
    backend = FakeBackend(FakeSuite({i: ("passed", 0.15) for i in ids}, sleep=True))
    runs = [ShardRun(i, 2, tuple(ids[i::2])) for i in range(2)]
    seen: list[tuple[str, int, str]] = []
    me = threading.current_thread().name
    run_all(
        backend,
        runs,
        lambda s: {"select": list(s.nodeids)},
        max_concurrency=1,
        policy=NO_WAIT,
        on_start=lambda s: seen.append(("start", s.index, threading.current_thread().name)),
        on_done=lambda s, n: seen.append(("done", s.index, threading.current_thread().name)),
        on_tick=lambda: seen.append(("tick", -1, threading.current_thread().name)),
        tick_s=0.02,
    )
    assert {name for _, _, name in seen} == {me}
    events = [(kind, i) for kind, i, _ in seen if kind != "tick"]
    assert events == [("start", 0), ("done", 0), ("start", 1), ("done", 1)]  # one at a time
    assert any(kind == "tick" for kind, _, _ in seen)  # each shard sleeps 0.3 s: ticks in between


def test_a_pipe_is_not_a_live_terminal_nor_is_term_dumb_nor_ci():
    read, write = os.pipe()
    with os.fdopen(write, "w") as stream:
        assert not is_live_terminal(stream)
    os.close(read)
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as stream:
        assert is_live_terminal(stream, {"TERM": "xterm"})
        assert not is_live_terminal(stream, {"TERM": "dumb"})
        assert not is_live_terminal(stream, {"TERM": "xterm", "CI": "true"})
    os.close(leader)


CHILD = """
import sys
from pytest_dualmode.cli import main
sys.exit(main(["invoke", "--function-name", "f", "--endpoint-url", sys.argv[1], "--shards", "3",
               "--max-concurrency", "2", "--json", "-", "--log-tail", "none"]))
"""


def test_on_a_terminal_the_status_line_is_redrawn_and_stdout_stays_the_json(tmp_path):
    suite = FakeSuite({f"tests/test_m.py::test_{i}": ("passed", 0.2) for i in range(6)}, sleep=True)
    env = dict(os.environ, TERM="xterm", COLUMNS="100", AWS_ACCESS_KEY_ID="AKIDEXAMPLE")
    env |= {"AWS_SECRET_ACCESS_KEY": "x" * 20, "AWS_DEFAULT_REGION": "eu-west-1"}
    env.pop("GITHUB_ACTIONS", None)
    env.pop("CI", None)  # CI keeps the log form even on a terminal
    leader, follower = pty.openpty()
    with FakeLambda(suite_responder(suite)) as fake:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, fake.url],
            stdout=subprocess.PIPE,
            stderr=follower,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        os.close(follower)
        terminal = b""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the child closed its end
                    break
                if not chunk:
                    break
                terminal += chunk
            elif child.poll() is not None:
                break
        stdout, _ = child.communicate(timeout=60)
    os.close(leader)
    assert child.returncode == 0
    assert json.loads(stdout)["counts"]["passed"] == 6  # stdout: the JSON and nothing else
    text = terminal.decode("utf-8", "replace")
    (tmp_path / "terminal.txt").write_text(text, encoding="utf-8")
    assert "\x1b[?25l" in text and "\x1b[?25h" in text  # the cursor hidden while the line is live
    assert text.count("\r\x1b[2K") >= 4  # the status line erased and redrawn in place
    assert "6 tests in 3 shards" in text
    assert text.count("] shard ") == 3  # a line per finished shard, above the status line
    assert "0/6 tests; 0 of 3 shards running" in text and "6/6 tests (6 passed)" in text
    assert "== 6 passed" in text  # the report follows on stderr
