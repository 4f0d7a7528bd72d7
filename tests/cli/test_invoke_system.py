"""The example suite end to end through ``dualmode invoke --emulate``: packaged, fanned out over emulated
runtimes in remote mode, SigV4-signed, against the standalone example service behind its SigV4 front door
(on moto's DynamoDB server), merged so that every collected test appears exactly once.

The package is built once for the module (pip's cache makes it quick after the first time).
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode.cli import main
from pytest_dualmode.cli.package import PackageOptions, build_package, wheels

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_TESTS = ROOT / "tests" / "system"
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
KEY_ID, SECRET = "AKIDINVOKETEST000001", "invoke-test-secret-not-real-0123"

pytestmark = pytest.mark.skipif(
    LOCAL_PYTHON not in wheels.PYTHONS, reason=f"Lambda has no Python {LOCAL_PYTHON} runtime to package for"
)


@pytest.fixture(scope="module")
def example_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example suite's package without boto3 (the emulated runtime provides it, as Lambda's does)."""
    output = tmp_path_factory.mktemp("package") / "system-tests.zip"
    options = PackageOptions(output=output, tests=[str(SYSTEM_TESTS)], python=LOCAL_PYTHON, without_boto=True)
    build_package(options, log=lambda _: None)
    return output


@pytest.fixture(scope="module")
def collected() -> list[str]:
    """The node ids pytest collects locally from the example suite (what the merged result must hold)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider", str(SYSTEM_TESTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert proc.returncode == 0 and ids, proc.stdout[-2000:] + proc.stderr[-2000:]
    return ids


@pytest.fixture(scope="module")
def example_service(start_moto: Any, standalone_example: Any) -> Iterator[dict[str, str]]:
    """The standalone example service (its own process) on moto's DynamoDB, behind a SigV4 front door."""
    with start_moto() as moto_url, standalone_example(moto_url, keys={KEY_ID: SECRET}) as ready:
        yield ready


@pytest.fixture
def remote(example_service: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Remote mode for the emulated functions (the emulator forwards DUALMODE_* and AWS credentials)."""
    http = example_service["http"]
    monkeypatch.setenv("DUALMODE_ADDR", example_service["grpc"])
    monkeypatch.setenv("DUALMODE_HTTP_ADDR", http if "://" in http else f"http://{http}")
    monkeypatch.setenv("DUALMODE_GRPC_PLAINTEXT", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.mark.usefixtures("remote")
def test_the_example_suite_fans_out_signed_and_merges_every_test_once(
    example_zip: Path, collected: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    result_path, xml_path = tmp_path / "r.json", tmp_path / "r.xml"
    argv = ["invoke", "--function-name", "system-tests", "--emulate", str(example_zip), "--timeout", "300"]
    code = main([*argv, "--shards", "3", "--json", str(result_path), "--junitxml", str(xml_path)])
    out, err = capsys.readouterr()
    assert code == 0, out[-3000:]
    result = json.loads(result_path.read_text())
    ids = [t["nodeid"] for t in result["tests"]]
    assert sorted(ids) == sorted(collected)  # each collected test exactly once
    assert result["outcome"] == "passed" and result["counts"]["passed"] >= 30
    assert [s["status"] for s in result["shards"]] == ["passed"] * 3
    assert len(list(ET.parse(xml_path).getroot().iter("testcase"))) == len(collected)
    assert "dualmode: remote" in out  # the log tails show the suite ran in remote mode
    assert SECRET not in out + err + result_path.read_text()

    # the next run balances by this run's durations; with a wrong secret the front door refuses it
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + SECRET)
    code = main([*argv, "--shards", "2", "--durations-from", str(result_path), "--", "-k", "health"])
    out, err = capsys.readouterr()
    assert code == 1, out[-3000:]
    assert "by previous durations" in err
    assert "FAILED tests/system/" in out and ("UNAUTHENTICATED" in out or "403" in out)
    assert SECRET not in out + err
