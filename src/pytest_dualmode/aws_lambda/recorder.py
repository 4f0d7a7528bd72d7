"""The in-process pytest plugin of one handler run: selection, the deadline stop, and a record of every test.

One :class:`RunRecorder` is passed to ``pytest.main(plugins=[...])`` per run, so nothing survives between warm
invocations. It keeps only plain data (outcomes, durations, redacted and cut messages), never report objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from pytest_dualmode.aws_lambda.deadline import Deadline, DeadlineInterrupt

MESSAGE_LIMIT = 4096


def cut(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Cut ``text`` to about ``limit`` characters, keeping its start and (larger) its end, with a marker."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = max(0, limit - head - 40)
    return f"{text[:head]}\n... [{len(text) - head - tail} characters cut] ...\n{text[len(text) - tail :]}"


def _normalise(nodeid: str) -> str:
    nodeid = nodeid.strip()
    while nodeid.startswith("./"):
        nodeid = nodeid[2:]
    return nodeid if "::" in nodeid else nodeid.rstrip("/")


def _candidates(nodeid: str) -> Iterator[str]:
    """The ids that select ``nodeid``: itself, its base without params, its class, its file, its folders."""
    yield nodeid
    path, sep, rest = nodeid.partition("::")
    if sep:
        parts = rest.split("::")
        if "[" in parts[-1]:
            yield "::".join([path, *parts[:-1], parts[-1].split("[", 1)[0]])
        for n in range(len(parts) - 1, 0, -1):
            yield "::".join([path, *parts[:n]])
        yield path
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        yield path


class Selection:
    """Node ids to run: exact ids, or a prefix (``file.py::test_f`` takes every parametrization, a file or
    a folder takes what is in it)."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = tuple(dict.fromkeys(_normalise(i) for i in ids))
        self._set = frozenset(self.ids)

    def match(self, nodeid: str) -> str | None:
        """The selected id that covers ``nodeid``, or None."""
        return next((c for c in _candidates(nodeid) if c in self._set), None)

    def paths(self) -> list[str]:
        """The files and folders named by the ids, in order, once each (positional arguments for pytest)."""
        return list(dict.fromkeys(i.partition("::")[0] for i in self.ids))


