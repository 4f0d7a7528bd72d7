"""``dualmode invoke``: run the packaged suite in the deployed Lambda function, fanned out over shards.

The flow: collect the node ids (one ``collect_only`` invocation), split them into shards (by the previous
run's durations, longest first, else round robin; ``--lf`` / ``--ff`` from its failures), invoke the shards
concurrently (``--reruns``: a shard's failed tests again, in fresh invocations), merge their results into one
JSON result, one JUnit file and a per-shard table with each shard's fate and the cost, and exit with pytest's
exit code, or 75 when only the infrastructure failed.
``--emulate ZIP`` runs the same flow against local emulated runtimes instead of AWS.
docs/invoke.md is the user's guide; the helpers live in the modules beside this one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.invoke.backend import Backend
from pytest_dualmode.cli.invoke.fanout import Backoff, ShardRun, run_all, run_shard
from pytest_dualmode.cli.invoke.fate import EXIT_INFRASTRUCTURE
from pytest_dualmode.cli.invoke.history import History, failed_first, load_history, select_last_failed
from pytest_dualmode.cli.invoke.rerun import Reruns, rerun_event
from pytest_dualmode.cli.invoke.shard import Plan, auto_shard_count, plan_shards
from pytest_dualmode.redaction import redact_local as redact


def add_parser(subparsers: Any) -> None:
    """Register ``dualmode invoke`` and its options (:mod:`pytest_dualmode.cli.invoke.options`)."""
    from pytest_dualmode.cli.invoke.options import add_invoke_parser

    add_invoke_parser(subparsers, run)


def run(args: argparse.Namespace) -> int:
    """Run ``dualmode invoke``; returns the merged run's exit code (docs/invoke.md, "Exit codes")."""
    history = _history(args)
    backend = _backend(args)
    try:
        return _run(args, backend, history)
    finally:
        backend.close()


def _run(args: argparse.Namespace, backend: Backend, history: History) -> int:
    base: dict[str, Any] = {"args": list(args.pytest_args), "raise_on_failure": False}
    if args.env:
        base["env"] = dict(args.env)
    start = time.monotonic()
    err = sys.stderr
    spent: list[dict[str, Any]] = []  # the collection's invocation, for the cost
    if args.shards == 1 and not (args.last_failed or args.failed_first):
        collected: list[str] = []  # one invocation runs everything: no collection round trip needed
        plan = Plan(((),), "single", (0.0,))
        print(f"dualmode invoke: running the suite in {backend.description}", file=err)
    else:
        found = _collect(backend, base, args, start, spent)
        if isinstance(found, int):
            return found
        if not found:
            return _no_tests(args, start)
        collected = found
        if args.last_failed:
            collected, note = select_last_failed(collected, history)
            print(f"dualmode invoke: {note}", file=err)
        count = args.shards
        if count == "auto":
            count = auto_shard_count(
                collected, history.durations, function_timeout_s=backend.function_timeout_s
            )
        plan = plan_shards(collected, count, history.durations)
        if args.failed_first:
            plan = Plan(failed_first(plan.shards, history), plan.strategy, plan.estimates)
        print(_plan_line(plan, len(collected), args, backend), file=err)
    shards = [ShardRun(i, len(plan.shards), ids) for i, ids in enumerate(plan.shards)]

    earlier = set(history.failed) if args.failed_first else set()

    def event(shard: ShardRun) -> dict[str, Any]:
        if shard.rerun_round:
            return rerun_event(base, shard)
        if not shard.nodeids:
            return dict(base)
        made = {**base, "select": list(shard.nodeids), "shard": {"index": shard.index, "count": shard.count}}
        first = [n for n in shard.nodeids if n in earlier]
        if first:  # --ff: the handler runs these before the others
            made["first"] = first
        return made

    from pytest_dualmode.cli.invoke import report
    from pytest_dualmode.cli.invoke.progress import Progress

    progress = Progress(err, line=report.progress_line, start=start)
    progress.begin(
        shards,
        estimates=plan.estimates,
        max_concurrency=args.max_concurrency,
        total_tests=len(collected) if collected else None,
    )
    reruns = Reruns(args.reruns)

    def follow_up(shard: ShardRun) -> ShardRun | None:
        again = reruns.follow_up(shard)
        if again is not None:  # shown as a re-run: its tests are already counted
            progress.begin([again], max_concurrency=args.max_concurrency, rerun=True)
        return again

    try:
        run_all(
            backend,
            shards,
            event,
            max_concurrency=args.max_concurrency,
            policy=Backoff(),
            on_start=progress.started,
            on_done=progress.finished,
            on_tick=progress.tick,
            follow_up=follow_up,
            started=start,
        )
    finally:
        progress.close()
    wall = time.monotonic() - start
    return _finish(
        args,
        backend=backend,
        history=history,
        collected=collected,
        shards=shards,
        plan=plan,
        wall=wall,
        spent=spent,
        timings=progress.timings,
    )


