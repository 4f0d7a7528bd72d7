"""Shard faults in ``dualmode invoke``: a test that calls ``sys.exit`` or ``os._exit``, crashes its process or
interrupts pytest inside an emulated Lambda runtime; shard invocations refused (throttled) or failing at the
Lambda API; and, as a property, any mix of shard fates. The merged result and its JUnit XML list every
collected test exactly once, and a test that did not pass is never reported passed."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from rel_support import assert_no_leaks, assert_no_traceback, junit_outcomes, result_outcomes

import pytest_dualmode
from pytest_dualmode.cli import main

pytestmark = pytest.mark.reliability

ROLE_SECRET = "RoleSecretKey0123456789abcdefGHIJKLMNOPq"  # fake, AWS-shaped
SHARD_TESTS = """
import os, signal, sys

import pytest


@pytest.mark.parametrize("n", range(4))
def test_pass(n):
    pass


def test_sys_exit():
    print("the role's secret is", os.environ.get("AWS_SECRET_ACCESS_KEY"))
    sys.exit(3)


def test_os_exit():
    os._exit(0)


def test_segfault():
    os.kill(os.getpid(), signal.SIGSEGV)


def test_keyboard_interrupt():
    raise KeyboardInterrupt
"""


@pytest.fixture(scope="session")
def pytest_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Lambda package of the tests above with pytest and the plugin copied from this environment.

    Smaller and quicker than ``dualmode package`` (no wheels to fetch): pytest's pure-Python
    distributions and the plugin's source, which is all the handler needs for these tests.
    """
    path = tmp_path_factory.mktemp("shards") / "shards.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for dist in ("pytest", "pluggy", "iniconfig", "packaging", "pygments"):
            for file in importlib.metadata.distribution(dist).files or []:
                name = str(file)
                if name.startswith("..") or "__pycache__" in name or name.endswith(".pyc"):
                    continue
                zf.write(file.locate(), name)
        plugin = Path(pytest_dualmode.__file__).parent
        for source in sorted(plugin.rglob("*")):
            if source.is_file() and "__pycache__" not in source.parts:
                zf.write(source, f"pytest_dualmode/{source.relative_to(plugin)}")
        zf.writestr("tests/test_shard.py", SHARD_TESTS)
        zf.writestr("pytest.ini", "[pytest]\ntestpaths = tests\n")
        manifest = {
            "schema": "pytest-dualmode.package/1",
            "handler": "pytest_dualmode.aws_lambda.handler",
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "arch": "x86_64",
        }
        zf.writestr("dualmode-package.json", json.dumps(manifest))
    return path


PASSES = [f"tests/test_shard.py::test_pass[{n}]" for n in range(4)]

# fault -> (the merged exit code, how the faulty test ends up)
FAULTS = {
    "sys_exit": (1, "failed"),  # pytest turns SystemExit in a test into a failure
    "os_exit": (75, "not_run"),  # the runtime dies: lost, retried, lost again: infrastructure
    "segfault": (75, "not_run"),
    "keyboard_interrupt": (2, None),  # pytest stops the shard's session: interrupted
}


WHAT = {
    "sys_exit": "calls sys.exit",
    "os_exit": "calls os._exit",
    "segfault": "segfaults",
    "keyboard_interrupt": "raises KeyboardInterrupt",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_test_that_ends_its_shard_is_accounted_for(
    pytest_zip: Path,
    tmp_path: Path,
    grpc_addr: str,
    http_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    figures: Any,
    fault: str,
) -> None:
    # Remote mode against this process's service, with the role's credentials in the environment.
    for key in [k for k in list(__import__("os").environ) if k.startswith(("DUALMODE_", "AWS_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDROLESHARDS000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ROLE_SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    json_path, junit_path = tmp_path / "result.json", tmp_path / "junit.xml"
    code = main(
        [
            "invoke",
            "--emulate",
            str(pytest_zip),
            "--shards",
            "2",
            "--timeout",
            "120",
            "--env",
            f"DUALMODE_ADDR={grpc_addr}",
            "--env",
            f"DUALMODE_HTTP_ADDR={http_url}",
            "--json",
            str(json_path),
            "--junitxml",
            str(junit_path),
            "--",
            "-k",
            f"test_pass or test_{fault}",
        ]
    )
    out, err = capsys.readouterr()
    assert json_path.is_file(), f"exit {code}; stdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
    merged = json.loads(json_path.read_text())
    faulty = f"tests/test_shard.py::test_{fault}"
    outcomes = result_outcomes(merged)
    assert sorted(outcomes) == sorted([*PASSES, faulty])  # every collected test, once
    expected_code, faulty_outcome = FAULTS[fault]
    assert code == merged["exit_code"] == expected_code
    assert outcomes[faulty] != "passed"
    if faulty_outcome:
        assert outcomes[faulty] == faulty_outcome
    lost = {t["shard"] for t in merged["tests"] if t["nodeid"] == faulty}
    for nodeid, outcome in outcomes.items():
        shard_of = next(t["shard"] for t in merged["tests"] if t["nodeid"] == nodeid)
        if nodeid in PASSES and (faulty_outcome != "not_run" or shard_of not in lost):
            assert outcome in ("passed", "not_run")  # a pass, or not run after the interrupt
        if outcome == "not_run":
            assert merged["not_run"] and any(n["nodeid"] == nodeid for n in merged["not_run"])
    xml = junit_outcomes(junit_path)
    assert sorted(k.rsplit("::", 1)[1] for k in xml) == sorted(n.rsplit("::", 1)[1] for n in outcomes)
    assert {k.rsplit("::", 1)[1] for k, v in xml.items() if v == "passed"} == {
        n.rsplit("::", 1)[1] for n, o in outcomes.items() if o == "passed"
    }
    assert_no_leaks(
        {"stdout": out, "stderr": err, "json": json_path.read_text(), "junit": junit_path.read_text()},
        [ROLE_SECRET],
    )
    assert_no_traceback(err, "stderr")
    counts = merged["counts"]
    figures.add(
        "fault",
        f"a test that {WHAT[fault]} in a shard (dualmode invoke --emulate)",
        tests=len(outcomes),
        detail=f"exit {code}; passed {counts['passed']}, failed {counts['failed']}, "
        f"not_run {counts['not_run']}",
    )
