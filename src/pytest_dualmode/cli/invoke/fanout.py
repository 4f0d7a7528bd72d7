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
from pytest_dualmode.cli.invoke.fate import REFUSED, classify

REFUSAL_MARKER = "dualmode: environment refused the run"  # aws_lambda.runner prints it before exiting
REFUSAL_RETRIES = 3  # re-tries of a re-run whose invocation landed in an environment it must avoid


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
    """One shard's assignment and what became of it.

    A re-run of a shard's failed tests (``--reruns``) is a ShardRun too, with the same index, the failed
    node ids, ``rerun_round`` >= 1 and the environments it must avoid; the shard's own ShardRun lists
    them in ``reruns``, in order.
    """

    index: int
    count: int
    nodeids: tuple[str, ...]
    outcome: Outcome | None = None
    attempts: int = 0  # invocations that ran (1, or 2 after a crash re-run)
    throttled: int = 0  # refusals retried with backoff
    earlier_errors: list[str] = field(default_factory=list)  # why an earlier attempt was re-run
    duration_s: float = 0.0  # wall time from the first attempt to the last response, waits included
    invocations: list[dict[str, Any]] = field(default_factory=list)  # one entry per invocation (schema)
    rerun_round: int = 0
    avoid_environments: tuple[str, ...] = ()
    reruns: list[ShardRun] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``shard 3/8`` (1-based for people; the event's ``shard.index`` is 0-based), ``... re-run 1``."""
        again = f" re-run {self.rerun_round}" if self.rerun_round else ""
        return f"shard {self.index + 1}/{self.count}{again}"

    @property
    def fate(self) -> tuple[str, str | None]:
        """(fate, error type) of the last invocation, which decides the shard's (see fate.classify)."""
        return classify(self.outcome)

    @property
    def environment(self) -> str | None:
        """The id of the execution environment that produced the result, when the handler said."""
        result = self.outcome.result if self.outcome else None
        env = result.get("environment") if result else None
        return str(env["id"]) if isinstance(env, dict) and env.get("id") else None


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
    return Outcome(None, error=error, error_type="TooManyRequestsException"), throttled, False


def run_shard(
    backend: Backend,
    shard: ShardRun,
    event: dict[str, Any],
    policy: Backoff,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    started: float | None = None,
) -> ShardRun:
    """Run one shard: throttles retried, a crash (no result, safe to repeat) re-run exactly once.

    A re-run that lands in an environment it must avoid (which then exits, see aws_lambda.runner) is
    tried again, up to ``REFUSAL_RETRIES`` times, without counting as the crash re-run. ``started`` is
    the run's start (``time.monotonic()``), for the invocations' ``start_s`` and ``end_s``.
    """
    start = time.monotonic()
    origin = start if started is None else started
    crashes = refusals = 0
    while True:
        began = time.monotonic()
        outcome, throttled, ran = invoke_with_backoff(backend, event, policy, sleep=sleep, rng=rng)
        refused = outcome.result is None and REFUSAL_MARKER in outcome.log_tail
        if refused:
            outcome.error_type = REFUSED
        shard.throttled += throttled
        shard.attempts += ran
        shard.outcome = outcome
        shard.invocations.append(_invocation(shard, outcome, began - origin, time.monotonic() - origin))
        if refused and refusals < REFUSAL_RETRIES:
            refusals += 1
            continue
        if outcome.result is not None or not outcome.rerun_ok or crashes == 1:
            break
        crashes += 1
        shard.earlier_errors.append(outcome.error or "no result")
    shard.duration_s = time.monotonic() - start
    return shard


def _invocation(shard: ShardRun, outcome: Outcome, start_s: float, end_s: float) -> dict[str, Any]:
    """One entry of a shard's ``invocations`` (docs/result-schema.md)."""
    fate, error_type = classify(outcome)
    report = (
        outcome.report.as_dict()
        if outcome.report
        else dict.fromkeys(("init_ms", "duration_ms", "billed_ms", "memory_mb", "max_memory_mb"))
    )
    return {
        "attempt": len(shard.invocations) + 1,
        "start_s": round(start_s, 3),
        "end_s": round(end_s, 3),
        **report,
        "fate": fate,
        "error_type": error_type,
        "rerun": shard.rerun_round > 0,
    }


def run_all(
    backend: Backend,
    shards: Sequence[ShardRun],
    make_event: Callable[[ShardRun], dict[str, Any]],
    *,
    max_concurrency: int,
    policy: Backoff,
    on_done: Callable[[ShardRun, int], None] = lambda shard, done: None,
    follow_up: Callable[[ShardRun], ShardRun | None] = lambda shard: None,
    started: float | None = None,
    on_start: Callable[[ShardRun], None] = lambda shard: None,
    on_tick: Callable[[], None] = lambda: None,
    tick_s: float = 1.0,
) -> list[ShardRun]:
    """Run every shard with at most ``max_concurrency`` in flight; ``on_done(shard, n_done)`` per completion.

    ``on_start(shard)`` when a worker takes a shard, ``on_done`` when it finishes (in completion order),
    and ``on_tick()`` after ``tick_s`` without either (a live display's clock) are all called from this
    (the caller's) thread, so they may print freely; ``n_done`` counts the finished shards, not their
    re-runs. ``follow_up(finished)`` may return another run (a re-run of its failed tests), queued at once,
    so a re-run starts while other shards still run.
    A backend with a ``warm(n)`` method is asked first to have ``n`` (one per worker) runtimes ready.
    A worker that raises (a bug, not a failed run) becomes a shard without a result, never a hang. The
    workers are daemon threads, so Ctrl-C returns at once instead of waiting for in-flight invocations
    (which a synchronous Lambda invoke cannot cancel anyway).
    """
    todo: queue.SimpleQueue[ShardRun | None] = queue.SimpleQueue()
    events: queue.SimpleQueue[tuple[ShardRun, bool]] = queue.SimpleQueue()  # (shard, finished)
    workers = max(1, min(max_concurrency, len(shards)))
    warm = getattr(backend, "warm", None)  # a backend that can start its runtimes ahead (--emulate)
    if callable(warm):
        warm(workers)

    def work() -> None:
        while (shard := todo.get()) is not None:
            events.put((shard, False))
            try:
                run_shard(backend, shard, make_event(shard), policy, started=started)
            except Exception as exc:
                error = f"internal error while invoking: {type(exc).__name__}: {exc}"
                shard.outcome = Outcome(None, error=error, error_type="InternalError")
            events.put((shard, True))

    # Every worker is started (and waiting) before the first shard is queued: a Thread.start() waits for
    # the new thread to run, and with busy workers holding the GIL, 64 starts took half a second.
    for n in range(workers):
        threading.Thread(target=work, name=f"dualmode-shard-{n}", daemon=True).start()
    for shard in shards:
        todo.put(shard)
    pending, done = len(shards), 0
    while pending:
        try:
            shard, finished = events.get(timeout=tick_s)  # each invocation is bounded by its backend
        except queue.Empty:
            on_tick()
            continue
        if not finished:
            on_start(shard)
            continue
        pending -= 1
        done += shard.rerun_round == 0
        on_done(shard, done)
        again = follow_up(shard)
        if again is not None:
            todo.put(again)
            pending += 1
    for _ in range(workers):
        todo.put(None)  # one stop marker per worker
    return list(shards)
