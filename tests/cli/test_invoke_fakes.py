"""Helpers for the ``dualmode invoke`` tests (no tests here): a fake suite, a fake backend, a fake Lambda API.

* :class:`FakeSuite` answers handler events the way the real handler does (collect_only, select, shard),
  with results that follow docs/result-schema.md, including a pytest-style JUnit report.
* :class:`FakeBackend` runs a FakeSuite in-process and can be scripted to throttle, crash or hang.
* :class:`FakeLambda` is a real HTTP server on 127.0.0.1 speaking Lambda's Invoke and
  GetFunctionConfiguration wire format, so boto3's own client is exercised end to end.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import quoteattr

from pytest_dualmode.cli.invoke.backend import Outcome, parse_payload
from pytest_dualmode.cli.invoke.junit import junit_address

SCHEMA = "pytest-dualmode.result/1"
COUNT_KEY = {
    "passed": "passed",
    "failed": "failed",
    "skipped": "skipped",
    "error": "errors",
    "not_run": "not_run",
}


def junit_for(records: list[dict[str, Any]]) -> dict[str, str]:
    """A pytest-like JUnit report for ``records``, encoded as a result's ``junit_xml``."""
    cases = []
    for r in records:
        classname, name = junit_address(r["nodeid"])
        body = ""
        if r["outcome"] == "failed":
            body = f"<failure message={quoteattr(r.get('message', ''))}>full traceback of {name}</failure>"
        elif r["outcome"] == "error":
            body = f"<error message={quoteattr(r.get('message', ''))}>error in {name}</error>"
        elif r["outcome"] == "skipped":
            body = f'<skipped type="pytest.skip" message={quoteattr(r.get("message", ""))} />'
        cases.append(
            f'<testcase classname="{classname}" name={quoteattr(name)} time="{r["duration"]:.3f}">'
            f"{body}<system-out>shard output of {name}</system-out></testcase>"
        )
    suite = f'<testsuite name="pytest">{"".join(cases)}</testsuite>'
    xml = f'<?xml version="1.0" encoding="utf-8"?><testsuites>{suite}</testsuites>'
    return {"encoding": "gzip+base64", "data": base64.b64encode(gzip.compress(xml.encode())).decode()}


def make_result(
    records: list[dict[str, Any]],
    *,
    shard: dict[str, int] | None = None,
    outcome: str | None = None,
    exit_code: int | None = None,
    junit: bool = True,
    truncated: bool = False,
) -> dict[str, Any]:
    """A handler result for ``records`` (``nodeid``, ``outcome``, ``duration``, optional ``message``)."""
    counts = dict.fromkeys(("passed", "failed", "skipped", "errors", "not_run"), 0)
    for r in records:
        counts[COUNT_KEY[r["outcome"]]] += 1
    bad = counts["failed"] + counts["errors"]
    if outcome is None:
        outcome = "failed" if bad else "timeout" if counts["not_run"] else "passed"
    if exit_code is None:
        exit_code = 1 if bad or counts["not_run"] else 0
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "outcome": outcome,
        "exit_code": exit_code,
        "counts": counts,
        "tests": records,
        "not_run": [
            {"nodeid": r["nodeid"], "reason": r.get("message", "deadline")}
            for r in records
            if r["outcome"] == "not_run"
        ],
        "duration_s": sum(r["duration"] for r in records),
        "junit_xml": junit_for(records) if junit else None,
        "truncated": truncated,
        "summary": "fake",
    }
    if shard:
        result["shard"] = shard
    return result


@dataclass
class FakeSuite:
    """Tests by node id: (outcome, duration[, message]). ``sleep`` makes a run take its tests' durations."""

    tests: dict[str, tuple[Any, ...]]
    sleep: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """Answer ``event`` like the handler: the collected ids, or the records of the selected tests."""
        with self.lock:
            self.events.append(event)
        if event.get("collect_only"):
            result = make_result([])
            result["collected"] = list(self.tests)
            return result
        selected = event.get("select") or list(self.tests)
        records = []
        for nodeid in selected:
            outcome, duration, *message = self.tests[nodeid]
            record = {"nodeid": nodeid, "outcome": outcome, "duration": duration}
            if message:
                record["message"] = message[0]
            records.append(record)
        if self.sleep:
            time.sleep(sum(r["duration"] for r in records))
        return make_result(records, shard=event.get("shard"))


