"""``dualmode emulate`` with small hand-made packages: the clean interpreter, Lambda's environment, the
deadline, errors as Lambda reports them, concurrency and bad input. The example suite's package is emulated
in test_package_emulate.py."""

from __future__ import annotations

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

from pytest_dualmode.cli import CliError, main
from pytest_dualmode.cli.emulate import Emulator, emulate_zip

LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

PROBE = """
import json, os, sys, time

def result(**extra):
    return {"schema": "pytest-dualmode.result/1", "outcome": "passed", "exit_code": 0, "summary": "ok",
            **extra}

def handler(event, context):
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "raise":
        raise ValueError("the handler failed")
    if action == "suite_failed":
        class SuiteFailed(Exception):
            pass
        raise SuiteFailed(json.dumps({"schema": "pytest-dualmode.result/1", "outcome": "failed",
                                      "exit_code": 1, "counts": {"passed": 1, "failed": 1}, "failures": []}))
    if action == "memory":
        hog = bytearray(event["mb"] * 1024 * 1024)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
        time.sleep(2)
    if action == "big":
        return result(blob="x" * (7 * 1024 * 1024))
    if action == "write":
        try:
            with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "written.txt"), "w") as f:
                f.write("x")
        except OSError:
            pass
    importable = {}
    for name in ("pytest", "moto", "awslambdaric", "boto3"):
        try:
            __import__(name)
            importable[name] = True
        except ImportError:
            importable[name] = False
    print("probe: handler ran")
    return result(probe={
        "importable": importable,
        "sys_path": sys.path,
        "cwd": os.getcwd(),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "env": {k: v for k, v in os.environ.items()},
        "client": "awslambdaric" if "awslambdaric.bootstrap" in sys.modules else "bootstrap",
        "home_writable": os.access(os.environ["HOME"], os.W_OK),
        "task_root_mode": os.stat(os.environ["LAMBDA_TASK_ROOT"]).st_mode & 0o777,
        "file_mode": os.stat(__file__).st_mode & 0o777,
    })
"""


