"""Helpers for the SigV4 tests: AWS's vectors (read from outside the repo), keys and clocks."""

from __future__ import annotations

import calendar
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUITE_ENV = "DUALMODE_SIGV4_SUITE"

ACCESS_KEY = "AKIDDUALMODETEST"
SECRET = "Kx7rT2mQ9vLp4ZsW8yBn3HcJ6dFgA1eUoYiR5tNq"  # 40 chars, AWS-secret-shaped, fake
TOKEN_KEY = "ASIADUALMODETEST"
TOKEN_SECRET = "tokenSecret/For+TheTemporaryKey0123456789"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFakeSessionTokenForTests0123456789abcdefABCDEF=="
REGION = "us-east-1"
SERVICE = "vpc-lattice-svcs"
ALL_SECRETS = (SECRET, TOKEN_SECRET, SESSION_TOKEN)


def suite_dir() -> Path | None:
    """The folder of AWS's SigV4 vectors (the one holding the case folders), or None if absent."""
    base = Path(os.environ.get(SUITE_ENV) or ROOT.parent / "shared" / "sigv4-test-suite")
    for candidate in (base / "v4", base):
        if candidate.is_dir() and any((c / "context.json").is_file() for c in candidate.iterdir()):
            return candidate
    return None


@dataclass(frozen=True)
class Case:
    """One vector: its context and raw request, parsed."""

    name: str
    folder: Path
    context: dict[str, Any]
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def timestamp(self) -> float:
        """The case's signing time, epoch seconds."""
        return float(calendar.timegm(time.strptime(self.context["timestamp"], "%Y-%m-%dT%H:%M:%SZ")))

    @property
    def host(self) -> str:
        """The request's Host header."""
        return next(v for n, v in self.headers if n.lower() == "host")

    def expected(self, step: str) -> str:
        """An expected file's text (``canonical-request``, ``string-to-sign``, ``signature``)."""
        return (self.folder / f"header-{step}.txt").read_text(encoding="utf-8").rstrip("\n")


def parse_request(raw: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """``(method, target, headers, body)`` from a raw HTTP request of the suite (folded lines kept)."""
    head, _, body = raw.partition("\n\n")
    lines = head.split("\n")
    method, rest = lines[0].split(" ", 1)
    target = rest.rsplit(" ", 1)[0]  # the path may hold spaces
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":  # a folded continuation of the previous header
            name, value = headers[-1]
            headers[-1] = (name, f"{value}\n{line}")
            continue
        name, _, value = line.partition(":")
        headers.append((name, value))
    return method, target, headers, body.encode("utf-8")


def load_case(folder: Path, request_file: str = "request.txt") -> Case:
    """Parse one case folder."""
    method, target, headers, body = parse_request((folder / request_file).read_text(encoding="utf-8"))
    path, _, query = target.partition("?")
    context = json.loads((folder / "context.json").read_text(encoding="utf-8"))
    return Case(folder.name, folder, context, method, path, query, headers, body)


def case_names() -> list[str]:
    """The case folder names (empty without the suite)."""
    folder = suite_dir()
    return sorted(p.name for p in folder.iterdir() if (p / "context.json").is_file()) if folder else []


class Clock:
    """A settable clock (epoch seconds)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def keys() -> dict[str, tuple[str, str | None]]:
    """The verifier's key table for the round-trip tests."""
    return {ACCESS_KEY: (SECRET, None), TOKEN_KEY: (TOKEN_SECRET, SESSION_TOKEN)}


def grpc_echo_handlers() -> Any:
    """A generic gRPC handler for ``dualmode.test.Echo`` with one method of each call kind (raw bytes)."""
    import grpc

    def unary(request: bytes, context: Any) -> bytes:
        return b"unary:" + request

    def server_stream(request: bytes, context: Any) -> Iterator[bytes]:
        for i in range(3):
            yield b"%d:" % i + request

    def client_stream(requests: Iterator[bytes], context: Any) -> bytes:
        return b"|".join(requests)

    def bidi(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        for item in requests:
            yield b"echo:" + item

    return grpc.method_handlers_generic_handler(
        "dualmode.test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        },
    )


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Echo the method, raw path, query and body as JSON."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    payload = json.dumps(
        {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("RAW_URI", environ["PATH_INFO"]).partition("?")[0],
            "query": environ.get("QUERY_STRING", ""),
            "body": body.decode("utf-8", "replace"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
