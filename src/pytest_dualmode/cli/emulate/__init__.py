"""``dualmode emulate``: run a package the way Lambda would, offline.

The zip is extracted once into a read-only task root. An invocation runs in a runtime process: a clean
interpreter (no site-packages: only the task root, a runtime folder holding ``awslambdaric`` and boto3 as
Lambda's runtime does, and the standard library can be imported) with Lambda's environment variables,
HOME and TMPDIR in a writable scratch folder, and a Runtime API server on 127.0.0.1 that hands it the
event with a deadline. The process is killed at the deadline or when it exceeds its memory size, as
Lambda would.

By default every invocation starts its own runtime (a cold start) and stops it afterwards. With
``keep_warm=True`` a runtime that answered is kept, like a Lambda execution environment, and serves the
next invocation with the same configuration; :meth:`Emulator.warm` starts runtimes ahead of the
invocations, as provisioned concurrency does (``pool`` has the rules).

Python API (used by ``dualmode invoke --emulate``; safe to call from several threads)::

    with Emulator("system-tests.zip") as emulator:
        outcome = emulator.invoke({"args": ["-k", "smoke"]}, timeout_s=300, env={"DUALMODE_ADDR": ...})

    with Emulator("system-tests.zip", keep_warm=True) as emulator:
        emulator.warm(8)  # eight runtimes initialised before the first invocation
        ...

    outcome = emulate_zip("system-tests.zip", {}, timeout_s=300, env={...})  # one-shot
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.emulate import sandbox
from pytest_dualmode.cli.emulate.pool import Key, RuntimePool
from pytest_dualmode.cli.emulate.process import EmulationOutcome, run_invocation
from pytest_dualmode.cli.emulate.warm import RuntimeProcess, start_api

DEFAULT_TIMEOUT_S = 900.0  # Lambda's maximum; the deploy template's default is the same
DEFAULT_MEMORY_MB = 1024
WARM_TIMEOUT_S = 60.0  # how long warm() waits, at most, for pre-started runtimes to finish their init
__all__ = ["EmulationOutcome", "Emulator", "emulate_zip"]


class Emulator:
    """A package extracted to a read-only task root, ready to run invocations like Lambda.

    ``invoke`` may be called from several threads at once: each concurrent call has its own runtime
    process, Runtime API server and scratch folder, and they share the read-only task root. With
    ``keep_warm`` runtimes are reused (see the module doc). :meth:`close` (or leaving the ``with`` block,
    also through ``KeyboardInterrupt``) kills every runtime, including those still running an invocation.
    """

    def __init__(
        self,
        zip_path: str | Path,
        *,
        memory_mb: int = DEFAULT_MEMORY_MB,
        function_name: str = "system-tests",
        interpreter: str | None = None,
        client: str = "auto",
        keep_warm: bool = False,
    ) -> None:
        from pytest_dualmode.cli.package.archive import interpreter_for

        self.zip_path = Path(zip_path)
        self.manifest = sandbox.read_manifest(self.zip_path)
        sandbox.check_platform(self.manifest, self.zip_path)
        self.python = str(self.manifest.get("python") or f"{sys.version_info.major}.{sys.version_info.minor}")
        self.handler = str(self.manifest.get("handler") or sandbox.DEFAULT_HANDLER)
        found = interpreter or interpreter_for(self.python)
        if found is None:
            raise CliError(
                f"{self.zip_path} is built for Python {self.python} and there is no python{self.python} "
                "here; install one, or pass its path with --interpreter"
            )
        self.interpreter = found
        if memory_mb < 128 or memory_mb > 10240:
            raise CliError(f"--memory {memory_mb}: Lambda allows 128 to 10240 MB; use e.g. --memory 1024")
        self.memory_mb = memory_mb
        self.function_name = function_name
        self._pool = RuntimePool(self._start_runtime, keep_warm=keep_warm)
        self._tmp = Path(tempfile.mkdtemp(prefix="dualmode-emulate-"))
        try:
            self.task_root = self._tmp / "task"
            self.task_root.mkdir()
            sandbox.extract_read_only(self.zip_path, self.task_root)
            in_zip = (self.task_root / "awslambdaric").is_dir()
            local = sandbox.local_awslambdaric_fits(self.interpreter)
            if client == "auto":
                client = "awslambdaric" if in_zip or local else "bootstrap"
            elif client == "awslambdaric" and not (in_zip or local):
                raise CliError(
                    "--client awslambdaric: awslambdaric is neither in the zip nor installed here for "
                    f"Python {self.python}; pip install awslambdaric, or use --client bootstrap"
                )
            self.client = client
            self.runtime_dir = self._tmp / "runtime"
            link_ric = client == "awslambdaric" and local and not in_zip
            sandbox.build_runtime_dir(self.runtime_dir, awslambdaric=link_ric)
            self._files = sandbox.snapshot(self.task_root)
        except BaseException:
            self.close()
            raise

    @property
    def keep_warm(self) -> bool:
        """Whether runtimes are kept for later invocations."""
        return self._pool.keep_warm

    @property
    def processes(self) -> int:
        """Runtime processes running now (busy and idle warm ones)."""
        return self._pool.processes

    def invoke(
        self,
        event: Any,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        on_log: Callable[[str], None] | None = None,
        fresh: bool = False,
    ) -> EmulationOutcome:
        """Run one invocation with ``event`` (any JSON value) and return what Lambda would have reported.

        ``env`` adds to (and overrides) the function's environment; a warm runtime is reused only by an
        invocation with the same environment. ``on_log`` receives each log line as it is written (the
        outcome keeps the last 4 KB, like Lambda's log tail). ``fresh`` runs it in a newly started
        runtime even when a warm one is idle.
        """
        if not 0 < timeout_s <= 900:
            raise CliError(f"--timeout {timeout_s:g}: Lambda allows 1 to 900 seconds; use e.g. --timeout 300")
        overrides = self._overrides(env)
        runtime = self._pool.acquire(overrides, fresh=fresh)
        reusable = False
        try:
            outcome, reusable = run_invocation(
                runtime, event=event, timeout_s=timeout_s, memory_mb=self.memory_mb, on_log=on_log
            )
        finally:
            self._pool.release(runtime, reusable=reusable)
        outcome.runtime_client = self.client
        writes = sorted(sandbox.snapshot(self.task_root) - self._files)
        if writes:
            outcome.task_root_writes = writes[:20]
        return outcome

    def warm(
        self, count: int, *, env: Mapping[str, str] | None = None, timeout_s: float = WARM_TIMEOUT_S
    ) -> int:
        """Start runtimes until ``count`` idle ones with ``env`` are waiting, like provisioned concurrency.

        They start concurrently and initialise (interpreter, runtime client, the handler's module) before
        any invocation; this waits at most ``timeout_s`` for that and returns how many are ready. Needs
        ``keep_warm=True``.
        """
        return self._pool.warm(count, self._overrides(env), timeout_s=timeout_s)

    def close(self) -> None:
        """Kill every runtime process, stop their servers, remove the task root and runtime folder."""
        self._pool.close()
        sandbox.make_writable(self._tmp / "task")
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _overrides(env: Mapping[str, str] | None) -> dict[str, str]:
        overrides = dict(env or {})
        for name in overrides:
            sandbox.check_env_name(name, "env")
        return overrides

    def _start_runtime(self, overrides: dict[str, str], key: Key, initialization: str) -> RuntimeProcess:
        """A new runtime process with its own Runtime API server and scratch folder (its ``/tmp``)."""
        scratch = Path(tempfile.mkdtemp(prefix="env-", dir=self._tmp))
        api = None
        try:
            api = start_api(self.function_name, sandbox.region(overrides))
            env = sandbox.function_env(
                task_root=self.task_root,
                runtime=self.runtime_dir,
                scratch=scratch,
                api_address=api.address,
                handler=self.handler,
                python=self.python,
                function_name=self.function_name,
                memory_mb=self.memory_mb,
                interpreter=self.interpreter,
                overrides=overrides,
                initialization=initialization,
            )
            command = sandbox.bootstrap_command(self.interpreter, self.runtime_dir, self.client)
            return RuntimeProcess(command, env=env, cwd=self.task_root, api=api, scratch=scratch, key=key)
        except BaseException:
            if api is not None:
                api.stop()
            shutil.rmtree(scratch, ignore_errors=True)
            raise


def emulate_zip(
    zip_path: str | Path,
    event: Any,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    on_log: Callable[[str], None] | None = None,
) -> EmulationOutcome:
    """Extract ``zip_path``, run one invocation with ``event`` and clean up; see :meth:`Emulator.invoke`."""
    with Emulator(zip_path, memory_mb=memory_mb) as emulator:
        return emulator.invoke(event, timeout_s=timeout_s, env=env, on_log=on_log)


def _event(value: str) -> Any:
    source = "--event"
    if value.startswith("@"):
        path = Path(value[1:])
        source = f"--event file {path}"
        try:
            value = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(
                f"cannot read {path}: {exc.strerror}; give @FILE with a JSON event"
            ) from None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f'{source} is not valid JSON ({exc}); e.g. --event \'{{"args": ["-k", "smoke"]}}\''
        ) from None


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of seconds; use e.g. --timeout 300"
        ) from None
    if not 0 < seconds <= 900:
        raise argparse.ArgumentTypeError(f"{value} s: Lambda allows 1 to 900 seconds; use e.g. --timeout 300")
    return seconds


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``dualmode emulate``."""
    p = subparsers.add_parser(
        "emulate",
        help="run a package the way Lambda would, offline",
        description="Run a zip built by 'dualmode package' the way Lambda would: read-only task root, a "
        "clean interpreter that sees only the zip and the standard library (plus awslambdaric and boto3, as "
        "Lambda's runtime provides them), Lambda's environment, the deadline enforced. DUALMODE_* and AWS "
        "credential variables are forwarded from this environment; --env adds or overrides.",
    )
    p.add_argument("zip", type=Path, metavar="ZIP", help="the package to run")
    p.add_argument("--event", type=_event, default={}, metavar="JSON|@FILE", help="the event (default: {})")
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="the deadline (default 900)",
    )
    p.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="a function environment variable"
    )
    p.add_argument(
        "--memory", type=int, default=DEFAULT_MEMORY_MB, metavar="MB", help="memory size (default 1024)"
    )
    p.add_argument("--function-name", default="system-tests", help="the emulated function's name")
    p.add_argument(
        "--json", type=Path, metavar="FILE", help="write the result (or the error payload) as JSON"
    )
    p.add_argument(
        "--interpreter", metavar="PATH", help="the Python to run (default: one of the zip's version)"
    )
    p.add_argument(
        "--client",
        choices=("auto", "awslambdaric", "bootstrap"),
        default="auto",
        help="runtime client: awslambdaric where available (auto), or the emulator's own bootstrap",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not stream the function's log")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``dualmode emulate`` from parsed arguments; returns pytest's exit code."""
    env = sandbox.parse_env(args.env)
    lock = threading.Lock()

    def echo(line: str) -> None:
        with lock:
            sys.stderr.write(line if line.endswith("\n") else line + "\n")
            sys.stderr.flush()

    started = time.monotonic()
    with Emulator(
        args.zip,
        memory_mb=args.memory,
        function_name=args.function_name,
        interpreter=args.interpreter,
        client=args.client,
    ) as emulator:
        outcome = emulator.invoke(
            args.event, timeout_s=args.timeout, env=env, on_log=None if args.quiet else echo
        )
    if args.json is not None:
        args.json.write_text(json.dumps(outcome.result or outcome.error, indent=2) + "\n", encoding="utf-8")
    for line in outcome.report_lines(time.monotonic() - started, summary=args.quiet):
        print(line)
    return outcome.exit_code
