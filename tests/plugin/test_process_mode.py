"""Process mode through pytester: a small HTTP service script in its own process, started, watched, stopped.

The service (``SERVICE`` below) serves HTTP on ``DUALMODE_HTTP_PORT``, writes its pid to ``PIDFILE``,
prints what it is told to, exits with code 7 on ``GET /die``, with ``IGNORE_TERM`` ignores SIGTERM, and with
``BIND_ZERO`` binds a port of its own choosing (which only its ready lines tell).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_dualmode import ProcessService

SERVICE = r"""
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(os.environ["PIDFILE"], "a") as fh:
    fh.write(f"{os.getpid()}\n")
print(os.environ.get("SAY", "service booting"), flush=True)

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/die":
            print("told to die", flush=True)
            os._exit(7)
        body = f"hello {self.path} {os.environ['AWS_REGION']} {os.environ['DUALMODE_DYNAMODB_ENDPOINT'][:7]}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())
    def log_message(self, *args):
        pass

port = 0 if os.environ.get("BIND_ZERO") else int(os.environ["DUALMODE_HTTP_PORT"])
server = HTTPServer(("127.0.0.1", port), Handler)
print("READY on", server.server_address[1], flush=True)
print('{"http": "http://127.0.0.1:%d"}' % server.server_address[1], flush=True)
server.serve_forever()
"""


def _project(
    pytester: pytest.Pytester, tests: str, env: dict[str, str] | None = None, **options: str
) -> Path:
    """A project whose ``dualmode_service`` runs SERVICE with ``env``; ``options`` are more ProcessService
    arguments (as source text)."""
    script = pytester.path / "service.py"
    script.write_text(SERVICE)
    pidfile = pytester.path / "pids.txt"
    options = {"ready": repr(r"line:READY on (?P<http_port>\d+)"), **options}
    extra = ", ".join(f"{key}={value}" for key, value in options.items())
    pytester.makeconftest(
        f"""
import sys
import pytest
from pytest_dualmode import ProcessService

@pytest.fixture(scope="session")
def dualmode_service():
    return ProcessService(
        command=[sys.executable, {str(script)!r}, "--port", "{{http_port}}"],
        grpc=False,
        env={ {"PIDFILE": str(pidfile), **(env or {})}!r},
        {extra},
    )
"""
    )
    pytester.makepyfile(test_it=tests)
    return pidfile


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too (it only waits for its parent to reap it)
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_process_serves_signed_http_and_stops_at_session_end(pytester: pytest.Pytester) -> None:
    pidfile = _project(
        pytester,
        """
def test_one(http):
    assert http.get("/x").text == "hello /x us-east-1 http://"

def test_two(http, dualmode_local_stack):
    assert http.get("/y").status_code == 200
    assert "process" in dualmode_local_stack.started
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 1  # one process for the session
    assert _wait_gone(pids[0])


