"""Warm emulated runtimes: reuse, what is never reused, pre-started runtimes, and no process left behind.

A small probe handler records the process id of every runtime that starts (at init, in a folder passed as a
``DUALMODE_*`` variable, which the emulator forwards), so each test can tell which runtime served what and
check afterwards that none of them is still running. The real handler's fresh results on a warm runtime
are checked with a package of pytest and the plugin.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

import pytest_dualmode
from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.emulate import EmulationOutcome, Emulator

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

PROBE = """
import json, os, sys, time

INIT_PID = os.getpid()  # module import is the runtime's init
open(os.path.join(os.environ["DUALMODE_PROBE_DIR"], f"{INIT_PID}.pid"), "w").close()
SERVED = []


def result(tests=(), **extra):
    counts = {"passed": len(tests), "failed": 0, "skipped": 0, "errors": 0, "not_run": 0}
    return {"schema": "pytest-dualmode.result/1", "outcome": "passed", "exit_code": 0, "counts": counts,
            "tests": list(tests), "not_run": [], "duration_s": 0.0, "junit_xml": None, "summary": "ok",
            **extra}


def handler(event, context):
    SERVED.append(event.get("n"))
    action = event.get("action")
    if event.get("collect_only"):
        return result(collected=[f"tests/test_probe.py::test_{i}" for i in range(4)])
    if action == "exit":
        os._exit(3)
    if action == "sleep" or (event.get("shard") or {}).get("index") is not None:
        open(os.path.join(os.environ["DUALMODE_PROBE_DIR"], f"{os.getpid()}.busy"), "w").close()
        time.sleep(event.get("seconds", 60))
    print(f"probe: served {SERVED}", flush=True)
    env = {k: v for k, v in os.environ.items() if k.startswith("DUALMODE_")}
    init_type = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
    return result(pid=os.getpid(), served=list(SERVED), init_type=init_type, env=env)
"""


@pytest.fixture
def pid_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where each runtime records its process id at init (forwarded to the runtimes as DUALMODE_PROBE_DIR)."""
    folder = tmp_path / "pids"
    folder.mkdir()
    monkeypatch.setenv("DUALMODE_PROBE_DIR", str(folder))
    return folder


@pytest.fixture
def probe_zip(tmp_path: Path) -> Path:
    """A package whose handler is the probe above."""
    path = tmp_path / "probe.zip"
    manifest = {"schema": "pytest-dualmode.package/1", "handler": "probe.handler", "python": PYTHON}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("probe.py", PROBE)
        zf.writestr("dualmode-package.json", json.dumps(manifest))
    return path


def started_pids(pid_dir: Path) -> set[int]:
    """Every runtime process that has started so far."""
    return {int(p.stem) for p in pid_dir.glob("*.pid")}


