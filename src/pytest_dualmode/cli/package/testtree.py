"""The tests side of a package: rootdir, pytest configuration, test files and their conftest files.

The rootdir and the configuration file are found the way pytest finds them (pytest.ini,
.pytest.ini, pyproject.toml with a pytest table, tox.ini, setup.cfg, walking up from the common
ancestor of the test paths). The tests keep their paths relative to the rootdir, so node ids in
Lambda match the local ones, and the configuration is written back as ``pytest.ini`` at the zip's
root, rewritten where a setting would not make sense there (see :func:`rewrite_config`).
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_dualmode.cli import CliError

IniValue = str | list[str]
_TEST_FILE = re.compile(r"^(test_.*|.*_test)\.py$")
_SKIP_SUFFIXES = {".pyc", ".pyo"}

# options of common plugins: flag -> (module that provides it, takes a value: True / False / "optional")
_PLUGIN_OPTIONS: dict[str, tuple[str, bool | str]] = {
    "-n": ("xdist", True),
    "--numprocesses": ("xdist", True),
    "--maxprocesses": ("xdist", True),
    "--dist": ("xdist", True),
    "--cov": ("pytest_cov", "optional"),
    "--cov-report": ("pytest_cov", True),
    "--cov-config": ("pytest_cov", True),
    "--cov-fail-under": ("pytest_cov", True),
    "--cov-branch": ("pytest_cov", False),
    "--cov-append": ("pytest_cov", False),
    "--no-cov": ("pytest_cov", False),
    "--timeout": ("pytest_timeout", True),
    "--reruns": ("pytest_rerunfailures", True),
    "--reruns-delay": ("pytest_rerunfailures", True),
}


@dataclass
class TestTree:
    """The test files to package and the configuration that applies to them."""

    rootdir: Path
    config_file: Path | None
    ini: dict[str, IniValue]
    test_paths: list[str]  # relative to rootdir, posix
    files: dict[str, Path] = field(default_factory=dict)  # path in the zip -> file here


def _read_ini(path: Path, section: str) -> dict[str, IniValue] | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case as written
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise CliError(f"cannot read the pytest configuration {path}: {exc}; fix the file's syntax") from None
    if not parser.has_section(section):
        return None
    return {k: v.strip() for k, v in parser.items(section)}


def _toml_value(value: object) -> IniValue:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_config(path: Path) -> dict[str, IniValue] | None:
    """The pytest options in ``path``, or None when the file holds no pytest configuration."""
    name = path.name
    if name in ("pytest.ini", ".pytest.ini"):
        return _read_ini(path, "pytest") or {}
    if name == "tox.ini":
        return _read_ini(path, "pytest")
    if name == "setup.cfg":
        return _read_ini(path, "tool:pytest")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}; fix the file's TOML syntax") from None
    table = data.get("tool", {}).get("pytest")
    if not isinstance(table, dict):
        return None
    table = table.get("ini_options", table)  # [tool.pytest.ini_options], or pytest 9's native [tool.pytest]
    ini = {k: _toml_value(v) for k, v in table.items()}
    targets = data.get("tool", {}).get("dualmode", {}).get("targets")
    if isinstance(targets, dict) and targets and "dualmode_targets" not in ini:
        # The zip's configuration is a pytest.ini: named targets travel in their ini form.
        ini["dualmode_targets"] = [_target_line(path, str(n), t) for n, t in targets.items()]
    return ini


def _target_line(path: Path, name: str, table: object) -> str:
    """``[tool.dualmode.targets.NAME]`` as a ``dualmode_targets`` line: ``NAME: key=value ...``."""
    if not isinstance(table, dict):
        raise CliError(f"{path}: [tool.dualmode.targets.{name}] must be a table")
    pairs = []
    for key, value in table.items():
        if isinstance(value, dict):
            values = [f"{k}={v}" for k, v in value.items()]
        else:
            values = [str(v) for v in value] if isinstance(value, list) else [str(_toml_value(value))]
        for text in values:
            if not text or any(c.isspace() for c in text):
                raise CliError(
                    f"{path}: [tool.dualmode.targets.{name}] {key} has an empty value or a space, which the "
                    "packaged pytest.ini cannot carry; write it without spaces"
                )
            pairs.append(f"{key}={text}")
    return f"{name}: {' '.join(pairs)}"


def find_rootdir(paths: list[Path]) -> tuple[Path, Path | None, dict[str, IniValue]]:
    """(rootdir, config file, options) for ``paths``, found as pytest finds them."""
    ancestor = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in paths]))
    for directory in [ancestor, *ancestor.parents]:
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            candidate = directory / name
            if candidate.is_file():
                ini = read_config(candidate)
                if ini is not None:
                    return directory, candidate, ini
    for directory in [ancestor, *ancestor.parents]:  # no configuration: a project root still anchors
        if (directory / "pyproject.toml").is_file() or (directory / "setup.py").is_file():
            return directory, None, {}
    return ancestor, None, {}


def _wanted(path: Path) -> bool:
    return path.suffix not in _SKIP_SUFFIXES and not any(
        part.startswith(".") or part == "__pycache__" for part in path.parts
    )


def collect_tests(raw_paths: list[str], *, exclude: Path | None = None) -> TestTree:
    """Find the test files, their conftest/``__init__`` files up to the rootdir, and the configuration."""
    if not raw_paths:
        raise CliError("no tests given; use --tests PATH (e.g. --tests tests/system)")
    paths = []
    for raw in raw_paths:
        path = Path(raw)
        if not path.exists():
            raise CliError(
                f"--tests {raw!r}: no such file or folder (relative to {Path.cwd()}); "
                "give the folder that holds your system tests, e.g. --tests tests/system"
            )
        paths.append(path.resolve())
    rootdir, config_file, ini = find_rootdir(paths)
    tree = TestTree(rootdir, config_file, ini, [p.relative_to(rootdir).as_posix() or "." for p in paths])
    for path in paths:
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in found:
            rel = f.relative_to(rootdir)
            if _wanted(rel) and f != exclude:
                tree.files[rel.as_posix()] = f
        start = path if path.is_dir() else path.parent
        for directory in [start, *start.parents]:
            for name in ("conftest.py", "__init__.py"):
                if (directory / name).is_file():
                    tree.files[(directory / name).relative_to(rootdir).as_posix()] = directory / name
            if directory == rootdir:
                break
    if not any(_TEST_FILE.match(Path(name).name) for name in tree.files):
        raise CliError(
            f"--tests {' '.join(raw_paths)}: no test files (test_*.py or *_test.py) found; "
            "point --tests at the folder that holds your system tests"
        )
    if "." in tree.test_paths:
        # the rootdir itself is the zip's root, which also holds the dependencies (and their own tests,
        # e.g. certifi/tests): name the packaged test files and folders instead
        tops = [name.split("/", 1)[0] for name in sorted(tree.files) if _TEST_FILE.match(Path(name).name)]
        tree.test_paths = list(dict.fromkeys([p for p in tree.test_paths if p != "."] + tops))
    return tree


def _filter_addopts(tokens: list[str], available: Callable[[str], bool], notes: list[str]) -> list[str]:
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        flag, eq, _ = token.partition("=")
        if token.startswith("-p") and not token.startswith("--"):
            separate = len(token) == 2  # "-p name" rather than "-pname"
            name = tokens[i + 1] if separate and i + 1 < len(tokens) else token[2:]
            width = 2 if separate else 1
            if name.startswith("no:") or available(name):
                kept.extend(tokens[i : i + width])
            else:
                notes.append(f"addopts: dropped '-p {name}' (plugin not in the package)")
            i += width
            continue
        short = token[:2] if token.startswith("-n") and not token.startswith("--") else None
        key = short or flag
        if key in _PLUGIN_OPTIONS:
            module, takes = _PLUGIN_OPTIONS[key]
            width = 1
            if not eq and not (short and len(token) > 2):
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                if takes is True or (takes == "optional" and nxt is not None and not nxt.startswith("-")):
                    width = 2
            if available(module):
                kept.extend(tokens[i : i + width])
            else:
                notes.append(
                    f"addopts: dropped {shlex.join(tokens[i : i + width])!r} ({module} not in the package)"
                )
            i += width
            continue
        kept.append(token)
        i += 1
    return kept


def _dist_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def rewrite_config(
    tree: TestTree, *, available: Callable[[str], bool], distributions: set[str]
) -> tuple[str, list[str]]:
    """The ``pytest.ini`` for the zip's root, and notes on every setting that was changed.

    ``testpaths`` becomes the packaged test paths (the zip holds nothing else to collect);
    ``-p NAME`` and options of plugins that are not in the package are dropped from ``addopts``
    (they would stop pytest with a usage error), and so are ``required_plugins`` entries that
    are not packaged. ``available(module)`` says whether the zip can import a module;
    ``distributions`` holds the normalized names of the packaged distributions.
    """
    notes: list[str] = []
    ini = dict(tree.ini)
    old_testpaths = ini.get("testpaths")
    old = old_testpaths.split() if isinstance(old_testpaths, str) else old_testpaths
    if old != tree.test_paths:
        if old_testpaths is not None:
            notes.append(f"testpaths: {' '.join(old or [])} -> {' '.join(tree.test_paths)}")
        ini["testpaths"] = list(tree.test_paths)
    if "addopts" in ini:
        value = ini["addopts"]
        tokens = shlex.split(value) if isinstance(value, str) else list(value)
        ini["addopts"] = shlex.join(_filter_addopts(tokens, available, notes))
    if "required_plugins" in ini:
        value = ini["required_plugins"]
        wanted = value.split() if isinstance(value, str) else value
        kept = [r for r in wanted if _dist_name(r) in distributions]
        for r in wanted:
            if r not in kept:
                notes.append(f"required_plugins: dropped {r!r} (not in the package)")
        ini["required_plugins"] = kept
    lines = ["[pytest]"]
    for key, value in ini.items():
        items = value if isinstance(value, list) else value.splitlines()
        items = [item.strip() for item in items if item.strip()]
        if len(items) == 1 and not isinstance(value, list):
            lines.append(f"{key} = {items[0]}")
        else:
            lines.append(f"{key} =" + "".join(f"\n    {item}" for item in items))
    return "\n".join(lines) + "\n", notes
