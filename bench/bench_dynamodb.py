"""PutItem+GetItem pairs per second as an in-process service sees its DynamoDB, three ways side by side.

- ``in-process``: ``EmbeddedDynamoDB().client()``, the plugin's ``dynamodb`` fixture: a boto3
  client whose requests moto's DynamoDB server app answers in this process (no socket);
- ``ThreadedMotoServer``: moto's stock server (``moto.server.ThreadedMotoServer`` on 127.0.0.1,
  port 0) with a boto3 client over HTTP, the usual way to run moto as a server in-process. As
  stock, it logs a line per request (werkzeug's logger; written to os.devnull here, so the cost
  stays and the terminal stays readable);
- ``embedded HTTP``: the embedded DynamoDB's own endpoint (moto's app on the keep-alive server),
  which other processes use; for reference.

One thread, one client per variant (created and warmed before timing), each pair a PutItem of a
small item and a strongly consistent GetItem of it, checked. Each round is bounded by a pair count
and a time limit; variants are interleaved (order rotated every round); the ratio is the median of
the per-round ratios, beside each variant's median pairs/s. Target: in-process >= 3x
ThreadedMotoServer.

Run: ``python bench/bench_dynamodb.py [--rounds N] [--pairs N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from benchlib import machine_line

TARGET = 3.0
ROUND_TIME_LIMIT = 1.0  # seconds per round and variant, whatever the pair count
TABLE = "bench-pairs"


def keep_request_log_off_screen() -> Any:
    """Let werkzeug (under moto's server) log its line per request into os.devnull, not the terminal."""
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed by the caller at exit
    logger = logging.getLogger("werkzeug")
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler(sink))
    logger.propagate = False
    return sink


@contextlib.contextmanager
def threaded_moto_server() -> Iterator[str]:
    """moto's stock threaded server on 127.0.0.1 (ephemeral port); yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() waits without a bound for a flag that a failed server thread never sets: bound it here.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(10)
    if starter.is_alive():
        sys.exit("moto's ThreadedMotoServer did not start within 10 s")
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        # stop() joins the server thread without a bound: bound it the same way.
        stopper = threading.Thread(target=server.stop, daemon=True)
        stopper.start()
        stopper.join(10)


def http_client(url: str) -> Any:
    """A boto3 DynamoDB client for ``url`` with fake credentials (as the embedded client has)."""
    import boto3
    from botocore.config import Config

    from pytest_dualmode.local.fake_aws import FAKE_KEY_ID, FAKE_REGION, FAKE_SECRET

    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=url,
        region_name=FAKE_REGION,
        aws_access_key_id=FAKE_KEY_ID,
        aws_secret_access_key=FAKE_SECRET,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


def pairs(client: Any, count: int, time_limit: float, prefix: str) -> tuple[float, float]:
    """Run up to ``count`` PutItem+GetItem pairs (at most ``time_limit`` seconds).

    Returns (pairs per second, CPU milliseconds per pair): the CPU time is the whole process's
    (client and server threads), so it shows the work per pair apart from waiting for a core.
    """
    deadline = time.monotonic() + time_limit
    done = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while done < count and time.monotonic() < deadline:
        key = {"pk": {"S": f"{prefix}-{done}"}}
        client.put_item(TableName=TABLE, Item={**key, "reason": {"S": "benchmark"}, "n": {"N": str(done)}})
        item = client.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")
        if item is None or item["n"]["N"] != str(done):
            sys.exit(f"GetItem did not return the item just written ({prefix}-{done}): {item}")
        done += 1
    return done / (time.perf_counter() - start), (time.process_time() - cpu_start) * 1000 / done


def main() -> None:
    """Start the three variants, interleave rounds, and print pairs/s and ratios side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="rounds per variant (default 12)")
    parser.add_argument("--pairs", type=int, default=100, help="pairs per round (default 100)")
    opts = parser.parse_args()
    load_at_start = os.getloadavg()[0]

    from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB

    sink = keep_request_log_off_screen()
    with sink, EmbeddedDynamoDB() as ddb, threaded_moto_server() as moto_url:
        clients = {
            "in-process": ddb.client(),
            "ThreadedMotoServer": http_client(moto_url),
            "embedded HTTP": ddb.client(in_process=False),
        }
        # moto keeps one backend per process: both servers and the in-process path see this table.
        clients["in-process"].create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        names = list(clients)
        for name in names:  # warm up: connections, botocore's and moto's first-call work
            pairs(clients[name], 20, ROUND_TIME_LIMIT, f"warm-{name}")
        rates: dict[str, list[float]] = {n: [] for n in names}
        cpu: dict[str, list[float]] = {n: [] for n in names}
        for rnd in range(opts.rounds):
            for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
                rate, cpu_ms = pairs(clients[name], opts.pairs, ROUND_TIME_LIMIT, f"{rnd}-{name}")
                rates[name].append(rate)
                cpu[name].append(cpu_ms)

    base = rates["ThreadedMotoServer"]
    print(
        f"\nPutItem+GetItem pairs, one thread, {opts.rounds} interleaved rounds of <= {opts.pairs} pairs "
        f"or {ROUND_TIME_LIMIT:g} s"
    )
    print(f"{'variant':<20}{'median pairs/s':>16}{'vs ThreadedMotoServer':>24}{'CPU ms/pair':>13}")
    for name in names:
        ratio = statistics.median(a / b for a, b in zip(rates[name], base, strict=True))
        print(
            f"{name:<20}{statistics.median(rates[name]):>16.0f}{ratio:>23.2f}x"
            f"{statistics.median(cpu[name]):>13.2f}"
        )
    ratio = statistics.median(a / b for a, b in zip(rates["in-process"], base, strict=True))
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(
        f"in-process vs ThreadedMotoServer: {ratio:.2f}x, median of per-round ratios "
        f"(target >= {TARGET:g}x: {verdict})"
    )
    # CPU per pair moves less with the machine's load than pairs/s does (a loaded machine delays the
    # server thread's wake-ups, which the in-process path does not have).
    cpu_ratio = statistics.median(
        b / a for a, b in zip(cpu["in-process"], cpu["ThreadedMotoServer"], strict=True)
    )
    print(
        f"in-process vs ThreadedMotoServer in CPU per pair: {cpu_ratio:.2f}x less, median of per-round ratios"
    )

    print(machine_line(load_at_start))


if __name__ == "__main__":
    main()