def running(pid: int) -> bool:
    """The process exists and is not a zombie (a killed one not yet reaped by an exited parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def result_of(outcome: EmulationOutcome) -> dict[str, Any]:
    """The run result, which the invocation must have returned."""
    assert outcome.result is not None, (outcome.error, outcome.log_tail)
    return outcome.result


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    limit = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < limit, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.05)


def test_a_warm_runtime_serves_the_next_invocation_and_starts_it_faster(
    probe_zip: Path, pid_dir: Path
) -> None:
    with Emulator(probe_zip, keep_warm=True) as emulator:
        first = emulator.invoke({"n": 1}, timeout_s=30)
        second = emulator.invoke({"n": 2}, timeout_s=30)
        assert emulator.processes == 1
    assert first.cold_start and not second.cold_start
    assert result_of(first)["pid"] == result_of(second)["pid"]
    assert result_of(second)["served"] == [1, 2]  # the same process, answering the second event
    assert second.start_s < first.start_s  # no interpreter, runtime client or init to wait for
    assert "Init Duration:" in first.log_tail.splitlines()[-1]  # REPORT, as Lambda writes it on a cold start
    assert "Init Duration:" not in second.log_tail
    assert second.log_tail.splitlines()[0].startswith("START RequestId:")
    assert "probe: served [1, 2]" in second.log_tail and "served [1]\n" not in second.log_tail
    assert started_pids(pid_dir) == {result_of(first)["pid"]}
    assert not running(result_of(first)["pid"])  # close() stopped the idle runtime


@pytest.mark.parametrize(
    ("event", "timeout_s", "error_type"),
    [
        ({"action": "exit"}, 30, "Runtime.ExitError"),
        ({"action": "sleep", "seconds": 30}, 1, "Sandbox.Timedout"),
    ],
    ids=["crashed", "timed-out"],
)
def test_a_crashed_or_timed_out_runtime_is_never_reused(
    probe_zip: Path, pid_dir: Path, event: dict[str, Any], timeout_s: float, error_type: str
) -> None:
    with Emulator(probe_zip, keep_warm=True) as emulator:
        before = emulator.invoke({"n": 1}, timeout_s=30)
        failed = emulator.invoke(event, timeout_s=timeout_s)  # served by the warm runtime, which it ends
        assert failed.error is not None and failed.error["errorType"] == error_type, failed.error
        assert not failed.cold_start
        assert emulator.processes == 0  # killed, not put back
        after = emulator.invoke({"n": 3}, timeout_s=30)
    assert after.cold_start and result_of(after)["pid"] != result_of(before)["pid"]
    assert result_of(after)["served"] == [3]
    assert not running(result_of(before)["pid"])


def test_a_runtime_is_reused_only_with_the_same_environment(
    probe_zip: Path, pid_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(probe_zip, keep_warm=True) as emulator:
        a = emulator.invoke({}, timeout_s=30, env={"DUALMODE_ADDR": "a:1"})
        b = emulator.invoke({}, timeout_s=30, env={"DUALMODE_ADDR": "b:2"})
        monkeypatch.setenv("DUALMODE_HTTP_ADDR", "http://forwarded")  # the function's configuration changed
        c = emulator.invoke({}, timeout_s=30, env={"DUALMODE_ADDR": "b:2"})
        d = emulator.invoke({}, timeout_s=30, env={"DUALMODE_ADDR": "b:2"})
        assert emulator.processes == 1  # the runtime of another environment made room for the new one
    results = [result_of(o) for o in (a, b, c, d)]
    assert [o.cold_start for o in (a, b, c, d)] == [True, True, True, False]
    assert [r["env"].get("DUALMODE_ADDR") for r in results] == ["a:1", "b:2", "b:2", "b:2"]
    assert "DUALMODE_HTTP_ADDR" not in results[1]["env"]
    assert results[3]["env"]["DUALMODE_HTTP_ADDR"] == "http://forwarded"
    assert len({r["pid"] for r in results}) == 3
    assert not any(running(pid) for pid in started_pids(pid_dir))


def test_pre_started_runtimes_serve_concurrent_invocations_like_provisioned_concurrency(
    probe_zip: Path, pid_dir: Path
) -> None:
    with Emulator(probe_zip, keep_warm=True) as emulator:
        assert emulator.warm(3) == 3
        prestarted = started_pids(pid_dir)
        assert len(prestarted) == 3 and emulator.processes == 3
        outcomes: list[Any] = []
        threads = [
            threading.Thread(
                target=lambda: outcomes.append(emulator.invoke({"action": "sleep", "seconds": 1}))
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert emulator.processes == 3
        assert emulator.warm(3) == 3  # already there: nothing more starts
    assert len(outcomes) == 3 and not any(o.cold_start for o in outcomes)
    assert {result_of(o)["pid"] for o in outcomes} == prestarted == started_pids(pid_dir)
    assert {result_of(o)["init_type"] for o in outcomes} == {"provisioned-concurrency"}
    assert not any(running(pid) for pid in prestarted)
    with Emulator(probe_zip) as cold, pytest.raises(ValueError, match=r"warm\(\) needs keep_warm=True"):
        cold.warm(2)


@pytest.mark.parametrize("keep_warm", [True, False], ids=["warm", "cold"])
def test_close_kills_busy_and_idle_runtimes_and_refuses_new_invocations(
    probe_zip: Path, pid_dir: Path, keep_warm: bool
) -> None:
    emulator = Emulator(probe_zip, keep_warm=keep_warm)
    if keep_warm:
        emulator.warm(2)
    outcomes: list[Any] = []
    busy = threading.Thread(
        target=lambda: outcomes.append(emulator.invoke({"action": "sleep", "seconds": 60}, timeout_s=120))
    )
    busy.start()
    wait_for(lambda: len(started_pids(pid_dir)) == (2 if keep_warm else 1), 30, "the runtimes to start")
    wait_for(lambda: any(pid_dir.glob("*.busy")), 30, "the busy runtime to take its event")
    pids = started_pids(pid_dir)
    started = time.monotonic()
    emulator.close()
    busy.join(timeout=15)
    assert not busy.is_alive() and time.monotonic() - started < 15
    assert not any(running(pid) for pid in pids)
    assert outcomes and (outcomes[0].error or {}).get("errorType") == "Runtime.ExitError"
    assert emulator.processes == 0
    with pytest.raises(CliError, match="the emulator is closed"):
        emulator.invoke({}, timeout_s=30)


@pytest.fixture(scope="module")
def pytest_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package of pytest, the plugin and a two-test suite whose outcome depends on the event's ``env``."""
    path = tmp_path_factory.mktemp("warm-suite") / "suite.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for dist in ("pytest", "pluggy", "iniconfig", "packaging", "pygments"):
            for file in importlib.metadata.distribution(dist).files or []:
                name = str(file)
                if not (name.startswith("..") or "__pycache__" in name or name.endswith(".pyc")):
                    zf.write(file.locate(), name)
        plugin = Path(pytest_dualmode.__file__).parent
        for source in sorted(plugin.rglob("*")):
            if source.is_file() and "__pycache__" not in source.parts:
                zf.write(source, f"pytest_dualmode/{source.relative_to(plugin)}")
        zf.writestr(
            "tests/test_warm.py",
            "import os\n\n"
            "def test_mode():\n    assert os.environ.get('WARM_MODE', 'pass') == 'pass'\n\n"
            "def test_env_is_restored():\n    assert 'LEFT_BEHIND' not in os.environ\n"
            "    os.environ['LEFT_BEHIND'] = '1'\n",
        )
        zf.writestr("pytest.ini", "[pytest]\ntestpaths = tests\naddopts = -p no:cacheprovider\n")
        manifest = {"handler": "pytest_dualmode.aws_lambda.handler", "python": PYTHON}
        zf.writestr("dualmode-package.json", json.dumps(manifest))
    return path


