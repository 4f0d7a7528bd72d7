"""Lambda's environment around one handler run, put back exactly afterwards.

* The task root (``LAMBDA_TASK_ROOT``, else the working directory) is read-only: no bytecode, no pytest cache,
  HOME and TMPDIR in a writable folder (``/tmp`` in Lambda), Hypothesis' database there too.
* The event's ``env`` is applied for the run and everything in ``os.environ`` is restored after it, with the
  working directory, ``sys.path``, ``sys.dont_write_bytecode`` and ``tempfile.tempdir``.
* :class:`ModuleJanitor` removes the test modules of the previous run from ``sys.modules`` so that a warm
  invocation imports them afresh (new module state, and the file as it is now).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from functools import cache
from types import TracebackType


def in_lambda() -> bool:
    """True inside AWS Lambda (or an emulation of it that sets Lambda's variables)."""
    return "AWS_LAMBDA_FUNCTION_NAME" in os.environ or os.environ.get("AWS_EXECUTION_ENV", "").startswith(
        "AWS_Lambda_"
    )


def task_root() -> str:
    """The folder holding the packaged tests: ``LAMBDA_TASK_ROOT``, else the working directory."""
    return os.path.abspath(os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd())


def _writable_dir(path: str | None) -> bool:
    return bool(path) and os.path.isdir(str(path)) and os.access(str(path), os.W_OK | os.X_OK)


def writable_tmp() -> str:
    """TMPDIR when it is a writable folder, else ``/tmp`` in Lambda, else the platform's temporary folder."""
    current = os.environ.get("TMPDIR")
    if current and _writable_dir(current):
        return current
    return "/tmp" if in_lambda() else tempfile.gettempdir()  # noqa: S108 - Lambda's only writable folder


class RunEnvironment:
    """Context manager: the event's variables and Lambda's writable folders for one run, then all restored."""

    def __init__(self, root: str, overrides: Mapping[str, str]) -> None:
        self.root = root
        self.overrides = dict(overrides)
        self.tmp = ""

    def __enter__(self) -> RunEnvironment:
        self._environ = dict(os.environ)
        self._cwd = os.getcwd()
        self._path = list(sys.path)
        self._bytecode = sys.dont_write_bytecode
        self._tempdir = tempfile.tempdir
        os.environ.update(self.overrides)
        self.tmp = writable_tmp()
        os.environ["TMPDIR"] = self.tmp
        if not _writable_dir(os.environ.get("HOME")):
            os.environ["HOME"] = self.tmp
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # for any subprocess a test starts
        os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(self.tmp, ".hypothesis"))
        sys.dont_write_bytecode = True
        tempfile.tempdir = self.tmp
        os.chdir(self.root)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for key in [k for k in os.environ if k not in self._environ]:
            del os.environ[key]
        for key, value in self._environ.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        with contextlib.suppress(OSError):  # the old working directory is gone: stay where we are
            os.chdir(self._cwd)
        sys.path[:] = self._path
        sys.dont_write_bytecode = self._bytecode
        tempfile.tempdir = self._tempdir
        # pytest keeps the last failure here for post-mortem debugging; it would pin a test module's frames.
        for name in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, name):
                delattr(sys, name)


class ModuleJanitor:
    """Forgets the test code of earlier runs so the next run imports it afresh.

    Removed from ``sys.modules``: the test modules and conftest modules under the task root, and every module
    in (or below) a folder that holds collected tests, except the task root itself, where a Lambda zip also
    keeps the dependencies (grpc, botocore...), which must stay imported.
    """

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.test_dirs: set[str] = set()

    def remember(self, root: str, module_names: Iterable[str], test_dirs: Iterable[str]) -> None:
        """Note what a run collected."""
        self.names.update(module_names)
        root = os.path.abspath(root)
        self.test_dirs.update(d for d in (os.path.abspath(t) for t in test_dirs) if d != root)

    def sweep(self, root: str) -> int:
        """Remove the remembered test code under ``root`` from ``sys.modules``; return how many went."""
        prefix = os.path.abspath(root) + os.sep
        dirs = tuple(d + os.sep for d in self.test_dirs)
        doomed = []
        for name, module in list(sys.modules.items()):
            filename = getattr(module, "__file__", None)
            if not isinstance(filename, str):
                continue
            if not os.path.isabs(filename):  # rare (a relative sys.path entry); abspath is the slow part
                filename = os.path.abspath(filename)
            if not filename.startswith(prefix):
                continue
            if (
                name in self.names
                or os.path.basename(filename) == "conftest.py"
                or (dirs and filename.startswith(dirs))
            ):
                doomed.append(name)
        for name in doomed:
            sys.modules.pop(name, None)
        return len(doomed)


JANITOR = ModuleJanitor()


@cache
def _entry_point_visible() -> bool:
    from importlib.metadata import entry_points

    return any(
        ep.value.split(":")[0].strip() == "pytest_dualmode.plugin" for ep in entry_points(group="pytest11")
    )


def plugin_args(user_args: Iterable[str]) -> list[str]:
    """``["-p", "pytest_dualmode.plugin"]`` when pytest would not load the plugin by itself, else ``[]``.

    A zip without the package's dist-info has no ``pytest11`` entry point; loading the plugin both ways would
    register it twice, so it is added only when the entry point is not visible (or autoloading is off) and the
    arguments do not already name it.
    """
    args = list(user_args)
    for i, arg in enumerate(args):
        value = (
            args[i + 1] if arg == "-p" and i + 1 < len(args) else arg[2:] if arg.startswith("-p") else None
        )
        if value is not None and value.strip().removeprefix("no:") in ("dualmode", "pytest_dualmode.plugin"):
            return []  # named by the caller (to load or to block it): leave it to them
    if _entry_point_visible() and not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return []
    return ["-p", "pytest_dualmode.plugin"]