def _finish(
    args: argparse.Namespace,
    *,
    backend: Backend,
    history: History,
    collected: list[str],
    shards: list[ShardRun],
    plan: Plan,
    wall: float,
    spent: list[dict[str, Any]],
    timings: dict[int, tuple[float, float | None]] | None = None,
) -> int:
    from pytest_dualmode.cli.invoke import cost, github, junit, report
    from pytest_dualmode.cli.invoke.history import merged_durations
    from pytest_dualmode.cli.invoke.merge import merge

    single = shards[0].outcome.result if plan.strategy == "single" and shards[0].outcome else None
    if single is not None:  # no collection round trip: the one result's tests are the collected ones
        collected = [str(t.get("nodeid")) for t in single.get("tests") or [] if isinstance(t, dict)]
    merged = merge(collected, shards, duration_s=wall, fail_on_flaky=args.fail_on_flaky)
    shard_xml = {
        s.index: junit.decode(s.outcome.result.get("junit_xml"))
        for s in shards
        if s.outcome and s.outcome.result
    }
    attempt_xml = junit.rerun_reports(shards)
    xml = junit.merged_xml(merged["tests"], shard_xml, duration_s=wall, attempt_xml=attempt_xml)
    merged["junit_xml"] = junit.encode(xml)
    merged["strategy"] = plan.strategy
    invocations = [*spent, *(i for info in merged["shards"] for i in info["invocations"])]
    merged["cost"] = cost.total(
        invocations,
        region=getattr(backend, "region", None),
        architecture=args.architecture or getattr(backend, "architecture", None),
    )
    merged["durations"] = merged_durations(history.durations, merged["tests"])
    merged["summary"] = report.summary_line(merged, plan.strategy)
    out = _human(args)
    report.log_tails(shards, args.log_tail, out)
    report.problems(merged["tests"], out)
    if merged.get("error"):
        print(f"error: {merged['error']['type']}: {merged['error']['message']}", file=out)
    report.shard_table(shards, out)
    report.infrastructure(merged["shards"], out)
    print(cost.cost_line(merged["cost"]), file=out)
    if args.junitxml:
        _write(args.junitxml, xml, "--junitxml")
    if args.json:
        _write(args.json, json.dumps(merged, indent=1) + "\n", "--json")
    if args.html:
        from pytest_dualmode.cli.invoke import html_report

        _write(args.html, html_report.render(merged, timings=timings), "--html")
    # GitHub reads workflow commands from the step's output; with --json - stdout is the JSON, so stderr
    github.report(merged, os.environ, out, sys.stderr, html_name=str(args.html) if args.html else None)
    print(merged["summary"], file=out, flush=True)
    return int(merged["exit_code"])


def _collect(
    backend: Backend,
    base: dict[str, Any],
    args: argparse.Namespace,
    start: float,
    spent: list[dict[str, Any]],
) -> list[str] | int:
    """The node ids to shard (one ``collect_only`` invocation), or the exit code when collection failed."""
    print(f"dualmode invoke: collecting the tests in {backend.description}", file=sys.stderr, flush=True)
    event = {**base, "collect_only": True}
    collection = ShardRun(-1, 0, ())
    run_shard(backend, collection, event, Backoff(), started=start)  # a crash gets one more chance
    spent.extend(collection.invocations)
    outcome = collection.outcome
    assert outcome is not None
    if outcome.fatal:
        raise CliError(f"cannot invoke {backend.description}: {outcome.error}")
    result = outcome.result
    collected = result.get("collected") if result else None
    # Usable: node ids without an error or a collection error. A collect_only result's outcome and exit
    # code are not consulted (the handler may count collected-but-not-run tests as not_run there).
    clean = result is not None and not result.get("error") and not result.get("collection_errors")
    if clean and isinstance(collected, list) and not outcome.function_error:
        return [str(nodeid) for nodeid in collected]
    out = _human(args)
    if outcome.log_tail.strip():
        print(f"----- log tail of the collection -----\n{outcome.log_tail.rstrip()}", file=out)
    fate, error_type = collection.fate
    if result is None:
        message = redact(f"the collection invocation returned no result: {outcome.error}")
        print(f"dualmode invoke: {message}", file=out)
        if args.json:  # CI reading --json must find a result that says what happened
            failed = _error_result(EXIT_INFRASTRUCTURE, "CollectionFailed", message, start)
            failed.update(exit_reason="infrastructure", error_type=error_type)
            _write(args.json, json.dumps(failed, indent=1) + "\n", "--json")
        return EXIT_INFRASTRUCTURE
    error = result.get("error") or {}
    print(
        f"dualmode invoke: collection failed ({result.get('outcome')}, exit code {result.get('exit_code')}): "
        f"{error.get('type', '')} {error.get('message', '')}".rstrip(),
        file=out,
    )
    for item in (result.get("collection_errors") or [])[:5]:
        if isinstance(item, dict):
            message = redact(str(item.get("message", "")))[:2000]
            print(f"ERROR collecting {item.get('nodeid')}: {message}", file=out)
    code = result.get("exit_code")
    code = code if isinstance(code, int) and code != 0 else 3
    if fate == "infrastructure":
        code = EXIT_INFRASTRUCTURE
    if args.json:
        written = {**result, "exit_reason": fate if fate != "passed" else "collection_error"}
        written.update(exit_code=code, error_type=error_type)
        _write(args.json, json.dumps(written, indent=1) + "\n", "--json")
    return code


