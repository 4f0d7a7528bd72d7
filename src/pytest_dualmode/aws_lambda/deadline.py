"""The Lambda deadline: when to stop starting tests, and how to interrupt one still running.

Two lines are drawn before the deadline that ``context.get_remaining_time_in_millis()`` gives:

* the **margin** (``deadline_margin_ms``): no test starts once less than this is left;
* **half the margin**: a test still running is interrupted with :class:`DeadlineInterrupt`, raised in the
  main thread by ``SIGALRM`` (Lambda runs the handler in the main thread). While the run goes on (a hanging
  teardown, or an interrupt that landed in a ``__del__`` or weakref callback, where Python drops exceptions),
  it is interrupted again every eighth of the margin, three times in all.

The time left after that is for writing the result. Off the main thread (or without ``SIGALRM``) only the
first line holds: tests are not started late, but one that hangs cannot be stopped.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

MAX_INTERRUPTS = 3


class DeadlineInterrupt(BaseException):
    """Raised in a test still running when the Lambda deadline is near (a BaseException, so that a test's
    ``except Exception`` does not swallow it)."""


class Deadline:
    """The absolute deadline of one invocation (``time.monotonic()`` seconds) and the stop margin."""

    def __init__(self, remaining_ms: float | None, margin_ms: int) -> None:
        self.margin_ms = margin_ms
        self.at = None if remaining_ms is None else time.monotonic() + remaining_ms / 1000.0

    @classmethod
    def from_context(cls, context: Any, margin_ms: int) -> Deadline:
        """Read ``context.get_remaining_time_in_millis()`` once; no deadline when the context has none."""
        getter = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(getter):
            return cls(None, margin_ms)
        try:
            remaining = float(getter())
        except Exception:  # a context that cannot say: run without a deadline rather than not at all
            return cls(None, margin_ms)
        return cls(max(0.0, remaining), margin_ms)

    def remaining_ms(self) -> float | None:
        """Milliseconds left, or None without a deadline."""
        return None if self.at is None else (self.at - time.monotonic()) * 1000.0

    def too_late_to_start(self) -> bool:
        """True once less than the margin is left."""
        left = self.remaining_ms()
        return left is not None and left < self.margin_ms

    def stop_reason(self) -> str:
        """Why a test was not started, for its ``not_run`` entry."""
        left = self.remaining_ms() or 0.0
        return (
            f"deadline: not started with {max(0, int(left))} ms of the Lambda timeout left "
            f"(margin {self.margin_ms} ms; raise the function timeout or use more shards)"
        )


class HardStop:
    """Context manager arming ``SIGALRM`` to raise :class:`DeadlineInterrupt` at half the margin.

    ``busy()`` says whether pytest is in a test, collecting or finishing the session; outside those (start-up,
    between tests, pytest's final garbage collection, where an exception would be dropped as "unraisable")
    the alarm waits a little instead of raising. ``available`` says whether it could arm (main thread, a
    deadline, SIGALRM present); ``fired`` counts the interrupts raised. The previous handler and timer are
    restored on exit.
    """

    def __init__(self, deadline: Deadline, busy: Callable[[], bool] = lambda: True) -> None:
        self.deadline = deadline
        self.busy = busy
        self.fired = 0
        self.available = False
        self._active = False
        self._previous: Any = None

    def __enter__(self) -> HardStop:
        left = self.deadline.remaining_ms()
        if (
            left is None
            or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()
        ):
            return self
        self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self.available = self._active = True
        self._arm(left - self.deadline.margin_ms / 2.0)
        return self

    def _arm(self, delay_ms: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, max(delay_ms, 1.0) / 1000.0)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True  # the test's own frames are what its report should show
        if not self._active:  # the run has just ended: never raise into the handler's own code
            return
        if not self.busy():
            self._arm(50.0)
            return
        self.fired += 1
        if self.fired < MAX_INTERRUPTS:
            self._arm(max(self.deadline.margin_ms / 8.0, 50.0))
        left = max(0, int(self.deadline.remaining_ms() or 0))
        raise DeadlineInterrupt(f"interrupted with {left} ms of the Lambda timeout left")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._active = False
        if self.available:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous if self._previous is not None else signal.SIG_DFL)
