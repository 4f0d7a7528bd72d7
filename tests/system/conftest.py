"""The example service's system tests: written once, run locally, against staging, and in Lambda.

Locally the plugin serves the fixture below on 127.0.0.1 against an embedded DynamoDB; with
``--addr``/``--http-addr`` the same tests talk to a running instance instead. Every test works in its
own fresh account, so runs never see each other's data, even against a long-lived instance.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import pytest

from pytest_dualmode import LocalService, ProcessService


@pytest.fixture(scope="session")
def dualmode_service(request: pytest.FixtureRequest) -> LocalService | ProcessService:
    """The example service, for local mode: its gRPC servicers and its WSGI app on a local DynamoDB.

    With ``EXAMPLE_SERVICE_SHAPE=process`` it runs as its own process instead (``python -m
    example_service``, ready when it prints its JSON line), the way a service in any language would.

    Either way the service creates no table: ``dualmode_dynamodb_tables`` (the ini) creates it from the
    service's template, ``src/example_service/tables.yaml``, as staging's stack does, so the tests run on
    the table staging has, not on the service's own fallback.
    """
    if os.environ.get("EXAMPLE_SERVICE_SHAPE") == "process":
        return ProcessService(
            command=[
                *(sys.executable, "-m", "example_service", "--dynamodb-endpoint", "{dynamodb_endpoint}"),
                *("--grpc-port", "{grpc_port}", "--http-port", "{http_port}", "--no-create-table"),
            ],
            ready="json",
        )
    from example_service import SuppressionService

    dynamodb = request.getfixturevalue("dynamodb")

    svc = SuppressionService(dynamodb, table="suppressions", create_table=False)
    return LocalService(grpc=svc.register_grpc, http=svc.wsgi_app)


@pytest.fixture
def account() -> str:
    """A fresh account id for this test (a uuid), so tests are independent and re-runnable."""
    return f"sys-{uuid.uuid4()}"


@pytest.fixture
def stub(grpc_channel: Any) -> Any:
    """A ``SuppressionServiceStub`` on the run's gRPC channel."""
    from example_service.gen.suppression.v1 import suppression_pb2_grpc

    return suppression_pb2_grpc.SuppressionServiceStub(grpc_channel)
