"""``dualmode invoke --emulate``: the fan-out against emulated Lambda runtimes (real processes).

A small hand-made package (a stand-in handler speaking the event and result protocol) covers crashes,
re-runs and timeouts quickly; test_invoke_system.py runs the packaged example suite end to end.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_dualmode.cli import main

HANDLER = """
import json, os, time

IDS = [f"tests/test_fake.py::test_{i}" for i in range(int(os.environ.get("DUALMODE_FAKE_TESTS", "9")))]
ZERO = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "not_run": 0}


def result(tests, **extra):
    counts = dict(ZERO)
    for t in tests:
        counts["errors" if t["outcome"] == "error" else t["outcome"]] += 1
    bad = counts["failed"] + counts["errors"]
    return {"schema": "pytest-dualmode.result/1", "outcome": "failed" if bad else "passed",
            "exit_code": 1 if bad else 0, "counts": counts, "tests": tests, "not_run": [],
            "duration_s": 0.01, "junit_xml": None, **extra}


def handler(event, context):
    mode = os.environ.get("DUALMODE_FAKE_MODE", "")
    if event.get("collect_only"):
        return result([], collected=IDS)
    first_shard = (event.get("shard") or {}).get("index") == 0
    if first_shard and mode.startswith("crash"):
        marker = os.path.join(os.environ["DUALMODE_FAKE_DIR"], "crashed")
        if mode == "crash_always" or not os.path.exists(marker):
            open(marker, "w").close()
            print("fake: crashing", flush=True)
            os._exit(137)
    if first_shard and mode == "hang":
        time.sleep(60)
    tests = [{"nodeid": n, "outcome": "failed" if mode == "fail" and n.endswith("_4") else "passed",
              "duration": 0.01} for n in (event.get("select") or IDS)]
    tests = [dict(t, message="assert 1 == 2") if t["outcome"] == "failed" else t for t in tests]
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    print(f"fake: ran {len(tests)} tests for shard {event.get('shard')}; secret {secret}")
    return result(tests, shard=event.get("shard"), summary="fake")
"""

SECRET = "emulated-secret-never-printed-0123456789"


@pytest.fixture
def fake_zip(tmp_path: Path) -> Path:
    path = tmp_path / "fake.zip"
    manifest = {
        "schema": "pytest-dualmode.package/1",
        "handler": "fake_handler.handler",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "arch": "x86_64",
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fake_handler.py", HANDLER)
        zf.writestr("dualmode-package.json", json.dumps(manifest))
    return path


@pytest.fixture(autouse=True)
def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUALMODE_FAKE_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("DUALMODE_FAKE_MODE", raising=False)


def invoke(fake_zip: Path, tmp_path: Path, *args: str) -> tuple[int, dict]:
    code = main(["invoke", "--emulate", str(fake_zip), "--json", str(tmp_path / "r.json"), *args])
    return code, json.loads((tmp_path / "r.json").read_text())


def test_emulated_shards_merge_every_test_once(fake_zip, tmp_path, capsys):
    code, result = invoke(fake_zip, tmp_path, "--shards", "3")
    out, err = capsys.readouterr()
    assert code == 0
    assert [t["nodeid"] for t in result["tests"]] == [f"tests/test_fake.py::test_{i}" for i in range(9)]
    assert [s["status"] for s in result["shards"]] == ["passed"] * 3
    assert "in emulated runtimes of fake.zip" in err and err.count("dualmode invoke: [") == 3
    assert out.count("----- log tail of shard") == 3 and "fake: ran 3 tests" in out
    assert SECRET not in out + err + (tmp_path / "r.json").read_text()


def test_a_failing_test_in_one_emulated_shard_exits_1(fake_zip, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUALMODE_FAKE_MODE", "fail")
    code, result = invoke(fake_zip, tmp_path, "--shards", "2", "--log-tail", "failed")
    out = capsys.readouterr().out
    assert code == 1 and result["counts"]["failed"] == 1
    assert "FAILED tests/test_fake.py::test_4 - assert 1 == 2" in out
    assert out.count("----- log tail of shard") == 1


def test_a_crashed_runtime_is_re_run_once(fake_zip, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DUALMODE_FAKE_MODE", "crash_once")
    code, result = invoke(fake_zip, tmp_path, "--shards", "3")
    assert code == 0
    first = result["shards"][0]
    assert first["attempts"] == 2 and "Runtime.ExitError" in first["rerun_after"][0]
    assert result["counts"]["passed"] == 9
    assert "re-run after a crash" in capsys.readouterr().err


def test_a_runtime_that_crashes_twice_leaves_its_tests_not_run_and_exits_75(fake_zip, tmp_path, monkeypatch):
    monkeypatch.setenv("DUALMODE_FAKE_MODE", "crash_always")
    code, result = invoke(fake_zip, tmp_path, "--shards", "3")
    assert code == 75 and result["outcome"] == "error" and result["exit_reason"] == "infrastructure"
    assert result["counts"] == {"passed": 6, "failed": 0, "skipped": 0, "errors": 0, "not_run": 3, "flaky": 0}
    assert result["shards"][0]["error_type"] == "Runtime.ExitError"
    assert all("shard 1/3 returned no result (after a re-run)" in n["reason"] for n in result["not_run"])
    assert "Runtime.ExitError" in result["not_run"][0]["reason"]


def test_a_hung_runtime_is_killed_at_the_deadline(fake_zip, tmp_path, monkeypatch):
    monkeypatch.setenv("DUALMODE_FAKE_MODE", "hang")
    code, result = invoke(fake_zip, tmp_path, "--shards", "2", "--timeout", "1")
    assert code == 75
    assert result["shards"][0]["attempts"] == 2
    assert "Sandbox.Timedout" in result["not_run"][0]["reason"]
    assert result["shards"][0]["error_type"] == "Sandbox.Timedout"
