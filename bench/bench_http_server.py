"""GET throughput of the example service's HTTP API: the plugin's ``WsgiServer``, waitress, cheroot, werkzeug.

Every server serves the same ``SuppressionService.wsgi_app`` in this process, on 127.0.0.1:

- ``WsgiServer``: the local stack's HTTP server (HTTP/1.1 keep-alive, no access log);
- ``waitress``: ``waitress.server.create_server`` as stock (4 worker threads, keep-alive);
- ``cheroot``: ``cheroot.wsgi.Server`` as stock (10 worker threads, keep-alive);
- ``werkzeug``: ``werkzeug.serving.make_server(..., threaded=True)``, werkzeug's development server
  as stock: it answers ``Connection: close`` and logs one line per request (kept, but written to
  os.devnull so the terminal stays readable).

The service reads from the embedded DynamoDB through its in-process client, as in a local run.
Client threads, each with its own ``requests.Session`` set up as the plugin's ``http`` fixture is in
local mode (keep-alive when the server allows, the environment's proxy settings not read),
``GET /v1/suppressions/{account}/{email}`` of one seeded item; every answer must be 200. Each round
is bounded by a request count and a time limit; rounds alternate the servers, and the ratio is the
median of the per-round ratios (against werkzeug, and the maintained servers against
``WsgiServer``). The clients share the process (and the GIL) with the server, as tests do in local
mode. Two shapes of client are measured, and the target (>= 1.5x werkzeug) is read on both:

- **1 client thread**: one request at a time, which is how a test suite drives the local stack
  (pytest runs one test at a time; each pytest-xdist worker has its own stack);
- **4 client threads**: concurrent requests inside one test. Here every thread of the process
  contends for one GIL, and much of what is measured is that contention, on both servers.

A trivial app (``200 ok``) is measured the same way, for reference.

Each request's CPU is split three ways: the client threads' and the app's own (thread CPU time,
measured around each client's loop and around each app call), and the rest of the process's, which
is the server's. From the split the script prints the ceiling: the ratio against werkzeug that a
server costing no CPU at all would reach with this app and these clients.

Run: ``python bench/bench_http_server.py [--rounds N] [--requests N] [--threads 1,4] [--skip-trivial]``.
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
from typing import Any, NamedTuple

from benchlib import machine_line

TARGET = 1.5
ROUND_TIME_LIMIT = 1.5  # seconds per round and server, whatever the request count
ACCOUNT, EMAIL = "acct-bench", "reader@example.com"
PATH = f"/v1/suppressions/{ACCOUNT}/{EMAIL}"


def trivial_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The reference app: a fixed two-byte answer."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


class CpuMeter:
    """Thread CPU seconds spent in one place (the app, or the clients), summed over threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds

    def take(self) -> float:
        """The sum so far, reset to zero."""
        with self._lock:
            seconds, self.seconds = self.seconds, 0.0
        return seconds


def metered(app: Any, meter: CpuMeter) -> Any:
    """``app`` with the CPU its calls use (the body included) added to ``meter``.

    Both servers serve this same wrapper, so it costs them alike; it lets the table split each
    request's CPU between the clients, the app and the server itself.
    """

    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start = time.thread_time()
        try:
            return list(app(environ, start_response))
        finally:
            meter.add(time.thread_time() - start)

    return wrapper


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
def waitress_server(app: Any) -> Iterator[str]:
    """waitress (``create_server`` on 127.0.0.1, port 0, its default 4 threads) serving ``app``."""
    from waitress.server import create_server

    # waitress warns on every request that waits for a free thread; the figures say as much.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = create_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.effective_port), timeout=5):
            pass
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Close every channel in the loop's own thread: the loop ends when its map is empty.
        server.trigger.pull_trigger(lambda: [d.close() for d in list(server._map.values())])
        thread.join(5)
        server.task_dispatcher.shutdown(timeout=5)


