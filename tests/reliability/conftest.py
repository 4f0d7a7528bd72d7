"""Fixtures of the reliability suite: the example service in this process (real gRPC and HTTP servers on
127.0.0.1 over moto's DynamoDB), moto and the standalone service as child processes, pytester runs that
skip unrelated plugins, and the suite's figures (written out at the end of the session)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rel_figures import DOC, FIGURES_FILE, WRITE_DOC_ENV, Figures, load, render
from rel_support import Child, start_moto

FIGURES = Figures()

# pytester runs load only what they need: schemathesis' pytest plugin alone costs a second per process.
PYTESTER_ARGS = ("-p", "no:schemathesis", "-p", "no:cacheprovider", "-p", "no:anyio")


@pytest.fixture(scope="session")
def figures(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Figures]:
    """The suite's figures: tests add one record when they pass; written out at the end of the session.

    They go to ``reliability-figures.jsonl`` in the run's temp folder (shared by pytest-xdist workers); with
    ``DUALMODE_WRITE_RELIABILITY_DOC=1`` in a run without workers, docs/reliability.md is rewritten too.
    """
    yield FIGURES
    worker = hasattr(pytestconfig, "workerinput")
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if worker else base) / FIGURES_FILE
    FIGURES.dump(path)
    if os.environ.get(WRITE_DOC_ENV) == "1" and not worker:
        DOC.write_text(render(load(path)), encoding="utf-8")
    FIGURES.records.clear()


# ---- the example service in this process ----------------------------------------------------------


@pytest.fixture(scope="session")
def ddb() -> Iterator[Any]:
    """moto's DynamoDB, embedded (in-process client and an HTTP endpoint on 127.0.0.1)."""
    from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB

    # Session scope on purpose: stopping it resets moto's in-process state, which other suites share.
    db = EmbeddedDynamoDB().start()
    try:
        yield db
    finally:
        db.stop()


@pytest.fixture(scope="session")
def service(ddb: Any) -> Any:
    """The example service on its own table."""
    from example_service import SuppressionService

    return SuppressionService(ddb.client(), table=f"reliability-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def http_server(service: Any) -> Iterator[Any]:
    """The service's WSGI app on the plugin's local HTTP server (what local mode serves)."""
    from pytest_dualmode.local.http_server import WsgiServer

    server = WsgiServer(service.wsgi_app).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_url(http_server: Any) -> str:
    """``http://127.0.0.1:PORT`` of :func:`http_server`."""
    return str(http_server.url)


@pytest.fixture(scope="session")
def grpc_addr(service: Any) -> Iterator[str]:
    """``127.0.0.1:PORT`` of the service's gRPC server."""
    from pytest_dualmode.local.grpc_server import GrpcServer

    server = GrpcServer([service.register_grpc]).start()
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stub(grpc_addr: str) -> Iterator[Any]:
    """A ``SuppressionServiceStub`` on a plain channel to :func:`grpc_addr`."""
    import grpc

    from example_service.gen.suppression.v1 import suppression_pb2_grpc

    with grpc.insecure_channel(grpc_addr) as channel:
        yield suppression_pb2_grpc.SuppressionServiceStub(channel)


@pytest.fixture
def account() -> str:
    """A fresh account id."""
    return f"rel-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def service_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The example service's log records of this test; none may be an error (an unexpected exception)."""
    caplog.set_level(logging.WARNING, logger="example_service")
    yield caplog
    errors = [
        r for r in caplog.records if r.name.startswith("example_service") and r.levelno >= logging.ERROR
    ]
    assert not errors, f"the service logged errors: {[r.getMessage() for r in errors]}"


# ---- child processes ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of moto's DynamoDB server running in its own process (shared by the tests of a worker)."""
    child, url = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield url
    finally:
        child.stop()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Child processes started by a test; any still running at its end are stopped."""
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


@pytest.fixture
def run_pytest(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    """``runpytest_subprocess`` with the unrelated plugins off and a bound on its time."""

    def run(*args: str, timeout: float = 120.0) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*PYTESTER_ARGS, *args, timeout=timeout)

    return run


def pytester_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Clear every DUALMODE_/AWS_ variable for a pytester run, then set ``values``."""
    for key in list(os.environ):
        if key.startswith(("DUALMODE_", "AWS_")):
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Call with ``NAME=value`` pairs: the only DUALMODE_/AWS_ variables a pytester subprocess will see."""
    return lambda **values: pytester_env(monkeypatch, **values)


@pytest.fixture
def repo_root() -> Path:
    """The repository's root folder."""
    return Path(__file__).resolve().parents[2]
