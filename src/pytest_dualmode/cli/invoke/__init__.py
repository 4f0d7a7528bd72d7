"""``dualmode invoke``: run the packaged suite in the deployed Lambda function, fanned out over shards.

The flow: collect the node ids (one ``collect_only`` invocation), split them into shards (by the previous
run's durations, longest first, else round robin), invoke the shards concurrently, merge their results
into one JSON result, one JUnit file and a per-shard table, and exit with pytest's exit code.
``--emulate ZIP`` runs the same flow against local emulated runtimes instead of AWS.
docs/invoke.md is the user's guide; the helpers live in the modules beside this one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.invoke.backend import Backend
from pytest_dualmode.cli.invoke.fanout import Backoff, ShardRun, invoke_with_backoff, run_all
from pytest_dualmode.cli.invoke.shard import Plan, auto_shard_count, load_durations, plan_shards
from pytest_dualmode.redaction import redact_local as redact

DEFAULT_MAX_CONCURRENCY = 32


def add_parser(subparsers: Any) -> None:
    """Register ``dualmode invoke`` and its options."""
    parser = subparsers.add_parser(
        "invoke",
        help="run the suite in the deployed Lambda function (fanned out over shards) and merge the results",
        description=(
            "Invoke the system-test Lambda function synchronously, optionally fanned out over N concurrent "
            "invocations with duration-aware sharding; print the decoded log tails, merge the results into "
            "one JSON result and one JUnit XML file, and exit with pytest's exit code. Arguments after "
            "'--' are passed to pytest in every invocation."
        ),
        epilog="example: dualmode invoke --function-name system-tests-staging --shards 8 "
        "--json results.json --junitxml junit.xml -- -m 'not slow'",
    )
    parser.add_argument(
        "--function-name", metavar="NAME", help="the function's name or ARN (required for AWS)"
    )
    parser.add_argument("--qualifier", metavar="Q", help="version or alias to invoke")
    parser.add_argument("--region", metavar="R", help="AWS region (default: the credential chain's region)")
    parser.add_argument("--endpoint-url", metavar="URL", help="Lambda endpoint (e.g. a VPC endpoint)")
    parser.add_argument(
        "--shards",
        default="1",
        metavar="N|auto",
        type=_shards,
        help="concurrent invocations (default 1; auto: see docs)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=_positive_int("--max-concurrency"),
        default=DEFAULT_MAX_CONCURRENCY,
        metavar="N",
        help=f"at most N invocations in flight (default {DEFAULT_MAX_CONCURRENCY})",
    )
    parser.add_argument(
        "--junitxml", type=Path, metavar="FILE", help="write the merged JUnit XML report here"
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="write the merged JSON result here; an existing file is read first as the durations history",
    )
    parser.add_argument(
        "--durations-from",
        type=Path,
        metavar="FILE",
        help="a previous run's JSON result to balance shards by",
    )
    parser.add_argument(
        "--emulate", type=Path, metavar="ZIP", help="run the package in local emulated runtimes"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float("--timeout"),
        metavar="S",
        help="the function's timeout in seconds (default: read from the function's configuration; "
        "with --emulate: 900)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="K=V",
        type=_env_pair,
        help="set an environment variable for the suite (the event's env; repeatable)",
    )
    parser.add_argument(
        "--log-tail",
        choices=("all", "failed", "none"),
        default="all",
        help="print the decoded log tails of all shards (default), only failed ones, or none",
    )
    parser.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="arguments for pytest")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``dualmode invoke``; returns the merged run's pytest exit code."""
    history = _history(args)
    backend = _backend(args)
    try:
        return _run(args, backend, history)
    finally:
        backend.close()


def _run(args: argparse.Namespace, backend: Backend, history: dict[str, float]) -> int:
    base: dict[str, Any] = {"args": list(args.pytest_args), "raise_on_failure": False}
    if args.env:
        base["env"] = dict(args.env)
    start = time.monotonic()
    err = sys.stderr
    if args.shards == 1:  # one invocation runs everything: no collection round trip needed
        collected: list[str] = []
        plan = Plan(((),), "single", (0.0,))
        print(f"dualmode invoke: running the suite in {backend.description}", file=err)
    else:
        found = _collect(backend, base, args, start)
        if isinstance(found, int):
            return found
        if not found:
            return _no_tests(args, start)
        collected = found
        count = args.shards
        if count == "auto":
            count = auto_shard_count(collected, history, function_timeout_s=backend.function_timeout_s)
        plan = plan_shards(collected, count, history)
        print(_plan_line(plan, len(collected), args, backend), file=err)
    shards = [ShardRun(i, len(plan.shards), ids) for i, ids in enumerate(plan.shards)]

    def event(shard: ShardRun) -> dict[str, Any]:
        if not shard.nodeids:
            return dict(base)
        return {**base, "select": list(shard.nodeids), "shard": {"index": shard.index, "count": shard.count}}

    from pytest_dualmode.cli.invoke import report

    def on_done(shard: ShardRun, done: int) -> None:
        print(report.progress_line(shard, done, len(shards)), file=err, flush=True)

    run_all(backend, shards, event, max_concurrency=args.max_concurrency, policy=Backoff(), on_done=on_done)
    return _finish(args, collected, shards, plan, time.monotonic() - start)