@contextlib.contextmanager
def cheroot_server(app: Any) -> Iterator[str]:
    """cheroot's WSGI server (``cheroot.wsgi.Server``, its default 10 threads) serving ``app``."""
    from cheroot.wsgi import Server

    server = Server(("127.0.0.1", 0), app)
    server.prepare()  # binds here
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        port = server.bind_addr[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        thread.join(5)


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


class Sample(NamedTuple):
    """One round of one server: throughput, CPU milliseconds per request (whole process, and the
    parts spent in the client threads and in the app), and the TCP connections the clients opened."""

    rate: float
    cpu_ms: float
    client_ms: float
    app_ms: float
    connections: int

    @property
    def server_ms(self) -> float:
        """What is left of the process's CPU per request: the server itself."""
        return self.cpu_ms - self.client_ms - self.app_ms


def load(
    url: str, total: int, threads: int, time_limit: float, counter: ConnectionCounter, app_meter: CpuMeter
) -> Sample:
    """GET ``url`` ``total`` times from ``threads`` sessions (bounded by ``time_limit`` seconds)."""
    import requests

    counter.take()
    app_meter.take()
    client_meter = CpuMeter()
    lock = threading.Lock()
    state = {"left": total, "done": 0}
    failures: list[str] = []
    sessions = [requests.Session() for _ in range(threads)]
    for session in sessions:
        session.trust_env = False  # as the plugin's http fixture in local mode: no proxy or netrc lookups
    deadline = time.monotonic() + time_limit

    def worker(session: requests.Session) -> None:
        start = time.thread_time()
        try:
            send(session)
        finally:
            client_meter.add(time.thread_time() - start)

    def send(session: requests.Session) -> None:
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
    done = max(state["done"], 1)
    return Sample(
        state["done"] / elapsed,
        cpu * 1000 / done,
        client_meter.take() * 1000 / done,
        app_meter.take() * 1000 / done,
        counter.take(),
    )


def clients(threads: int) -> str:
    """``"1 client thread"``, ``"4 client threads"``."""
    return f"{threads} client thread{'s' if threads > 1 else ''}"


SERVERS: dict[str, Callable[[Any], Any]] = {
    "WsgiServer": wsgi_server,
    "waitress": waitress_server,
    "cheroot": cheroot_server,
    "werkzeug": werkzeug_server,
}


def compare(
    label: str, app: Any, threads: int, opts: argparse.Namespace, counter: ConnectionCounter
) -> dict[str, float]:
    """Measure every server on ``app`` over interleaved rounds; print the table, return paired ratios.

    Each ratio is the median of the per-round ratios against werkzeug (the servers of a round run
    back to back, order rotated every round, so a change in the machine's load mostly cancels out);
    the median req/s of each server is shown too, with each request's CPU split between the client
    threads, the app and the server itself.
    """
    names = list(SERVERS)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    meter = CpuMeter()
    app = metered(app, meter)
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(SERVERS[name](app)) + opts.path for name in names}
        for name in names:  # warm up: imports, first connections, moto's first GetItem
            load(urls[name], 20, threads, ROUND_TIME_LIMIT, counter, meter)  # not reported
        for rnd in range(opts.rounds):
            shift = rnd % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(
                    load(urls[name], opts.requests, threads, ROUND_TIME_LIMIT, counter, meter)
                )

    def median(name: str, field: Callable[[Sample], float]) -> float:
        return statistics.median(field(sample) for sample in samples[name])

    def paired(name: str, base: str) -> list[float]:
        return [a.rate / b.rate for a, b in zip(samples[name], samples[base], strict=True)]

    print(
        f"\n{label}: {clients(threads)}, {opts.rounds} interleaved "
        f"rounds of <= {opts.requests} GETs or {ROUND_TIME_LIMIT:g} s"
    )
    print(
        f"{'server':<12}{'median req/s':>14}{'CPU ms/request':>16}{'clients':>9}{'app':>7}{'server':>8}"
        f"{'TCP connections (last round)':>30}"
    )
    for name in names:
        print(
            f"{name:<12}{median(name, lambda x: x.rate):>14.0f}{median(name, lambda x: x.cpu_ms):>16.2f}"
            f"{median(name, lambda x: x.client_ms):>9.2f}{median(name, lambda x: x.app_ms):>7.2f}"
            f"{median(name, lambda x: x.server_ms):>8.2f}{samples[name][-1].connections:>30}"
        )
    ratios = {}
    for name in names[:-1]:
        per_round = paired(name, "werkzeug")
        ratios[name] = statistics.median(per_round)
        print(
            f"{name} / werkzeug: {ratios[name]:.2f}x (median of per-round ratios, which ran "
            f"{min(per_round):.2f}x to {max(per_round):.2f}x)"
        )
    for name in names[1:-1]:
        # CPU per request moves less with the machine's load than req/s does: both are shown.
        cpu = statistics.median(
            a.cpu_ms / b.cpu_ms for a, b in zip(samples["WsgiServer"], samples[name], strict=True)
        )
        print(
            f"{name} / WsgiServer: {statistics.median(paired(name, 'WsgiServer')):.2f}x in req/s, "
            f"{cpu:.2f}x in requests per CPU second (medians of per-round ratios)"
        )
    return ratios


SHAPES = {
    1: "one test at a time, as pytest (and each xdist worker) drives it",
    4: "concurrent requests in one test",
}


def main() -> None:
    """Seed the example service, then compare the servers on it and on the trivial app."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="rounds per server (default 11)")
    parser.add_argument("--requests", type=int, default=400, help="GETs per round (default 400)")
    parser.add_argument(
        "--threads", default="1,4", help="client thread counts to measure, comma-separated (default 1,4)"
    )
    parser.add_argument("--skip-trivial", action="store_true", help="measure the example service only")
    opts = parser.parse_args()
    shapes = [int(n) for n in opts.threads.split(",")]
    load_at_start = os.getloadavg()[0]

    from example_service import SuppressionService
    from pytest_dualmode.local.dynamodb import EmbeddedDynamoDB

    sink = keep_werkzeug_log_off_screen()
    counter = ConnectionCounter()
    ratios: dict[int, dict[str, float]] = {}
    try:
        with EmbeddedDynamoDB() as ddb:
            svc = SuppressionService(ddb.client(), table="bench-http")
            svc.add(ACCOUNT, EMAIL, "benchmark")
            for threads in shapes:
                opts.path = PATH
                ratios[threads] = compare("example service GET " + PATH, svc.wsgi_app, threads, opts, counter)
                if not opts.skip_trivial:
                    opts.path = "/"
                    compare("trivial app (reference)", trivial_app, threads, opts, counter)
    finally:
        counter.restore()
        sink.close()
    print(f"\nexample-service GET throughput against werkzeug (target >= {TARGET}x on every shape):")
    for threads, by_server in ratios.items():
        for name, ratio in by_server.items():
            verdict = "met" if ratio >= TARGET else "MISSED"
            print(
                f"  {name:<11} {clients(threads):<17} {ratio:.2f}x  {verdict:<7} "
                f"({SHAPES.get(threads, 'custom')})"
            )
    print(machine_line(load_at_start))


if __name__ == "__main__":
    main()