@pytest.mark.parametrize("ready", ["http:/healthz", "tcp", r"line:READY on (?P<http_port>\d+)"])
def test_process_readiness_kinds_each_let_the_tests_run(pytester: pytest.Pytester, ready: str) -> None:
    _project(pytester, "def test_a(http):\n    assert http.get('/x').status_code == 200\n", ready=repr(ready))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_process_json_readiness_skips_json_log_lines(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        "def test_a(http):\n    assert http.get('/x').status_code == 200\n",
        # a JSON log line first (braces escaped: not placeholders); the port is only on the ready line
        env={"SAY": '{{"level": "info", "msg": "booting"}}', "BIND_ZERO": "1"},
        ready=repr("json"),
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_process_without_sigv4_the_tests_dial_the_process_itself(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        """
def test_direct(http, dualmode_http_url, dualmode_local_stack):
    assert http.get("/x").status_code == 200
    _, tail = dualmode_local_stack.process_log_tail()  # "READY on PORT": the port the service bound
    assert dualmode_http_url == "http://127.0.0.1:" + tail.splitlines()[1].split()[-1]
""",
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-sigv4").assert_outcomes(passed=1)


def test_process_unsigned_request_is_refused_by_the_front_door(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        """
import requests

def test_unsigned(dualmode_http_url):
    assert requests.get(dualmode_http_url + "/x", timeout=10).status_code == 403
""",
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_process_failing_test_shows_the_service_log_tail(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        """
def test_fails(http):
    assert http.get("/x").status_code == 500
""",
        env={"SAY": "the service says hello"},
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*dualmode service log (last lines of *service.log)*", "*the service says hello*"]
    )


def test_process_exit_during_the_run_fails_the_next_test_at_once(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        """
def test_kills_it(http):
    assert http.get("/die").status_code == 502  # the front door: the service did not answer

def test_next(http):
    assert http.get("/x").status_code == 200

def test_without_the_service():
    pass
""",
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*exited with code 7 during the run*", "*told to die*"])
    assert time.monotonic() - started < 60  # no test waited out a timeout on a dead service


def test_process_never_ready_names_what_it_waited_for_with_the_log_tail(pytester: pytest.Pytester) -> None:
    _project(pytester, "def test_a(http):\n    pass\n", ready='"line:NEVER"', ready_timeout="1")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*was not ready within 1s (waiting for an output line matching 'NEVER')*", "*service booting*"]
    )


def test_process_that_exits_before_ready_shows_its_exit_code(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import sys, pytest
from pytest_dualmode import ProcessService

@pytest.fixture(scope="session")
def dualmode_service():
    return ProcessService(
        command=[sys.executable, "-c", "print('bad configuration: no table'); raise SystemExit(3)"],
        grpc=False, ready="tcp",
    )
"""
    )
    pytester.makepyfile(test_it="def test_a(http):\n    pass\n\ndef test_b(http):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*exited with code 3 before it was ready*", "*bad configuration: no table*"])


def test_process_ignoring_sigterm_is_killed_after_the_grace_period(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        "def test_a(http):\n    assert http.get('/x').status_code == 200\n",
        env={"IGNORE_TERM": "1"},
        stop_grace="0.5",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert _wait_gone(int((pytester.path / "pids.txt").read_text().split()[0]))


def test_process_build_step_failure_shows_the_build_output(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import sys, pytest
from pytest_dualmode import ProcessService

@pytest.fixture(scope="session")
def dualmode_service():
    return ProcessService(
        command=["bin/not-built-yet"], grpc=False, ready="tcp",
        build=[sys.executable, "-c", "print('main.go:3: undefined: Serve'); raise SystemExit(2)"],
    )
"""
    )
    pytester.makepyfile(test_it="def test_a(http):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the build step*failed with exit code 2*", "*main.go:3: undefined: Serve*"])


@pytest.mark.parametrize("setpriv", [True, False], ids=["setpriv", "launcher"])
def test_process_sigkilled_pytest_leaves_no_service_running(pytester: pytest.Pytester, setpriv: bool) -> None:
    pidfile = _project(
        pytester,
        """
import os, time

def test_hangs(http):
    assert http.get("/x").status_code == 200
    open("started", "w").close()
    time.sleep(120)
""",
    )
    pytest_run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # without setpriv on PATH the plugin falls back to its launcher
        env=None if setpriv else {**os.environ, "PATH": str(Path(sys.executable).parent)},
    )
    try:
        deadline = time.monotonic() + 60
        while not (pytester.path / "started").exists():
            assert pytest_run.poll() is None and time.monotonic() < deadline, "the test never started"
            time.sleep(0.05)
        pid = int(pidfile.read_text().split()[0])
        assert _alive(pid)
        pytest_run.send_signal(signal.SIGKILL)
        pytest_run.wait(10)
        assert _wait_gone(pid), f"the service (pid {pid}) outlived a SIGKILLed pytest"
    finally:
        if pytest_run.poll() is None:
            pytest_run.kill()
            pytest_run.wait(10)


def test_process_one_service_per_xdist_worker(pytester: pytest.Pytester) -> None:
    pidfile = _project(
        pytester,
        "".join(f"def test_{i}(http):\n    assert http.get('/x').status_code == 200\n\n" for i in range(3)),
    )
    # --dist each: every worker runs every test, so both surely start their service
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", "each")
    result.assert_outcomes(passed=6)
    pids = {int(p) for p in pidfile.read_text().split()}
    assert len(pids) == 2
    assert all(_wait_gone(pid) for pid in pids)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"command": ["svc", "--port", "{grpc}"]}, "unknown placeholder {grpc}"),
        ({"command": ["/no/such/service-binary"]}, "/no/such/service-binary does not exist"),
        ({"command": ["no-such-program-on-path-dualmode"]}, "no such program on PATH"),
        ({"command": [sys.executable], "grpc_port": 9001, "http_port": 9001}, "port 9001 is given twice"),
        ({"command": [sys.executable], "ready": "banana"}, "unknown readiness"),
        ({"command": [sys.executable], "ready": "line:("}, "the regex does not compile"),
        ({"command": [sys.executable], "grpc": False, "ready": "grpc-health"}, "has no gRPC API"),
        ({"command": "python -m svc"}, "give the argv as a list of strings"),
        ({"command": [sys.executable], "env": {"X": "{nope}"}}, "unknown placeholder {nope}"),
        ({"command": [sys.executable], "cwd": "/no/such/dir"}, "no such directory"),
        (
            {"command": ["bin/svc"], "build": ["no-such-compiler-dualmode"]},
            "build 'no-such-compiler-dualmode'",
        ),
    ],
)
def test_process_bad_input_is_refused_with_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError)) as refused:
        ProcessService(**kwargs)  # type: ignore[arg-type]
    assert message in str(refused.value)


