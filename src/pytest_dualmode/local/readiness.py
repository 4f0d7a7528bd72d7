"""Probes that tell when a service process is ready: gRPC health ``Check``, an HTTP GET, a TCP connect.

(A ready line on its output needs no probe: :mod:`pytest_dualmode.local.process` spots it as it is read.)
Each :meth:`Probe.check` is one bounded attempt; the caller loops until its deadline.
"""

from __future__ import annotations

import http.client
import socket
from typing import Any, Protocol

from pytest_dualmode.local.process_service import Ready

# A channel's default first reconnect backoff is a second: a probe that dials before the port is bound
# would then sleep that long. These keep the retries close to the moment the service binds.
_FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 100),
]


class Probe(Protocol):
    """One readiness check, tried again until it passes."""

    def check(self, timeout: float) -> bool:
        """One attempt of at most ``timeout`` seconds: True once the service is ready."""

    def close(self) -> None:
        """Release what the probe holds (a channel)."""


class GrpcHealthProbe:
    """``grpc.health.v1.Health/Check`` answers SERVING for ``service`` ("" is the whole server)."""

    def __init__(self, address: str, service: str = "") -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        self._grpc = grpc
        self._request = health_pb2.HealthCheckRequest(service=service)
        self._serving = health_pb2.HealthCheckResponse.SERVING
        self._channel = grpc.insecure_channel(address, options=_FAST_RECONNECT)
        self._stub = health_pb2_grpc.HealthStub(self._channel)

    def check(self, timeout: float) -> bool:
        """One Check call that waits (at most ``timeout``) for the port to accept."""
        try:
            answer = self._stub.Check(self._request, timeout=timeout, wait_for_ready=True)
        except self._grpc.RpcError:
            return False
        return bool(answer.status == self._serving)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


class HttpProbe:
    """``GET path`` on the HTTP port answers 2xx or 3xx."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self._host, self._port, self._path = host, port, path

    def check(self, timeout: float) -> bool:
        """One GET, ``timeout`` bounding the connect and the answer."""
        conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        try:
            conn.request("GET", self._path)
            return 200 <= conn.getresponse().status < 400
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def close(self) -> None:
        """Nothing to release."""


class TcpProbe:
    """Every port accepts a TCP connection."""

    def __init__(self, host: str, ports: list[int]) -> None:
        self._host, self._ports = host, ports

    def check(self, timeout: float) -> bool:
        """Connect to each port once."""
        for port in self._ports:
            try:
                with socket.create_connection((self._host, port), timeout=timeout):
                    pass
            except OSError:
                return False
        return True

    def close(self) -> None:
        """Nothing to release."""


def probe(ready: Ready, process: Any) -> Probe:
    """The probe for ``ready`` against ``process`` (a ``ServiceProcess``)."""
    if ready.kind == "grpc-health":
        return GrpcHealthProbe(process.grpc_address, ready.arg)
    if ready.kind == "http":
        return HttpProbe(process.host, process.http_port, ready.arg)
    ports = [p for p in (process.grpc_port, process.http_port) if p]
    return TcpProbe(process.host, ports)
