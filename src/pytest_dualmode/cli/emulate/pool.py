"""The emulator's execution environments: started on demand, kept warm, pre-started, all stopped on close.

As in Lambda:

* an invocation takes an idle runtime started with the same configuration (most recently used first),
  else starts a new one: one runtime per concurrent invocation, so the pool never holds more processes
  than the most invocations that ran at once (or were asked for with :meth:`RuntimePool.warm`). An idle
  runtime of another configuration makes room for the new one;
* :meth:`RuntimePool.warm` starts runtimes before any invocation, concurrently, as provisioned
  concurrency initialises execution environments ahead of the requests;
* a runtime that crashed, timed out, ran out of memory or failed its init is stopped, never reused.

:meth:`RuntimePool.close` kills every runtime, busy or idle, at once (``Ctrl-C`` in ``dualmode`` ends up
there), and refuses new invocations afterwards, so an invocation thread cannot start another one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.emulate import sandbox
from pytest_dualmode.cli.emulate.warm import RuntimeProcess

Key = frozenset[tuple[str, str]]
# start(overrides, key, initialization type) -> a started runtime process
Starter = Callable[[dict[str, str], Key, str], RuntimeProcess]
_STOP_S = 10.0


def config_key(overrides: Mapping[str, str]) -> Key:
    """The function configuration a runtime started with ``overrides`` has (forwarded variables included)."""
    return frozenset(sandbox.configuration(dict(overrides)).items())


class RuntimePool:
    """Runtime processes of one emulated function (thread-safe); see the module doc.

    With ``keep_warm=False`` every invocation starts its own runtime and stops it afterwards (cold starts).
    """

    def __init__(self, start: Starter, *, keep_warm: bool) -> None:
        """``start`` builds a runtime process; ``keep_warm`` keeps runtimes for later invocations."""
        self._start = start
        self.keep_warm = keep_warm
        self._lock = threading.Lock()
        self._idle: list[RuntimeProcess] = []  # least recently used first
        self._live: set[RuntimeProcess] = set()
        self._closed = False

    @property
    def processes(self) -> int:
        """Runtime processes held now (busy and idle)."""
        with self._lock:
            return len(self._live)

    @property
    def idle(self) -> int:
        """Warm runtimes waiting for an invocation."""
        with self._lock:
            return len(self._idle)

    def acquire(self, overrides: dict[str, str], *, fresh: bool = False) -> RuntimeProcess:
        """An idle runtime with this configuration, else a newly started one (a cold start).

        ``fresh`` always starts a new runtime (a re-run that must not meet an earlier run's state); it
        takes the place of the least recently used idle one, so the pool does not grow.
        """
        key = config_key(overrides)
        with self._lock:
            self._check_open()
            dead = [r for r in self._idle if not r.alive]  # crashed while idle
            matching = [] if fresh else [r for r in self._idle if r.alive and r.key == key]
            if matching:
                runtime = matching[-1]
                self._idle.remove(runtime)
                evicted = dead
            else:  # the new runtime takes the place of the least recently used one of another configuration
                others = [r for r in self._idle if r.alive]
                evicted = dead + others[:1]
            for stale in evicted:
                self._idle.remove(stale)
                self._live.discard(stale)
        self._stop_all(evicted)
        if matching:
            return runtime
        return self._launch(overrides, key, "on-demand", idle=False)

    def release(self, runtime: RuntimeProcess, *, reusable: bool) -> None:
        """Return ``runtime`` after an invocation: kept warm when ``reusable`` and the pool keeps them."""
        with self._lock:
            keep = reusable and self.keep_warm and not self._closed and runtime in self._live
            if keep:
                runtime.invocations += 1
                self._idle.append(runtime)
            else:
                self._live.discard(runtime)
        if not keep:
            runtime.stop()

    def warm(self, count: int, overrides: dict[str, str], *, timeout_s: float) -> int:
        """Have ``count`` idle runtimes with this configuration, starting the missing ones concurrently.

        Waits at most ``timeout_s`` for them to finish their init; returns how many idle runtimes with
        this configuration are ready (a runtime whose init failed is not, and is replaced on its next use).
        """
        if not self.keep_warm:
            raise ValueError("warm() needs keep_warm=True: a cold pool stops every runtime after one use")
        key = config_key(overrides)
        with self._lock:
            self._check_open()
            have = sum(1 for r in self._idle if r.alive and r.key == key)
            others = [r for r in self._idle if r.key != key or not r.alive]
            evicted = others[: max(0, count - have)]
            for stale in evicted:
                self._idle.remove(stale)
                self._live.discard(stale)
        self._stop_all(evicted)
        started = [
            self._launch(overrides, key, "provisioned-concurrency", idle=True)
            for _ in range(max(0, count - have))
        ]  # each starts at once; their inits run concurrently while the others start
        limit = time.monotonic() + timeout_s
        for runtime in started:
            runtime.wait_ready(limit - time.monotonic())
        with self._lock:
            return sum(1 for r in self._idle if r.key == key and r.wait_ready(0))

    def close(self) -> None:
        """Kill every runtime (busy ones too) and stop their servers; later invocations are refused."""
        with self._lock:
            self._closed = True
            runtimes = list(self._live)
            self._live.clear()
            self._idle.clear()
        for runtime in runtimes:  # kill them all first: nothing keeps running while the rest is cleaned up
            runtime.kill()
        self._stop_all(runtimes)

    def _launch(
        self, overrides: dict[str, str], key: Key, initialization: str, *, idle: bool
    ) -> RuntimeProcess:
        """Start a runtime and hold it, unless close() ran meanwhile: then it is stopped at once."""
        runtime = self._start(overrides, key, initialization)
        try:
            with self._lock:
                self._check_open()
                self._live.add(runtime)
                if idle:
                    self._idle.append(runtime)
        except BaseException:  # closed (or interrupted) while it started: it must not outlive the emulator
            runtime.stop()
            raise
        return runtime

    def _check_open(self) -> None:
        if self._closed:
            raise CliError(
                "the emulator is closed (interrupted, or its block has exited); no new invocations"
            )

    @staticmethod
    def _stop_all(runtimes: list[RuntimeProcess]) -> None:
        """Stop runtimes in parallel (each stop waits for its server's loop to notice), bounded."""
        if len(runtimes) == 1:
            runtimes[0].stop()
            return
        threads = [threading.Thread(target=r.stop, name="dualmode-stop", daemon=True) for r in runtimes]
        for thread in threads:
            thread.start()
        limit = time.monotonic() + _STOP_S
        for thread in threads:
            thread.join(timeout=max(0.0, limit - time.monotonic()))
