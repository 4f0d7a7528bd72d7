"""pytest-dualmode's pytest entry point: options, markers, the report header and the run's checks.

This module is imported by every pytest run of every user who installed the plugin (in Lambda
too), so it imports nothing heavy: grpc, boto3 and moto load only inside the fixtures that use them.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_dualmode import activation
from pytest_dualmode import fixtures_data as _data
from pytest_dualmode import settings as _settings
from pytest_dualmode.fixtures import (
    STACK_KEY,
    _dualmode_http_adapter,
    dualmode_grpc_addr,
    dualmode_http_url,
    dualmode_local_stack,
    dualmode_service,
    dualmode_settings,
    dualmode_signer,
    dualmode_target,
    dynamodb,
    dynamodb_endpoint,
    grpc_channel,
    http,
)
from pytest_dualmode.fixtures_aio import _dualmode_http_aio_transport, grpc_aio_channel, http_aio
from pytest_dualmode.fixtures_data import (
    _dualmode_fresh_tables,
    dualmode_cleanup,
    dualmode_run_id,
    dynamodb_reset,
    dynamodb_resource,
)
from pytest_dualmode.settings import Settings

__all__ = [
    "_dualmode_fresh_tables",
    "_dualmode_http_adapter",
    "_dualmode_http_aio_transport",
    "dualmode_cleanup",
    "dualmode_grpc_addr",
    "dualmode_http_url",
    "dualmode_local_stack",
    "dualmode_run_id",
    "dualmode_service",
    "dualmode_settings",
    "dualmode_signer",
    "dualmode_target",
    "dynamodb",
    "dynamodb_endpoint",
    "dynamodb_reset",
    "dynamodb_resource",
    "grpc_aio_channel",
    "grpc_channel",
    "http",
    "http_aio",
]

# A test that uses one of these talks to the local service (the closure of its fixtures is checked).
_SERVICE_FIXTURES = frozenset({"dualmode_grpc_addr", "dualmode_http_url"})

MARKERS = (
    "local_only: run this test only in local mode (skipped against a remote target)",
    "remote_only: run this test only against a remote target (skipped in local mode)",
    "destructive: this test changes or deletes shared data; skipped remotely unless --allow-destructive",
    _data.FRESH_MARKER,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the dualmode options (each also an ini key and a ``DUALMODE_*`` variable)."""
    _settings.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, resolve the settings, and activate the run if it asks for dualmode already.

    See :mod:`pytest_dualmode.activation` for when a run uses dualmode and what that changes.
    """
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    activation.configure(config)
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_data.XdistRunId(config), "dualmode-xdist-run-id")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the environment back as it was (the Lambda handler runs many sessions in one process)."""
    activation.unconfigure(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say where this run goes: the mode, the addresses, and how requests are signed (a run that does
    not use dualmode, or not yet, gets no line)."""
    s = activation.active_settings(config)
    if s is None:
        return []
    return _where(s) + _extras(config, s)


def _extras(config: pytest.Config, s: Settings) -> list[str]:
    """Header lines for the target's name, extra headers (names only) and the declared tables."""
    lines = []
    if s.target:
        lines.append(f"dualmode: target {s.target}{' (sensitive)' if s.target_sensitive else ''}")
    if s.header:
        lines.append(f"dualmode: extra headers {', '.join(name for name, _ in s.header)} (values not shown)")
    return lines + _data.tables_report(config)[0]


def _where(s: Settings) -> list[str]:
    signing = "off (--no-sigv4)" if s.no_sigv4 else f"SigV4 {s.sigv4_service}"
    if s.is_remote:
        grpc_part = f"{s.addr} ({'plaintext' if s.grpc_plaintext else 'TLS'})" if s.addr else "-"
        return [
            f"dualmode: remote, grpc {grpc_part}, http {s.http_addr or '-'}, signing {signing}"
            f"{', region ' + s.aws_region if s.aws_region else ''}"
        ]
    ddb = s.dynamodb_endpoint or "embedded (moto)"
    if not s.no_sigv4:
        signing += " (fake credentials, verified locally)"
    return [f"dualmode: local, dynamodb {ddb}, servers on 127.0.0.1 started on first use, signing {signing}"]


@pytest.hookimpl(trylast=True)  # after -k/-m and other plugins: only the tests that will run count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Activate the run if a test uses a dualmode fixture; skip tests whose markers exclude this mode,
    with a reason that says how to run them."""
    was_active = activation.is_active(config)
    activation.after_collection(config, items)
    s = activation.active_settings(config)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if s is not None and not was_active and reporter is not None and config.get_verbosity() >= 0:
        for line in pytest_report_header(config):  # the header was written before this was known
            reporter.write_line(line)
    if s is None:  # a run that does not use dualmode is a local one
        for item in items:
            if item.get_closest_marker("remote_only"):
                item.add_marker(pytest.mark.skip(reason="remote_only: needs --addr/--http-addr"))
        return
    for item in items:
        if s.is_remote and item.get_closest_marker("local_only"):
            item.add_marker(pytest.mark.skip(reason="local_only: skipped against a remote target"))
        elif not s.is_remote and item.get_closest_marker("remote_only"):
            item.add_marker(pytest.mark.skip(reason="remote_only: needs --addr/--http-addr"))
        elif s.is_remote and item.get_closest_marker("destructive"):
            if not s.allow_destructive:
                reason = "destructive: not run against a remote target without --allow-destructive"
            elif s.target_sensitive and not s.allow_destructive_sensitive:
                reason = (
                    f"destructive: target {s.target!r} is marked sensitive; it needs "
                    "--allow-destructive-sensitive as well as --allow-destructive"
                )
            else:
                continue
            item.add_marker(pytest.mark.skip(reason=reason))


def _redact(config: pytest.Config, report: pytest.TestReport | pytest.CollectReport) -> None:
    """Redact this run's secrets from a report, in a run that uses dualmode (others are left alone)."""
    if activation.is_active(config) and (report.longrepr or report.sections):
        from pytest_dualmode.redaction import redact_report

        redact_report(config, report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Redact secrets from every test report (terminal, JUnit XML and Lambda results all read it); a
    failing test's report also shows the last lines of a service process's log."""
    report = yield
    if report.failed:
        _attach_service_log(item, report)
    _redact(item.config, report)
    return report


def _attach_service_log(item: pytest.Item, report: pytest.TestReport) -> None:
    stack = item.config.stash.get(STACK_KEY, None)
    log = stack.process_log_tail() if stack is not None else None
    if log is not None:
        where, tail = log
        report.sections.append((f"dualmode service log (last lines of {where})", tail or "(empty)"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Fail a test at once, with the exit code and the log tail, when the service process it talks to has
    ended during the run (instead of each test waiting out a timeout)."""
    stack = item.config.stash.get(STACK_KEY, None)
    if stack is None or not _SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return
    problem = stack.process_failure()
    if problem is not None:
        pytest.fail(problem, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Redact secrets from collection error reports too."""
    report = yield
    _redact(collector.config, report)
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remote mode: stop the whole run at once when credentials are missing or a target is unreachable."""
    config = session.config
    s = activation.active_settings(config)
    if s is None:  # --dynamodb-tables and remote mode are options, so a run that sets them is active
        return
    _data.load_declared_tables(config)
    warning = _data.tables_report(config)[1]
    if warning and not hasattr(config, "workerinput"):  # once per run, not once per xdist worker
        config.issue_config_time_warning(pytest.PytestWarning(warning), stacklevel=2)
    # A collect-only run checks nothing, unless --preflight asks: then `dualmode invoke`'s collection
    # invocation checks the target once, from inside the VPC, before any shard is fanned out.
    if not s.is_remote or (config.option.collectonly and not s.preflight):
        return
    from pytest_dualmode.frontdoor import build_signer

    signer = build_signer(config)
    if hasattr(config, "workerinput"):  # pytest-xdist workers: the controller already checked
        return
    from pytest_dualmode.remote import check_reachable

    problems = check_reachable(s)
    if problems:
        raise pytest.UsageError(
            "the remote target is unreachable:\n  "
            + "\n  ".join(problems)
            + "\nCheck the address and that the service is up (and reachable from here), or raise "
            "--connect-timeout."
        )
    if s.preflight:
        _preflight(config, s, signer)


def _preflight(config: pytest.Config, s: Settings, signer: object) -> None:
    """``--preflight``: one signed request per target; stop the run naming TLS, signature or authorisation."""
    from pytest_dualmode import preflight
    from pytest_dualmode.redaction import redact, run_secrets

    secrets = run_secrets(config).values()
    problems = preflight.run(s, signer, lambda text: redact(text, secrets, guess=False))
    if problems:
        raise pytest.UsageError(
            "--preflight: the target did not accept a signed request:\n  " + "\n  ".join(problems)
        )
