"""The load run: concurrent clients mixing writes and reads over gRPC and HTTP, then a full read-back.

Each client has its own account (adds of new addresses, reads of its own earlier writes, listings, add +
delete of throw-away addresses, requests invalid on purpose) and all share one account whose addresses
they race to add (exactly one add of each may say ``created``). Afterwards every account is read back in
full over both transports: an acknowledged add missing from it is a lost write, a deleted address present
in it is a resurrection. Bounded: by time, by a per-client operation cap and by each request's timeout.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

SHARED_POOL = 64
UNEXPECTED_SAMPLES = 10


@dataclass(frozen=True)
class LoadConfig:
    """How hard and how long."""

    clients: int = 16
    seconds: float = 30.0
    max_ops_per_client: int = 200_000
    request_timeout: float = 10.0
    seed: int = 7


@dataclass
class Tally:
    """What the clients saw (shared by all client threads; guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    acked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    deleted: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ops: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stale_reads: int = 0
    unexpected: int = 0
    samples: list[str] = field(default_factory=list)
    rejected: int = 0
    timeouts: int = 0

    def problem(self, what: str) -> None:
        """An unexpected answer (5xx, INTERNAL, a refused signature, a broken connection...)."""
        with self.lock:
            self.unexpected += 1
            if len(self.samples) < UNEXPECTED_SAMPLES:
                self.samples.append(what[:300])


class Client:
    """One client: a signed gRPC channel and a signed keep-alive HTTP session of its own."""

    def __init__(self, grpc_addr: str, http_url: str, signer: Any, timeout: float) -> None:
        import grpc

        from example_service.gen.suppression.v1 import suppression_pb2_grpc
        from pytest_dualmode.sigv4 import RequestsSigV4Auth, client_interceptors

        raw = grpc.insecure_channel(grpc_addr)
        interceptors = client_interceptors(signer, grpc_addr, False) if signer else []
        self.channel = grpc.intercept_channel(raw, *interceptors) if interceptors else raw
        self._raw = raw
        self.stub = suppression_pb2_grpc.SuppressionServiceStub(self.channel)
        self.http = requests.Session()
        if signer:
            self.http.auth = RequestsSigV4Auth(signer)
        self.base = http_url
        self.timeout = timeout

    def close(self) -> None:
        """Close the channel and the session."""
        self._raw.close()
        self.http.close()

    # Each call returns a word: "created", "exists", "ok", "not_found", "invalid", "timeout", or
    # "error: ..." for anything unexpected (5xx, INTERNAL, a refused signature, a broken connection).
    def add(self, transport: str, account: str, email: str) -> str:
        """Add ``email``: ``created`` or ``exists`` when acknowledged."""
        if transport == "grpc":
            request = pb().AddRequest(account_id=account, email=email)
            return self._grpc("Add", request, lambda r: "created" if r.created else "exists")
        response = self._http("POST", "/v1/suppressions", json={"account_id": account, "email": email})
        return self._word(response, {201: "created", 200: "exists"})

    def get(self, transport: str, account: str, email: str) -> str:
        """Read ``email`` back: ``ok`` when found with that address."""
        if transport == "grpc":
            request = pb().GetRequest(account_id=account, email=email)
            return self._grpc(
                "Get", request, lambda r: "ok" if r.email == email else "error: another address"
            )
        response = self._http("GET", f"/v1/suppressions/{account}/{email}")
        word = self._word(response, {200: "ok"})
        if word == "ok" and isinstance(response, requests.Response) and response.json()["email"] != email:
            return "error: another address"
        return word

    def list_page(self, transport: str, account: str) -> str:
        """The first page of the account's listing: ``ok``."""
        if transport == "grpc":
            return self._grpc("List", pb().ListRequest(account_id=account, page_size=20), lambda r: "ok")
        response = self._http("GET", f"/v1/suppressions/{account}", params={"page_size": "20"})
        return self._word(response, {200: "ok"})

    def delete(self, transport: str, account: str, email: str) -> str:
        """Delete ``email``: ``ok`` when acknowledged."""
        if transport == "grpc":
            return self._grpc("Delete", pb().DeleteRequest(account_id=account, email=email), lambda r: "ok")
        return self._word(self._http("DELETE", f"/v1/suppressions/{account}/{email}"), {204: "ok"})

    def everything(self, account: str) -> tuple[set[str], set[str]]:
        """The account's whole listing, paged over HTTP and streamed over gRPC (Export)."""
        over_http: set[str] = set()
        token = ""
        for _ in range(10_000):  # pages; bounded
            params = {"page_size": "100", **({"page_token": token} if token else {})}
            page = self.http.get(
                f"{self.base}/v1/suppressions/{account}", params=params, timeout=self.timeout * 3
            )
            page.raise_for_status()
            data = page.json()
            over_http.update(s["email"] for s in data["suppressions"])
            token = data["next_page_token"]
            if not token:
                break
        stream = self.stub.Export(pb().ExportRequest(account_id=account), timeout=self.timeout * 6)
        return over_http, {s.email for s in stream}

    def _grpc(self, method: str, request: Any, ok: Callable[[Any], str]) -> str:
        import grpc

        try:
            return ok(getattr(self.stub, method)(request, timeout=self.timeout))
        except grpc.RpcError as exc:
            code = exc.code()
            words = {
                grpc.StatusCode.NOT_FOUND: "not_found",
                grpc.StatusCode.INVALID_ARGUMENT: "invalid",
                grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
            }
            return words.get(code) or f"error: gRPC {code.name} {exc.details()}"

    def _http(self, method: str, path: str, **kwargs: Any) -> requests.Response | str:
        try:
            return self.http.request(method, self.base + path, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            return "timeout"
        except requests.RequestException as exc:
            return f"error: HTTP {type(exc).__name__}"

    @staticmethod
    def _word(response: requests.Response | str, good: dict[int, str]) -> str:
        if isinstance(response, str):
            return response
        if response.status_code in good:
            return good[response.status_code]
        return {404: "not_found", 400: "invalid"}.get(
            response.status_code, f"error: HTTP {response.status_code} {response.text[:200]}"
        )


def pb() -> Any:
    """The service's protobuf module (imported on first use)."""
    from example_service.gen.suppression.v1 import suppression_pb2

    return suppression_pb2


def _client_loop(
    client: Client, index: int, run: str, config: LoadConfig, stop_at: float, tally: Tally
) -> None:
    rng = random.Random(config.seed * 1000 + index)
    account, shared = f"{run}-c{index}", f"{run}-shared"
    mine: list[str] = []
    n = 0

    def timed(op: str, transport: str, call: Callable[..., str], *args: str) -> str:
        started = time.perf_counter()
        word = call(transport, *args)
        elapsed = time.perf_counter() - started
        with tally.lock:
            tally.latency[f"{op} {transport}"].append(elapsed)
            tally.ops[transport] += 1
        if word == "timeout":
            with tally.lock:
                tally.timeouts += 1
        elif word.startswith("error"):
            tally.problem(f"{op} over {transport}: {word}")
        return word

    for _ in range(config.max_ops_per_client):
        if time.monotonic() >= stop_at:
            break
        roll, transport = rng.random(), rng.choice(("grpc", "http"))
        if roll < 0.40 or not mine:
            n += 1
            email = f"user{n}@c{index}.example.com"
            word = timed("add", transport, client.add, account, email)
            if word in ("created", "exists"):
                mine.append(email)
                with tally.lock:
                    tally.acked[account].add(email)
        elif roll < 0.50:
            email = f"shared{rng.randrange(SHARED_POOL)}@example.com"
            word = timed("add", transport, client.add, shared, email)
            if word in ("created", "exists"):
                with tally.lock:
                    tally.acked[shared].add(email)
                    tally.created[email] += word == "created"
        elif roll < 0.75:
            email = rng.choice(mine)
            if timed("get", transport, client.get, account, email) == "not_found":
                with tally.lock:
                    tally.stale_reads += 1
        elif roll < 0.85:
            timed("list", transport, client.list_page, account)
        elif roll < 0.93:
            n += 1
            email = f"gone{n}@c{index}.example.com"
            if timed("add", transport, client.add, account, email) == "created":
                other = "http" if transport == "grpc" else "grpc"
                if timed("delete", other, client.delete, account, email) == "ok":
                    with tally.lock:
                        tally.deleted[account].add(email)
        else:
            word = timed("invalid", transport, client.add, account, "not-an-address")
            if word == "invalid":
                with tally.lock:
                    tally.rejected += 1
            elif not word.startswith(("error", "timeout")):
                tally.problem(f"an invalid add over {transport} was answered {word!r}")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


def run_load(grpc_addr: str, http_url: str, signer: Any, config: LoadConfig) -> dict[str, Any]:
    """Run the load, then read everything back; returns the figures (see :mod:`rel_figures`)."""
    run = f"load-{uuid.uuid4().hex[:8]}"
    tally = Tally()
    clients = [Client(grpc_addr, http_url, signer, config.request_timeout) for _ in range(config.clients)]
    started = time.monotonic()
    stop_at = started + config.seconds
    threads = [
        threading.Thread(target=_client_loop, args=(c, i, run, config, stop_at, tally), daemon=True)
        for i, c in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, stop_at - time.monotonic()) + config.request_timeout * 3)
    elapsed = time.monotonic() - started
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        tally.problem(f"{stuck} client threads did not finish in time")
    lost = resurrected = 0
    reader = clients[0]
    for account, acked in sorted(tally.acked.items()):
        over_http, over_grpc = reader.everything(account)
        lost += len(acked - over_http) + len(acked - over_grpc)
        resurrected += len(tally.deleted.get(account, set()) & (over_http | over_grpc))
    for client in clients:
        client.close()
    every = [v for values in tally.latency.values() for v in values]
    latency = {
        name: {
            "count": len(values),
            "p50_ms": statistics.median(values) * 1000.0,
            "p99_ms": _percentile(values, 0.99),
            "max_ms": max(values) * 1000.0,
        }
        for name, values in tally.latency.items()
    }
    ops = len(every)
    return {
        "clients": config.clients,
        "seconds": elapsed,
        "ops": ops,
        "ops_per_s": ops / elapsed if elapsed else 0.0,
        "by_transport": {"grpc": tally.ops["grpc"], "http": tally.ops["http"]},
        "acked_writes": sum(len(v) for v in tally.acked.values()),
        "lost_writes": lost,
        "acked_deletes": sum(len(v) for v in tally.deleted.values()),
        "resurrected": resurrected,
        "shared_addresses": len(tally.created),
        "double_creates": sum(1 for c in tally.created.values() if c > 1),
        "never_created": sum(1 for c in tally.created.values() if c == 0),
        "stale_reads": tally.stale_reads,
        "unexpected": tally.unexpected,
        "unexpected_samples": tally.samples,
        "expected_rejections": tally.rejected,
        "timeouts": tally.timeouts,
        "latency": latency,
        "p50_ms": statistics.median(every) * 1000.0 if every else 0.0,
        "p99_ms": _percentile(every, 0.99) if every else 0.0,
    }
