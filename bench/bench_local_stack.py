"""Local stack start to the first green gRPC and HTTP request: the plugin vs the same parts by hand.

Each sample is a fresh ``python -m pytest`` process (cold imports, as a developer meets them) that
runs one test against the example service: a gRPC ``Add`` and then an HTTP ``GET`` of the same
suppression, which must answer 200. The variants differ only in how the servers come up:

- ``plugin``: the plugin's ``grpc_channel`` and ``http`` fixtures, the service built in a
  ``dualmode_service`` fixture on the plugin's ``dynamodb`` fixture (signing off, see below). Its
  DynamoDB HTTP endpoint listens from the start but builds moto's server app (Flask) only on its
  first HTTP request; this test sends none, so that import is part of ``by hand`` only.
- ``by hand``: the same run with ``-p no:dualmode``; a session fixture starts the same components
  itself: moto's server app on a keep-alive WSGI server with a boto3 client over HTTP,
  ``grpc.server`` on 127.0.0.1:0, and a WSGI server for the service's app.
- ``plugin+sigv4`` (shown when SigV4 is available): the plugin's default, every request signed and
  verified. Signing is a feature, not overhead, so the target compares ``plugin`` with ``by hand``.

Why two pytest runs rather than the plugin vs a plain script: both sides then pay the same pytest
start-up and collection, so the difference is what the plugin adds (its import, settings, fixtures,
readiness checks), not pytest itself. Other installed pytest plugins are blocked in every variant.

The child writes the wall-clock time at which both requests were green; the figure is that time
minus the moment the parent spawned it. The whole process (with teardown) is reported beside it,
in wall time and in CPU time. Variants are interleaved (order rotated each round); the ratio is the
median of the per-round ratios, so a change in the machine's load mostly cancels out. Target:
plugin overhead <= 10%.

Run: ``python bench/bench_local_stack.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import clean_env, machine_line, other_plugins

TARGET_OVERHEAD = 0.10
TIME_BUDGET = 35.0  # seconds for the timed rounds: no round starts that would end past it
CHILD_TIMEOUT = 30.0

PLUGIN_CONFTEST = """
import pytest
from pytest_dualmode import LocalService


@pytest.fixture(scope="session")
def dualmode_service(dynamodb):
    from example_service import SuppressionService

    svc = SuppressionService(dynamodb, table="bench")
    return LocalService(grpc=svc.register_grpc, http=svc.wsgi_app)
"""

PLUGIN_TEST = """
import os
import time

from example_service.gen.suppression.v1 import suppression_pb2 as pb
from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc


def test_first_green(grpc_channel, http):
    stub = pb_grpc.SuppressionServiceStub(grpc_channel)
    stub.Add(pb.AddRequest(account_id="acct-1", email="a@example.com"), timeout=10)
    assert http.get("/v1/suppressions/acct-1/a@example.com", timeout=10).status_code == 200
    with open(os.environ["BENCH_GREEN_FILE"], "w") as fh:
        fh.write(repr(time.time()))
"""

BY_HAND_TEST = """
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from example_service.gen.suppression.v1 import suppression_pb2 as pb
from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc


@pytest.fixture(scope="session")
def servers():
    import boto3
    import grpc
    import requests
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from example_service import SuppressionService
    from pytest_dualmode.local.http_server import WsgiServer

    moto = WsgiServer(DomainDispatcherApplication(create_backend_app)).start()
    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=moto.url, region_name="us-east-1",
        aws_access_key_id="AKIDBENCH", aws_secret_access_key="bench-fake",
    )
    svc = SuppressionService(client, table="bench")
    grpc_server = grpc.server(ThreadPoolExecutor(max_workers=16))
    svc.register_grpc(grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    web = WsgiServer(svc.wsgi_app).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    session = requests.Session()
    yield channel, session, web.url
    session.close()
    channel.close()
    web.stop()
    grpc_server.stop(1).wait(6)
    moto.stop()


def test_first_green(servers):
    channel, session, url = servers
    stub = pb_grpc.SuppressionServiceStub(channel)
    stub.Add(pb.AddRequest(account_id="acct-1", email="a@example.com"), timeout=10)
    assert session.get(url + "/v1/suppressions/acct-1/a@example.com", timeout=10).status_code == 200
    with open(os.environ["BENCH_GREEN_FILE"], "w") as fh:
        fh.write(repr(time.time()))
"""


def sigv4_available() -> bool:
    """True when the plugin's SigV4 signer and verifier can be imported (checked in a subprocess)."""
    probe = (
        "import pytest_dualmode.sigv4.verifier, pytest_dualmode.sigv4.signer, pytest_dualmode.sigv4.transport"
    )
    return (
        subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, timeout=60).returncode
        == 0
    )


