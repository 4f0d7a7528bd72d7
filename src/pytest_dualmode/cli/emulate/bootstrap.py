"""The runtime process of ``dualmode emulate`` (copied into the emulated runtime folder and run there).

It uses only the standard library, because it starts in a clean interpreter whose path holds
nothing but the task root and the runtime folder. With ``awslambdaric`` as its argument it hands
over to the official runtime client, as Lambda's own Python runtime does; with ``bootstrap`` it
runs a small client of the same Runtime API (for interpreters that have no ``awslambdaric``).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
import urllib.request
from typing import Any

_API_PATH = "/2018-06-01/runtime"
_PARENT_POLL_S = 0.5  # how often the runtime checks that the emulator that started it still runs


class Context:
    """The subset of Lambda's context object that handlers use."""

    def __init__(self, headers: Any) -> None:
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the deadline, as Lambda's context reports it."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _post(url: str, payload: Any, error_type: str | None = None) -> None:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if error_type:
        request.add_header("Lambda-Runtime-Function-Error-Type", error_type)
    urllib.request.urlopen(request, timeout=60).close()  # noqa: S310  (the emulator's loopback API)


def _load(handler: str) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _InitError(
            exc, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    try:
        return getattr(module, function_name)
    except AttributeError as exc:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise _InitError(exc, "Runtime.HandlerNotFound", message) from None


class _InitError(Exception):
    def __init__(self, cause: BaseException, error_type: str, message: str) -> None:
        super().__init__(message)
        self.payload = _error(cause, error_type, message)


def mini_runtime(handler: str) -> None:
    """Serve invocations from the Runtime API until the emulator stops this process."""
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + _API_PATH
    try:
        function = _load(handler)
    except _InitError as exc:
        print(json.dumps(exc.payload), file=sys.stderr)
        _post(api + "/init/error", exc.payload, exc.payload["errorType"])
        sys.exit(1)
    while True:
        # no timeout: like Lambda's, this call blocks until the next event; the emulator ends the process
        with urllib.request.urlopen(api + "/invocation/next") as response:  # noqa: S310
            event = json.loads(response.read() or b"null")
            context = Context(response.headers)
        base = f"{api}/invocation/{context.aws_request_id}"
        try:
            result = function(event, context)
        except Exception as exc:
            payload = _error(exc)
            print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
            _post(base + "/error", payload, payload["errorType"])
            continue
        _post(base + "/response", result)


def follow_parent(poll_s: float = _PARENT_POLL_S) -> None:
    """End this runtime, and everything it started, once the emulator that started it is gone.

    The emulator kills its runtimes when it stops, even on SIGTERM or Ctrl-C; this covers the case it
    cannot: a SIGKILL (a cancelled CI job, the OOM killer). The runtime leads its own process group
    (the emulator starts it in a new session), so neither that signal nor the terminal's reaches it;
    without this it would run its suite on until the deadline. When its parent dies the kernel hands
    the process to another one, so a change of ``getppid()`` is the sign. It is polled from a daemon
    thread rather than asked of the kernel (``PR_SET_PDEATHSIG``), because that fires when the thread
    that started the process ends, and the emulator starts runtimes from worker threads. (Had the
    emulator died before this runs, the runtime would find its Runtime API gone and exit on its own.)
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.killpg(0, signal.SIGKILL)  # this process's group: the runtime and what it started

    threading.Thread(target=watch, name="dualmode-follow-parent", daemon=True).start()


def main(argv: list[str]) -> None:
    """``_dualmode_bootstrap.py awslambdaric|bootstrap``: start the chosen runtime client."""
    follow_parent()
    # the script's folder went first on the path; Lambda's order is task root, then runtime (PYTHONPATH)
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(argv[0])):
        del sys.path[0]
    handler = os.environ["_HANDLER"]
    if argv[1:] == ["awslambdaric"]:
        from awslambdaric.__main__ import main as ric_main

        ric_main([argv[0], handler])
    else:
        # unbuffered, as awslambdaric makes them: a process stopped at its deadline loses no output
        for fd, name in ((1, "stdout"), (2, "stderr")):
            raw = io.FileIO(fd, "w", closefd=False)
            setattr(
                sys,
                name,
                io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True),
            )
        mini_runtime(handler)


if __name__ == "__main__":
    main(sys.argv)
