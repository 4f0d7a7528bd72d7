"""The async half of the local stack: one event loop in a background thread, a ``grpc.aio`` server and
an ASGI server (uvicorn) on it.

Why a loop of the plugin's own, not the test's: a server on the test's loop lives only as long as
that loop (pytest-asyncio and anyio give each test, module or session its own), and a sync test has
no loop at all. On a background loop, the servers outlive every test's loop, and sync and async
tests reach them the same way: over a socket on 127.0.0.1.

The loop is uvloop's when it is installed (``--aio-loop auto``, the default, as uvicorn chooses its own
loop), else asyncio's: uvloop takes about a third off the async servers' share of a request's CPU
(``bench/bench_async.py``). ``--aio-loop asyncio`` keeps asyncio's loop; ``--aio-loop uvloop`` insists.

Each server is started from the caller's thread: the caller waits (bounded) for the loop to bind,
start and report ready, and a failure there stops what was started and raises in the caller.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class LoopChoiceError(RuntimeError):
    """``--aio-loop uvloop`` without uvloop installed."""


def new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``: ``asyncio``, ``uvloop``, or ``auto`` (uvloop when importable)."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise LoopChoiceError(
                    "--aio-loop uvloop: uvloop is not installed; pip install 'pytest-dualmode[speedups]' "
                    "or use --aio-loop auto"
                ) from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class BackgroundLoop:
    """An event loop (see :func:`new_event_loop` for ``kind``) running in a daemon thread; :meth:`run`
    runs a coroutine on it (bounded)."""

    def __init__(self, name: str = "dualmode-aio", kind: str = "auto") -> None:
        self.loop = new_event_loop(kind)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float, what: str) -> T:
        """Run ``coro`` on the loop and return its result; raise TimeoutError naming ``what`` after
        ``timeout`` seconds (the coroutine is then cancelled)."""
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError(f"the plugin's event loop thread is not running (while {what})")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"{what} did not finish within {timeout:g} s") from None

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what still runs on the loop, stop it and join its thread (each step bounded)."""
        if self._thread.is_alive():

            async def cancel_all() -> None:
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self.loop.shutdown_asyncgens()

            with contextlib.suppress(Exception):
                self.run(cancel_all(), timeout=timeout, what="cancelling the event loop's tasks")
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()


def _wait_for_port(host: str, port: int, timeout: float) -> None:
    # The port is bound and served: a TCP connect proves it in ~1 ms.
    with socket.create_connection((host, port), timeout=timeout):
        pass


class AioGrpcServer:
    """A ``grpc.aio`` server on ``host`` (port 0: a free one) for the servicers ``register`` adds,
    served on ``loop``."""

    def __init__(
        self,
        loop: BackgroundLoop,
        register: Sequence[Callable[[Any], object]],
        *,
        host: str = "127.0.0.1",
        interceptors: Sequence[Any] = (),
    ) -> None:
        self._loop = loop
        self._register = list(register)
        self._host = host
        self._interceptors = list(interceptors)
        self._server: Any = None
        self.port = 0

    @property
    def address(self) -> str:
        """``host:port`` of the running server."""
        return f"{self._host}:{self.port}"

    async def _start(self) -> int:
        import grpc

        # Created on the loop's thread: a grpc.aio server belongs to the loop it was made on.
        self._server = grpc.aio.server(interceptors=self._interceptors)
        for register in self._register:
            result = register(self._server)
            if isinstance(result, Awaitable):  # an async register function
                await result
        port = self._server.add_insecure_port(f"{self._host}:0")
        if not port:
            raise OSError(f"the grpc.aio server could not bind {self._host}")
        await self._server.start()
        return int(port)

    def start(self, ready_timeout: float = 10.0) -> AioGrpcServer:
        """Register, bind and start on the loop, then check (bounded) that the port accepts connections."""
        try:
            self.port = self._loop.run(
                self._start(), timeout=ready_timeout, what="starting the grpc.aio server"
            )
            _wait_for_port(self._host, self.port, ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop accepting calls and give running ones ``grace`` seconds (bounded)."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                self._loop.run(server.stop(grace), timeout=grace + 5, what="stopping the grpc.aio server")


class AsgiServer:
    """An ASGI app served by uvicorn on ``host`` (port 0: a free one), on ``loop``.

    The socket is bound in the caller's thread (a bind error raises there) and handed to uvicorn; the
    app's lifespan startup runs before :meth:`start` returns, its shutdown in :meth:`stop`.
    """

    def __init__(self, loop: BackgroundLoop, app: Any, *, host: str = "127.0.0.1") -> None:
        self._loop = loop
        self._app = app
        self._host = host
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self._host}:{self.port}"

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._sock])
        except SystemExit:  # uvicorn's answer to a failed lifespan startup: never let it end the loop
            raise RuntimeError(
                "the ASGI app's lifespan startup failed (uvicorn's log above says why)"
            ) from None

    async def _start(self, timeout: float) -> None:
        import uvicorn

        config = uvicorn.Config(
            self._app,
            log_config=None,  # leave the user's logging configuration alone
            access_log=False,
            lifespan="auto",
            ws="none",
            timeout_keep_alive=60,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._serve())
        deadline = asyncio.get_running_loop().time() + timeout
        # uvicorn sets `started` once lifespan startup ran and the socket serves; a failed start ends
        # the task instead. Polled on the loop, every few ms, within the bound.
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the failure
                raise RuntimeError("uvicorn stopped before it served (its log above says why)")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"uvicorn did not start serving within {timeout:g} s")
            await asyncio.sleep(0.005)

    def start(self, ready_timeout: float = 10.0) -> AsgiServer:
        """Bind, start uvicorn on the loop, wait (bounded) until it serves."""
        # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
        # without it each response's second write waits out the client's delayed ACK (40 ms).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock = sock
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, 0))
            sock.listen(128)
            sock.setblocking(False)
            self.port = sock.getsockname()[1]
            self._loop.run(
                self._start(ready_timeout), timeout=ready_timeout + 1, what="starting the ASGI server"
            )
            _wait_for_port(self._host, self.port, ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to finish (lifespan shutdown included) and wait for it, bounded; close the socket."""
        server, task, self._server, self._task = self._server, self._task, None, None
        if server is not None and task is not None:
            server.should_exit = True

            async def finish() -> None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout)

            with contextlib.suppress(Exception):
                self._loop.run(finish(), timeout=timeout + 1, what="stopping the ASGI server")
        if self._sock is not None:
            self._sock.close()
            self._sock = None
