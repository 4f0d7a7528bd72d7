"""Options, environment variables and ini keys, resolved once into a frozen :class:`Settings`.

Every option exists in three forms, resolved in this order (first one set wins):

1. the command line (``--addr HOST:PORT``; an on/off option also has an off form, ``--no-grpc-plaintext``,
   so that the command line can undo what the environment or the ini file turned on);
2. the environment (``DUALMODE_ADDR``), which is how Lambda configures the suite;
3. the ini file (``dualmode_addr = ...`` in pytest.ini / ``[tool.pytest.ini_options]``);
4. the built-in default.

Validation errors name the value, where it came from and the fix, and are raised as
:class:`pytest.UsageError` before any test runs; ``pytest --help`` does not resolve the settings, so it
never fails on them (see :mod:`pytest_dualmode.activation`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

ENV_PREFIX = "DUALMODE_"
INI_PREFIX = "dualmode_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingError(ValueError):
    """A value that does not parse; the message says what a good value looks like."""


class Option:
    """One setting: its name, how to parse it, and the help shown by ``pytest --help``.

    A plain class rather than a dataclass: the table of options is built on every pytest run of
    every user, and creating a dataclass costs about half a millisecond.
    """

    __slots__ = ("_flag", "default", "example", "help", "metavar", "name", "parse")

    def __init__(
        self,
        name: str,
        help: str,
        parse: Callable[[str], Any] | None = None,  # None: a boolean flag
        *,
        default: Any = None,
        metavar: str | None = None,
        example: str = "",
        flag: str | None = None,
    ) -> None:
        self.name, self.help, self.parse = name, help, parse
        self.default, self.metavar, self.example = default, metavar, example
        self._flag = flag

    def __repr__(self) -> str:
        return f"Option({self.name!r})"

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--http-addr``."""
        return self._flag or "--" + self.name.replace("_", "-")

    @property
    def off_flag(self) -> str:
        """An on/off option's off form: ``--no-grpc-plaintext``; ``--sigv4`` for ``--no-sigv4``."""
        if self.flag.startswith("--no-"):
            return "--" + self.flag[len("--no-") :]
        return "--no-" + self.flag[2:]

    @property
    def env(self) -> str:
        """The environment variable, e.g. ``DUALMODE_HTTP_ADDR``."""
        return ENV_PREFIX + self.name.upper()

    @property
    def ini(self) -> str:
        """The ini key, e.g. ``dualmode_http_addr``."""
        return INI_PREFIX + self.name

    @property
    def is_flag(self) -> bool:
        """True for on/off options (``--grpc-plaintext``)."""
        return self.parse is None


def parse_host_port(value: str) -> str:
    """Validate ``HOST:PORT`` (``[v6]:PORT`` for IPv6) and return it unchanged but stripped."""
    value = value.strip()
    host, sep, port = value.rpartition(":")
    if not sep or not host or "/" in value:
        raise SettingError("is not HOST:PORT")
    if host.startswith("["):
        if not host.endswith("]"):
            raise SettingError("has an unclosed '[' (IPv6 addresses are written [::1]:443)")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SettingError("has an invalid IPv6 address") from None
    elif ":" in host:
        raise SettingError("looks like a bare IPv6 address; write it as [::1]:443")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingError(f"has port {port!r}, which is not a number from 1 to 65535")
    return value


def parse_url(value: str) -> str:
    """Validate an ``http://`` or ``https://`` URL with a host; return it without a trailing slash."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise SettingError("is not an http:// or https:// URL")
    try:
        port = parts.port
    except ValueError:
        raise SettingError("has an invalid port") from None
    if not parts.hostname:
        raise SettingError("has no host")
    if port == 0:
        raise SettingError("has port 0")
    if parts.query or parts.fragment:
        raise SettingError("has a query or fragment; give only the base URL")
    return value.rstrip("/")


def parse_seconds(value: str) -> float:
    """Parse a positive number of seconds (at most one hour)."""
    try:
        seconds = float(value)
    except ValueError:
        raise SettingError("is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise SettingError("must be more than 0 and at most 3600 seconds")
    return seconds


def parse_region(value: str) -> str:
    """Validate an AWS region name such as ``us-east-1`` or ``eu-central-2``."""
    value = value.strip()
    pieces = value.split("-")
    if (
        len(pieces) < 3
        or not pieces[-1].isdigit()
        or not all(p.isalpha() and p.islower() for p in pieces[:-1])
    ):
        raise SettingError("is not an AWS region name")
    return value


def parse_name(value: str) -> str:
    """A non-empty token without whitespace (service names, profile names)."""
    value = value.strip()
    if not value or any(c.isspace() for c in value):
        raise SettingError("must be a single word without spaces")
    return value


def parse_url_path(value: str) -> str:
    """An absolute URL path, with a query if need be (``/health``, ``/v1/ping?deep=1``)."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/"):
        raise SettingError("is not a path: give one starting with /, without scheme or host")
    if any(c.isspace() for c in value) or parts.fragment:
        raise SettingError("holds a space or a #fragment; give a path as it goes on the wire")
    return value


