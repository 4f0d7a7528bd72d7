"""Named targets: sets of option values chosen together with ``--target NAME``.

Declared in ``pyproject.toml``::

    [tool.dualmode.targets.staging]
    addr = "api.staging.internal:443"
    http_addr = "https://api.staging.internal"
    region = "eu-west-1"
    sensitive = true

or, in any ini file, one line per target in ``dualmode_targets``::

    dualmode_targets =
        staging: addr=api.staging.internal:443 http_addr=https://api.staging.internal region=eu-west-1

A target's values sit between the environment and the ini file: command line, then ``DUALMODE_*``,
then the selected target, then ``dualmode_*`` ini keys, then the defaults. ``sensitive = true`` marks
a target whose destructive tests never run without ``--allow-destructive-sensitive``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Short names a target may use for an option.
ALIASES = {"region": "aws_region", "service": "sigv4_service", "profile": "aws_profile", "headers": "header"}
#: Options a target cannot set: they choose the target, or open the gate a target must not open itself.
NOT_IN_TARGETS = frozenset({"target", "allow_destructive", "allow_destructive_sensitive"})


class TargetError(ValueError):
    """A malformed target declaration; the message names the file and the target."""


@dataclass(frozen=True)
class NamedTarget:
    """One declared target: its option values (as text, like an ini value) and where it was declared."""

    name: str
    values: Mapping[str, str]
    where: str  # e.g. "pyproject.toml [tool.dualmode.targets.staging]"
    base_dir: str  # relative file paths in the target are relative to this folder
    sensitive: bool = False


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, dict):  # headers = {x-api-key = "..."}
        return "\n".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _target(
    name: str, raw: Mapping[str, Any], where: str, base_dir: str, known: Iterable[str]
) -> NamedTarget:
    allowed = sorted(set(known) - NOT_IN_TARGETS)
    values: dict[str, str] = {}
    sensitive = False
    for key, value in raw.items():
        if key == "sensitive":
            if not isinstance(value, bool) and str(value).lower() not in ("true", "false", "1", "0"):
                raise TargetError(f"{where}: sensitive = {value!r} is not true or false")
            sensitive = value if isinstance(value, bool) else str(value).lower() in ("true", "1")
            continue
        option = ALIASES.get(key, key).replace("-", "_")
        if option not in allowed:
            raise TargetError(
                f"{where}: {key!r} is not a setting a target can hold; use one of "
                f"{', '.join(allowed)}, region, service or sensitive"
            )
        values[option] = _text(value)
    return NamedTarget(name, values, where, base_dir, sensitive)


def from_pyproject(path: str, known: Iterable[str]) -> dict[str, NamedTarget]:
    """The targets of ``[tool.dualmode.targets.*]`` in a pyproject.toml (none when it has none)."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if b"dualmode" not in raw:  # most projects: no targets, and no TOML parse on every run
            return {}
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"{path}: cannot be read for [tool.dualmode.targets] ({exc})") from None
    tables = data.get("tool", {}).get("dualmode", {}).get("targets", {})
    if not isinstance(tables, dict):
        raise TargetError(f"{path}: [tool.dualmode.targets] must be a table of tables")
    out = {}
    for name, raw in tables.items():
        where = f"{os.path.basename(path)} [tool.dualmode.targets.{name}]"
        if not isinstance(raw, dict):
            raise TargetError(f'{where} must be a table, e.g. addr = "api.internal:443"')
        out[name] = _target(name, raw, where, os.path.dirname(path), known)
    return out


def from_ini_lines(
    lines: Iterable[str], ini_path: str | None, known: Iterable[str]
) -> dict[str, NamedTarget]:
    """The targets of a ``dualmode_targets`` ini value: ``NAME: key=value key=value ...`` per line."""
    shown = os.path.basename(ini_path) if ini_path else "the ini file"
    base_dir = os.path.dirname(ini_path) if ini_path else os.getcwd()
    out = {}
    for raw_line in lines:
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        name = name.strip()
        where = f"dualmode_targets in {shown}, target {name!r}"
        if not sep or not name or any(c.isspace() for c in name):
            raise TargetError(f"dualmode_targets in {shown}: {line!r} is not NAME: key=value ...")
        raw: dict[str, str] = {}
        for pair in rest.split():
            key, eq, value = pair.partition("=")
            if not eq:
                raise TargetError(f"{where}: {pair!r} is not key=value")
            raw[key] = f"{raw[key]}\n{value}" if key in raw else value  # header=... may repeat
        out[name] = _target(name, raw, where, base_dir, known)
    return out


def declared(config: Any, ini_path: str | None, known: Iterable[str]) -> dict[str, NamedTarget]:
    """The targets declared for a pytest run: ``pyproject.toml``'s tables, then the ini's ``dualmode_targets``
    (a name in both: the ini's wins). A malformed declaration is a :class:`pytest.UsageError`."""
    import pytest

    known = list(known)
    found: dict[str, NamedTarget] = {}
    try:
        pyproject = os.path.join(str(config.rootpath), "pyproject.toml")
        if ini_path and os.path.basename(ini_path) == "pyproject.toml":
            pyproject = ini_path
        if os.path.isfile(pyproject):
            found.update(from_pyproject(pyproject, known))
        lines = config.getini("dualmode_targets")
        if lines:
            found.update(from_ini_lines(lines, ini_path, known))
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    return found


def select(name: str, where: str, targets: Mapping[str, NamedTarget]) -> NamedTarget:
    """The target ``name`` (given in ``where``); an unknown name is a usage error listing the known ones."""
    import pytest

    if name not in targets:
        known = ", ".join(sorted(targets)) or "none are declared"
        raise pytest.UsageError(
            f"--target {name!r} (from {where}) is not a declared target (known: {known}); declare it as "
            f"[tool.dualmode.targets.{name}] in pyproject.toml or in dualmode_targets in the ini file"
        )
    return targets[name]
