"""One invocation: validate the event, run pytest in-process once per suite, build and deliver the result."""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_dualmode.aws_lambda import s3
from pytest_dualmode.aws_lambda.deadline import Deadline, DeadlineInterrupt, HardStop
from pytest_dualmode.aws_lambda.environment import JANITOR, RunEnvironment, plugin_args, task_root
from pytest_dualmode.aws_lambda.event import MAX_MARGIN_MS, Event, EventError, parse_event
from pytest_dualmode.aws_lambda.recorder import RunRecorder, Selection, cut
from pytest_dualmode.aws_lambda.result import (
    DEFAULT_RESPONSE_LIMIT,
    LAMBDA_RESPONSE_LIMIT,
    SuiteFailed,
    SuiteRun,
    build,
    error_result,
    fit,
)
from pytest_dualmode.redaction import RedactingStream, Redactor

MARGIN_ENV = "DUALMODE_DEADLINE_MARGIN_MS"
LIMIT_ENV = "DUALMODE_MAX_RESPONSE_BYTES"
DEFAULT_MARGIN_MS = 2000
# The handler imports pytest_dualmode before pytest starts, so pytest cannot assertion-rewrite the plugin's
# own package (it would warn on every run when the package's dist-info is visible); user modules still warn.
_OWN_REWRITE_WARNING = (
    "ignore:Module already imported so cannot be rewritten; pytest_dualmode:pytest.PytestAssertRewriteWarning"
)


@dataclass(frozen=True)
class HandlerConfig:
    """The handler's own settings, from the function's environment (after the event's ``env``)."""

    margin_ms: int = DEFAULT_MARGIN_MS
    results_s3: str | None = None
    response_limit: int = DEFAULT_RESPONSE_LIMIT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], event_margin: int | None) -> HandlerConfig:
        """Read and check the settings; ValueError naming the variable and the fix."""
        margin = DEFAULT_MARGIN_MS if event_margin is None else event_margin
        if event_margin is None and environ.get(MARGIN_ENV, "").strip():
            margin = _int_env(environ, MARGIN_ENV, 0, MAX_MARGIN_MS, "2000")
        limit = DEFAULT_RESPONSE_LIMIT
        if environ.get(LIMIT_ENV, "").strip():
            limit = _int_env(environ, LIMIT_ENV, 4096, LAMBDA_RESPONSE_LIMIT, "6000000")
        url = environ.get(s3.ENV, "").strip() or None
        if url:
            s3.parse_s3_url(url)
        return cls(margin_ms=margin, results_s3=url, response_limit=limit)


def _int_env(environ: Mapping[str, str], name: str, low: int, high: int, example: str) -> int:
    raw = environ[name].strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(
            f"{name}={raw[:40]!r} is not a whole number from {low} to {high}; use e.g. {name}={example}"
        )
    return int(raw)


def _pytest_message(tail: str, marker: str, lines: int = 20) -> str:
    """pytest's own words at the end of its output: from the first ``marker`` line on, else the last lines."""
    text = tail.strip().splitlines()
    found = [i for i, line in enumerate(text) if line.startswith(marker)]
    picked = text[found[0] :] if found and marker == "ERROR:" else text[found[0] :][-lines:] if found else []
    if not picked and marker == "ERROR:":  # e.g. "ImportError while loading conftest ..." (no ERROR: prefix)
        picked = text[-lines:]
    return cut("\n".join(picked).strip(), 2000)


