"""What ``dualmode_service`` returns for a service that runs as its own process (any language).

:class:`ProcessService` is checked when it is made, so a bad command, an unknown placeholder or a port
given twice fails before the process is started, with the value and the fix in the message.
"""

from __future__ import annotations

import os
import re
import shutil
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The values a command or an env value may name as {placeholder}; the process also gets them as
# DUALMODE_* environment variables (see ProcessService).
PLACEHOLDERS = ("grpc_port", "http_port", "host", "dynamodb_endpoint", "region")
ENV_NAMES = {
    "grpc_port": "DUALMODE_GRPC_PORT",
    "http_port": "DUALMODE_HTTP_PORT",
    "host": "DUALMODE_HOST",
    "dynamodb_endpoint": "DUALMODE_DYNAMODB_ENDPOINT",
    "region": "DUALMODE_REGION",
}
READY_KINDS = ("grpc-health", "http", "json", "line", "tcp")


@dataclass(frozen=True)
class Ready:
    """A parsed readiness spec (see :class:`ProcessService`'s ``ready``)."""

    kind: str
    arg: str = ""

    def describe(self) -> str:
        """What is waited for, in words, for error messages."""
        return {
            "grpc-health": f"a SERVING answer to grpc.health.v1 Check(service={self.arg!r}) on the gRPC port",
            "http": f"a 2xx/3xx answer to GET {self.arg} on the HTTP port",
            "json": 'a JSON object line with a "grpc" or "http" address on its output',
            "line": f"an output line matching {self.arg!r}",
            "tcp": "the ports to accept TCP connections",
        }[self.kind]


def parse_ready(spec: str) -> Ready:
    """``"grpc-health[:SERVICE]"``, ``"http:/PATH"``, ``"json"``, ``"line:REGEX"`` or ``"tcp"``."""
    kind, _, arg = spec.partition(":")
    if kind not in READY_KINDS:
        raise ValueError(
            f"ProcessService(ready={spec!r}): unknown readiness; use one of 'grpc-health[:SERVICE]', "
            "'http:/PATH', 'json', 'line:REGEX', 'tcp'"
        )
    if kind == "http" and not arg.startswith("/"):
        raise ValueError(f"ProcessService(ready={spec!r}): give the probe path, e.g. 'http:/healthz'")
    if kind == "line":
        try:
            re.compile(arg)
        except re.error as exc:
            raise ValueError(f"ProcessService(ready={spec!r}): the regex does not compile: {exc}") from None
        if not arg:
            raise ValueError(f"ProcessService(ready={spec!r}): give a regex, e.g. 'line:listening on'")
    return Ready(kind, arg)


