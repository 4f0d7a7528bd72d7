"""Named targets: declaration (pyproject and ini), resolution order, errors, the sensitive guard, Lambda."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode import targets
from pytest_dualmode.settings import OPTIONS, resolve

KNOWN = [o.name for o in OPTIONS]
PYPROJECT = """
[tool.dualmode.targets.staging]
addr = "api.staging.internal:443"
http_addr = "https://api.staging.internal"
region = "eu-west-1"
service = "execute-api"
grpc_ca_file = "certs/ca.pem"
header = ["x-api-key=stagingkey123", "x-team=a"]

[tool.dualmode.targets.prod]
http_addr = "https://api.internal"
sensitive = true
"""


@pytest.fixture
def declared(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("not read here")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    return targets.from_pyproject(str(tmp_path / "pyproject.toml"), KNOWN)


def _ini(values: dict[str, str]) -> Any:
    return lambda key: values.get(key, "")


def test_a_target_sets_its_values_and_files_are_relative_to_it(
    declared: dict[str, Any], tmp_path: Path
) -> None:
    s = resolve({"target": "staging"}, {}, _ini({}), None, declared)
    assert (
        s.is_remote and s.addr == "api.staging.internal:443" and s.http_addr == "https://api.staging.internal"
    )
    assert s.aws_region == "eu-west-1" and s.sigv4_service == "execute-api"
    assert s.grpc_ca_file == str(tmp_path / "certs" / "ca.pem")
    assert s.header == (("x-api-key", "stagingkey123"), ("x-team", "a"))
    assert s.target == "staging" and not s.target_sensitive
    assert s.source("addr") == "pyproject.toml [tool.dualmode.targets.staging]"


def test_order_is_cli_then_env_then_target_then_ini(declared: dict[str, Any]) -> None:
    ini = _ini(
        {"dualmode_aws_region": "us-west-2", "dualmode_request_timeout": "7", "dualmode_target": "staging"}
    )
    s = resolve(
        {"addr": "cli.internal:1"},
        {"DUALMODE_HTTP_ADDR": "https://env.internal"},
        ini,
        "pytest.ini",
        declared,
    )
    assert s.addr == "cli.internal:1" and s.http_addr == "https://env.internal"
    assert s.aws_region == "eu-west-1"  # the target beats the ini
    assert s.request_timeout == 7.0  # the ini still fills what the target leaves out
    assert s.target == "staging" and s.source("target") == "dualmode_target in pytest.ini"
    env_target = resolve({}, {"DUALMODE_TARGET": "prod"}, ini, "pytest.ini", declared)
    assert env_target.target == "prod" and env_target.target_sensitive


def test_an_unknown_target_lists_the_known_ones(declared: dict[str, Any]) -> None:
    with pytest.raises(pytest.UsageError) as info:
        resolve({}, {"DUALMODE_TARGET": "qa"}, _ini({}), None, declared)
    message = str(info.value)
    assert "--target 'qa' (from the DUALMODE_TARGET environment variable)" in message
    assert "known: prod, staging" in message and "[tool.dualmode.targets.qa]" in message
    with pytest.raises(pytest.UsageError, match="known: none are declared"):
        resolve({"target": "qa"}, {}, _ini({}), None, {})


def test_a_bad_value_in_a_target_names_the_target(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.dualmode.targets.qa]\naddr = "qa.internal"\n')
    found = targets.from_pyproject(str(tmp_path / "pyproject.toml"), KNOWN)
    with pytest.raises(
        pytest.UsageError, match=r"--addr 'qa.internal' is not HOST:PORT \(from pyproject.toml \[tool"
    ):
        resolve({"target": "qa"}, {}, _ini({}), None, found)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[tool.dualmode.targets.qa]\nallow_destructive = true\n",
            "'allow_destructive' is not a setting a target",
        ),
        ('[tool.dualmode.targets.qa]\nadress = "x:1"\n', "'adress' is not a setting a target can hold"),
        ('[tool.dualmode.targets.qa]\nsensitive = "maybe"\n', "sensitive = 'maybe' is not true or false"),
        ("[tool.dualmode]\ntargets = 3\n", "must be a table of tables"),
        ("[tool.dualmode.targets]\nqa = 3\n", "must be a table"),
        ("[tool.dualmode.targets.qa\n", "cannot be read"),
    ],
)
def test_bad_declarations_are_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(targets.TargetError, match=r"pyproject\.toml") as info:
        targets.from_pyproject(str(tmp_path / "pyproject.toml"), KNOWN)
    assert message in str(info.value)


def test_the_ini_form(tmp_path: Path) -> None:
    lines = [
        "# a comment",
        "staging: addr=api.staging:443 http_addr=https://api.staging region=eu-west-1 "
        "header=x-a=1 header=x-b=2",
        "prod: http_addr=https://api sensitive=true",
    ]
    found = targets.from_ini_lines(lines, str(tmp_path / "pytest.ini"), KNOWN)
    assert found["staging"].values == {
        "addr": "api.staging:443",
        "http_addr": "https://api.staging",
        "aws_region": "eu-west-1",
        "header": "x-a=1\nx-b=2",
    }
    assert found["prod"].sensitive and not found["staging"].sensitive
    with pytest.raises(targets.TargetError, match="is not NAME: key=value"):
        targets.from_ini_lines(["just words"], None, KNOWN)
    with pytest.raises(targets.TargetError, match="'addr' is not key=value"):
        targets.from_ini_lines(["qa: addr"], None, KNOWN)


GUARDED = """
import pytest

