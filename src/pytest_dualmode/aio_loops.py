"""One client per running asyncio event loop, closed in that loop.

Async clients (a ``grpc.aio`` channel, an ``httpx`` connection pool) belong to the event loop they
were first used on, and that loop belongs to the test framework: pytest-asyncio and anyio give
each test (or module, or session, as configured) a loop of its own and close it after the test,
before any plain fixture's teardown runs. So the fixtures do not open their clients up front:
:class:`PerLoop` opens one on first use in each running loop, and closes it in that loop, either
when the loop shuts down (a task that waits forever is cancelled by ``asyncio.run``, pytest-asyncio
and anyio alike, and closes the client as it ends) or at :meth:`PerLoop.close` if the loop is still
open then (a loop shared by several tests).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def running_loop(what: str) -> asyncio.AbstractEventLoop:
    """The running asyncio loop; a RuntimeError naming ``what`` and the fix when there is none."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"{what} is async: use it inside an async test (pytest-asyncio, or anyio with the asyncio "
            "backend); sync tests use grpc_channel and http"
        ) from None


class PerLoop(Generic[T]):
    """The resource ``open()`` makes, one per running event loop, closed by ``aclose(resource)``."""

    def __init__(self, open: Callable[[], T], aclose: Callable[[T], Awaitable[object]], *, what: str) -> None:
        self._open = open
        self._aclose = aclose
        self._what = what
        self._items: dict[asyncio.AbstractEventLoop, tuple[T, asyncio.Task[None]]] = {}

    def get(self) -> T:
        """The resource of the running loop, opened now on first use in it."""
        loop = running_loop(self._what)
        item = self._items.get(loop)
        if item is None:
            for old in [old for old in self._items if old.is_closed()]:
                del self._items[old]  # closed with its loop
            value = self._open()
            task = loop.create_task(self._keep(value), name=f"dualmode: closes {self._what} with its loop")
            item = self._items[loop] = (value, task)
        return item[0]

    async def _keep(self, value: T) -> None:
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled: the loop ends, or close()
        finally:
            with contextlib.suppress(Exception):
                await self._aclose(value)

    async def aclose_current(self) -> None:
        """Close the running loop's resource now, if it has one (a later :meth:`get` opens a new one)."""
        item = self._items.pop(running_loop(self._what), None)
        if item is not None:
            item[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await item[1]

    def close(self) -> None:
        """Close the resources whose loops are still open and idle (the others closed with their loop)."""
        items, self._items = self._items, {}
        for loop, (_, task) in items.items():
            if loop.is_closed() or task.done():
                continue
            if loop.is_running():  # a loop of another thread: let it close the client itself
                loop.call_soon_threadsafe(task.cancel)
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                loop.run_until_complete(task)
