"""Process mode: local-stack start to first green vs the same binary started by hand; suite wall times.

Part 1, start to first green (in this process, variants interleaved, order rotated every round):

- ``plugin``: ``LocalStack().serve_grpc(ProcessService(...))`` (the embedded DynamoDB, the picked ports,
  the start, the readiness wait), then a gRPC ``Add`` and ``Get`` that must succeed, then the stop.
  Signing off, as in ``bench_local_stack.py``: the front door is a feature, not overhead;
  ``plugin+sigv4`` shows it beside (the verifying reverse proxy and a signed channel).
- ``by hand``: the same parts written plainly: ``EmbeddedDynamoDB().start()``, two free ports,
  ``subprocess.Popen`` of the same command and environment, the same readiness (a gRPC health
  ``Check`` polled until SERVING for the Go service; the JSON ready line read from the pipe for the
  Python one), then the same two calls on a new channel (a test's own, as ``grpc_channel`` is on the
  plugin's side), SIGTERM.

Both variants create the Go service's table from its template first (it creates none), as
``--dynamodb-tables`` does.

For each service (the Go example, and ``python -m example_service``) the figure is the median of the
per-round ratios plugin / by hand. Target: <= 1.10.

Part 2, suite wall time: ``pytest tests/go_service`` (its build step included: the binary is built
first, so the step only finds it up to date; that check is timed beside) and the Python example's
``pytest tests/system`` in-process and in process mode, each a fresh pytest process, printed side by
side with tests per second.

Run: ``python bench/bench_process.py [--rounds N] [--suite-rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import clean_env, machine_line

ROOT = Path(__file__).resolve().parents[1]
GO_BINARY = ROOT / "examples" / "go_service" / "bin" / "suppression-go"
GO_TABLES = ROOT / "examples" / "go_service" / "tables.yaml"
TARGET = 1.10


def create_go_table(client: Any) -> None:
    """The Go service's table, from its template (the service creates none); the same in both variants."""
    from pytest_dualmode.tables import load_file
    from pytest_dualmode.tables.local import create_tables

    create_tables(client, load_file(str(GO_TABLES), "us-east-1"))


def go_service() -> Any:
    from pytest_dualmode import ProcessService

    return ProcessService(
        command=[str(GO_BINARY), "-grpc-port", "{grpc_port}", "-http-port", "{http_port}"],
        env={"DYNAMODB_ENDPOINT": "{dynamodb_endpoint}"},
        ready="grpc-health",
    )


def python_service() -> Any:
    from pytest_dualmode import ProcessService

    return ProcessService(
        command=[
            *(sys.executable, "-m", "example_service", "--dynamodb-endpoint", "{dynamodb_endpoint}"),
            *("--grpc-port", "{grpc_port}", "--http-port", "{http_port}"),
        ],
        ready="json",
    )


def first_green(channel: Any) -> None:
    """An Add and a Get of the same suppression, both answered."""
    from example_service.gen.suppression.v1 import suppression_pb2 as pb
    from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc

    stub = pb_grpc.SuppressionServiceStub(channel)
    stub.Add(pb.AddRequest(account_id="bench", email="a@example.com"), timeout=30)
    assert (
        stub.Get(pb.GetRequest(account_id="bench", email="a@example.com"), timeout=30).email
        == "a@example.com"
    )


def plugin_run(make: Callable[[], Any], sigv4: bool = False) -> float:
    from pytest_dualmode.clients import make_channel
    from pytest_dualmode.local.stack import LocalStack

    start = time.perf_counter()
    kwargs: dict[str, Any] = {"on_dynamodb_ready": create_go_table}  # as --dynamodb-tables does
    signer = None
    if sigv4:
        from botocore.credentials import Credentials

        from pytest_dualmode.sigv4.signer import Signer
        from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, Verifier

        verifier = Verifier(
            {"AKIDBENCH": ("bench-secret", None)}, service="vpc-lattice-svcs", region="us-east-1"
        )
        kwargs["grpc_interceptors"] = [SigV4ServerInterceptor(verifier)]
        signer = Signer(
            Credentials("AKIDBENCH", "bench-secret"), "us-east-1", "vpc-lattice-svcs", sign_payload=False
        )
    stack = LocalStack(**kwargs)
    try:
        address = stack.serve_grpc(make())
        channel = make_channel(address, tls=False, signer=signer, proxy=False)
        first_green(channel)
        took = time.perf_counter() - start
        channel.close()
    finally:
        stack.stop()
    return took