def make_zip(tmp_path: Path, source: str = PROBE, *, manifest: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "fn.zip"
    info = {
        "schema": "pytest-dualmode.package/1",
        "handler": "probe.handler",
        "python": LOCAL_PYTHON,
        "arch": "x86_64",
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("probe.py", source)
        zf.writestr("dualmode-package.json", json.dumps(manifest if manifest is not None else info))
    return path


@pytest.fixture
def probe_zip(tmp_path: Path) -> Path:
    return make_zip(tmp_path)


@pytest.mark.parametrize("client", ["awslambdaric", "bootstrap"])
def test_the_function_runs_in_a_clean_read_only_lambda_environment(
    probe_zip: Path, client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALMODE_ADDR", "from-caller:443")
    monkeypatch.setenv("DUALMODE_HTTP_ADDR", "https://from-caller")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret-not-real")
    monkeypatch.setenv("UNRELATED_VARIABLE", "1")
    with Emulator(probe_zip, memory_mb=512, client=client) as emulator:
        outcome = emulator.invoke({}, timeout_s=30, env={"DUALMODE_ADDR": "from-flag:443"})
        task_root = emulator.task_root
    assert outcome.result is not None, outcome.error
    probe = outcome.result["probe"]
    assert probe["client"] == client
    # only the zip, the runtime folder (awslambdaric, boto3 as Lambda provides them) and the stdlib
    assert probe["importable"] == {
        "pytest": False,
        "moto": False,
        "awslambdaric": client == "awslambdaric",
        "boto3": True,
    }
    assert probe["sys_path"][0] == str(task_root)
    assert not [p for p in probe["sys_path"] if "site-packages" in p]
    assert probe["cwd"] == str(task_root)
    env = probe["env"]
    assert env["LAMBDA_TASK_ROOT"] == str(task_root)
    assert env["_HANDLER"] == "probe.handler"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "system-tests"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_python{LOCAL_PYTHON}"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"]
    assert env["DUALMODE_ADDR"] == "from-flag:443"  # --env wins over the caller's environment
    assert env["DUALMODE_HTTP_ADDR"] == "https://from-caller"  # DUALMODE_* forwarded
    assert env["AWS_SECRET_ACCESS_KEY"] == "caller-secret-not-real"  # as a role's credentials would be
    assert "UNRELATED_VARIABLE" not in env
    assert not env["HOME"].startswith(str(task_root)) and probe["home_writable"]
    assert not env["TMPDIR"].startswith(str(task_root))
    assert probe["task_root_mode"] == 0o555 and probe["file_mode"] == 0o444
    assert 25_000 < probe["remaining_ms"] <= 30_000
    assert outcome.exit_code == 0 and outcome.function_error is None
    assert outcome.log_tail.splitlines()[0].startswith("START RequestId:")
    assert "probe: handler ran" in outcome.log_tail
    assert outcome.log_tail.splitlines()[-1].startswith("REPORT RequestId:")
    assert "caller-secret-not-real" not in outcome.log_tail
    assert not task_root.exists()  # the emulator removed its read-only task root


def test_the_deadline_kills_the_runtime_and_reports_a_timeout(probe_zip: Path) -> None:
    outcome = emulate_zip(probe_zip, {"action": "sleep", "seconds": 60}, timeout_s=1)
    assert outcome.timed_out
    assert outcome.function_error == "Unhandled"
    assert outcome.error is not None and outcome.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in outcome.error["errorMessage"]
    assert outcome.exit_code == 2
    assert 1.0 <= outcome.duration_s < 10


@pytest.mark.parametrize(
    ("event", "error_type", "exit_code"),
    [
        ({"action": "raise"}, "ValueError", 3),
        ({"action": "suite_failed"}, "SuiteFailed", 1),
        ({"action": "memory", "mb": 300}, "Runtime.OutOfMemory", 3),
        ({"action": "big"}, "Function.ResponseSizeTooLarge", 3),
    ],
)
def test_function_errors_are_reported_as_lambda_reports_them(
    probe_zip: Path, event: dict[str, Any], error_type: str, exit_code: int
) -> None:
    outcome = emulate_zip(probe_zip, event, timeout_s=30, memory_mb=128)
    assert outcome.result is None
    assert outcome.function_error == "Unhandled"
    assert outcome.error is not None and outcome.error["errorType"] == error_type, outcome.error
    assert outcome.exit_code == exit_code


@pytest.mark.parametrize("client", ["awslambdaric", "bootstrap"])
def test_a_module_the_zip_lacks_fails_at_init_with_an_import_error(tmp_path: Path, client: str) -> None:
    zip_path = make_zip(tmp_path, "import pytest  # installed here, not in the zip\n" + PROBE)
    with Emulator(zip_path, client=client) as emulator:
        outcome = emulator.invoke({}, timeout_s=30)
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'probe': No module named 'pytest'" in outcome.error["errorMessage"]
    assert outcome.exit_code == 3


def test_a_write_to_the_task_root_is_reported(probe_zip: Path) -> None:
    outcome = emulate_zip(probe_zip, {"action": "write"}, timeout_s=30)
    assert outcome.result is not None
    # as root, chmod cannot stop the write, so the emulator checks the task root afterwards
    writable_as_this_user = sys.platform == "linux" and __import__("os").geteuid() == 0
    assert outcome.task_root_writes == (["written.txt"] if writable_as_this_user else [])


def test_concurrent_invocations_share_one_task_root(probe_zip: Path) -> None:
    outcomes: list[Any] = []
    with Emulator(probe_zip) as emulator:
        threads = [
            threading.Thread(target=lambda: outcomes.append(emulator.invoke({}, timeout_s=60)))
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert len(outcomes) == 3
    assert all(o.result is not None for o in outcomes)
    homes = {o.result["probe"]["env"]["HOME"] for o in outcomes}
    assert len(homes) == 3  # each its own scratch folder
    assert len({o.result["probe"]["env"]["AWS_LAMBDA_RUNTIME_API"] for o in outcomes}) == 3


def test_the_cli_prints_the_result_and_exits_with_its_code(
    probe_zip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    code = main(["emulate", str(probe_zip), "--timeout", "30", "--json", str(out), "-q", "--event", "{}"])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "ok"
    assert "dualmode emulate: passed, exit code 0" in printed
    assert json.loads(out.read_text())["probe"]["importable"]["pytest"] is False
    event_file = tmp_path / "event.json"
    event_file.write_text('{"action": "suite_failed"}')
    assert main(["emulate", str(probe_zip), "--event", f"@{event_file}", "-q"]) == 1
    assert "function error SuiteFailed: failed (1 passed, 1 failed)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--event", "{not json"], "argument --event: --event is not valid JSON"),
        (["--event", "@no-such-event.json"], "argument --event: cannot read no-such-event.json"),
        (["--timeout", "0"], "argument --timeout: 0 s: Lambda allows 1 to 900 seconds"),
        (["--timeout", "soon"], "argument --timeout: 'soon' is not a number of seconds"),
        (["--env", "NOEQUALS"], "--env 'NOEQUALS': expected NAME=VALUE"),
        (["--env", "TOKEN:hunter2-secret"], "--env 'TOKEN': expected NAME=VALUE"),
        (["--env", "_HANDLER=x.y"], "--env _HANDLER: reserved, the Lambda runtime sets it"),
        (["--memory", "64"], "--memory 64: Lambda allows 128 to 10240 MB"),
    ],
)
def test_bad_arguments_are_named_with_the_fix(
    probe_zip: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["emulate", str(probe_zip), *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert "hunter2" not in err


def test_bad_packages_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"no such file; build one with: dualmode package"):
        Emulator(tmp_path / "missing.zip")
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(CliError, match=r"not a zip file"):
        Emulator(tmp_path / "text.zip")
    other = "arm64" if __import__("platform").machine() in ("x86_64", "AMD64") else "x86_64"
    arm = make_zip(tmp_path, manifest={"handler": "probe.handler", "python": LOCAL_PYTHON, "arch": other})
    with pytest.raises(CliError, match=rf"built for {other} and this machine is .*build with --arch"):
        Emulator(arm)
    future = make_zip(tmp_path, manifest={"handler": "probe.handler", "python": "3.99", "arch": "x86_64"})
    with pytest.raises(CliError, match=r"built for Python 3.99 and there is no python3.99 here"):
        Emulator(future)


ORPHAN = """
import json, os, subprocess, sys, time

def handler(event, context):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(event["pids"] + ".part", "w") as f:
        json.dump({"runtime": os.getpid(), "child": child.pid}, f)
    os.rename(event["pids"] + ".part", event["pids"])
    time.sleep(120)
"""


def _running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process states from /proc")
@pytest.mark.parametrize("client", ["awslambdaric", "bootstrap"])
def test_a_killed_emulator_leaves_no_runtime_running(tmp_path: Path, client: str) -> None:
    """SIGKILL cannot be caught, so the emulator cannot stop its runtimes; they stop themselves, with
    whatever the function started, instead of running the suite on to its deadline."""
    package = make_zip(tmp_path, ORPHAN)
    pids_file = tmp_path / "pids.json"
    event = json.dumps({"pids": str(pids_file)})
    command = [sys.executable, "-m", "pytest_dualmode.cli", "emulate", str(package), "--event", event]
    emulator = subprocess.Popen(
        [*command, "--client", client, "--timeout", "300", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pids: dict[str, int] = {}
    try:
        limit = time.monotonic() + 60
        while not pids_file.exists():
            assert emulator.poll() is None, "the emulator ended before the function started"
            assert time.monotonic() < limit, "the function did not start within 60 s"
            time.sleep(0.1)
        pids = json.loads(pids_file.read_text())
        assert _running(pids["runtime"]) and _running(pids["child"])
    finally:
        emulator.kill()
        emulator.wait(10)
    try:
        limit = time.monotonic() + 10
        while any(_running(pid) for pid in pids.values()) and time.monotonic() < limit:
            time.sleep(0.1)
        assert not [name for name, pid in pids.items() if _running(pid)]
    finally:
        for pid in pids.values():
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
