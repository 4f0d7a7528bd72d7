"""The Go example's suite (tests/go_service) in its three modes: local, remote and packaged in Lambda.

The Go binary runs standalone on moto's DynamoDB server (its table created there from its template,
``examples/go_service/tables.yaml``, with the plugin's tables module: the service creates none),
behind the plugin's SigV4 front door run as a standalone reverse proxy
(``python -m pytest_dualmode.local.proxy``): the Go service itself verifies nothing, as a service
behind VPC Lattice's IAM auth does not. Then (b) ``pytest --addr/--http-addr``
runs the suite against the proxy, signed with the right key (passes) and a wrong one (refused), and
(c) ``dualmode package`` + ``dualmode invoke --emulate`` run it from emulated Lambda functions.
A missing Go toolchain fails the build fixture with the build's output: never a skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode.cli import main
from pytest_dualmode.cli.package import PackageOptions, build_package

ROOT = Path(__file__).resolve().parents[2]
GO_TESTS = ROOT / "tests" / "go_service"
GO_SERVICE = ROOT / "examples" / "go_service"
GO_TABLES = GO_SERVICE / "tables.yaml"
KEY_ID, SECRET = "AKIDGOEXAMPLETEST001", "go-example-test-secret-not-real-01"


@pytest.fixture(scope="module")
def go_binary() -> Path:
    """The Go service, built now unless up to date (fails, with the compiler's output, when Go or a
    package is missing). The same binary the local suite's build step makes (builds are serialised)."""
    out = GO_SERVICE / "bin" / "suppression-go"
    build = subprocess.run(
        ["bash", str(GO_SERVICE / "build.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"the Go example did not build (exit {build.returncode}):\n{build.stdout}{build.stderr}")
    return out


def _create_tables_from_template(endpoint: str) -> None:
    """Create the tables of the Go example's template on ``endpoint``, as its stack would."""
    import boto3

    from pytest_dualmode.tables import load_file
    from pytest_dualmode.tables.local import create_tables

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    create_tables(client, load_file(str(GO_TABLES), "us-east-1"))


def _refused_without_its_table(go_binary: Path, env: dict[str, str]) -> str:
    """The Go binary's exit and error output on a table the template did not create (it must not start)."""
    run = subprocess.run(
        [str(go_binary), "-table", "not-from-the-template"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return f"exit {run.returncode}: {run.stdout}{run.stderr}"


@pytest.fixture(scope="module")
def go_behind_front_door(
    go_binary: Path, start_moto: Any, ready_process: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The Go binary on moto's DynamoDB server, behind the standalone SigV4 front door."""
    creds = tmp_path_factory.mktemp("front") / "creds.json"
    creds.write_text(json.dumps({KEY_ID: SECRET}))
    with start_moto() as moto_url:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        env.update(AWS_REGION="us-east-1", DYNAMODB_ENDPOINT=moto_url)
        env.pop("AWS_SESSION_TOKEN", None)
        _create_tables_from_template(moto_url)
        missing = _refused_without_its_table(go_binary, env)
        command = [sys.executable, "-m", "pytest_dualmode.local.proxy", "--sigv4-credentials", str(creds)]
        with ready_process([str(go_binary)], env, "the Go service") as addresses:
            command += ["--grpc-backend", addresses["grpc"], "--http-backend", addresses["http"]]
            with ready_process(command, dict(os.environ), "the front door") as front:
                yield {**front, "without_table": missing}


@pytest.fixture
def remote_env(go_behind_front_door: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Remote mode against the front door, signed with its key (DUALMODE_* reach emulated functions too)."""
    monkeypatch.setenv("DUALMODE_ADDR", go_behind_front_door["grpc"])
    monkeypatch.setenv("DUALMODE_HTTP_ADDR", go_behind_front_door["http"])
    monkeypatch.setenv("DUALMODE_GRPC_PLAINTEXT", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return dict(os.environ)


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(GO_TESTS), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_go_suite_runs_locally_in_process_mode_in_its_own_pytest_process() -> None:
    # (a) plain pytest: the plugin builds and starts the binary on the embedded DynamoDB, behind the local
    # front door. Its own process: this session already serves the Python example (tests/conftest.py).
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUALMODE_")}
    run = _pytest(env, "-p", "no:xdist")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    counts = dict(
        (noun, int(n)) for n, noun in re.findall(r"(\d+) (passed|failed|skipped|error)", run.stdout)
    )
    assert counts.get("passed", 0) >= 12 and not counts.get("failed") and not counts.get("error"), counts


def test_go_suite_runs_remotely_signed_against_the_standalone_binary(remote_env: dict[str, str]) -> None:
    run = _pytest(remote_env, "-rs")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "local_only: skipped against a remote target" in run.stdout
    counts = dict((noun, int(n)) for n, noun in re.findall(r"(\d+) (passed|skipped)", run.stdout))
    assert counts.get("passed", 0) >= 9 and counts.get("skipped") == 3, run.stdout[-2000:]  # 3 local_only
    assert SECRET not in run.stdout + run.stderr


def test_go_standalone_service_uses_the_table_its_template_declares(
    go_behind_front_door: dict[str, str],
) -> None:
    # It started on the table made from tables.yaml (the other tests run against it); without one it
    # refuses to start, naming the table and the template, and creates nothing.
    missing = go_behind_front_door["without_table"]
    assert missing.startswith("exit 1: ") and 'table "not-from-the-template" does not exist' in missing
    assert "tables.yaml" in missing


def test_go_suite_with_a_wrong_secret_is_refused_remotely(remote_env: dict[str, str]) -> None:
    env = {**remote_env, "AWS_SECRET_ACCESS_KEY": "wrong-" + SECRET}
    run = _pytest(env, "-x", "-k", "round_trip or add_get")
    assert run.returncode == 1, run.stdout[-3000:]
    assert "UNAUTHENTICATED" in run.stdout or "403" in run.stdout
    assert SECRET not in run.stdout + run.stderr


@pytest.mark.usefixtures("remote_env")
def test_go_suite_packaged_runs_in_emulated_lambda(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zip_path = tmp_path / "go-tests.zip"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    build_package(
        PackageOptions(output=zip_path, tests=[str(GO_TESTS)], python=python, without_boto=True),
        log=lambda _: None,
    )
    result_path = tmp_path / "result.json"
    argv = ["invoke", "--function-name", "go-tests", "--emulate", str(zip_path), "--timeout", "300"]
    code = main([*argv, "--shards", "2", "--json", str(result_path)])
    out, err = capsys.readouterr()
    assert code == 0, out[-3000:] + err[-2000:]
    result = json.loads(result_path.read_text())
    assert result["outcome"] == "passed" and result["counts"]["passed"] >= 9, result["counts"]
    assert {t["nodeid"].split("::")[0] for t in result["tests"]} == {"tests/go_service/test_go_service.py"}
    assert "dualmode: remote" in out
    assert SECRET not in out + err + result_path.read_text()
