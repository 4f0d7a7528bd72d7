"""Running shards concurrently: bounded threads, throttle backoff with jitter, a crashed shard re-run once."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_dualmode.cli.invoke.backend import Backend, Outcome, Throttled


@dataclass(frozen=True)
class Backoff:
    """Retry policy for throttled invocations: exponential, with jitter, bounded in attempts and in time.

    The n-th wait is uniform in [d/2, d] with d = min(cap_s, base_s * 2**n): half of it guarantees the
    backoff grows, the random half keeps many throttled shards from retrying in lock step.
    """

    attempts: int = 8
    base_s: float = 1.0
    cap_s: float = 30.0
    budget_s: float = 300.0  # total time a shard may spend waiting for throttles

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """The wait before retry number ``retry`` (0-based)."""
        ceiling = min(self.cap_s, self.base_s * 2**retry)
        return ceiling / 2 + rng() * ceiling / 2


@dataclass
class ShardRun:
    """One shard's assignment and what became of it."""

    index: int
    count: int
    nodeids: tuple[str, ...]
    outcome: Outcome | None = None
    attempts: int = 0  # invocations that ran (1, or 2 after a crash re-run)
    throttled: int = 0  # refusals retried with backoff
    earlier_errors: list[str] = field(default_factory=list)  # why an earlier attempt was re-run
    duration_s: float = 0.0  # wall time from the first attempt to the last response, waits included

    @property
    def label(self) -> str:
        """``shard 3/8`` (1-based for people; the event's ``shard.index`` is 0-based)."""
        return f"shard {self.index + 1}/{self.count}"


def invoke_with_backoff(
    backend: Backend,
    event: dict[str, Any],
    policy: Backoff,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> tuple[Outcome, int, bool]:
    """Invoke once, retrying only throttles per ``policy``.

    Returns the outcome, how many times the invocation was throttled, and whether it ran at all (False
    when throttling outlasted the policy: then the outcome says so and must not be re-run).
    """
    waited = 0.0
    reason = ""
    for retry in range(policy.attempts):
        try:
            return backend.invoke(event), retry, True
        except Throttled as exc:
            reason = str(exc)
            delay = policy.delay(retry, rng)
            if retry + 1 >= policy.attempts or waited + delay > policy.budget_s:
                break
            sleep(delay)
            waited += delay
    throttled = retry + 1
    error = f"throttled {throttled} times over {waited:.0f}s, gave up ({reason}); lower --max-concurrency"
    return Outcome(None, error=error), throttled, False


def run_shard(
    backend: Backend,
    shard: ShardRun,
    event: dict[str, Any],
    policy: Backoff,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> ShardRun:
    """Run one shard: throttles retried, a crash (no result, safe to repeat) re-run exactly once."""
    start = time.monotonic()
    for attempt in range(2):
        outcome, throttled, ran = invoke_with_backoff(backend, event, policy, sleep=sleep, rng=rng)
        shard.throttled += throttled
        shard.attempts += ran
        shard.outcome = outcome
        if outcome.result is not None or not outcome.rerun_ok or attempt == 1:
            break
        shard.earlier_errors.append(outcome.error or "no result")
    shard.duration_s = time.monotonic() - start
    return shard


def run_all(
    backend: Backend,
    shards: Sequence[ShardRun],
    make_event: Callable[[ShardRun], dict[str, Any]],
    *,
    max_concurrency: int,
    policy: Backoff,
    on_done: Callable[[ShardRun, int], None] = lambda shard, done: None,
    on_start: Callable[[ShardRun], None] = lambda shard: None,
    on_tick: Callable[[], None] = lambda: None,
    tick_s: float = 1.0,
) -> list[ShardRun]:
    """Run every shard with at most ``max_concurrency`` in flight; ``on_done(shard, n_done)`` per completion.

    ``on_start(shard)`` when a worker takes a shard, ``on_done`` when it finishes (in completion order),
    and ``on_tick()`` after ``tick_s`` without either (a live display's clock) are all called from this
    (the caller's) thread, so they may print freely.
    A backend with a ``warm(n)`` method is asked first to have ``n`` (one per worker) runtimes ready.
    A worker that raises (a bug, not a failed run) becomes a shard without a result, never a hang. The
    workers are daemon threads, so Ctrl-C returns at once instead of waiting for in-flight invocations
    (which a synchronous Lambda invoke cannot cancel anyway).
    """
    todo: queue.SimpleQueue[ShardRun | None] = queue.SimpleQueue()
    events: queue.SimpleQueue[tuple[ShardRun, bool]] = queue.SimpleQueue()  # (shard, finished)
    for shard in shards:
        todo.put(shard)
    workers = max(1, min(max_concurrency, len(shards)))
    for _ in range(workers):
        todo.put(None)  # one stop marker per worker
    warm = getattr(backend, "warm", None)  # a backend that can start its runtimes ahead (--emulate)
    if callable(warm):
        warm(workers)

    def work() -> None:
        while (shard := todo.get()) is not None:
            events.put((shard, False))
            try:
                run_shard(backend, shard, make_event(shard), policy)
            except Exception as exc:
                error = f"internal error while invoking: {type(exc).__name__}: {exc}"
                shard.outcome = Outcome(None, error=error)
            events.put((shard, True))

    for n in range(workers):
        threading.Thread(target=work, name=f"dualmode-shard-{n}", daemon=True).start()
    done = 0
    while done < len(shards):  # each invocation is bounded by the backend's own timeouts
        try:
            shard, finished = events.get(timeout=tick_s)
        except queue.Empty:
            on_tick()
            continue
        if finished:
            done += 1
            on_done(shard, done)
        else:
            on_start(shard)
    return list(shards)
