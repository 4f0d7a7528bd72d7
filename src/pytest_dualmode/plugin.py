"""pytest-dualmode's pytest entry point: options, markers, the report header and the run's checks.

This module is imported by every pytest run of every user who installed the plugin (in Lambda
too), so it imports nothing heavy: grpc, boto3 and moto load only inside the fixtures that use them.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_dualmode import activation
from pytest_dualmode import settings as _settings
from pytest_dualmode.fixtures import (
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

__all__ = [
    "_dualmode_http_adapter",
    "dualmode_grpc_addr",
    "dualmode_http_url",
    "dualmode_local_stack",
    "dualmode_service",
    "dualmode_settings",
    "dualmode_signer",
    "dualmode_target",
    "dynamodb",
    "dynamodb_endpoint",
    "grpc_channel",
    "http",
]

MARKERS = (
    "local_only: run this test only in local mode (skipped against a remote target)",
    "remote_only: run this test only against a remote target (skipped in local mode)",
    "destructive: this test changes or deletes shared data; skipped remotely unless --allow-destructive",
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


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the environment back as it was (the Lambda handler runs many sessions in one process)."""
    activation.unconfigure(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say where this run goes: the mode, the addresses, and how requests are signed (a run that does
    not use dualmode, or not yet, gets no line)."""
    s = activation.active_settings(config)
    if s is None:
        return []
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
    # A run that does not use dualmode is a local one.
    is_remote = s is not None and s.is_remote
    destructive_ok = s is not None and s.allow_destructive
    for item in items:
        if is_remote and item.get_closest_marker("local_only"):
            item.add_marker(pytest.mark.skip(reason="local_only: skipped against a remote target"))
        elif not is_remote and item.get_closest_marker("remote_only"):
            item.add_marker(pytest.mark.skip(reason="remote_only: needs --addr/--http-addr"))
        elif is_remote and not destructive_ok and item.get_closest_marker("destructive"):
            item.add_marker(
                pytest.mark.skip(
                    reason="destructive: not run against a remote target without --allow-destructive"
                )
            )


def _redact(config: pytest.Config, report: pytest.TestReport | pytest.CollectReport) -> None:
    """Redact this run's secrets from a report, in a run that uses dualmode (others are left alone)."""
    if activation.is_active(config) and (report.longrepr or report.sections):
        from pytest_dualmode.redaction import redact_report

        redact_report(config, report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Redact secrets from every test report (terminal, JUnit XML and Lambda results all read it)."""
    report = yield
    _redact(item.config, report)
    return report


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
    if s is None or not s.is_remote or config.option.collectonly:
        return
    from pytest_dualmode.frontdoor import build_signer

    build_signer(config)
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
