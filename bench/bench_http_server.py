"""GET throughput of the example service's HTTP API: the plugin's keep-alive ``WsgiServer`` vs werkzeug.

Both servers serve the same ``SuppressionService.wsgi_app`` in this process, on 127.0.0.1:

- ``WsgiServer``: the local stack's HTTP server (HTTP/1.1 keep-alive, no access log);
- ``werkzeug``: ``werkzeug.serving.make_server(..., threaded=True)``, werkzeug's development server
  as stock: it answers ``Connection: close`` and logs one line per request (kept, but written to
  os.devnull so the terminal stays readable).

The service reads from the embedded DynamoDB through its in-process client, as in a local run.
A few client threads, each with its own ``requests.Session`` configured as the plugin's ``http``
fixture is in local mode (keep-alive when the server allows; the environment's proxy settings are not
read),
``GET /v1/suppressions/{account}/{email}`` one seeded item; every answer must be 200. Each round
is bounded by a request count and a time limit; rounds alternate the servers, medians are
reported. The clients share the process (and the GIL) with the server, as tests do in local mode.
A trivial app (``200 ok``) is measured the same way, for reference. Target: >= 1.5x werkzeug.

Run: ``python bench/bench_http_server.py [--rounds N] [--requests N] [--threads N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from benchlib import machine_line

TARGET = 1.5
ROUND_TIME_LIMIT = 1.5  # seconds per round and server, whatever the request count
ACCOUNT, EMAIL = "acct-bench", "reader@example.com"
PATH = f"/v1/suppressions/{ACCOUNT}/{EMAIL}"


def trivial_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The reference app: a fixed two-byte answer."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


@contextlib.contextmanager
def wsgi_server(app: Any) -> Iterator[str]:
    """The plugin's keep-alive server, serving ``app``; yields its base URL."""
    from pytest_dualmode.local.http_server import WsgiServer

    server = WsgiServer(app).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def werkzeug_server(app: Any) -> Iterator[str]:
    """werkzeug's threaded development server serving ``app``; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5):
            pass
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def keep_werkzeug_log_off_screen() -> Any:
    """Let werkzeug log its line per request (part of its cost) into os.devnull, not the terminal."""
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed by the caller at exit
    logger = logging.getLogger("werkzeug")
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler(sink))
    logger.propagate = False
    return sink


class ConnectionCounter:
    """Counts the TCP connections urllib3 (under ``requests``) opens, by wrapping its connect helper."""

    def __init__(self) -> None:
        import urllib3.util.connection as conn

        self.count = 0
        self._lock = threading.Lock()
        self._conn = conn
        self._original = conn.create_connection

        def counting(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.count += 1
            return self._original(*args, **kwargs)

        conn.create_connection = counting

    def restore(self) -> None:
        """Put urllib3's own connect helper back."""
        self._conn.create_connection = self._original

    def take(self) -> int:
        """The count so far, reset to zero."""
        with self._lock:
            count, self.count = self.count, 0
        return count


def load(
    url: str, total: int, threads: int, time_limit: float, counter: ConnectionCounter
) -> tuple[float, float, int]:
    """GET ``url`` ``total`` times from ``threads`` sessions (bounded by ``time_limit`` seconds).

    Returns (requests per second, CPU milliseconds per request of the whole process, clients and
    server together, and the TCP connections the clients opened).
    """
    import requests

    counter.take()
    lock = threading.Lock()
    state = {"left": total, "done": 0}
    failures: list[str] = []
    sessions = [requests.Session() for _ in range(threads)]
    for session in sessions:
        session.trust_env = False  # as the plugin's http fixture in local mode: no proxy or netrc lookups
    deadline = time.monotonic() + time_limit

    def worker(session: requests.Session) -> None:
        while time.monotonic() < deadline and not failures:
            with lock:
                if state["left"] <= 0:
                    return
                state["left"] -= 1
            try:
                response = session.get(url, timeout=10)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            with lock:
                state["done"] += 1

    workers = [threading.Thread(target=worker, args=(s,), daemon=True) for s in sessions]
    start, cpu_start = time.perf_counter(), time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        w.join(time_limit + 15)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if any(w.is_alive() for w in workers):
        sys.exit("a client thread did not finish in time")
    if failures:
        sys.exit(f"requests failed ({len(failures)}), first: {failures[0]}")
    for s in sessions:
        s.close()
    return state["done"] / elapsed, cpu * 1000 / max(state["done"], 1), counter.take()


def compare(label: str, app: Any, opts: argparse.Namespace, counter: ConnectionCounter) -> float:
    """Measure both servers on ``app`` over interleaved rounds; print the table, return the paired ratio.

    The ratio is the median of the per-round ratios (the two servers of a round run back to back, so
    a change in the machine's load mostly cancels out); the median req/s of each server is shown too.
    """
    names = ("WsgiServer", "werkzeug")
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    conns: dict[str, int] = {}
    with wsgi_server(app) as ours, werkzeug_server(app) as theirs:
        urls = {"WsgiServer": ours + opts.path, "werkzeug": theirs + opts.path}
        for name in names:  # warm up: imports, first connections, moto's first GetItem
            load(urls[name], 20, opts.threads, ROUND_TIME_LIMIT, counter)  # warm-up, not reported
        for rnd in range(opts.rounds):
            for name in names if rnd % 2 == 0 else names[::-1]:
                rate, cpu_ms, conns[name] = load(
                    urls[name], opts.requests, opts.threads, ROUND_TIME_LIMIT, counter
                )
                rates[name].append(rate)
                cpu[name].append(cpu_ms)
    ratio = statistics.median(a / b for a, b in zip(rates["WsgiServer"], rates["werkzeug"], strict=True))
    print(
        f"\n{label}: {opts.threads} client threads, {opts.rounds} interleaved rounds of <= {opts.requests} "
        f"GETs or {ROUND_TIME_LIMIT:g} s"
    )
    print(f"{'server':<12}{'median req/s':>14}{'CPU ms/request':>16}{'TCP connections (last round)':>30}")
    for name in names:
        print(
            f"{name:<12}{statistics.median(rates[name]):>14.0f}{statistics.median(cpu[name]):>16.2f}"
            f"{conns[name]:>30}"
        )
    print(f"WsgiServer / werkzeug: {ratio:.2f}x (median of per-round ratios)")
    return ratio


def main() -> None:
    """Seed the example service, then compare the servers on it and on the trivial app."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per server (default 7)")
    parser.add_argument("--requests", type=int, default=400, help="GETs per round (default 400)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    opts = parser.parse_args()
    load_at_start = os.getloadavg()[0]

    from example_service import SuppressionService
    from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB

    sink = keep_werkzeug_log_off_screen()
    counter = ConnectionCounter()
    try:
        with EmbeddedDynamoDB() as ddb:
            svc = SuppressionService(ddb.client(), table="bench-http")
            svc.add(ACCOUNT, EMAIL, "benchmark")
            opts.path = PATH
            ratio = compare("example service GET " + PATH, svc.wsgi_app, opts, counter)
            opts.path = "/"
            compare("trivial app (reference)", trivial_app, opts, counter)
    finally:
        counter.restore()
        sink.close()
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(
        f"\nexample-service GET throughput, WsgiServer vs werkzeug: {ratio:.2f}x "
        f"(target >= {TARGET}x: {verdict})"
    )

    print(machine_line(load_at_start))


if __name__ == "__main__":
    main()