class FakeBackend:
    """A backend running a FakeSuite in-process; ``script(event, call_number)`` may override any call.

    The script returns an Outcome, raises Throttled, or returns None to let the suite answer.
    """

    description = "fake function"

    def __init__(
        self, suite: FakeSuite, script: Callable[[dict[str, Any], int], Outcome | None] | None = None
    ):
        self.suite = suite
        self.script = script
        self.function_timeout_s: float | None = 60.0
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Outcome:
        """Run the event (or the script's answer), counting calls and concurrency."""
        with self._lock:
            self.calls += 1
            number = self.calls
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.script is not None:
                scripted = self.script(event, number)
                if scripted is not None:
                    return scripted
            return Outcome(self.suite.run(event), log_tail="fake log\n", duration_s=0.01)
        finally:
            with self._lock:
                self.in_flight -= 1


@dataclass
class Reply:
    """One HTTP answer of the fake Lambda API."""

    status: int = 200
    body: Any = None  # dict -> JSON, bytes as is
    function_error: str | None = None
    log: str | None = None  # plain text, sent base64-encoded as X-Amz-Log-Result
    delay_s: float = 0.0
    error_code: str | None = None  # for 4xx/5xx: the x-amzn-ErrorType


class FakeLambda:
    """Lambda's REST API on 127.0.0.1 (port 0), served from a daemon thread.

    ``respond(event, request_number) -> Reply`` answers each Invoke; GetFunctionConfiguration answers
    with ``timeout_s``. ``requests`` records (path, headers, event) of every call.
    """

    def __init__(
        self,
        respond: Callable[[dict[str, Any], int], Reply],
        *,
        timeout_s: int = 30,
        functions: tuple[str, ...] = ("f",),
        architectures: tuple[str, ...] = ("x86_64",),
    ) -> None:
        self.respond = respond
        self.architectures = list(architectures)
        self.functions = functions
        self.timeout_s = timeout_s
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with fake._lock:
                    fake.requests.append((self.path, dict(self.headers), None))
                name = self.path.split("/functions/", 1)[-1].split("/", 1)[0]
                if name in fake.functions and "/configuration" in self.path:
                    config = {
                        "FunctionName": "f",
                        "Timeout": fake.timeout_s,
                        "Architectures": fake.architectures,
                    }
                    self._send(Reply(body=config))
                else:
                    message = f"Function not found: arn:aws:lambda:eu-west-1:123456789012:function:{name}"
                    self._send(
                        Reply(
                            404, {"Type": "User", "message": message}, error_code="ResourceNotFoundException"
                        )
                    )

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event = json.loads(raw) if raw else None
                with fake._lock:
                    fake.requests.append((self.path, dict(self.headers), event))
                    number = len([r for r in fake.requests if r[2] is not None])
                self._send(fake.respond(event, number))

            def _send(self, reply: Reply) -> None:
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("x-amzn-RequestId", f"req-{len(fake.requests)}")
                    if reply.error_code:
                        self.send_header("x-amzn-ErrorType", reply.error_code)
                    if reply.function_error:
                        self.send_header("X-Amz-Function-Error", reply.function_error)
                    if reply.log is not None:
                        self.send_header("X-Amz-Log-Result", base64.b64encode(reply.log.encode()).decode())
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (read timeout)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # binds here: errors reach the caller
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeLambda:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def invokes(self) -> list[Any]:
        """The events of every Invoke call, in arrival order."""
        return [event for _, _, event in self.requests if event is not None]


def suite_responder(
    suite: FakeSuite, log: str = "START\nfake run\nEND\n"
) -> Callable[[dict[str, Any], int], Reply]:
    """A FakeLambda responder that runs ``suite`` for every event."""
    return lambda event, number: Reply(body=suite.run(event), log=log)


__all__ = [
    "FakeBackend",
    "FakeLambda",
    "FakeSuite",
    "Reply",
    "make_result",
    "parse_payload",
    "suite_responder",
]