@pytest.mark.destructive
def test_wipes():
    pass

def test_reads():
    pass
"""


@pytest.fixture
def listener() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering 200, so a remote run gets past its reachability check."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("args", "passed", "reason"),
    [
        ([], 1, "*destructive: not run against a remote target without --allow-destructive*"),
        (
            ["--allow-destructive"],
            1,
            "*target 'prod' is marked sensitive; it needs --allow-destructive-sensitive*",
        ),
        (["--allow-destructive", "--allow-destructive-sensitive"], 2, None),
    ],
)
def test_a_sensitive_target_needs_a_second_switch_for_destructive_tests(
    pytester: pytest.Pytester, listener: str, args: list[str], passed: int, reason: str | None
) -> None:
    pytester.makeini(f"[pytest]\ndualmode_targets =\n    prod: http_addr={listener} sensitive=true\n")
    pytester.makepyfile(test_guard=GUARDED)
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDTARGETTEST",
        "AWS_SECRET_ACCESS_KEY": "x" * 20,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--target", "prod", "-rs", *args)
    result.assert_outcomes(passed=passed, skipped=2 - passed)
    result.stdout.fnmatch_lines(["*dualmode: target prod (sensitive)*"])
    if reason:
        result.stdout.fnmatch_lines([reason])


def test_a_plain_remote_target_needs_only_allow_destructive(pytester: pytest.Pytester, listener: str) -> None:
    pytester.makeini(f"[pytest]\ndualmode_targets =\n    qa: http_addr={listener}\n")
    pytester.makepyfile(test_guard=GUARDED)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "AKIDTARGETTEST")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "x" * 20)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--target", "qa", "--allow-destructive"
        )
    result.assert_outcomes(passed=2)


def test_a_package_carries_pyproject_targets_in_its_ini_form(tmp_path: Path) -> None:
    from pytest_dualmode.cli.package.testtree import read_config

    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['tests']\n" + PYPROJECT)
    ini = read_config(tmp_path / "pyproject.toml")
    assert ini is not None
    lines = ini["dualmode_targets"]
    assert isinstance(lines, list)
    found = targets.from_ini_lines(lines, str(tmp_path / "pytest.ini"), KNOWN)
    original = targets.from_pyproject(str(tmp_path / "pyproject.toml"), KNOWN)
    assert {n: (t.values, t.sensitive) for n, t in found.items()} == {
        n: (t.values, t.sensitive) for n, t in original.items()
    }
