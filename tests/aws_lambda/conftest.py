"""Fixtures for the Lambda handler's tests: a read-only task root, a Lambda-like context, and a caller.

The handler runs in this process (it runs pytest in-process, as in Lambda); each test gets its own task root.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode.aws_lambda import SuiteFailed, handler


class FakeContext:
    """The parts of Lambda's context object the handler reads."""

    def __init__(self, remaining_ms: float | None = 60_000, request_id: str = "req-1") -> None:
        self.aws_request_id = request_id
        self.function_name = "dualmode-tests"
        self._deadline = None if remaining_ms is None else time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left until the deadline."""
        assert self._deadline is not None
        return int(max(0.0, self._deadline - time.monotonic()) * 1000)


class TaskRoot:
    """A folder of test files made read-only (as Lambda's task root is), with a listing to prove no writes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, files: dict[str, str]) -> TaskRoot:
        """Write ``files`` (relative path -> source, dedented) and make the whole tree read-only."""
        self.set_writable(True)
        for name, text in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
        self.set_writable(False)
        return self

    def set_writable(self, writable: bool) -> None:
        """chmod the tree (root ignores it, hence :meth:`listing`)."""
        for folder, dirs, files in os.walk(self.path):
            for name in [*dirs, *files, "."]:
                p = os.path.join(folder, name)
                mode = os.stat(p).st_mode
                os.chmod(
                    p,
                    mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH),
                )

    def listing(self) -> list[str]:
        """Every file and folder under the root (relative), sorted."""
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*"))


@pytest.fixture
def task_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TaskRoot]:
    """An empty read-only task root, set as ``LAMBDA_TASK_ROOT``."""
    root = TaskRoot(tmp_path / "task")
    root.path.mkdir()
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(root.path))
    yield root
    root.set_writable(True)  # so pytest can clean it up


@pytest.fixture
def context() -> type[FakeContext]:
    """The fake context class: ``context(remaining_ms)``."""
    return FakeContext


@pytest.fixture
def invoke() -> Callable[..., dict[str, Any]]:
    """Call the handler as Lambda would; a :class:`SuiteFailed` comes back as its result plus ``raised``."""

    def call(event: Any, remaining_ms: float | None = 60_000) -> dict[str, Any]:
        try:
            result = handler(event, FakeContext(remaining_ms) if remaining_ms is not None else None)
        except SuiteFailed as exc:
            summary = json.loads(str(exc))
            assert summary["outcome"] == exc.result["outcome"]
            return {**exc.result, "raised": summary}
        json.dumps(result)  # a Lambda response must be JSON
        return result

    return call