def test_the_handler_gives_fresh_results_on_a_warm_runtime(pytest_zip: Path) -> None:
    events = [{}, {"env": {"WARM_MODE": "fail"}}, {}]
    with Emulator(pytest_zip, keep_warm=True) as emulator:
        outcomes = [emulator.invoke({**e, "raise_on_failure": False}, timeout_s=120) for e in events]
        assert emulator.processes == 1
    results = [result_of(o) for o in outcomes]
    assert [o.cold_start for o in outcomes] == [True, False, False]
    assert [r["outcome"] for r in results] == ["passed", "failed", "passed"]
    assert [r["counts"]["passed"] for r in results] == [2, 1, 2]  # the variable set by a test did not stay
    assert results[0]["junit_xml"] != results[1]["junit_xml"]


def test_a_warm_runtime_refuses_an_event_that_avoids_it_and_fresh_always_starts_another(
    pytest_zip: Path,
) -> None:
    with Emulator(pytest_zip, keep_warm=True) as emulator:
        first = result_of(emulator.invoke({"raise_on_failure": False}, timeout_s=120))
        env = first["environment"]["id"]
        # the same warm runtime gets an event that must avoid it: the handler exits, Lambda-style
        refused = emulator.invoke({"raise_on_failure": False, "avoid_environments": [env]}, timeout_s=120)
        assert refused.result is None and (refused.error or {}).get("errorType") == "Runtime.ExitError"
        assert "dualmode: environment refused the run" in refused.log_tail
        again = result_of(emulator.invoke({"raise_on_failure": False}, timeout_s=120))
        fresh = emulator.invoke({"raise_on_failure": False}, timeout_s=120, fresh=True)
    assert again["environment"]["id"] != env  # the refusing runtime was retired
    assert fresh.cold_start and result_of(fresh)["environment"]["id"] not in (env, again["environment"]["id"])
    assert "Billed Duration: " in fresh.log_tail and fresh.billed_ms is not None and fresh.billed_ms >= 1


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_an_emulated_fan_out_leaves_no_runtime_running(
    probe_zip: Path, pid_dir: Path, tmp_path: Path, stop_signal: int
) -> None:
    command = [sys.executable, "-m", "pytest_dualmode.cli", "invoke", "--emulate", str(probe_zip)]
    process = subprocess.Popen(
        [*command, "--shards", "3", "--timeout", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DUALMODE_PROBE_DIR": str(pid_dir)},
    )
    try:
        wait_for(lambda: len(started_pids(pid_dir)) >= 3, 60, "three runtimes to start")
        # Each shard's handler marks its runtime busy before it sleeps: all three have taken their events.
        wait_for(lambda: len(list(pid_dir.glob("*.busy"))) >= 3, 60, "three shards to be running")
        pids = started_pids(pid_dir)
        assert all(running(pid) for pid in pids)
        interrupted = time.monotonic()
        process.send_signal(stop_signal)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 130, err[-2000:]
    assert "dualmode: interrupted" in err
    assert "3 of 3 emulated runtimes ready" in err and "provisioned concurrency" in err
    assert time.monotonic() - interrupted < 30
    assert len(pids) == 3  # the collection's runtime served a shard: three processes for three shards
    assert not any(running(pid) for pid in pids), [p for p in pids if running(p)]
    assert "Traceback" not in err