def run_suite(
    name: str,
    args: Sequence[str],
    filters: Sequence[Selection],
    paths: Sequence[str],
    *,
    collect_only: bool,
    root: str,
    deadline: Deadline,
    redact: Callable[[str], str],
    first: frozenset[str] = frozenset(),
) -> tuple[SuiteRun, RunRecorder]:
    """One ``pytest.main`` call, with its output redacted and the deadline armed; ``first`` runs first."""
    JANITOR.sweep(root)
    recorder = RunRecorder(deadline, redact, filters, first)
    argv = ["-p", "no:cacheprovider", f"--rootdir={root}", "-W", _OWN_REWRITE_WARNING, *plugin_args(args)]
    junit_path = None
    if collect_only:
        argv += ["--collect-only", "-q"]
    else:
        # One name per process (Lambda runs one invocation at a time): no new path strings every run.
        junit_path = os.path.join(tempfile.gettempdir(), f"dualmode-junit-{os.getpid()}.xml")
        argv.append(f"--junitxml={junit_path}")
    argv += [*args, *(p for p in paths if os.path.exists(os.path.join(root, p)))]
    out, err = RedactingStream(sys.stdout, redact), RedactingStream(sys.stderr, redact)
    saved = sys.stdout, sys.stderr
    stop = HardStop(deadline, busy=lambda: recorder.busy)
    crash = None
    started = time.monotonic()
    sys.stdout, sys.stderr = out, err
    try:
        try:
            with stop:
                code = int(pytest.main(argv, plugins=[recorder]))
        except DeadlineInterrupt:
            code = int(pytest.ExitCode.INTERRUPTED)
        except (KeyboardInterrupt, SystemExit) as exc:  # outside any test, e.g. a conftest exiting at import
            interrupted = isinstance(exc, KeyboardInterrupt)
            code = int(pytest.ExitCode.INTERRUPTED if interrupted else pytest.ExitCode.INTERNAL_ERROR)
            crash = f"{type(exc).__name__}({exc}) was raised while pytest was starting or stopping"
        except Exception as exc:
            code = int(pytest.ExitCode.INTERNAL_ERROR)
            crash = f"pytest failed: {type(exc).__name__}: {exc}"
    finally:
        out.close()
        err.close()
        sys.stdout, sys.stderr = saved
        JANITOR.remember(root, recorder.module_names, recorder.test_dirs)
        JANITOR.sweep(root)
    xml = None
    if junit_path and os.path.exists(junit_path):
        try:
            with open(junit_path, "rb") as fh:
                xml = fh.read() or None
        finally:
            os.unlink(junit_path)
    timed_out = recorder.deadline_reason is not None or stop.fired > 0
    if stop.fired:
        # A collection cut short by the deadline is a timeout, not a broken test module.
        recorder.collection_errors[:] = [
            e for e in recorder.collection_errors if DeadlineInterrupt.__name__ not in e["message"]
        ]
    run = SuiteRun(
        name=name,
        exit_code=code,
        records=[] if collect_only else recorder.records(code, stop.fired > 0),
        collected=recorder.collected,
        collection_errors=recorder.collection_errors,
        junit=xml,
        duration_s=time.monotonic() - started,
        deadline=timed_out,
    )
    if crash:
        run.error = {"type": "InternalError", "message": redact(cut(crash, 2000))}
    elif code == pytest.ExitCode.USAGE_ERROR:
        said = _pytest_message(err.tail, "ERROR:") or _pytest_message(out.tail, "ERROR:")
        run.error = {"type": "UsageError", "message": said or "pytest refused the arguments (exit code 4)"}
    elif recorder.collection_errors:
        earliest = recorder.collection_errors[0]
        lines = earliest["message"].strip().splitlines()
        count = len(recorder.collection_errors)
        where = f"{count} error(s) during collection, first in {earliest['nodeid']}"
        run.error = {"type": "CollectionError", "message": f"{where}: {cut(chr(10).join(lines[-8:]), 1500)}"}
    elif code == pytest.ExitCode.INTERNAL_ERROR and not timed_out:
        said = _pytest_message(out.tail, "INTERNALERROR>") or _pytest_message(err.tail, "INTERNALERROR>")
        run.error = {
            "type": "InternalError",
            "message": said or "pytest reported an internal error (exit code 3)",
        }
    return run, recorder


def _run_all(
    event: Event, root: str, deadline: Deadline, redact: Callable[[str], str]
) -> tuple[list[SuiteRun], list[str]]:
    top = Selection(event.select) if event.select else None
    if event.suites is None:
        run, recorder = run_suite(
            "main",
            event.args,
            [top] if top else [],
            top.paths() if top else [],
            collect_only=event.collect_only,
            root=root,
            deadline=deadline,
            redact=redact,
            first=event.first,
        )
        return [run], [i for i in top.ids if i not in recorder.matched] if top else []
    runs: list[SuiteRun] = []
    matched: set[str] = set()
    for suite in event.suites:
        left = deadline.remaining_ms()
        if left is not None and left < deadline.margin_ms / 2:  # no time even to collect: say so, run nothing
            runs.append(SuiteRun(name=suite.name, exit_code=int(pytest.ExitCode.INTERRUPTED), deadline=True))
            continue
        own = Selection(suite.select) if suite.select else None
        run, recorder = run_suite(
            suite.name,
            [*event.args, *suite.args],
            [f for f in (own, top) if f],
            own.paths() if own else [],
            collect_only=event.collect_only,
            root=root,
            deadline=deadline,
            redact=redact,
            first=event.first,
        )
        run.missing = [i for i in own.ids if i not in recorder.matched] if own else []
        matched.update(recorder.matched)
        runs.append(run)
    unmatched = [i for i in top.ids if i not in matched] if top else []
    skipped = [r.name for r in runs if r.deadline and not r.collected]
    if unmatched and skipped:  # they may be in a suite the deadline kept from starting
        reason = f"deadline: suite {skipped[0]!r} was not started"
        runs[-1].records += [
            {"nodeid": i, "outcome": "not_run", "duration": 0.0, "message": reason} for i in unmatched
        ]
        unmatched = []
    return runs, unmatched


def _deliver(
    result: dict[str, Any],
    config: HandlerConfig,
    context: Any,
    deadline: Deadline,
    redact: Callable[[str], str],
) -> dict[str, Any]:
    if config.results_s3:
        left = deadline.remaining_ms()
        try:
            url = s3.upload(
                config.results_s3,
                getattr(context, "aws_request_id", None),
                json.dumps(result, separators=(",", ":")).encode("utf-8"),
                timeout_s=30.0 if left is None else (left - 250) / 1000.0,
            )
            result = {
                **result,
                "report_s3": url,
                "summary": f"{result['summary']}\ndualmode: full report {url}",
            }
        except Exception as exc:  # the run's result matters more than its archive
            message = redact(cut(f"{type(exc).__name__}: {exc}", 500))
            result = {
                **result,
                "report_s3_error": message,
                "summary": f"{result['summary']}\ndualmode: upload to {config.results_s3} failed: {message}",
            }
    return fit(result, config.response_limit, cut)