def placeholders_in(text: str) -> set[str]:
    """The ``{names}`` in ``text`` (``{{`` and ``}}`` are literal braces)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc} (write a literal brace as {{{{ or }}}})") from None


@dataclass(frozen=True)
class ProcessService:
    """A service started as a separate process, in any language, for local mode.

    ``command``: the argv; ``{grpc_port}``, ``{http_port}``, ``{host}``, ``{dynamodb_endpoint}`` and
    ``{region}`` are filled in (the ports are free ports on 127.0.0.1 the plugin picked, the endpoint is
    the embedded DynamoDB's URL). The same values are in the process's environment as
    ``DUALMODE_GRPC_PORT``, ``DUALMODE_HTTP_PORT``, ``DUALMODE_HOST``, ``DUALMODE_DYNAMODB_ENDPOINT`` and
    ``DUALMODE_REGION``, beside fake ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION``.
    ``grpc``/``http``: whether the service has that API (a port is picked only for those it has).
    ``grpc_port``/``http_port``: fixed ports instead of picked ones.
    ``ready``: when it is ready: ``"grpc-health[:SERVICE]"`` (the default with gRPC: the standard health
    ``Check`` answers SERVING), ``"http:/PATH"`` (GET answers 2xx/3xx), ``"json"`` (it prints a JSON object
    line with a ``"grpc"`` or ``"http"`` key: the addresses it bound; other JSON lines are logs),
    ``"line:REGEX"`` (an output line matches; groups named ``grpc_port``/``http_port`` give the ports),
    ``"tcp"`` (the ports accept).
    ``ready_timeout``: seconds to wait for that; ``stop_grace``: seconds between SIGTERM and SIGKILL.
    ``env``: extra environment (values may hold placeholders); ``cwd``: its working directory;
    ``build``: a command run once before the first start (e.g. ``["go", "build", "-o", "bin/svc", "."]``),
    its output shown when it fails; ``log_lines``: how many last lines of the log a failing test shows.
    """

    command: Sequence[str]
    grpc: bool = True
    http: bool = True
    ready: str | None = None
    ready_timeout: float = 30.0
    stop_grace: float = 5.0
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | os.PathLike[str] | None = None
    build: Sequence[str] | None = None
    build_timeout: float = 600.0
    grpc_port: int | None = None
    http_port: int | None = None
    log_lines: int = 40

    def __post_init__(self) -> None:
        if (
            isinstance(self.command, str)
            or not self.command
            or not all(isinstance(a, str) for a in self.command)
        ):
            raise TypeError(
                f"ProcessService(command={self.command!r}): give the argv as a list of strings, "
                "e.g. ['bin/my-service', '--grpc-port', '{grpc_port}']"
            )
        if not (self.grpc or self.http):
            raise ValueError(
                "ProcessService(grpc=False, http=False): the service must have a gRPC or HTTP API"
            )
        for where, text in [
            *(("command", a) for a in self.command),
            *(("env", v) for v in self.env.values()),
        ]:
            unknown = placeholders_in(text) - set(PLACEHOLDERS)
            if unknown:
                raise ValueError(
                    f"ProcessService {where} {text!r}: unknown placeholder {{{sorted(unknown)[0]}}}; "
                    f"known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)} "
                    "(a literal brace is {{ or }})"
                )
        for name in ("grpc_port", "http_port"):
            port = getattr(self, name)
            if port is not None and not (isinstance(port, int) and 0 < port < 65536):
                raise ValueError(
                    f"ProcessService({name}={port!r}): a port is 1-65535 (None picks a free one)"
                )
        if self.grpc_port is not None and self.grpc_port == self.http_port:
            raise ValueError(
                f"ProcessService: port {self.grpc_port} is given twice (grpc_port and http_port); "
                "give each API its own port, or leave them None to get free ones"
            )
        if self.ready_timeout <= 0 or self.stop_grace < 0:
            raise ValueError("ProcessService: ready_timeout must be > 0 and stop_grace >= 0 (seconds)")
        spec = self.readiness
        if spec.kind == "grpc-health" and not self.grpc:
            raise ValueError("ProcessService(ready='grpc-health'): the service has no gRPC API (grpc=False)")
        if spec.kind == "http" and not self.http:
            raise ValueError(
                f"ProcessService(ready={self.ready!r}): the service has no HTTP API (http=False)"
            )
        if self.cwd is not None and not Path(self.cwd).is_dir():
            raise ValueError(f"ProcessService(cwd={str(self.cwd)!r}): no such directory")
        if self.build is not None and (isinstance(self.build, str) or not self.build):
            raise TypeError(
                f"ProcessService(build={self.build!r}): give the build command as a list of strings"
            )
        if self.build is not None:
            _check_executable(self.build[0], self.cwd, "build")
        elif not placeholders_in(self.command[0]):
            # With a build step the binary may not exist yet: it is checked again before the start.
            _check_executable(self.command[0], self.cwd, "command")

    @property
    def readiness(self) -> Ready:
        """The readiness spec, parsed (``grpc-health`` with gRPC, else ``tcp``, when not given)."""
        return parse_ready(self.ready or ("grpc-health" if self.grpc else "tcp"))

    def check_command(self) -> None:
        """Raise ValueError when the command's program does not exist or is not executable."""
        _check_executable(self.command[0], self.cwd, "command")


def _check_executable(program: str, cwd: str | os.PathLike[str] | None, what: str) -> None:
    """A program is a path (relative to ``cwd``) or a name on PATH; say which was not found."""
    if os.sep in program:
        path = Path(cwd or ".") / program
        if not (path.is_file() and os.access(path, os.X_OK)):
            state = "is not executable" if path.exists() else "does not exist"
            raise ValueError(f"ProcessService {what} {program!r}: {path} {state}; build it or fix the path")
    elif shutil.which(program) is None:
        raise ValueError(
            f"ProcessService {what} {program!r}: no such program on PATH; install it, or give its path"
        )
