"""The example suite end to end: ``dualmode package`` builds it (twice: the same bytes), ``dualmode emulate``
runs it offline in remote mode, SigV4-signed, against the standalone example service behind a SigV4 front
door.

Building downloads wheels (pip's cache makes it quick after the first time), so the package is built once
for this module and reused.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode.cli import main
from pytest_dualmode.cli.emulate import emulate_zip
from pytest_dualmode.cli.package import MANIFEST, PackageOptions, build_package, wheels

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_TESTS = ROOT / "tests" / "system"
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
KEY_ID, SECRET = "AKIDPACKAGETEST00001", "package-test-secret-not-real"

pytestmark = pytest.mark.skipif(
    LOCAL_PYTHON not in wheels.PYTHONS, reason=f"Lambda has no Python {LOCAL_PYTHON} runtime to package for"
)


def build(output: Path) -> Path:
    build_package(
        PackageOptions(output=output, tests=[str(SYSTEM_TESTS)], python=LOCAL_PYTHON), log=lambda _: None
    )
    return output


@pytest.fixture(scope="module")
def example_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example suite's package, built once."""
    return build(tmp_path_factory.mktemp("package") / "system-tests.zip")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_builds_are_byte_identical(example_zip: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "again.zip")
    if sha256(again) != sha256(example_zip):  # say which entries differ (e.g. a source file edited meanwhile)
        with zipfile.ZipFile(example_zip) as one, zipfile.ZipFile(again) as two:
            a = {i.filename: i.CRC for i in one.infolist()}
            b = {i.filename: i.CRC for i in two.infolist()}
        differ = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))
        pytest.fail(f"two builds differ in {len(differ)} entries: {differ[:10]}")


def test_the_package_holds_the_suite_its_imports_and_the_plugin(example_zip: Path) -> None:
    with zipfile.ZipFile(example_zip) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read(MANIFEST))
        ini = zf.read("pytest.ini").decode()
        entry_points = zf.read("pytest_dualmode-0.1.0.dist-info/entry_points.txt").decode()
        pyc = zf.read(f"grpc/__pycache__/__init__.cpython-{LOCAL_PYTHON.replace('.', '')}.pyc")
        infos = zf.infolist()
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert "tests/system/conftest.py" in names and "tests/system/test_grpc_api.py" in names
    assert "example_service/__init__.py" in names  # found through the tests' imports
    assert "example_service/gen/suppression/v1/suppression_pb2.py" in names
    assert "pytest_dualmode/aws_lambda/__init__.py" in names
    assert "[pytest11]\ndualmode = pytest_dualmode.plugin" in entry_points
    assert not [n for n in names if n.startswith(("moto/", "bin/"))]  # local mode only / machine-specific
    assert "testpaths =\n    tests/system" in ini
    assert manifest["python"] == LOCAL_PYTHON and manifest["bytecode"] is True
    assert manifest["first_party"] == ["example_service"]
    assert {"grpcio", "pytest", "protobuf", "requests", "boto3"} <= set(manifest["distributions"])
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, unchecked: valid on a read-only root


@pytest.fixture(scope="module")
def example_service(start_moto: Any, standalone_example: Any) -> Iterator[dict[str, str]]:
    """The standalone example service (its own process) on moto's DynamoDB, behind a SigV4 front door."""
    with start_moto() as moto_url, standalone_example(moto_url, keys={KEY_ID: SECRET}) as ready:
        yield ready


def remote_env(service: dict[str, str]) -> dict[str, str]:
    return {
        "DUALMODE_ADDR": service["grpc"],
        "DUALMODE_HTTP_ADDR": service["http"],
        "DUALMODE_GRPC_PLAINTEXT": "1",
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_the_example_suite_passes_under_emulate_in_remote_mode(
    example_zip: Path, example_service: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    argv = [
        "emulate",
        str(example_zip),
        "--timeout",
        "300",
        "--json",
        str(out),
        "--event",
        '{"raise_on_failure": false}',
    ]
    for key, value in remote_env(example_service).items():
        argv += ["--env", f"{key}={value}"]
    code = main(argv)
    captured = capsys.readouterr()
    result: dict[str, Any] = json.loads(out.read_text())
    assert code == 0, captured.err[-3000:]
    assert result["outcome"] == "passed"
    assert result["counts"]["passed"] >= 30 and result["counts"]["failed"] == 0
    assert "dualmode: remote" in captured.err  # the run's header: remote mode, against the service
    assert "dualmode emulate: passed, exit code 0" in captured.out
    assert SECRET not in captured.err + captured.out + out.read_text()


def test_a_package_missing_a_dependency_fails_with_an_import_error(
    example_zip: Path, example_service: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "no-grpc.zip"
    with zipfile.ZipFile(example_zip) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            if not info.filename.startswith("grpc/"):
                dst.writestr(info, src.read(info))
    started = time.monotonic()
    outcome = emulate_zip(broken, {"raise_on_failure": False}, timeout_s=120, env=remote_env(example_service))
    assert time.monotonic() - started < 120
    assert outcome.result is not None, outcome.error
    assert outcome.result["outcome"] == "error"
    assert outcome.exit_code != 0
    assert "ModuleNotFoundError: No module named 'grpc'" in json.dumps(outcome.result)
