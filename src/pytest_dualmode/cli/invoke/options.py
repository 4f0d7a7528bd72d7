"""The command line of ``dualmode invoke``: its options and how each value is checked (docs/invoke.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_MAX_CONCURRENCY = 32


def add_invoke_parser(subparsers: Any, run: Callable[[argparse.Namespace], int]) -> None:
    """Register ``dualmode invoke`` and its options, to be run by ``run``."""
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
        type=_whole_number("--max-concurrency", 1, 8),
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
        help="write the merged JSON result here ('-': stdout, and the report goes to stderr); an existing "
        "file is read first as the previous result (the durations history, and the failures for --lf / --ff)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="write a self-contained HTML report here (timeline of the invocations, failures, flaky, cost)",
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
    _add_ci_options(parser)
    parser.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="arguments for pytest")
    parser.set_defaults(run=run)


def _add_ci_options(parser: argparse.ArgumentParser) -> None:
    """Re-runs, last-failed and the price estimate (docs/invoke.md, "In CI")."""
    group = parser.add_argument_group("re-runs, previous failures and cost")
    group.add_argument(
        "--reruns",
        type=_whole_number("--reruns", 0, 2),
        default=0,
        metavar="N",
        help="re-run failed tests up to N times, each time in a fresh invocation; a test that fails and "
        "then passes is flaky (default 0)",
    )
    group.add_argument(
        "--fail-on-flaky", action="store_true", help="a flaky test fails the run (exit code 1)"
    )
    group.add_argument(
        "--lf",
        "--last-failed",
        dest="last_failed",
        action="store_true",
        help="run only the tests that failed, errored or did not run in the previous result "
        "(--durations-from FILE, else the existing --json file); all of them when none did",
    )
    group.add_argument(
        "--ff",
        "--failed-first",
        dest="failed_first",
        action="store_true",
        help="run every test, the previous result's failures first in each shard",
    )
    group.add_argument(
        "--architecture",
        choices=("x86_64", "arm64"),
        help="the function's architecture for the price estimate (default: read from the function's "
        "configuration; x86_64 when it is not read)",
    )


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


def _whole_number(flag: str, minimum: int, example: int) -> Any:
    """An argparse type: a whole number >= ``minimum``; the error shows ``flag example``."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a whole number >= {minimum} (e.g. {flag} {example})"
            )
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
