"""The handler's event: validated by hand (no jsonschema dependency) into a frozen :class:`Event`.

The JSON Schema beside this module (``event.schema.json``) describes the same shape for callers; the checks
here also cover what a schema cannot say (pytest options the handler owns, ``shard.index < shard.count``).
Every error names the field (``event.suites[1].args[0]``), what was wrong and what to send instead, and never
echoes an ``env`` value (it may be a secret).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_ARGS = 256
MAX_SELECT = 100_000
MAX_SUITES = 32
MAX_ENV = 256
MAX_TEXT = 4096
MAX_ENV_VALUE = 32_768
MAX_MARGIN_MS = 900_000  # Lambda's 15-minute limit

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The runtime owns these: changing them per event would break the container for the invocations that follow.
_RESERVED_ENV = ("AWS_LAMBDA_", "_HANDLER", "_LAMBDA_", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR")

_FAN_OUT = "fan out with dualmode invoke --shards instead (the deadline stop needs an in-process run)"
# pytest options the handler owns or that cannot work inside Lambda, with what to do instead.
_DENIED_OPTIONS: dict[str, str] = {
    "--pdb": "a debugger would wait for input that never comes in Lambda",
    "--trace": "a debugger would wait for input that never comes in Lambda",
    "--pdbcls": "a debugger would wait for input that never comes in Lambda",
    "--junitxml": "the handler writes the JUnit XML itself (result field junit_xml)",
    "--junit-xml": "the handler writes the JUnit XML itself (result field junit_xml)",
    "--rootdir": "the task root is the rootdir",
    "--collect-only": 'send "collect_only": true instead',
    "--co": 'send "collect_only": true instead',
    "--numprocesses": _FAN_OUT,
    "--dist": _FAN_OUT,
    "--maxprocesses": _FAN_OUT,
    "--lf": "the cache is off in Lambda (read-only task root)",
    "--last-failed": "the cache is off in Lambda (read-only task root)",
    "--ff": "the cache is off in Lambda (read-only task root)",
    "--failed-first": "the cache is off in Lambda (read-only task root)",
    "--nf": "the cache is off in Lambda (read-only task root)",
    "--new-first": "the cache is off in Lambda (read-only task root)",
    "--sw": "the cache is off in Lambda (read-only task root)",
    "--stepwise": "the cache is off in Lambda (read-only task root)",
    "--cache-clear": "the cache is off in Lambda (read-only task root)",
    "--cache-show": "the cache is off in Lambda (read-only task root)",
}
_DENIED_SHORT = {"-n": "--numprocesses"}

FIELDS = (
    "args",
    "select",
    "suites",
    "collect_only",
    "shard",
    "raise_on_failure",
    "env",
    "deadline_margin_ms",
    "avoid_environments",
    "first",
    "target",
)
MAX_AVOID = 100
SUITE_FIELDS = ("name", "args", "select")


class EventError(ValueError):
    """A malformed event. ``field`` is the bad field's path (``event.args[2]``); the message says the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


@dataclass(frozen=True)
class Shard:
    """This invocation's place in a fan-out (informational; echoed in the result)."""

    index: int
    count: int