class RunRecorder:
    """Records one pytest run for the result; stops starting tests at the deadline.

    ``filters`` are selections a test must all match (the event's ``select`` and the suite's); ``matched``
    says which selected ids matched a collected test; tests whose node id is in ``first`` run before the
    others (the event's ``first``: ``dualmode invoke --ff``), each group in collection order.
    """

    def __init__(
        self,
        deadline: Deadline,
        redact: Callable[[str], str],
        filters: Sequence[Selection] = (),
        first: frozenset[str] = frozenset(),
    ) -> None:
        self.deadline = deadline
        self.redact = redact
        self.filters = list(filters)
        self.first = first
        self.matched: set[str] = set()
        self.collected: list[str] = []
        self.module_names: set[str] = set()
        self.test_dirs: set[str] = set()
        self.collection_errors: list[dict[str, str]] = []
        self.phases: dict[str, dict[str, tuple[str, float, str | None, str | None]]] = {}
        self.interrupted: dict[str, str] = {}
        self.current: str | None = None
        self.deadline_reason: str | None = None
        self.keyboard: tuple[str | None, str] | None = None
        self.stop_reason: str | None = None
        self.busy = False  # collecting, in a test, or finishing the session: where an interrupt may land

    # -- collection --------------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Any:
        """Collecting: a deadline interrupt may stop it."""
        self.busy = True
        try:
            return (yield)
        finally:
            self.busy = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep only the selected tests (before -k/-m, so a selected id always counts as found)."""
        if self.first:
            items[:] = [i for i in items if i.nodeid in self.first] + [
                i for i in items if i.nodeid not in self.first
            ]
        if not self.filters:
            return
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            hits = [f.match(item.nodeid) for f in self.filters]
            self.matched.update(h for h in hits if h)
            (kept if all(hits) else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Remember what was collected, and which modules and folders hold test code (to re-import them)."""
        self.collected = [item.nodeid for item in session.items]
        for item in session.items:
            self.test_dirs.add(str(item.path.parent))
            module = getattr(item, "module", None)
            if module is not None:
                self.module_names.add(module.__name__)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Keep collection errors (a module that does not import) with their message."""
        if report.failed:
            text = self.redact(cut(report.longreprtext))
            self.collection_errors.append({"nodeid": report.nodeid, "message": text})

    # -- running -----------------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        """Do not start a test once the time left is under the margin; stop the run there instead."""
        if self.deadline_reason is None and self.deadline.too_late_to_start():
            self.deadline_reason = self.deadline.stop_reason()
            item.session.shouldstop = self.deadline_reason
        if self.deadline_reason is not None:
            return True  # handled: the test is reported as not_run
        return None

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        """Track the running test (a KeyboardInterrupt is charged to it)."""
        self.current = nodeid
        self.busy = True

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        """Between tests pytest itself runs: no interrupt there."""
        self.busy = False

    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> None:
        """Note a test stopped by :class:`DeadlineInterrupt` (it is not_run, not failed)."""
        if call.excinfo is not None and call.excinfo.errisinstance(DeadlineInterrupt):
            self.interrupted[item.nodeid] = (
                f"deadline: interrupted during {call.when} after {call.duration:.1f} s"
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep each phase's outcome, duration and (cut, redacted) message."""
        crash = None
        message = None
        if report.failed:
            message = report.longreprtext
            reprcrash = getattr(report.longrepr, "reprcrash", None)
            crash = getattr(reprcrash, "message", None) or (message.strip().splitlines() or [""])[-1]
        elif report.skipped:
            if hasattr(report, "wasxfail"):
                message = f"xfail: {report.wasxfail}" if report.wasxfail else "xfail"
            elif isinstance(report.longrepr, tuple):
                message = str(report.longrepr[2]).removeprefix("Skipped: ")
            else:
                message = report.longreprtext
        if message is not None:
            message = self.redact(cut(message))
        if crash is not None:
            crash = self.redact(crash.strip().splitlines()[0][:300] if crash.strip() else "")
        self.phases.setdefault(report.nodeid, {})[report.when] = (
            report.outcome,
            report.duration,
            message,
            crash,
        )

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Tell a real KeyboardInterrupt (charged to the running test) from pytest's own stops."""
        value = excinfo.value
        if isinstance(value, pytest.Session.Interrupted):
            self.stop_reason = self.stop_reason or str(value)
        elif isinstance(value, pytest.exit.Exception):
            self.stop_reason = f"pytest.exit() was called: {value.msg}"
        else:
            self.keyboard = (self.current, self.redact(cut(excinfo.exconly())))

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Any:
        """Keep why the session stopped early (-x/--maxfail, a plugin's shouldstop); its teardown may hang."""
        for reason in (session.shouldfail, session.shouldstop):
            if reason and not self.stop_reason:
                self.stop_reason = str(reason)
        self.busy = True
        try:
            return (yield)
        finally:
            self.busy = False

    # -- the records ---------------------------------------------------------------------------------------
    def _not_run_reason(self, exit_code: int, interrupted_by_deadline: bool) -> str:
        if self.deadline_reason:
            return self.deadline_reason
        if interrupted_by_deadline:
            return "deadline: the run was interrupted before this test"
        if self.keyboard is not None:
            return f"not run: the run stopped after KeyboardInterrupt in {self.keyboard[0] or 'pytest'}"
        if self.collection_errors:
            return "not run: pytest runs no test when collection fails (see collection_errors)"
        if self.stop_reason:
            return f"not run: the run stopped early: {self.stop_reason}"
        return f"not run: pytest ended before this test (exit code {exit_code})"

    def records(self, exit_code: int, interrupted_by_deadline: bool) -> list[dict[str, Any]]:
        """One record per collected test, in collection order (see docs/result-schema.md)."""
        out: list[dict[str, Any]] = []
        for nodeid in self.collected:
            phases = self.phases.get(nodeid, {})
            duration = round(float(sum(p[1] for p in phases.values())), 6)
            record: dict[str, Any] = {"nodeid": nodeid, "outcome": "passed", "duration": duration}
            setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
            if nodeid in self.interrupted and "teardown" not in self.interrupted[nodeid]:
                record.update(outcome="not_run", message=self.interrupted[nodeid])
            elif call is None and self.keyboard is not None and self.keyboard[0] == nodeid:
                record.update(outcome="failed", message=self.keyboard[1], crash=self.keyboard[1][:300])
            elif setup is None:
                record.update(
                    outcome="not_run", message=self._not_run_reason(exit_code, interrupted_by_deadline)
                )
            elif setup[0] == "failed":
                record.update(outcome="error", message=setup[2], crash=setup[3])
            elif setup[0] == "skipped":
                record.update(outcome="skipped", message=setup[2])
            elif call is None:
                record.update(
                    outcome="not_run", message=self._not_run_reason(exit_code, interrupted_by_deadline)
                )
            elif call[0] == "failed":
                record.update(outcome="failed", message=call[2], crash=call[3])
            elif call[0] == "skipped":
                record.update(outcome="skipped", message=call[2])
            elif teardown is not None and teardown[0] == "failed" and nodeid not in self.interrupted:
                record.update(outcome="error", message=teardown[2], crash=teardown[3])
            out.append(record)
        return out
