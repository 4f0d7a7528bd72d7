"""SigV4 costs, side by side in one run: signing time against botocore, and signed against unsigned
throughput for gRPC unary calls and HTTP GETs on loopback.

    python bench/bench_sigv4.py [--budget SECONDS]

Targets (from the SigV4 issue): signing at least 5x faster than botocore's per-request SigV4Auth,
and signed throughput at least 0.95x unsigned for both transports. "signed" is what remote mode pays
(the client signs; the real front door is AWS's); "signed+verified" is local mode (our front door
verifies too). gRPC "signed" is the plugin's channel (``make_channel``: the signing channel wrapper
with a default deadline); the same signing through grpcio's interceptors, and a no-op interceptor,
are measured beside it. Variants run in rounds, their order rotated each round; a ratio is the median
of the per-round ratios (a noisy neighbour on a shared machine hurts both sides of a round alike),
and the best round of each variant is shown too. Bounded: stops measuring after --budget.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any
from unittest import mock

import grpc
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pytest_dualmode.clients import make_channel
from pytest_dualmode.local.http_server import WsgiServer
from pytest_dualmode.sigv4.channel import SigningChannel
from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.transport import RequestsSigV4Auth, client_interceptors
from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, SigV4WsgiMiddleware, Verifier

KEY, SECRET, REGION, SERVICE = (
    "AKIDBENCH",
    "benchSecretKey/0123456789+ABCDEFGHIJabcdef",
    "us-east-1",
    "vpc-lattice-svcs",
)
URL = "https://api.internal/v1/suppressions/acct-42/a%40example.com?limit=50&next=abc"


Rates = dict[str, list[float]]


def measure(fns: dict[str, Callable[[], object]], count: int, rounds: int, deadline: float) -> Rates:
    """Operations per second of each fn in each round of ``count`` calls (order rotated per round)."""
    rates: Rates = {name: [] for name in fns}
    names = list(fns)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            fn = fns[name]
            start = time.perf_counter()
            for _ in range(count):
                fn()
            rates[name].append(count / (time.perf_counter() - start))
        if time.perf_counter() > deadline:
            break
    return rates


def ratio(rates: Rates, name: str, base: str) -> float:
    """The median over rounds of ``name``'s rate divided by ``base``'s in the same round."""
    return statistics.median(a / b for a, b in zip(rates[name], rates[base], strict=True))


def bench_signing(deadline: float) -> dict[str, float]:
    """Microseconds per signature: ours for fresh requests (every URL different, so nothing is
    reused but the day's signing key), ours for a repeated gRPC call, and botocore's SigV4Auth."""
    creds = Credentials(KEY, SECRET)
    ours = Signer(creds, REGION, SERVICE, sign_payload=False)
    auth = SigV4Auth(creds, SERVICE, REGION)
    urls = [f"{URL}&page={i}" for i in range(4096)]
    spin: dict[str, Iterator[str]] = {"ours": iter(()), "botocore": iter(())}

    def next_url(name: str) -> str:
        try:
            return next(spin[name])
        except StopIteration:
            spin[name] = iter(urls)
            return next(spin[name])

    def botocore_sign() -> None:
        request = AWSRequest(method="GET", url=next_url("botocore"), headers={})
        request.context["payload_signing_enabled"] = False
        auth.add_auth(request)

    rates = measure(
        {
            "ours": lambda: ours.sign("GET", next_url("ours")),
            "ours, repeated gRPC call": lambda: ours.sign_parts(
                "POST", "api.internal:443", "/pkg.Svc/Method", unsigned_payload=True
            ),
            "botocore": botocore_sign,
        },
        count=500,
        rounds=24,
        deadline=deadline,
    )
    return {name: 1e6 / max(rounds) for name, rounds in rates.items()}


def identical_to_botocore() -> bool:
    """Same request, same second: are the two Authorization headers byte for byte equal?"""
    creds = Credentials(KEY, SECRET)
    when = 1_750_000_000
    ours = Signer(creds, REGION, SERVICE, sign_payload=False, clock=lambda: float(when)).sign("GET", URL)
    request = AWSRequest(method="GET", url=URL, headers={})
    request.context["payload_signing_enabled"] = False
    now = datetime.datetime.fromtimestamp(when, datetime.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        SigV4Auth(creds, SERVICE, REGION).add_auth(request)
    return bool(request.headers["Authorization"] == ours["Authorization"])


def _echo_handler() -> Any:
    return grpc.method_handlers_generic_handler(
        "bench.Echo", {"Unary": grpc.unary_unary_rpc_method_handler(lambda request, context: request)}
    )


def _grpc_server(verifier: Verifier | None) -> tuple[Any, str]:
    interceptors = [SigV4ServerInterceptor(verifier)] if verifier else []
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=interceptors)
    server.add_generic_rpc_handlers((_echo_handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def _ok(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def serve(verifier: Verifier) -> None:
    """The servers, in their own process (as a real service would be): plain and verifying, gRPC and
    HTTP. Prints their addresses as one JSON line, then serves until stdin closes (at most 120 s)."""
    plain, plain_addr = _grpc_server(None)
    guarded, guarded_addr = _grpc_server(verifier)
    http_plain = WsgiServer(_ok).start()
    http_guarded = WsgiServer(SigV4WsgiMiddleware(_ok, verifier)).start()
    addresses = {
        "grpc": plain_addr,
        "grpc_verified": guarded_addr,
        "http": http_plain.url,
        "http_verified": http_guarded.url,
    }
    print(json.dumps(addresses), flush=True)
    try:
        if select.select([sys.stdin], [], [], 120)[0]:
            sys.stdin.read()
    finally:
        plain.stop(grace=None).wait(5)
        guarded.stop(grace=None).wait(5)
        http_plain.stop()
        http_guarded.stop()


def start_servers() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start :func:`serve` in a child process; its addresses once it is ready (bounded wait)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    if not select.select([child.stdout], [], [], 20)[0]:
        child.kill()
        raise SystemExit("the bench servers did not start within 20 s")
    line = child.stdout.readline()
    if not line:
        child.kill()
        raise SystemExit(f"the bench servers exited (code {child.wait(5)})")
    return child, json.loads(line)


class _NoOp(grpc.UnaryUnaryClientInterceptor):
    """Passes calls on untouched: what grpcio's interceptor machinery costs by itself."""

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(details, request)


def _signed_metadata(signer: Signer, authority: str, method: str) -> list[tuple[str, str]]:
    """The metadata a signed call carries, captured once from a signing channel."""
    sent: list[tuple[str, str]] = []

    class Capture:
        def unary_unary(self, *args: Any, **kwargs: Any) -> Callable[..., None]:
            return lambda request, **call: sent.extend(call["metadata"])

    SigningChannel(Capture(), signer, authority).unary_unary(method)(b"x")
    return sent


def bench_grpc(signer: Signer, addresses: dict[str, str], deadline: float) -> Rates:
    """Unary calls per second: unsigned; signed by the plugin's channel and by interceptors (plain
    server); signed+verified (verifying server); one fixed signature's metadata sent unchanged (what
    the metadata costs by itself); a no-op interceptor (what grpcio's interceptor layer costs)."""
    plain_addr, guarded_addr = addresses["grpc"], addresses["grpc_verified"]
    raw = [grpc.insecure_channel(plain_addr), grpc.insecure_channel(guarded_addr)]
    # The plugin's channels, as the grpc_channel fixture builds them.
    plugin = [
        make_channel(plain_addr, tls=False, signer=signer, timeout=5),
        make_channel(guarded_addr, tls=False, signer=signer, timeout=5),
    ]
    try:
        for channel in raw + plugin:
            grpc.channel_ready_future(channel).result(timeout=5)
        method = "/bench.Echo/Unary"  # called as generated stubs call it: a registered method
        unsigned = raw[0].unary_unary(method, _registered_method=True)
        relayed = grpc.intercept_channel(raw[0], _NoOp()).unary_unary(method, _registered_method=True)
        intercepted = grpc.intercept_channel(raw[0], *client_interceptors(signer, plain_addr, False))
        intercepted_call = intercepted.unary_unary(method, _registered_method=True)
        signed_call = plugin[0].unary_unary(method, _registered_method=True)
        verified_call = plugin[1].unary_unary(method, _registered_method=True)
        # One signature's metadata, sent as is on every call: what the metadata itself costs on the
        # wire and in the server, with nothing signed per call (a floor for "signed").
        fixed = tuple(_signed_metadata(signer, plain_addr, method))
        return measure(
            {
                "unsigned": lambda: unsigned(b"x", timeout=5),
                "signed": lambda: signed_call(b"x"),  # the channel's default deadline: 5 s
                "signed+verified": lambda: verified_call(b"x"),
                "fixed signed metadata": lambda: unsigned(b"x", timeout=5, metadata=fixed),
                "signed, interceptor": lambda: intercepted_call(b"x", timeout=5),
                "no-op interceptor": lambda: relayed(b"x", timeout=5),
            },
            count=50,
            rounds=80,
            deadline=deadline,
        )
    finally:
        for channel in raw + plugin:
            channel.close()


def bench_http(signer: Signer, addresses: dict[str, str], deadline: float) -> Rates:
    """GETs per second on keep-alive sessions: unsigned, signed, signed+verified."""
    sessions = [requests.Session() for _ in range(3)]
    sessions[1].auth = sessions[2].auth = RequestsSigV4Auth(signer)
    path = "/v1/items/42?limit=5"
    urls = [addresses["http"] + path, addresses["http"] + path, addresses["http_verified"] + path]

    def get(i: int) -> Callable[[], None]:
        def call() -> None:
            response = sessions[i].get(urls[i], timeout=5)
            if response.status_code != 200:
                raise SystemExit(f"HTTP bench got {response.status_code}: {response.text[:200]}")

        return call

    try:
        return measure(
            {"unsigned": get(0), "signed": get(1), "signed+verified": get(2)},
            count=50,
            rounds=40,
            deadline=deadline,
        )
    finally:
        for session in sessions:
            session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=40.0, help="seconds to spend measuring (default 40)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    verifier = Verifier({KEY: (SECRET, None)}, service=SERVICE, region=REGION)
    if args.serve:
        serve(verifier)
        return
    start = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    per_part = args.budget / 3

    micros = bench_signing(time.perf_counter() + per_part)
    same = identical_to_botocore()
    signer = Signer(Credentials(KEY, SECRET), REGION, SERVICE, sign_payload=False)
    child, addresses = start_servers()
    try:
        grpc_rates = bench_grpc(signer, addresses, time.perf_counter() + per_part)
        http_rates = bench_http(signer, addresses, time.perf_counter() + per_part)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()

    print("SigV4 benchmark (one run, side by side; servers in a second process; ratio = median of "
          "per-round ratios; the best rounds' figures in brackets)")  # fmt: skip
    ours, repeat, botocore_us = micros["ours"], micros["ours, repeated gRPC call"], micros["botocore"]
    fast = "met" if botocore_us >= 5 * ours else "MISSED"
    print(f"  signing, us per signature: ours {ours:.1f} | botocore SigV4Auth {botocore_us:.1f} | "
          f"ours is {botocore_us / ours:.1f}x faster (target >= 5x: {fast}) | "
          f"a repeated gRPC call {repeat:.1f} | "
          f"byte-identical to botocore: {'yes' if same else 'NO'}")  # fmt: skip
    for title, rates in (("gRPC unary, calls/s", grpc_rates), ("HTTP GET, requests/s", http_rates)):
        print(f"  {title} ({len(rates['unsigned'])} rounds; median [best round], ratio):")
        for name, rounds in rates.items():
            line = f"    {name:<20} {statistics.median(rounds):>7.0f} [{max(rounds):>5.0f}]"
            if name != "unsigned":
                best = max(rounds) / max(rates["unsigned"])
                line += f"  {ratio(rates, name, 'unsigned'):.2f}x unsigned [best rounds {best:.2f}x]"
            if name == "signed":
                exact = ratio(rates, name, "unsigned")
                line += f" (exactly {exact:.3f}x; target >= 0.95x: {'met' if exact >= 0.95 else 'MISSED'})"
            print(line)
    print(f"  gRPC signed against the fixed signed metadata (signing's own cost): "
          f"{ratio(grpc_rates, 'signed', 'fixed signed metadata'):.2f}x; "
          f"the interceptor route against the plugin's channel: "
          f"{ratio(grpc_rates, 'signed, interceptor', 'signed'):.2f}x")  # fmt: skip
    print(f"  machine: {os.cpu_count()} cores, 1-min load average {load_at_start:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end; took {time.perf_counter() - start:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