def make_projects(root: Path) -> dict[str, tuple[Path, list[str], dict[str, str]]]:
    """One pytest project per variant: its directory, extra pytest arguments and extra environment."""
    layouts = {
        "plugin": (
            {"conftest.py": PLUGIN_CONFTEST, "test_bench.py": PLUGIN_TEST},
            [],
            {"DUALMODE_NO_SIGV4": "1"},
        ),
        "by_hand": ({"test_bench.py": BY_HAND_TEST}, ["-p", "no:dualmode"], {}),
    }
    projects: dict[str, tuple[Path, list[str], dict[str, str]]] = {}
    for name, (files, args, env) in layouts.items():
        path = root / name
        path.mkdir()
        (path / "pytest.ini").write_text("[pytest]\n")  # keep any enclosing project's config out
        for filename, text in files.items():
            (path / filename).write_text(text)
        projects[name] = (path, args, env)
    return projects


def run_once(
    path: Path, args: list[str], env: dict[str, str], base_env: dict[str, str]
) -> tuple[float, float, float]:
    """Run the project's test once.

    Returns seconds to the first green requests, seconds for the whole process, and the CPU
    seconds (user + system) the process used, which depend less on the machine's load than wall time.
    """
    green_file = path / "green.txt"
    green_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_bench.py"]
    child_env = {**base_env, **env, "BENCH_GREEN_FILE": str(green_file)}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start_wall, start = time.time(), time.perf_counter()
    proc = subprocess.run(
        cmd, check=False, cwd=path, env=child_env, capture_output=True, text=True, timeout=CHILD_TIMEOUT
    )
    total = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    if proc.returncode != 0 or not green_file.exists():
        sys.exit(f"benchmark run failed ({' '.join(cmd[1:])} in {path}):\n{proc.stdout}\n{proc.stderr}")
    return float(green_file.read_text()) - start_wall, total, cpu


def main() -> None:
    """Interleave the variants over several rounds and print medians and ratios side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="samples per variant (default 6)")
    opts = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    base_env = clean_env()
    with tempfile.TemporaryDirectory(prefix="dualmode-bench-") as tmp:
        projects = make_projects(Path(tmp))
        blocked = other_plugins()
        projects = {name: (path, [*blocked, *args], env) for name, (path, args, env) in projects.items()}
        if sigv4_available():
            projects["plugin+sigv4"] = (projects["plugin"][0], blocked, {})
        else:
            print(
                "note: pytest_dualmode.sigv4 (signer/verifier) is not importable yet; "
                "measured with signing off"
            )
        names = list(projects)
        for name in names:  # warm the file-system and bytecode caches once, not measured
            run_once(*projects[name], base_env)
        green: dict[str, list[float]] = {n: [] for n in names}
        total: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        deadline = time.monotonic() + TIME_BUDGET
        round_time = 0.0
        for rnd in range(opts.rounds):
            if time.monotonic() + round_time > deadline:
                print(f"note: time budget reached after {rnd} rounds")
                break
            round_start = time.monotonic()
            for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
                g, t, c = run_once(*projects[name], base_env)
                green[name].append(g)
                total[name].append(t)
                cpu[name].append(c)
            round_time = time.monotonic() - round_start

    def vs_by_hand(name: str) -> float:
        # the median of per-round ratios: the variants of a round run back to back
        return statistics.median(a / b for a, b in zip(green[name], green["by_hand"], strict=True))

    print(
        f"\nlocal stack: process start -> first green gRPC Add + HTTP GET (example service), "
        f"{len(green['by_hand'])} interleaved rounds, medians"
    )
    print(f"{'variant':<14}{'to green ms':>13}{'vs by hand':>12}{'whole run ms':>14}{'whole run CPU ms':>18}")
    for name in names:
        print(
            f"{name:<14}{statistics.median(green[name]) * 1000:>13.0f}{vs_by_hand(name):>11.2f}x"
            f"{statistics.median(total[name]) * 1000:>14.0f}{statistics.median(cpu[name]) * 1000:>18.0f}"
        )
    overhead = vs_by_hand("plugin") - 1
    verdict = "met" if overhead <= TARGET_OVERHEAD else "MISSED"
    print(
        f"plugin overhead over by hand: {overhead * 100:+.1f}%, median of per-round ratios "
        f"(target <= {TARGET_OVERHEAD * 100:.0f}%: {verdict})"
    )
    print(machine_line(load_at_start))


if __name__ == "__main__":
    main()