_state = {"frozen": False}
# This process is one execution environment: a random id, and the invocations it has served so far.
ENVIRONMENT_ID = uuid.uuid4().hex[:16]
_served = [0]
# Printed (last, so it is in the 4 KB log tail) when an environment refuses a run; ``dualmode invoke``
# reads it to tell a refusal from a crash.
REFUSAL_MARKER = "dualmode: environment refused the run"
REFUSAL_EXIT_CODE = 75


def _refuse_if_avoided(spec: Event) -> None:
    """Exit the process when the event asks to avoid this environment (a re-run of a failed attempt).

    Returning an error would leave the environment warm, and Lambda could route the next try to it
    again; exiting makes Lambda retire it (the caller sees ``Runtime.ExitError``), so a retry is
    guaranteed to land in another environment.
    """
    if ENVIRONMENT_ID in spec.avoid_environments:
        _emit(f"{REFUSAL_MARKER}: {ENVIRONMENT_ID} ran an earlier attempt; exiting so a fresh one runs it")
        os._exit(REFUSAL_EXIT_CODE)


def _environment() -> dict[str, Any]:
    return {"id": ENVIRONMENT_ID, "invocation": _served[0]}


def _freeze_once() -> None:
    """After the first run, move the surviving heap (the imported libraries) out of the collector's sight.

    pytest collects garbage twice per session; on a warm Lambda that re-scans every imported library each
    invocation. ``gc.freeze()`` after a full collection keeps later collections to the objects of that run.
    Only what is alive then is frozen (the previous run's test modules are already gone), once per process.
    """
    if not _state["frozen"]:
        _state["frozen"] = True
        gc.collect()
        gc.freeze()


def _emit(summary: str) -> None:
    """Print the summary as the last lines of the log."""
    try:
        sys.stdout.write(summary + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def handle(event: Any, context: Any) -> dict[str, Any]:
    """Run the packaged suite for one Lambda event; see :func:`pytest_dualmode.aws_lambda.handler`."""
    started = time.monotonic()
    _served[0] += 1
    try:
        spec = parse_event(event)
    except EventError as exc:  # not a run: returned (not raised), so the caller sees which field was wrong
        # Only the detail may quote a value; the field path (event.env.AWS_SECRET_ACCESS_KEY) would read as
        # "key: value" to the redactor and lose the words after it.
        message = f"{exc.field}: {Redactor(os.environ)(exc.detail)}"
        result = error_result("EventError", message, time.monotonic() - started)
        result["environment"] = _environment()
        _emit(result["summary"])
        return result
    _refuse_if_avoided(spec)
    shard = {"index": spec.shard.index, "count": spec.shard.count} if spec.shard else None
    root = task_root()
    if not os.path.isdir(root):
        where = "LAMBDA_TASK_ROOT" if os.environ.get("LAMBDA_TASK_ROOT") else "the working directory"
        message = (
            f"the task root {root!r} (from {where}) is not a folder; point LAMBDA_TASK_ROOT at the tests"
        )
        result = error_result("ConfigError", message, time.monotonic() - started, shard)
        result["environment"] = _environment()
        _emit(result["summary"])
        if spec.raise_on_failure:
            raise SuiteFailed(result)
        return result
    try:
        with RunEnvironment(root, spec.run_env()):
            redact = Redactor(os.environ)
            try:
                config = HandlerConfig.from_environ(os.environ, spec.deadline_margin_ms)
            except ValueError as exc:
                result = error_result("ConfigError", str(exc), time.monotonic() - started, shard)
            else:
                deadline = Deadline.from_context(context, config.margin_ms)
                runs, missing = _run_all(spec, root, deadline, redact)
                result = build(
                    runs,
                    collect_only=spec.collect_only,
                    multi=spec.suites is not None,
                    missing=missing,
                    duration_s=time.monotonic() - started,
                    shard=shard,
                    redact=redact,
                )
                result = _deliver(result, config, context, deadline, redact)
    except Exception as exc:  # a bug of ours: still answer with a result, and leave the details in the log
        redact = Redactor(os.environ)
        sys.stderr.write(redact("dualmode: internal error in the Lambda handler:\n" + traceback.format_exc()))
        message = redact(
            cut(f"the handler failed ({type(exc).__name__}: {exc}); the log has the details", 1000)
        )
        result = error_result("InternalError", message, time.monotonic() - started, shard)
    result = {**result, "environment": _environment()}
    _emit(result["summary"])
    _freeze_once()
    if result["outcome"] != "passed" and spec.raise_on_failure:
        raise SuiteFailed(result)
    return result