def test_process_bad_input_fails_before_the_first_test_body(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest
from pytest_dualmode import ProcessService

@pytest.fixture(scope="session")
def dualmode_service():
    return ProcessService(command=["svc", "{grpc_prot}"])
"""
    )
    pytester.makepyfile(test_it="def test_a(grpc_channel):\n    raise AssertionError('ran')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown placeholder {grpc_prot}*"])
    result.stdout.no_fnmatch_line("*AssertionError: ran*")


CHILD_DEATH_SIGNAL = (
    "import ctypes; libc = ctypes.CDLL(None); sig = ctypes.c_int(0); "
    "libc.prctl(2, ctypes.byref(sig), 0, 0, 0); print(sig.value)"  # PR_GET_PDEATHSIG
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("setpriv", [True, False], ids=["setpriv", "launcher"])
def test_process_child_gets_sigkill_as_its_parent_death_signal(
    setpriv: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from pytest_dualmode.local import process

    if setpriv and shutil.which("setpriv") is None:
        pytest.fail("util-linux's setpriv is missing: install util-linux (Debian has it in every image)")
    if not setpriv:
        monkeypatch.setattr(process.shutil, "which", lambda name: None)
    argv = process._die_with_parent([sys.executable, "-c", CHILD_DEATH_SIGNAL])
    assert argv[0].endswith("setpriv") == setpriv
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    assert int(out.stdout) == signal.SIGKILL


def test_process_retries_on_new_ports_when_a_picked_port_was_taken(pytester: pytest.Pytester) -> None:
    """The port the plugin picked is taken before the service binds it (here: on purpose, a listening
    socket of the conftest's): the service fails with EADDRINUSE and is started again on a new port."""
    pidfile = _project(
        pytester,
        """
def test_served(http):
    assert http.get("/x").status_code == 200
""",
    )
    conftest = pytester.path / "conftest.py"
    conftest.write_text(
        """
import socket
import pytest_dualmode.local.process as process

TAKEN = socket.socket()
TAKEN.bind(("127.0.0.1", 0))
TAKEN.listen()
_picks = iter([TAKEN.getsockname()[1]])
_free_port = process.free_port
process.free_port = lambda host="127.0.0.1": next(_picks, None) or _free_port(host)
"""
        + conftest.read_text()
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert len(pidfile.read_text().split()) == 2  # the first start lost the port, the second served


def test_process_failing_for_another_reason_is_not_started_again(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import os, sys, pytest
from pytest_dualmode import ProcessService

@pytest.fixture(scope="session")
def dualmode_service():
    code = "import os; open(os.environ['COUNT'], 'a').write('x'); print('no such table'); raise SystemExit(2)"
    return ProcessService(command=[sys.executable, "-c", code], grpc=False, ready="tcp",
                          env={"COUNT": os.path.join(os.getcwd(), "count.txt")})
"""
    )
    pytester.makepyfile(test_it="def test_a(http):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*exited with code 2 before it was ready*", "*no such table*"])
    assert (pytester.path / "count.txt").read_text() == "x"  # one start only
