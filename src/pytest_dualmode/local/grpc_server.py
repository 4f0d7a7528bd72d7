"""A gRPC server on 127.0.0.1 for the user's servicers, bound on an ephemeral port."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class GrpcServer:
    """Serve the servicers that ``register`` callables add, on ``host:port`` (0 picks a free port).

    The port is bound in the caller's thread (a bind failure raises here), readiness is checked
    with a real channel, and any failure stops the server before re-raising.
    """

    def __init__(
        self,
        register: Sequence[Callable[[Any], object]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        interceptors: Sequence[Any] = (),
        max_workers: int = 16,
    ) -> None:
        self._register = list(register)
        self._host = host
        self._port = port
        self._interceptors = list(interceptors)
        self._max_workers = max_workers
        self._server: Any = None
        self.port = 0

    @property
    def address(self) -> str:
        """``host:port`` of the running server."""
        return f"{self._host}:{self.port}"

    def start(self, ready_timeout: float = 10.0) -> GrpcServer:
        """Register the servicers, bind, start, and wait (bounded) until the port accepts a connection."""
        import grpc

        executor = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="dualmode-grpc")
        server = grpc.server(executor, interceptors=self._interceptors)
        self._server = server
        try:
            for register in self._register:
                register(server)
            self.port = server.add_insecure_port(f"{self._host}:{self._port}")
            if not self.port:
                raise OSError(f"gRPC server could not bind {self._host}:{self._port}")
            server.start()
            # The port is bound and serving: a TCP connect proves it in ~2 ms, where a throwaway
            # channel's close waits out grpc's 200 ms connectivity poll.
            with socket.create_connection((self._host, self.port), timeout=ready_timeout):
                pass
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop accepting calls, give running calls ``grace`` seconds, and wait (bounded) for the end."""
        if self._server is not None:
            self._server.stop(grace).wait(grace + 5)
            self._server = None