def parse_file(value: str) -> str:
    """An existing readable file."""
    if not os.path.isfile(value):
        raise SettingError("is not an existing file")
    return value


def parse_paths(value: str) -> tuple[str, ...]:
    """A list of file paths separated by commas, whitespace or newlines (checked where they are used)."""
    paths = tuple(p for p in value.replace(",", " ").split() if p)
    if not paths:
        raise SettingError("names no file")
    return paths


# Names the signer or the transport own: a --header cannot set them.
_RESERVED_HEADERS = frozenset(
    {"host", "authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "content-length"}
)
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~")


def parse_headers(value: str) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE`` entries, one per line; names are lower-cased (gRPC metadata keys must be).

    Error messages never quote a value: header values are often API keys.
    """
    headers = []
    for number, line in enumerate(value.splitlines(), 1):
        if not line.strip():
            continue
        name, eq, header_value = line.partition("=")
        name = name.strip().lower()
        if not eq or not name:
            raise SettingError(f"entry {number} is not NAME=VALUE")
        if not set(name) <= _TOKEN_CHARS or name.endswith("-bin"):
            raise SettingError(f"entry {number}: {name!r} is not a header name (letters, digits, -)")
        if name in _RESERVED_HEADERS:
            raise SettingError(
                f"entry {number}: {name!r} is set by the signer or the transport, not by --header"
            )
        if any(c in header_value for c in "\r\n\x00"):
            raise SettingError(f"entry {number} ({name}): the value has a line break or NUL")
        headers.append((name, header_value.strip()))
    return tuple(headers)


def _choice(*choices: str) -> Callable[[str], str]:
    """A parser accepting one of ``choices`` (case-insensitive)."""

    def parse(value: str) -> str:
        low = value.strip().lower()
        if low not in choices:
            raise SettingError(f"is not one of {', '.join(choices)}")
        return low

    parse.__doc__ = f"One of {', '.join(choices)}."
    return parse


AIO_LOOPS = ("auto", "asyncio", "uvloop")
HTTP_AIO_TRANSPORTS = ("httpx", "aiohttp")


def parse_bool(value: str) -> bool:
    """Parse an environment or ini boolean (1/0, true/false, yes/no, on/off)."""
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingError("is not a boolean (use 1/0, true/false, yes/no or on/off)")


OPTIONS: tuple[Option, ...] = (
    Option(
        "enabled",
        "use dualmode in this run even if no test asks for it (any other dualmode option, a "
        "dualmode_service fixture or a test using a dualmode fixture also turns it on)",
        flag="--dualmode",
    ),
    Option(
        "addr",
        "gRPC target HOST:PORT; selects remote mode (as --http-addr does)",
        parse_host_port,
        metavar="HOST:PORT",
        example="api.internal:443",
    ),
    Option(
        "http_addr",
        "HTTP base URL of the target; selects remote mode (as --addr does)",
        parse_url,
        metavar="URL",
        example="https://api.internal",
    ),
    Option("grpc_plaintext", "talk to --addr without TLS (TLS is the default remotely)"),
    Option(
        "grpc_ca_file",
        "PEM file of root certificates for the gRPC TLS connection",
        parse_file,
        metavar="FILE",
        example="ca.pem",
    ),
    Option(
        "grpc_authority",
        "TLS server name and :authority to use for --addr",
        parse_name,
        metavar="NAME",
        example="api.internal",
    ),
    Option(
        "sigv4_service",
        "SigV4 service name to sign for: vpc-lattice-svcs or execute-api",
        parse_name,
        default="vpc-lattice-svcs",
        metavar="NAME",
        example="execute-api",
    ),
    Option(
        "aws_region",
        "AWS region for SigV4 (default: AWS_REGION, AWS_DEFAULT_REGION, profile)",
        parse_region,
        metavar="REGION",
        example="eu-west-1",
    ),
    Option(
        "aws_profile",
        "AWS profile for credentials (default: botocore's credential chain)",
        parse_name,
        metavar="NAME",
        example="staging",
    ),
    Option("no_sigv4", "do not sign requests (and, locally, do not verify them)"),
    Option(
        "dynamodb_endpoint",
        "local mode: use this DynamoDB-compatible server instead of the embedded one",
        parse_url,
        metavar="URL",
        example="http://127.0.0.1:8000",
    ),
    Option("allow_destructive", "run tests marked destructive against a remote target"),
    Option(
        "connect_timeout",
        "seconds to wait for the target at session start",
        parse_seconds,
        default=5.0,
        metavar="SECONDS",
        example="10",
    ),
    Option(
        "request_timeout",
        "seconds before one gRPC call or HTTP request times out",
        parse_seconds,
        default=30.0,
        metavar="SECONDS",
        example="60",
    ),
    Option(
        "dynamodb_tables",
        "local mode: create the DynamoDB tables these CloudFormation/SAM templates or Terraform (.tf) "
        "files declare (repeat, or separate with commas)",
        parse_paths,
        default=(),
        metavar="FILE",
        example="deploy/tables.yaml",
    ),
    Option(
        "target",
        "use a named target: [tool.dualmode.targets.NAME] in pyproject.toml or dualmode_targets in the ini",
        parse_name,
        metavar="NAME",
        example="staging",
    ),
    Option(
        "allow_destructive_sensitive",
        "with --allow-destructive, also run destructive tests against a target marked sensitive",
    ),
    Option(
        "tls_client_cert",
        "PEM client certificate for mutual TLS to --addr and --http-addr (with --tls-client-key)",
        parse_file,
        metavar="FILE",
        example="client.pem",
    ),
    Option(
        "tls_client_key",
        "PEM private key of --tls-client-cert",
        parse_file,
        metavar="FILE",
        example="client.key",
    ),
    Option(
        "tls_ca_file",
        "PEM root certificates for HTTPS to --http-addr (and gRPC, unless --grpc-ca-file)",
        parse_file,
        metavar="FILE",
        example="ca.pem",
    ),
    Option(
        "header",
        "HTTP header and gRPC metadata for every request, e.g. an API key (repeat; env/ini: a line each)",
        parse_headers,
        default=(),
        metavar="NAME=VALUE",
        example="x-api-key=KEY",
    ),
    Option(
        "run_id",
        "name of this run for its data in a shared environment (default: generated; see dualmode_run_id)",
        parse_name,
        metavar="ID",
        example="ci-1234",
    ),
    Option(
        "preflight",
        "before any test, check that the target accepts one signed request; name a TLS, signature or "
        "authorisation failure",
    ),
    Option(
        "preflight_path",
        "the path --preflight's signed HTTP request GETs: one the API serves (API Gateway answers a "
        "path without a method with 403 Missing Authentication Token)",
        parse_url_path,
        default="/",
        metavar="PATH",
        example="/health",
    ),
    Option(
        "aio_loop",
        "local mode: the event loop that serves async services: auto (uvloop when installed, as uvicorn "
        "chooses), asyncio or uvloop",
        _choice(*AIO_LOOPS),
        default="auto",
        metavar="LOOP",
        example="asyncio",
    ),
    Option(
        "http_aio_transport",
        "what http_aio sends requests with: httpx (its own transport) or aiohttp (faster; pip install "
        "'pytest-dualmode[speedups]')",
        _choice(*HTTP_AIO_TRANSPORTS),
        default="httpx",
        metavar="NAME",
        example="aiohttp",
    ),
)
OPTIONS_BY_NAME = {o.name: o for o in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one pytest run. Stored in ``config.stash[SETTINGS_KEY]``."""

    enabled: bool = False
    addr: str | None = None
    http_addr: str | None = None
    grpc_plaintext: bool = False
    grpc_ca_file: str | None = None
    grpc_authority: str | None = None
    sigv4_service: str = "vpc-lattice-svcs"
    aws_region: str | None = None
    aws_profile: str | None = None
    no_sigv4: bool = False
    dynamodb_endpoint: str | None = None
    allow_destructive: bool = False
    connect_timeout: float = 5.0
    request_timeout: float = 30.0
    dynamodb_tables: tuple[str, ...] = ()
    target: str | None = None
    allow_destructive_sensitive: bool = False
    tls_client_cert: str | None = None
    tls_client_key: str | None = None
    tls_ca_file: str | None = None
    header: tuple[tuple[str, str], ...] = ()
    run_id: str | None = None
    preflight: bool = False
    preflight_path: str = "/"
    aio_loop: str = "auto"
    http_aio_transport: str = "httpx"
    target_sensitive: bool = False  # the selected target is marked sensitive = true
    sources: Mapping[str, str] | None = None  # option name -> where its value came from

    @property
    def mode(self) -> str:
        """``"remote"`` when a target address is given, else ``"local"``."""
        return "remote" if (self.addr or self.http_addr) else "local"

    @property
    def is_remote(self) -> bool:
        """True in remote mode."""
        return self.mode == "remote"

    def source(self, name: str) -> str:
        """Where option ``name`` came from (``--addr``, ``DUALMODE_ADDR environment variable``, ...)."""
        return (self.sources or {}).get(name, "default")


SETTINGS_KEY = pytest.StashKey[Settings]()


#: Options given once per value on the command line (``--header A=1 --header B=2``).
REPEATABLE = frozenset({"dynamodb_tables", "header"})
#: Options whose values are file paths: relative paths from the ini file or a target are relative to it.
PATH_OPTIONS = frozenset(
    {"grpc_ca_file", "tls_client_cert", "tls_client_key", "tls_ca_file", "dynamodb_tables"}
)
#: Options whose values are never shown in an error (API keys in headers).
SECRET_OPTIONS = frozenset({"header"})


def add_options(parser: pytest.Parser) -> None:
    """Register every option as a command-line flag and an ini key."""
    parser.addini(
        "dualmode_targets",
        help="named targets, one per line: NAME: addr=HOST:PORT http_addr=URL region=... sensitive=true",
        type="linelist",
        default=[],
    )
    group = parser.getgroup("dualmode", "pytest-dualmode: one suite, local or remote")
    for opt in OPTIONS:
        help_text = f"{opt.help} [env {opt.env}, ini {opt.ini}]"
        if opt.name in REPEATABLE:
            group.addoption(
                opt.flag,
                action="append",
                default=None,
                dest=f"dualmode_{opt.name}",
                metavar=opt.metavar,
                help=help_text,
            )
            parser.addini(opt.ini, help=opt.help, type="string", default="")
        elif opt.is_flag:
            dest = f"dualmode_{opt.name}"
            group.addoption(opt.flag, action="store_true", default=None, dest=dest, help=help_text)
            group.addoption(
                opt.off_flag,
                action="store_false",
                default=None,
                dest=dest,
                help=f"turn {opt.flag} off (undoes {opt.env} or {opt.ini})",
            )
            parser.addini(opt.ini, help=opt.help, type="string", default="")
        else:
            group.addoption(
                opt.flag,
                action="store",
                default=None,
                dest=f"dualmode_{opt.name}",
                metavar=opt.metavar,
                help=help_text,
            )
            parser.addini(opt.ini, help=opt.help, type="string", default="")


def _fail(opt: Option, raw: str, where: str, why: str) -> pytest.UsageError:
    shown = raw if len(raw) <= 200 else raw[:200] + "..."
    if opt.name in SECRET_OPTIONS:
        shown = "(value not shown)"
    fix = f"use e.g. {opt.flag}={opt.example}" if opt.example else f"set {opt.flag} or unset it"
    if opt.is_flag:
        fix = f"set {opt.env}=1 or 0, or pass {opt.flag} or {opt.off_flag}"
    return pytest.UsageError(f"{opt.flag} {shown!r} {why} (from {where}); {fix}")


def _rebase(text: str, base_dir: str | None) -> str:
    """Relative paths in ``text`` made relative to ``base_dir`` (the folder of the file that named them)."""
    if not base_dir:
        return text
    return "\n".join(
        p if os.path.isabs(p) else os.path.join(base_dir, p) for p in text.replace(",", " ").split()
    )


def _target_of(
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    ini: Callable[[str], str],
    ini_where: str,
    targets: Any,
) -> Any:
    """The selected named target (resolved before the options it sets), or None."""
    opt = OPTIONS_BY_NAME["target"]
    for raw, where in (
        (cli.get("target"), opt.flag),
        (environ.get(opt.env), f"the {opt.env} environment variable"),
        (ini(opt.ini).strip() or None, f"{opt.ini} in {ini_where}"),
    ):
        if raw is not None:
            try:
                name = parse_name(str(raw))
            except SettingError as exc:
                raise _fail(opt, str(raw), where, str(exc)) from None
            from pytest_dualmode.targets import select

            return select(name, where, targets)
    return None


def resolve(
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    ini: Callable[[str], str],
    ini_path: str | None = None,
    targets: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every option (command line, environment, the ``--target``'s values, ini, default) and
    validate it.

    ``cli`` maps option names to parsed command-line values (``None`` when not given), ``ini`` reads an
    ini key (``""`` when unset), ``targets`` maps target names to
    :class:`~pytest_dualmode.targets.NamedTarget`. Raises :class:`pytest.UsageError` naming the value,
    its source and the fix.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    ini_where = f"{ini_path}" if ini_path else "the ini file"
    ini_dir = os.path.dirname(ini_path) if ini_path else None
    target = _target_of(cli, environ, ini, ini_where, targets or {})
    for opt in OPTIONS:
        raw: Any = cli.get(opt.name)
        where = opt.off_flag if raw is False else opt.flag
        if isinstance(raw, list):  # a repeatable option given several times
            raw = "\n".join(raw)
        if raw is None and environ.get(opt.env) is not None:
            raw, where = environ[opt.env], f"the {opt.env} environment variable"
        if raw is None and target is not None and opt.name in target.values:
            raw, where = target.values[opt.name], target.where
            if opt.name in PATH_OPTIONS:
                raw = _rebase(raw, target.base_dir)
        if raw is None and ini(opt.ini).strip():
            raw, where = ini(opt.ini), f"{opt.ini} in {ini_where}"
            if opt.name in PATH_OPTIONS:
                raw = _rebase(raw, ini_dir)
        if raw is None:
            values[opt.name] = False if opt.is_flag else opt.default
            continue
        sources[opt.name] = where
        if isinstance(raw, bool):  # an on/off flag given on the command line
            values[opt.name] = raw
            continue
        text = str(raw)
        try:
            if opt.is_flag:
                values[opt.name] = parse_bool(text)
            elif opt.parse is not None:
                values[opt.name] = opt.parse(text)
        except SettingError as exc:
            raise _fail(opt, text, where, str(exc)) from None
        if values[opt.name] == "" and not opt.is_flag:
            values[opt.name] = opt.default
    settings = Settings(**values, sources=sources, target_sensitive=bool(target and target.sensitive))
    _check_combination(settings)
    return settings


def _check_combination(s: Settings) -> None:
    """Reject settings that are valid alone but contradict each other."""
    if s.is_remote and s.dynamodb_endpoint:
        raise pytest.UsageError(
            f"--dynamodb-endpoint (from {s.source('dynamodb_endpoint')}) only applies in local mode, "
            f"but a remote target is set ({'--addr' if s.addr else '--http-addr'} from "
            f"{s.source('addr' if s.addr else 'http_addr')}); drop one of them"
        )
    if bool(s.tls_client_cert) != bool(s.tls_client_key):
        given, missing = ("--tls-client-cert", "--tls-client-key")[:: 1 if s.tls_client_cert else -1]
        raise pytest.UsageError(
            f"{given} (from {s.source(given[2:].replace('-', '_'))}) needs {missing} too: mutual TLS takes "
            "a certificate and its private key"
        )
    if s.grpc_plaintext and s.grpc_ca_file:
        raise pytest.UsageError(
            "--grpc-plaintext and --grpc-ca-file contradict each other (plaintext has no TLS); "
            "drop one of them"
        )


def requested(
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    ini: Callable[[str], str],
    ini_path: str | None = None,
) -> str | None:
    """Where the run asks for dualmode by its settings alone: the first option set (command line,
    environment or ini) other than an on/off option set to off, e.g. ``"the DUALMODE_HTTP_ADDR environment
    variable"``; None when no option is set."""
    ini_where = ini_path or "the ini file"
    for opt in OPTIONS:
        for raw, where in (
            (cli.get(opt.name), opt.flag),
            (environ.get(opt.env), f"the {opt.env} environment variable"),
            (ini(opt.ini).strip() or None, f"{opt.ini} in {ini_where}"),
        ):
            if raw is None:
                continue
            if raw is False or (opt.is_flag and isinstance(raw, str) and raw.strip().lower() in _FALSE):
                break  # set to off: this option does not ask, whatever the later sources say
            return where
    return None


def _sources(config: pytest.Config) -> tuple[dict[str, Any], Callable[[str], str], str | None]:
    cli = {o.name: config.getoption(f"dualmode_{o.name}", None) for o in OPTIONS}

    def ini(key: str) -> str:
        value = config.getini(key)
        return value if isinstance(value, str) else ""

    return cli, ini, str(config.inipath) if config.inipath else None


def requested_by_config(config: pytest.Config) -> str | None:
    """:func:`requested` for a pytest run's config and the environment."""
    cli, ini, ini_path = _sources(config)
    return requested(cli, os.environ, ini, ini_path)


def from_config(config: pytest.Config, environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve the settings of a pytest run from its config, the environment and its ini file."""
    cli, ini, ini_path = _sources(config)
    from pytest_dualmode.targets import declared

    found = declared(config, ini_path, [o.name for o in OPTIONS])
    return resolve(cli, os.environ if environ is None else environ, ini, ini_path, found)