def by_hand_run(make: Callable[[], Any]) -> float:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from pytest_dualmode.local.dynamodb import FAKE_KEY_ID, FAKE_SECRET, EmbeddedDynamoDB
    from pytest_dualmode.local.process import free_port

    service = make()
    start = time.perf_counter()
    ddb = EmbeddedDynamoDB().start()
    try:
        create_go_table(ddb.client())
        grpc_port, http_port = free_port(), free_port()
        values = {"grpc_port": grpc_port, "http_port": http_port, "dynamodb_endpoint": ddb.url}
        env = {**os.environ, "AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET}
        env.update(AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        env.update({k: v.format(**values) for k, v in service.env.items()})
        command = [arg.format(**values) for arg in service.command]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            address = f"127.0.0.1:{grpc_port}"
            if service.ready == "json":
                assert proc.stdout is not None
                while not (line := proc.stdout.readline()).startswith(b"{"):
                    assert line, "the service ended before its ready line"
                address = json.loads(line)["grpc"]
            options = [
                (f"grpc.{k}_reconnect_backoff_ms", v) for k, v in (("initial", 20), ("min", 20), ("max", 100))
            ]
            channel = grpc.insecure_channel(address, options=options)
            if service.ready == "grpc-health":
                stub = health_pb2_grpc.HealthStub(channel)
                deadline = time.monotonic() + 30
                while True:
                    try:
                        status = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5, wait_for_ready=True)
                        if status.status == health_pb2.HealthCheckResponse.SERVING:
                            break
                    except grpc.RpcError:
                        pass
                    assert time.monotonic() < deadline, "not ready in 30 s"
                    time.sleep(0.02)
            client = grpc.insecure_channel(address)  # the tests' own channel, as the plugin's fixture opens
            first_green(client)
            took = time.perf_counter() - start
            client.close()
            channel.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
    finally:
        ddb.stop()
    return took


def start_to_green(name: str, make: Callable[[], Any], rounds: int) -> None:
    variants: dict[str, Callable[[], float]] = {
        "plugin": lambda: plugin_run(make),
        "by hand": lambda: by_hand_run(make),
        "plugin+sigv4": lambda: plugin_run(make, sigv4=True),
    }
    for run in variants.values():  # warm: imports, moto's app, page cache
        run()
    times: dict[str, list[float]] = {k: [] for k in variants}
    ratios, ratios_sigv4 = [], []
    order = list(variants)
    for i in range(rounds):
        rotated = order[i % len(order) :] + order[: i % len(order)]
        got = {key: variants[key]() for key in rotated}
        for key, value in got.items():
            times[key].append(value)
        ratios.append(got["plugin"] / got["by hand"])
        ratios_sigv4.append(got["plugin+sigv4"] / got["by hand"])
    ratio = statistics.median(ratios)
    medians = ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms" for k, v in times.items())
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"{name}: start to first green, median of {rounds}: {medians}")
    print(
        f"{name}: plugin / by hand = {ratio:.3f} ({verdict} the target <= {TARGET:.2f}); "
        f"plugin+sigv4 / by hand = {statistics.median(ratios_sigv4):.3f}"
    )


def suite(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    took = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{run.stdout[-3000:]}")
    passed = re.search(r"(\d+) passed", run.stdout)
    return took, int(passed.group(1)) if passed else 0


def suites(rounds: int) -> None:
    env = clean_env()
    build_start = time.perf_counter()
    subprocess.run(["bash", str(GO_BINARY.parents[1] / "build.sh"), str(GO_BINARY)], check=True, timeout=600)
    build_s = time.perf_counter() - build_start
    variants = {
        "Go example, process mode (tests/go_service)": (["tests/go_service"], env),
        "Python example, in-process (tests/system)": (["tests/system"], env),
        "Python example, process mode (tests/system)": (
            ["tests/system"],
            {**env, "EXAMPLE_SERVICE_SHAPE": "process"},
        ),
    }
    results: dict[str, list[tuple[float, int]]] = {k: [] for k in variants}
    order = list(variants)
    for i in range(rounds):
        for key in order[i % len(order) :] + order[: i % len(order)]:
            results[key].append(suite(*variants[key]))
    print(f"Go build step (the binary up to date: only its check; inside the Go suite too): {build_s:.2f} s")
    for key, runs in results.items():
        wall = statistics.median(t for t, _ in runs)
        tests = runs[0][1]
        print(f"{key}: {wall:.2f} s wall (median of {rounds}), {tests} tests, {tests / wall:.1f} tests/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--suite-rounds", type=int, default=2)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    if not GO_BINARY.exists():
        subprocess.run(
            ["bash", str(GO_BINARY.parents[1] / "build.sh"), str(GO_BINARY)], check=True, timeout=600
        )
    start_to_green("Go example", go_service, args.rounds)
    start_to_green("Python example", python_service, args.rounds)
    suites(args.suite_rounds)
    print(machine_line(load))


if __name__ == "__main__":
    main()