@dataclass(frozen=True)
class Suite:
    """One pytest run of a multi-suite event: its name, extra arguments and node ids."""

    name: str
    args: tuple[str, ...] = ()
    select: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Event:
    """A validated event. ``suites`` is None for a single run (``args`` and ``select`` at the top level)."""

    args: tuple[str, ...] = ()
    select: tuple[str, ...] | None = None
    suites: tuple[Suite, ...] | None = None
    collect_only: bool = False
    shard: Shard | None = None
    raise_on_failure: bool = True
    env: Mapping[str, str] = field(default_factory=dict)
    deadline_margin_ms: int | None = None
    avoid_environments: tuple[str, ...] = ()
    first: frozenset[str] = frozenset()
    target: str | None = None  # a named target, as --target NAME

    def run_env(self) -> dict[str, str]:
        """The environment of the run: the event's ``env``, the target, and the shard index (for run ids)."""
        env = dict(self.env)
        if self.target is not None:
            env["DUALMODE_TARGET"] = self.target
        if self.shard is not None:
            env["DUALMODE_SHARD_INDEX"] = str(self.shard.index)
        return env


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def _text(value: Any, where: str, example: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise EventError(where, f"expected a string, got {_kind(value)} {_show(value)}; e.g. {example}")
    if "\x00" in value:
        raise EventError(where, "contains a NUL character; remove it")
    if len(value) > limit:
        raise EventError(where, f"is {len(value)} characters long; at most {limit} are allowed")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise EventError(where, f"expected true or false, got {_kind(value)} {_show(value)}")
    return value


def _int(value: Any, where: str, low: int, high: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventError(where, f"expected an integer, got {_kind(value)} {_show(value)}; e.g. {example}")
    if not low <= value <= high:
        raise EventError(where, f"is {value}; it must be from {low} to {high}")
    return value


def _list(value: Any, where: str, limit: int, example: str) -> list[Any]:
    if not isinstance(value, list):
        raise EventError(where, f"expected an array, got {_kind(value)} {_show(value)}; e.g. {example}")
    if len(value) > limit:
        raise EventError(where, f"has {len(value)} entries; at most {limit} are allowed")
    return value


def _object(value: Any, where: str, known: tuple[str, ...], example: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EventError(where, f"expected an object, got {_kind(value)} {_show(value)}; e.g. {example}")
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise EventError(
            f"{where}.{unknown[0]}" if len(unknown) == 1 else where,
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the known fields are {', '.join(known)}",
        )
    return value


def parse_args(value: Any, where: str) -> tuple[str, ...]:
    """Validate a list of pytest arguments, refusing the options the handler owns."""
    items = _list(value, where, MAX_ARGS, '["-k", "smoke", "-m", "not slow"]')
    args = tuple(_text(v, f"{where}[{i}]", '"-k"') for i, v in enumerate(items))
    for i, arg in enumerate(args):
        option = arg.split("=", 1)[0] if arg.startswith("--") else arg
        short = next((s for s in _DENIED_SHORT if arg.startswith(s) and not arg.startswith("--")), None)
        if option in _DENIED_OPTIONS or short:
            name = option if option in _DENIED_OPTIONS else _DENIED_SHORT[short or ""]
            raise EventError(f"{where}[{i}]", f"{arg!r} is not allowed here: {_DENIED_OPTIONS[name]}")
    return args


def parse_select(value: Any, where: str) -> tuple[str, ...]:
    """Validate a list of node ids (``path/test_x.py::test_y[param]``, a file or a directory)."""
    example = '["tests/test_api.py::test_get"]'
    items = _list(value, where, MAX_SELECT, example)
    if not items:
        raise EventError(where, "is empty; omit it to run every test, or list the node ids to run")
    ids = tuple(_text(v, f"{where}[{i}]", '"tests/test_api.py::test_get"') for i, v in enumerate(items))
    for i, nodeid in enumerate(ids):
        if not nodeid.strip() or nodeid.startswith("-"):
            raise EventError(f"{where}[{i}]", f"{nodeid!r} is not a node id; e.g. {example}")
    return ids


def _parse_suite(value: Any, where: str) -> Suite:
    obj = _object(value, where, SUITE_FIELDS, '{"name": "destructive", "args": ["-m", "destructive"]}')
    if "name" not in obj:
        raise EventError(f"{where}.name", 'is missing; give each suite a name, e.g. "name": "main"')
    name = _text(obj["name"], f"{where}.name", '"main"', limit=100)
    if not name.strip() or any(c in name for c in "\r\n"):
        raise EventError(f"{where}.name", f"{name!r} must be a non-empty single line")
    args = parse_args(obj["args"], f"{where}.args") if "args" in obj else ()
    select = parse_select(obj["select"], f"{where}.select") if "select" in obj else None
    return Suite(name=name, args=args, select=select)


def _parse_env(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise EventError(
            where, f'expected an object, got {_kind(value)}; e.g. {{"DUALMODE_ADDR": "api.internal:443"}}'
        )
    obj: dict[Any, Any] = value
    if len(obj) > MAX_ENV:
        raise EventError(where, f"has {len(obj)} variables; at most {MAX_ENV} are allowed")
    env: dict[str, str] = {}
    for key, val in obj.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise EventError(where, f"{_show(key)} is not an environment variable name (letters, digits, _)")
        if key.startswith(_RESERVED_ENV):
            raise EventError(f"{where}.{key}", "belongs to the Lambda runtime and cannot be set per event")
        if not isinstance(val, str):  # never echo the value: it may be a secret
            raise EventError(f"{where}.{key}", f"expected a string value, got {_kind(val)}; quote it")
        if "\x00" in val or len(val) > MAX_ENV_VALUE:
            raise EventError(f"{where}.{key}", f"must be at most {MAX_ENV_VALUE} characters without NUL")
        env[key] = val
    return env


def parse_event(event: Any) -> Event:
    """Validate a Lambda event into an :class:`Event`; :class:`EventError` names the first bad field."""
    if event is None:
        return Event()
    obj = _object(event, "event", FIELDS, '{"args": ["-k", "smoke"]}')
    args = parse_args(obj["args"], "event.args") if "args" in obj else ()
    select = parse_select(obj["select"], "event.select") if "select" in obj else None
    suites = None
    if "suites" in obj:
        items = _list(obj["suites"], "event.suites", MAX_SUITES, '[{"name": "main"}]')
        if not items:
            raise EventError("event.suites", "is empty; omit it for a single run, or list the suites to run")
        suites = tuple(_parse_suite(v, f"event.suites[{i}]") for i, v in enumerate(items))
        seen: set[str] = set()
        for i, suite in enumerate(suites):
            if suite.name in seen:
                raise EventError(
                    f"event.suites[{i}].name", f"{suite.name!r} is used twice; names must be unique"
                )
            seen.add(suite.name)
    shard = None
    if "shard" in obj:
        raw = _object(obj["shard"], "event.shard", ("index", "count"), '{"index": 0, "count": 8}')
        for key in ("index", "count"):
            if key not in raw:
                raise EventError(f"event.shard.{key}", 'is missing; e.g. "shard": {"index": 0, "count": 8}')
        count = _int(raw["count"], "event.shard.count", 1, 10_000, "8")
        index = _int(raw["index"], "event.shard.index", 0, 9_999, "0")
        if index >= count:
            raise EventError(
                "event.shard.index", f"is {index} but count is {count}; indexes run from 0 to count-1"
            )
        shard = Shard(index=index, count=count)
    target = None
    if "target" in obj:
        target = _text(obj["target"], "event.target", '"staging"', limit=100)
        if not target or any(c.isspace() for c in target):
            raise EventError("event.target", f"{target!r} is not a target name (one word, no spaces)")
    return Event(
        target=target,
        args=args,
        select=select,
        suites=suites,
        collect_only=_bool(obj["collect_only"], "event.collect_only") if "collect_only" in obj else False,
        shard=shard,
        raise_on_failure=(
            _bool(obj["raise_on_failure"], "event.raise_on_failure") if "raise_on_failure" in obj else True
        ),
        env=_parse_env(obj["env"], "event.env") if "env" in obj else {},
        deadline_margin_ms=(
            _int(obj["deadline_margin_ms"], "event.deadline_margin_ms", 0, MAX_MARGIN_MS, "2000")
            if "deadline_margin_ms" in obj
            else None
        ),
        avoid_environments=(_parse_avoid(obj["avoid_environments"]) if "avoid_environments" in obj else ()),
        first=frozenset(parse_select(obj["first"], "event.first")) if "first" in obj else frozenset(),
    )


def _parse_avoid(value: Any) -> tuple[str, ...]:
    where = "event.avoid_environments"
    items = _list(value, where, MAX_AVOID, '["3f2a9c1e0b7d4e55"]')
    return tuple(_text(v, f"{where}[{i}]", '"3f2a9c1e0b7d4e55"', limit=64) for i, v in enumerate(items))
