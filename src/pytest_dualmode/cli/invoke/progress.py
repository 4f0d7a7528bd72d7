"""Live progress of a fan-out, on stderr: a line per finished shard and a status line.

On a terminal the status line (tests done / total, passed / failed / flaky, shards running, the ETA) is
one line redrawn in place, with the shard lines scrolling above it (rich's ``Live``, which also keeps the
line within the terminal's width and routes other stderr prints above it). Anywhere else (a CI log) the
shard lines are printed as they come and the status line at most every ``interval_s`` (10 s), so a long
run shows it is alive without flooding the log. Nothing goes to stdout, which may carry ``--json -``.

The ETA comes from the durations history (the plan's expected seconds per shard), corrected by how long
the finished shards took against their estimate; without history, from the finished shards' seconds
per test. The running and waiting shards are then laid on the free slots (``--max-concurrency``) in
queue order, as the fan-out will run them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from pytest_dualmode.cli.invoke.fanout import ShardRun

PLAIN_INTERVAL_S = 10.0  # a CI log gets a status line at most this often
_COUNT_ORDER = (
    ("passed", "passed"),
    ("failed", "failed"),
    ("errors", "errors"),
    ("flaky", "flaky"),
    ("skipped", "skipped"),
    ("not_run", "not run"),
)
_PREFIX = "dualmode invoke: "


def is_live_terminal(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``stream`` is a terminal that can redraw a line: a TTY, not ``TERM=dumb``, and not in CI
    (``CI`` set: a CI runner that gives the job a terminal still keeps a log, where redraws are noise)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False
    return tty and environ.get("TERM", "") != "dumb" and not environ.get("CI")


def duration_text(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short enough for a status line."""
    whole = round(max(seconds, 0.0))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class Progress:
    """What a fan-out shows as it goes: :meth:`begin`, then ``run_all``'s hooks, then :meth:`close`.

    ``live`` picks the terminal display (default: :func:`is_live_terminal` of ``stream``); ``clock`` is
    the time source (seconds, monotonic), injectable so the every-10-s rule is tested without waiting;
    ``line`` formats the line of a finished shard (``report.progress_line``).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        line: Callable[[ShardRun, int, int], str],
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = PLAIN_INTERVAL_S,
        start: float | None = None,
    ) -> None:
        """Prepare the display (nothing is printed before :meth:`begin`); ``start``: the run's start on
        ``clock``, from which :attr:`timings` count (default: now)."""
        self._stream = stream
        self._line = line
        self._live_wanted = is_live_terminal(stream) if live is None else live
        self._clock = clock
        self._interval_s = interval_s
        self._live: Any = None  # rich.live.Live while the terminal display is on
        self._t0 = clock() if start is None else start
        self._last_status: float | None = None
        self._shards: list[ShardRun] = []
        # keyed by id(shard): a second wave may reuse shard indexes
        self._estimates: dict[int, float] = {}
        self._slots = 1
        self._total_tests: int | None = 0
        self._started: dict[int, float] = {}
        self._finished: dict[int, float] = {}
        self._counts: dict[str, int] = {}  # the first run of each test
        self._rerun_counts: dict[str, int] = {}  # re-runs, shown apart
        self._reruns: set[int] = set()  # re-run shards

    # -- the run_all hooks ---------------------------------------------------------------------------------

    def begin(
        self,
        shards: Sequence[ShardRun],
        *,
        estimates: Sequence[float] = (),
        max_concurrency: int,
        total_tests: int | None = None,
        rerun: bool = False,
    ) -> None:
        """The fan-out is about to start ``shards`` (``estimates``: expected seconds each, 0 unknown).

        ``total_tests`` defaults to the shards' node ids; None when unknown (one invocation, no collection).
        Called again for a second wave, the shards are added to the ones shown; with ``rerun`` (re-runs of
        tests already counted) their results are tallied apart, so no test is counted twice.
        """
        known = {id(s) for s in self._shards}
        for i, shard in enumerate(shards):
            if id(shard) not in known:
                self._shards.append(shard)
            self._estimates[id(shard)] = float(estimates[i]) if i < len(estimates) else 0.0
            if rerun:
                self._reruns.add(id(shard))
        self._slots = max(1, max_concurrency)
        if not rerun:
            if total_tests is None and not any(s.nodeids for s in shards):
                self._total_tests = None
            else:
                self._total_tests = (self._total_tests or 0) + (
                    total_tests if total_tests is not None else sum(len(s.nodeids) for s in shards)
                )
        if self._live_wanted and self._live is None:
            self._start_live()
        self._refresh()

    def started(self, shard: ShardRun) -> None:
        """``run_all``'s ``on_start``: a worker took ``shard``."""
        self._started[id(shard)] = self._clock() - self._t0
        self._refresh()

    def finished(self, shard: ShardRun, done: int) -> None:
        """``run_all``'s ``on_done``: print the shard's line, add its counts to the status."""
        self._finished[id(shard)] = self._clock() - self._t0
        self._started.setdefault(id(shard), self._finished[id(shard)] - shard.duration_s)
        result = shard.outcome.result if shard.outcome else None
        counts = (result or {}).get("counts")
        tally = self._rerun_counts if id(shard) in self._reruns else self._counts
        if isinstance(counts, dict):
            for key, value in counts.items():
                if isinstance(value, int):
                    tally[key] = tally.get(key, 0) + value
        else:  # no result: its tests will be not_run
            tally["not_run"] = tally.get("not_run", 0) + len(shard.nodeids)
        self._print(self._line(shard, done, len(self._shards)), shard)
        self._refresh()

    def tick(self) -> None:
        """``run_all``'s ``on_tick``: redraw the terminal line, or print the status line when it is due."""
        self._refresh()

    def close(self) -> None:
        """End the display: the terminal line is removed (the summary follows), a CI log gets nothing more."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- what is shown -------------------------------------------------------------------------------------

    @property
    def timings(self) -> dict[int, tuple[float, float | None]]:
        """Per shard index: (started, finished or None), seconds from the run's start (first waves' shards;
        a re-run's timings are the result's ``invocations``)."""
        return {
            s.index: (self._started[id(s)], self._finished.get(id(s)))
            for s in self._shards
            if id(s) in self._started and id(s) not in self._reruns
        }

    def status(self) -> str:
        """The status line, e.g. ``40/64 tests (38 passed, 2 failed); 3 of 8 shards running, ...``."""
        now = self._clock() - self._t0
        done = sum(self._counts.get(key, 0) for key, _ in _COUNT_ORDER)
        total = "?" if self._total_tests is None else str(self._total_tests)
        parts = [f"{c} {label}" for key, label in _COUNT_ORDER if (c := self._counts.get(key, 0))]
        again = [f"{c} {label}" for key, label in _COUNT_ORDER if (c := self._rerun_counts.get(key, 0))]
        inner = ", ".join(parts) + (f"; re-runs: {', '.join(again)}" if again else "")
        counts = f" ({inner.lstrip('; ')})" if inner else ""
        running = sum(1 for i in self._started if i not in self._finished)
        waiting = sum(1 for s in self._shards if id(s) not in self._started)
        text = (
            f"{_PREFIX}{done}/{total} tests{counts}; {running} of {len(self._shards)} shards running, "
            f"{len(self._finished)} done"
        )
        if waiting:
            text += f", {waiting} waiting"
        text += f"; {duration_text(now)} elapsed"
        eta = self.eta_s()
        if eta is not None and running + waiting:
            text += f", ETA {duration_text(eta)}" if eta >= 0.5 else ", running past the estimate"
        return text

    def eta_s(self) -> float | None:
        """Seconds until the last shard should finish, or None while nothing tells (no history, none done)."""
        now = self._clock() - self._t0
        factor, per_test = self._calibration()
        slots: list[float] = []
        pending: list[float] = []
        for shard in self._shards:
            if id(shard) in self._finished:
                continue
            estimate = self._estimates.get(id(shard), 0.0)
            if estimate > 0:
                expected = estimate * factor
            elif per_test is not None:
                expected = per_test * len(shard.nodeids)
            else:
                return None
            if id(shard) in self._started:
                slots.append(max(expected - (now - self._started[id(shard)]), 0.0))
            else:
                pending.append(expected)
        if not slots and not pending:
            return 0.0
        slots += [0.0] * max(self._slots - len(slots), 0)
        for expected in pending:  # queue order: each waiting shard takes the first slot to free up
            i = min(range(len(slots)), key=slots.__getitem__)
            slots[i] += expected
        return max(slots)

    def _calibration(self) -> tuple[float, float | None]:
        """(actual / estimated time of finished shards, seconds per test of finished shards)."""
        actual = estimated = 0.0
        seconds = tests = 0.0
        for shard in self._shards:
            if id(shard) not in self._finished:
                continue
            took = self._finished[id(shard)] - self._started.get(id(shard), 0.0)
            if self._estimates.get(id(shard), 0.0) > 0:
                actual += took
                estimated += self._estimates[id(shard)]
            if shard.nodeids:
                seconds += took
                tests += len(shard.nodeids)
        factor = actual / estimated if estimated > 0 else 1.0
        return factor, (seconds / tests if tests else None)

    # -- output --------------------------------------------------------------------------------------------

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        console = Console(file=self._stream, force_terminal=True, highlight=False, soft_wrap=False)
        self._live = Live(
            Text(self.status(), no_wrap=True, overflow="ellipsis"),
            console=console,
            auto_refresh=False,  # redrawn on each event and tick (once a second): no thread of its own
            transient=True,
            redirect_stdout=False,  # stdout may be the JSON result
            redirect_stderr=True,  # other stderr lines (the emulator's) print above the status line
        )
        self._live.start()

    def _print(self, line: str, shard: ShardRun) -> None:
        if self._live is None:
            self._stream.write(line + "\n")
            self._stream.flush()
            return
        from rich.text import Text

        style = {"passed": "green", "flaky": "yellow"}.get(_status_word(shard), "red")
        self._live.console.print(Text(line, style=style), soft_wrap=True)

    def _refresh(self) -> None:
        if self._live is not None:
            from rich.text import Text

            self._live.update(Text(self.status(), no_wrap=True, overflow="ellipsis"), refresh=True)
            return
        now = self._clock()
        if self._last_status is None:
            self._last_status = now  # the plan line was just printed: the first status is due in 10 s
            return
        if now - self._last_status >= self._interval_s:
            if not self._shards or len(self._finished) == len(self._shards):
                return  # nothing running: the summary follows
            self._last_status = now
            self._stream.write(self.status() + "\n")
            self._stream.flush()


def _status_word(shard: ShardRun) -> str:
    from pytest_dualmode.cli.invoke.merge import shard_status

    return shard_status(shard)