def _error_result(exit_code: int, error_type: str, message: str, start: float) -> dict[str, Any]:
    """A result (docs/result-schema.md) for a run that never reached its tests."""
    return {
        "schema": "pytest-dualmode.result/1",
        "outcome": "error",
        "exit_code": exit_code,
        "counts": dict.fromkeys(("passed", "failed", "skipped", "errors", "not_run", "flaky"), 0),
        "tests": [],
        "not_run": [],
        "duration_s": round(time.monotonic() - start, 3),
        "junit_xml": None,
        "error": {"type": error_type, "message": message},
        "shards": [],
        "summary": f"== {error_type}: {message} ==",
    }


def _no_tests(args: argparse.Namespace, start: float) -> int:
    """pytest's exit code 5, with a result saying so (nothing was invoked beyond the collection)."""
    message = "no tests were collected; check the pytest arguments after '--' and the packaged tests"
    result = _error_result(5, "NoTestsCollected", message, start)
    result["summary"] = f"== no tests collected: {message} =="
    if args.json:
        _write(args.json, json.dumps(result, indent=1) + "\n", "--json")
    print(result["summary"], file=_human(args))
    return 5


def _history(args: argparse.Namespace) -> History:
    """The previous run's result: ``--durations-from``, else the existing ``--json`` file."""
    for flag, path in (("--junitxml", args.junitxml), ("--json", args.json), ("--html", args.html)):
        if path is not None and not path.parent.is_dir():
            raise CliError(
                f"{flag} {path}: folder {path.parent} does not exist; create it or pick another path"
            )
    if args.durations_from is not None:
        if not args.durations_from.is_file():
            raise CliError(
                f"--durations-from {args.durations_from}: no such file; pass the --json file of a previous "
                "run, or leave the option out to shard round robin"
            )
        return load_history(args.durations_from, where="--durations-from")
    if args.json is not None and not _is_stdout(args.json):
        try:
            return load_history(args.json, where="--json")
        except CliError as exc:  # it is about to be overwritten anyway: run without history
            print(f"dualmode invoke: warning: {exc}; running without history", file=sys.stderr)
    return History()


def _backend(args: argparse.Namespace) -> Backend:
    if args.emulate is not None:
        from pytest_dualmode.cli.invoke.emulated import EmulatedBackend

        return EmulatedBackend(args.emulate, timeout_s=args.timeout, label=args.function_name)
    if not args.function_name:
        raise CliError(
            "--function-name is required (e.g. --function-name system-tests-staging), or --emulate ZIP"
        )
    from pytest_dualmode.cli.invoke.backend import AwsBackend

    return AwsBackend(
        args.function_name,
        qualifier=args.qualifier,
        region=args.region,
        endpoint_url=args.endpoint_url,
        timeout_s=args.timeout,
        max_concurrency=args.max_concurrency,
    )


def _plan_line(plan: Plan, tests: int, args: argparse.Namespace, backend: Backend) -> str:
    count = len(plan.shards)
    at_once = min(count, args.max_concurrency)
    how = "round robin: no durations history"
    if plan.strategy == "durations":
        how = f"by previous durations, longest shard ~{max(plan.estimates):.1f}s"
    return (
        f"dualmode invoke: {tests} tests in {count} shards ({how}), up to {at_once} at once, "
        f"in {backend.description}"
    )


def _is_stdout(path: Path | None) -> bool:
    return path is not None and str(path) == "-"


def _human(args: argparse.Namespace) -> TextIO:
    """Where the report for people goes: stdout, or stderr when stdout carries the JSON (``--json -``)."""
    return sys.stderr if _is_stdout(args.json) else sys.stdout


def _write(path: Path, text: str, flag: str) -> None:
    if flag == "--json" and _is_stdout(path):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {flag} {path}: {exc.strerror}") from None
