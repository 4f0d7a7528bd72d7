"""Helpers for the reliability suite: child processes with a JSON ready line, JUnit accounting, secret scans.

Everything here binds to 127.0.0.1 only and waits with a bound: a child that does not print its ready line
in time is killed and the test fails with its stderr.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

READY_TIMEOUT = 30.0

# Run as `python -c`: moto's DynamoDB server app on the project's keep-alive server, bound to port 0,
# printing its URL; it serves until stdin closes (the parent went away) or SIGTERM.
MOTO_SERVER = """
import json, signal, sys, threading
from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB
db = EmbeddedDynamoDB().start()
print(json.dumps({"url": db.url}), flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
done.wait()
db.stop()
"""


class Child:
    """A child process that prints one JSON line when it is ready; stderr goes to a file for later scans."""

    def __init__(self, args: list[str], *, env: Mapping[str, str] | None = None, log: Path) -> None:
        self.log = log
        self._stderr = log.open("wb")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(env) if env is not None else None,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def ready(self, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        """The parsed ready line; fails the test (with the child's stderr) when it dies or is slow."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            pytest.fail(f"{self.proc.args!r}: no ready line within {timeout:g}s; stderr: {self.stderr()}")
        if not line:
            code = self.proc.wait(5)
            pytest.fail(f"{self.proc.args!r} exited {code} before it was ready; stderr: {self.stderr()}")
        return dict(json.loads(line))

    @property
    def pid(self) -> int:
        """The child's process id."""
        return int(self.proc.pid)

    def stderr(self) -> str:
        """What the child wrote to stderr so far."""
        self._stderr.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then (bounded) SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._stderr.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL (bounded wait)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def child_env(**extra: str) -> dict[str, str]:
    """This environment without AWS and DUALMODE variables (children get only what a test gives them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DUALMODE_", "PYTEST_"))}
    env.update(extra)
    return env


def start_moto(log: Path) -> tuple[Child, str]:
    """moto's DynamoDB server in its own process; returns the child and its URL."""
    child = Child([sys.executable, "-c", MOTO_SERVER], env=child_env(), log=log)
    return child, str(child.ready()["url"])


def start_standalone(dynamodb_url: str, log: Path, *extra: str) -> tuple[Child, dict[str, str]]:
    """``python -m example_service`` against ``dynamodb_url``; returns the child and its ready line."""
    args = [sys.executable, "-m", "example_service", "--dynamodb-endpoint", dynamodb_url]
    args += ["--grpc-port", "0", "--http-port", "0", *extra]
    child = Child(args, env=child_env(), log=log)
    return child, {k: str(v) for k, v in child.ready().items()}


# ---- accounting ---------------------------------------------------------------------------------------


def junit_entries(xml: str | bytes | Path) -> list[tuple[str, str]]:
    """``("module.py::test", outcome)`` for every testcase of a pytest JUnit report, in order.

    The outcome is ``passed``, ``failed``, ``error`` or ``skipped``, as the XML says.
    """
    root = ET.fromstring(xml.read_bytes() if isinstance(xml, Path) else xml)
    entries = []
    for case in root.iter("testcase"):
        parts = case.get("classname", "").split(".") if case.get("classname") else []
        classes: list[str] = []
        while parts and parts[-1].startswith("Test"):  # pytest's classname: module path, then classes
            classes.insert(0, parts.pop())
        name = str(case.get("name"))
        nodeid = "::".join([f"{'/'.join(parts)}.py", *classes, name]) if parts else name
        tags = {child.tag for child in case}
        outcome = next((t for t in ("error", "failure", "skipped") if t in tags), "passed")
        entries.append((nodeid, {"failure": "failed"}.get(outcome, outcome)))
    return entries


def junit_outcomes(xml: str | bytes | Path) -> dict[str, str]:
    """``{"module.py::test": outcome}`` from a pytest JUnit report; fails on a test reported twice."""
    outcomes: dict[str, str] = {}
    for nodeid, outcome in junit_entries(xml):
        assert nodeid not in outcomes, f"{nodeid} appears twice in the JUnit report"
        outcomes[nodeid] = outcome
    return outcomes


def assert_accounted(reported: Mapping[str, str], expected: Mapping[str, str]) -> None:
    """Every expected test reported exactly once with its expected outcome, and nothing else.

    ``reported`` keys may carry a path prefix (``sub/test_x.py::t``); they are matched by their tail.
    """
    by_tail = {}
    for nodeid, outcome in reported.items():
        tail = nodeid.rsplit("/", 1)[-1]
        assert tail not in by_tail, f"{tail} reported twice"
        by_tail[tail] = outcome
    assert by_tail == dict(expected)
    passed = {n for n, o in by_tail.items() if o == "passed"}
    assert passed == {n for n, o in expected.items() if o == "passed"}  # nothing passed that did not


def result_outcomes(result: Mapping[str, Any]) -> dict[str, str]:
    """``{nodeid: outcome}`` from a run result (docs/result-schema.md); fails on a test listed twice."""
    outcomes: dict[str, str] = {}
    for record in result["tests"]:
        assert record["nodeid"] not in outcomes, f"{record['nodeid']} appears twice in the result"
        outcomes[record["nodeid"]] = record["outcome"]
    assert sum(result["counts"].values()) == len(outcomes)
    return outcomes


# ---- output scans -------------------------------------------------------------------------------------

# An Authorization value or a bare signature, in any output.
SIGNATURE_RE = re.compile(r"AWS4-HMAC-SHA256\s+Credential=\S+|Signature=[0-9a-f]{64}", re.I)
TRACEBACK_RE = re.compile(r"Traceback \(most recent call last\)|INTERNALERROR")


def leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """The secrets (and signature-looking values) found in ``text``; shown shortened, never whole."""
    found = [f"{s[:4]}...({len(s)} chars)" for s in secrets if s and s in text]
    found += [f"{m.group()[:24]}..." for m in SIGNATURE_RE.finditer(text)]
    return found


def assert_no_leaks(texts: Mapping[str, str], secrets: Iterable[str]) -> None:
    """No secret, session token, Authorization value or signature in any of the named outputs."""
    secrets = list(secrets)
    problems = {name: found for name, text in texts.items() if (found := leaks(text, secrets))}
    assert not problems, f"secrets leaked into: {problems}"


def assert_no_traceback(text: str, what: str = "output") -> None:
    """No Python traceback and no pytest INTERNALERROR in ``text``."""
    match = TRACEBACK_RE.search(text)
    assert match is None, (
        f"{what} has a traceback:\n{text[max(0, match.start() - 500) : match.start() + 1500]}"
    )