def _finish(
    args: argparse.Namespace, collected: list[str], shards: list[ShardRun], plan: Plan, wall: float
) -> int:
    from pytest_dualmode.cli.invoke import junit, report
    from pytest_dualmode.cli.invoke.merge import merge

    single = shards[0].outcome.result if plan.strategy == "single" and shards[0].outcome else None
    if single is not None:  # no collection round trip: the one result's tests are the collected ones
        collected = [str(t.get("nodeid")) for t in single.get("tests") or [] if isinstance(t, dict)]
    merged = merge(collected, shards, duration_s=wall)
    shard_xml = {
        s.index: junit.decode(s.outcome.result.get("junit_xml"))
        for s in shards
        if s.outcome and s.outcome.result
    }
    xml = junit.merged_xml(merged["tests"], shard_xml, duration_s=wall)
    merged["junit_xml"] = junit.encode(xml)
    merged["strategy"] = plan.strategy
    merged["summary"] = report.summary_line(merged, plan.strategy)
    out = sys.stdout
    report.log_tails(shards, args.log_tail, out)
    report.problems(merged["tests"], out)
    if merged.get("error"):
        print(f"error: {merged['error']['type']}: {merged['error']['message']}", file=out)
    report.shard_table(shards, out)
    if args.junitxml:
        _write(args.junitxml, xml, "--junitxml")
    if args.json:
        _write(args.json, json.dumps(merged, indent=1) + "\n", "--json")
    print(merged["summary"], file=out, flush=True)
    return int(merged["exit_code"])


def _collect(
    backend: Backend, base: dict[str, Any], args: argparse.Namespace, start: float
) -> list[str] | int:
    """The node ids to shard (one ``collect_only`` invocation), or the exit code when collection failed."""
    print(f"dualmode invoke: collecting the tests in {backend.description}", file=sys.stderr, flush=True)
    event = {**base, "collect_only": True}
    outcome, _, _ = invoke_with_backoff(backend, event, Backoff())
    if outcome.result is None and outcome.rerun_ok:  # a crashed runtime gets one more chance, as shards do
        outcome, _, _ = invoke_with_backoff(backend, event, Backoff())
    if outcome.fatal:
        raise CliError(f"cannot invoke {backend.description}: {outcome.error}")
    result = outcome.result
    collected = result.get("collected") if result else None
    # Usable: node ids without an error or a collection error. A collect_only result's outcome and exit
    # code are not consulted (the handler may count collected-but-not-run tests as not_run there).
    clean = result is not None and not result.get("error") and not result.get("collection_errors")
    if clean and isinstance(collected, list) and not outcome.function_error:
        return [str(nodeid) for nodeid in collected]
    if outcome.log_tail.strip():
        print(f"----- log tail of the collection -----\n{outcome.log_tail.rstrip()}", file=sys.stdout)
    if result is None:
        message = redact(f"the collection invocation returned no result: {outcome.error}")
        print(f"dualmode invoke: {message}", file=sys.stdout)
        if args.json:  # CI reading --json must find a result that says what happened
            failed = _error_result(3, "CollectionFailed", message, start)
            _write(args.json, json.dumps(failed, indent=1) + "\n", "--json")
        return 3
    error = result.get("error") or {}
    print(
        f"dualmode invoke: collection failed ({result.get('outcome')}, exit code {result.get('exit_code')}): "
        f"{error.get('type', '')} {error.get('message', '')}".rstrip(),
        file=sys.stdout,
    )
    for item in (result.get("collection_errors") or [])[:5]:
        if isinstance(item, dict):
            print(f"ERROR collecting {item.get('nodeid')}: {redact(str(item.get('message', '')))[:2000]}")
    if args.json:
        _write(args.json, json.dumps(result, indent=1) + "\n", "--json")
    code = result.get("exit_code")
    return code if isinstance(code, int) and code != 0 else 3


def _error_result(exit_code: int, error_type: str, message: str, start: float) -> dict[str, Any]:
    """A result (docs/result-schema.md) for a run that never reached its tests."""
    return {
        "schema": "pytest-dualmode.result/1",
        "outcome": "error",
        "exit_code": exit_code,
        "counts": dict.fromkeys(("passed", "failed", "skipped", "errors", "not_run"), 0),
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
    print(result["summary"])
    return 5


def _history(args: argparse.Namespace) -> dict[str, float]:
    """Per-test durations of the previous run: ``--durations-from``, else the existing ``--json`` file."""
    for flag, path in (("--junitxml", args.junitxml), ("--json", args.json)):
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
        return load_durations(args.durations_from, where="--durations-from")
    if args.json is not None and args.shards != 1:
        try:
            return load_durations(args.json, where="--json, read as the previous run")
        except CliError as exc:  # it is about to be overwritten anyway: run without history
            print(f"dualmode invoke: warning: {exc}; sharding round robin", file=sys.stderr)
    return {}


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


def _write(path: Path, text: str, flag: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {flag} {path}: {exc.strerror}") from None


def _shards(value: str) -> int | str:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a shard count; use a whole number >= 1 or 'auto'")
    return count


def _positive_int(flag: str) -> Any:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1 (e.g. {flag} 8)")
        return number

    return parse


def _positive_float(flag: str) -> Any:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = 0.0
        if not number > 0 or number == float("inf"):
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds > 0 (e.g. {flag} 300)")
        return number

    return parse


def _env_pair(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key or key != key.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not K=V (e.g. --env DUALMODE_ADDR=api.internal:443)")
    return key, val
