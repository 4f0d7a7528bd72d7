"""Concurrent shards: bounded concurrency, bounded jittered throttle backoff, a crashed shard re-run once."""

from __future__ import annotations

import time

from test_invoke_fakes import FakeBackend, FakeSuite

from pytest_dualmode.cli.invoke.backend import Outcome, Throttled
from pytest_dualmode.cli.invoke.fanout import Backoff, ShardRun, invoke_with_backoff, run_all, run_shard

NO_WAIT = Backoff(attempts=5, base_s=0.0, cap_s=0.0)


def suite(n: int = 6, **kw) -> FakeSuite:
    return FakeSuite({f"t{i}": ("passed", 0.05) for i in range(n)}, **kw)


def shards_of(ids: list[str], count: int) -> list[ShardRun]:
    return [ShardRun(i, count, tuple(ids[i::count])) for i in range(count)]


def event(shard: ShardRun) -> dict:
    return {"select": list(shard.nodeids), "shard": {"index": shard.index, "count": shard.count}}


def test_backoff_grows_exponentially_with_bounded_jitter():
    policy = Backoff(base_s=1.0, cap_s=8.0)
    assert [policy.delay(n, rng=lambda: 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [policy.delay(n, rng=lambda: 1.0) for n in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_throttled_invocations_are_retried_after_waits_then_succeed():
    def script(event, number):
        if number <= 3:
            raise Throttled("TooManyRequestsException: Rate Exceeded.")
        return None

    backend = FakeBackend(suite(2), script)
    waits: list[float] = []
    outcome, throttled, ran = invoke_with_backoff(
        backend, {"select": ["t0"]}, Backoff(base_s=1.0, cap_s=30.0), sleep=waits.append, rng=lambda: 0.5
    )
    assert ran and throttled == 3 and backend.calls == 4
    assert outcome.result is not None and outcome.result["counts"]["passed"] == 1
    assert waits == [0.75, 1.5, 3.0]


def test_throttling_gives_up_within_the_attempt_and_time_bounds():
    def always(event, number):
        raise Throttled("TooManyRequestsException: Rate Exceeded.")

    backend = FakeBackend(suite(1), always)
    waits: list[float] = []
    outcome, throttled, ran = invoke_with_backoff(backend, {}, Backoff(attempts=4), sleep=waits.append)
    assert not ran and throttled == 4 and backend.calls == 4 and len(waits) == 3
    assert outcome.result is None and not outcome.rerun_ok
    assert "throttled 4 times" in outcome.error and "lower --max-concurrency" in outcome.error
    waits.clear()
    backend = FakeBackend(suite(1), always)
    invoke_with_backoff(
        backend, {}, Backoff(attempts=50, base_s=10, cap_s=10, budget_s=25), sleep=waits.append
    )
    assert sum(waits) <= 25 and backend.calls <= 6


def test_a_crashed_shard_is_re_run_exactly_once():
    crash = Outcome(None, function_error="Unhandled", error="Runtime.ExitError", rerun_ok=True)
    backend = FakeBackend(suite(2), lambda event, number: crash if number == 1 else None)
    run = run_shard(backend, ShardRun(0, 1, ("t0", "t1")), {"select": ["t0", "t1"]}, NO_WAIT)
    assert run.attempts == 2 and backend.calls == 2
    assert run.outcome.result["counts"]["passed"] == 2
    assert run.earlier_errors == ["Runtime.ExitError"]

    backend = FakeBackend(suite(2), lambda event, number: crash)
    run = run_shard(backend, ShardRun(0, 1, ("t0",)), {"select": ["t0"]}, NO_WAIT)
    assert run.attempts == 2 and backend.calls == 2 and run.outcome.result is None


def test_a_shard_whose_run_may_still_be_going_is_not_re_run():
    timeout = Outcome(None, error="no response within 90s (read timeout)", rerun_ok=False)
    backend = FakeBackend(suite(1), lambda event, number: timeout)
    run = run_shard(backend, ShardRun(0, 1, ("t0",)), {"select": ["t0"]}, NO_WAIT)
    assert run.attempts == 1 and backend.calls == 1


def test_a_failed_result_is_never_re_run():
    failing = FakeSuite({"t0": ("failed", 0.01, "assert False")})
    backend = FakeBackend(failing)
    run = run_shard(backend, ShardRun(0, 1, ("t0",)), {"select": ["t0"]}, NO_WAIT)
    assert run.attempts == 1 and run.outcome.result["outcome"] == "failed"


def test_concurrency_is_bounded_and_every_shard_reports_once():
    ids = [f"t{i}" for i in range(12)]
    backend = FakeBackend(FakeSuite({i: ("passed", 0.05) for i in ids}, sleep=True))
    done: list[tuple[int, int]] = []
    shards = shards_of(ids, 6)
    start = time.monotonic()
    run_all(
        backend,
        shards,
        event,
        max_concurrency=3,
        policy=NO_WAIT,
        on_done=lambda s, n: done.append((s.index, n)),
    )
    elapsed = time.monotonic() - start
    assert backend.max_in_flight == 3
    assert sorted(i for i, _ in done) == list(range(6)) and [n for _, n in done] == list(range(1, 7))
    assert all(s.outcome.result["counts"]["passed"] == 2 for s in shards)
    assert elapsed < 5  # two waves of 0.1 s, bounded generously for a busy machine


def test_a_worker_bug_becomes_a_lost_shard_not_a_hang():
    backend = FakeBackend(suite(2))

    def broken_event(shard: ShardRun) -> dict:
        raise RuntimeError("boom")

    shards = shards_of(["t0", "t1"], 2)
    run_all(backend, shards, broken_event, max_concurrency=2, policy=NO_WAIT)
    assert all(s.outcome.result is None and "RuntimeError: boom" in s.outcome.error for s in shards)
