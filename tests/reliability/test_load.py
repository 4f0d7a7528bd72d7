"""Load: the standalone example service with its SigV4 front door on, moto's DynamoDB server behind it (each
in its own process, on 127.0.0.1), and 16 signed clients for 30 s mixing writes and reads over gRPC and HTTP.
Zero acknowledged writes lost, zero unexpected 5xx / INTERNAL, p50 and p99 reported (never asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from rel_load import LoadConfig, run_load
from rel_support import assert_no_leaks, assert_no_traceback, start_moto, start_standalone

pytestmark = pytest.mark.reliability

KEY_ID, SECRET = "AKIDRELIABILITYLOAD1", "LoadSecretKey0123456789abcdefGHIJKLMNOPq"


def load_config() -> LoadConfig:
    """16 clients for 30 s unless ``DUALMODE_LOAD_CLIENTS`` / ``DUALMODE_LOAD_SECONDS`` say otherwise."""
    return LoadConfig(
        clients=int(os.environ.get("DUALMODE_LOAD_CLIENTS") or 16),
        seconds=float(os.environ.get("DUALMODE_LOAD_SECONDS") or 30),
    )


def test_the_signed_service_under_load_loses_no_acknowledged_write(
    tmp_path: Path, children: list[Any], figures: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from botocore.credentials import Credentials

    from pytest_dualmode.sigv4 import Signer

    moto, moto_url = start_moto(tmp_path / "moto.log")
    children.append(moto)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({KEY_ID: SECRET}))
    service, ready = start_standalone(
        moto_url, tmp_path / "service.log", "--table", "load", "--sigv4-credentials", str(keys)
    )
    children.append(service)
    signer = Signer(Credentials(KEY_ID, SECRET), "us-east-1", "vpc-lattice-svcs", sign_payload=False)
    config = load_config()
    report = run_load(ready["grpc"], ready["http"], signer, config)
    (tmp_path_factory.getbasetemp() / "load-report.json").write_text(json.dumps(report, indent=1))
    assert report["ops"] > config.clients * 10, report  # it really ran
    assert report["unexpected"] == 0, report["unexpected_samples"]
    assert report["timeouts"] == 0
    assert report["acked_writes"] > 0 and report["lost_writes"] == 0
    assert report["resurrected"] == 0
    assert report["double_creates"] == 0  # racing adds of one address: exactly one says "created"
    assert report["never_created"] == 0
    assert report["stale_reads"] == 0  # every read of a client's own acknowledged write found it
    assert report["expected_rejections"] > 0  # the invalid requests were answered 400 / INVALID_ARGUMENT
    assert service.stop() == 0  # SIGTERM: a clean stop after the load
    log = service.log.read_text(errors="replace")
    assert_no_traceback(log, "the service's log")
    assert_no_leaks({"service log": log}, [SECRET])
    figures.add("load", "example service under load", **report)
