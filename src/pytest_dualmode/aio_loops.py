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
        self._items: dict[asyncio.AbstractEventLoop, _Kept[T]] = {}

    def get(self) -> T:
        """The resource of the running loop, opened now on first use in it."""
        loop = running_loop(self._what)
        kept = self._items.get(loop)
        if kept is None:
            for old in [old for old in self._items if old.is_closed()]:
                del self._items[old]  # closed with its loop
            kept = _Kept(self._open())
            kept.task = loop.create_task(
                self._keep(kept), name=f"dualmode: closes {self._what} with its loop"
            )
            self._items[loop] = kept
        return kept.value

    async def _keep(self, kept: _Kept[T]) -> None:
        kept.started = True
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled: the loop ends, or close()
        finally:
            with contextlib.suppress(Exception):
                await self._aclose(kept.value)

    async def _finish(self, kept: _Kept[T]) -> None:
        assert kept.task is not None
        kept.task.cancel()
        await asyncio.wait([kept.task])  # its finally closes the resource; a cancel of ours still raises
        if not kept.started:  # cancelled before it ran (no await since get()): close it here
            with contextlib.suppress(Exception):
                await self._aclose(kept.value)

    async def aclose_current(self) -> None:
        """Close the running loop's resource now, if it has one (a later :meth:`get` opens a new one)."""
        kept = self._items.pop(running_loop(self._what), None)
        if kept is not None:
            await self._finish(kept)

    def close(self) -> None:
        """Close the resources whose loops are still open and idle (the others closed with their loop)."""
        items, self._items = self._items, {}
        for loop, kept in items.items():
            if loop.is_closed() or kept.task is None or kept.task.done():
                continue
            if loop.is_running():  # a loop of another thread: let it close the client itself
                loop.call_soon_threadsafe(kept.task.cancel)
                continue
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._finish(kept))


class _Kept(Generic[T]):
    """One loop's resource, the task that closes it with the loop, and whether that task has run."""

    __slots__ = ("started", "task", "value")

    def __init__(self, value: T) -> None:
        self.value = value
        self.task: asyncio.Task[None] | None = None
        self.started = False
