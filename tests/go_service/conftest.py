"""The Go example service's system tests: one suite, run locally (process mode), remotely and in Lambda.

Locally the plugin builds the Go service (``examples/go_service/build.sh``, once per pytest process),
starts it on free ports against the embedded DynamoDB, waits for its gRPC health check, and puts the
SigV4 front door in front of it. A missing Go toolchain fails the build step, with the compiler's
output, in every test that needs the service: never a skip. Remotely (``--addr``/``--http-addr``) the
same tests talk to a running instance. The Python stubs of the shared proto are the client.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode import ProcessService

GO_SERVICE = Path(__file__).resolve().parents[2] / "examples" / "go_service"
BINARY = GO_SERVICE / "bin" / "suppression-go"


@pytest.fixture(scope="session")
def dualmode_service() -> ProcessService:
    """The Go service as a separate process, for local mode."""
    return ProcessService(
        command=[str(BINARY), "-grpc-port", "{grpc_port}", "-http-port", "{http_port}"],
        env={"DYNAMODB_ENDPOINT": "{dynamodb_endpoint}"},
        build=["bash", str(GO_SERVICE / "build.sh"), str(BINARY)],
        ready="grpc-health:suppression.v1.SuppressionService",
    )


@pytest.fixture
def account() -> str:
    """A fresh account id for this test, so tests are independent and re-runnable."""
    return f"go-{uuid.uuid4()}"


@pytest.fixture
def stub(grpc_channel: Any) -> Any:
    """A ``SuppressionServiceStub`` on the run's gRPC channel."""
    from example_service.gen.suppression.v1 import suppression_pb2_grpc

    return suppression_pb2_grpc.SuppressionServiceStub(grpc_channel)
