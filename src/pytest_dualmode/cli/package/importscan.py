"""Follow the imports of the packaged tests to what the zip must also hold.

The tests (and their conftest files) are read with :mod:`ast`, never imported. Each absolute
import is classified as:

* standard library, or provided by the packaged test tree itself: nothing to do;
* **first-party**: a package found in this environment whose files live inside the project
  (the rootdir) and not in a ``site-packages`` folder, e.g. ``src/example_service`` installed
  in editable mode. Its folder is copied into the zip, and the imports its modules run at
  import time are followed in turn;
* **third-party**: an installed distribution, added to the pip install for Lambda's platform
  at the version installed here;
* **unresolved**: not importable here at all; reported, since Lambda will not find it either.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_SITE_DIRS = {"site-packages", "dist-packages"}


@dataclass
class ImportReport:
    """What following the imports found, by kind."""

    first_party: dict[str, Path] = field(default_factory=dict)  # top-level name -> package dir or module file
    third_party: dict[str, str] = field(default_factory=dict)  # distribution name -> installed version
    importers: dict[str, str] = field(
        default_factory=dict
    )  # distribution or first-party name -> first importer
    unresolved: dict[str, str] = field(default_factory=dict)  # top-level name -> first importer


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _child_bodies(node: ast.stmt) -> Iterator[list[ast.stmt]]:
    """The statement lists nested in a compound statement (if/try/with/for/while/match/class)."""
    for name in ("body", "orelse", "finalbody"):
        value = getattr(node, name, None)
        if isinstance(value, list):
            yield [s for s in value if isinstance(s, ast.stmt)]
    for clause in [*getattr(node, "handlers", []), *getattr(node, "cases", [])]:
        yield clause.body


def _walk_imports(body: list[ast.stmt], *, in_functions: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Yield import statements; without ``in_functions`` only those that run at import time."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if in_functions:
                yield from _walk_imports(node.body, in_functions=True)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk_imports(
                node.orelse, in_functions=in_functions
            )  # the typing-only branch never runs
        else:
            for stmts in _child_bodies(node):
                yield from _walk_imports(stmts, in_functions=in_functions)


def _plugin_names(tree: ast.Module) -> Iterator[str]:
    """Module names given as ``pytest_plugins = "x"`` or ``["x", "y"]`` in a conftest or test module."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets
        ):
            values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            for v in values:
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    yield v.value


def imported_modules(path: Path, *, package: str | None, in_functions: bool) -> list[str]:
    """Absolute dotted names imported by the module at ``path`` (relative ones resolved via ``package``)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return []  # pytest reports an unparsable test module far better than we could here
    names: list[str] = list(_plugin_names(tree))
    for node in _walk_imports(tree.body, in_functions=in_functions):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
            continue
        if node.level:
            if not package:
                continue  # a relative import in a test tree resolves inside the tree
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level > 1 else base
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        names.append(module)
        # ``from pkg import sub`` may import a submodule; keep the candidate, it is resolved later
        names.extend(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return [n for n in names if n]


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return not _SITE_DIRS.intersection(path.relative_to(root).parts)


@functools.cache
def _locate(top: str, search_paths: tuple[Path, ...] = ()) -> Path | None:
    """The package folder or module file that ``import top`` would load, without importing it.

    ``search_paths`` (pytest's ``pythonpath`` setting) come first, as they do when pytest runs.
    """
    for directory in search_paths:
        if (directory / top).is_dir() and any((directory / top).glob("*.py")):
            return (directory / top).resolve()
        if (directory / f"{top}.py").is_file():
            return (directory / f"{top}.py").resolve()
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        locations = list(spec.submodule_search_locations)
        return Path(locations[0]).resolve() if locations else None
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return Path(spec.origin).resolve()
    return None


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distribution_for(dotted: str) -> str | None:
    """The installed distribution providing module ``dotted`` (namespace packages by their files)."""
    parts = dotted.split(".")
    candidates = _packages_distributions().get(parts[0], [])
    if len(candidates) <= 1 or len(parts) == 1:
        return candidates[0] if candidates else None
    prefix = "/".join(parts[:2])
    for name in sorted(set(candidates)):
        files = importlib.metadata.distribution(name).files or []
        if any(str(f).startswith(prefix) for f in files):
            return name
    return None


def _module_file(dotted: str, top_path: Path) -> Path | None:
    """The file of first-party module ``dotted`` under its top-level package folder, if it exists."""
    rel = dotted.split(".")[1:]
    if top_path.is_file():
        return top_path if not rel else None
    target = top_path.joinpath(*rel)
    if (target / "__init__.py").is_file():
        return target / "__init__.py"
    if target.with_suffix(".py").is_file():
        return target.with_suffix(".py")
    return None


def follow_imports(
    test_files: Iterable[Path],
    *,
    rootdir: Path,
    tree_modules: set[str],
    skip: set[str],
    extra_first_party: Mapping[str, Path] | None = None,
    search_paths: tuple[Path, ...] = (),
) -> ImportReport:
    """Classify everything the test files import, following first-party modules transitively.

    ``tree_modules``: top-level names the packaged test tree provides itself; ``skip``: top-level
    names handled elsewhere (pytest_dualmode); ``extra_first_party``: packages the user named
    (``--include``), all of whose modules are followed; ``search_paths``: pytest's ``pythonpath``.
    """
    report = ImportReport()
    rootdir = rootdir.resolve()
    queue: list[tuple[str, str]] = []  # (dotted name, importer shown to the user)
    for name, location in sorted((extra_first_party or {}).items()):
        report.first_party[name] = location
        report.importers[name] = "--include"
        files = [location] if location.is_file() else sorted(location.rglob("*.py"))
        for f in files:
            rel = [] if location.is_file() else list(f.relative_to(location).with_suffix("").parts)
            queue.append(
                (".".join([name, *(rel[:-1] if rel and rel[-1] == "__init__" else rel)]), "--include")
            )
    for f in sorted(test_files):
        if f.suffix == ".py":
            queue.extend(
                (m, str(f.relative_to(rootdir))) for m in imported_modules(f, package=None, in_functions=True)
            )
    seen_modules: set[str] = set()
    while queue:
        dotted, importer = queue.pop(0)
        top = dotted.split(".")[0]
        if top in sys.stdlib_module_names or top == "__future__" or top in tree_modules or top in skip:
            continue
        if top not in report.first_party:
            found = _locate(top, search_paths)
            if found is None:
                report.unresolved.setdefault(top, importer)
                continue
            if not _inside(found, rootdir):
                dist = _distribution_for(dotted)
                if dist is None:
                    report.unresolved.setdefault(top, importer)
                elif dist not in report.third_party:
                    report.third_party[dist] = importlib.metadata.version(dist)
                    report.importers.setdefault(dist, importer)
                continue
            report.first_party[top] = found
            report.importers[top] = importer
        # first-party: follow what importing this module (and its parent packages) runs
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in seen_modules:
                continue
            module_file = _module_file(name, report.first_party[top])
            if module_file is None:
                continue  # an attribute imported with ``from pkg import name``
            seen_modules.add(name)
            package = name if module_file.name == "__init__.py" else name.rpartition(".")[0]
            queue.extend(
                (m, name) for m in imported_modules(module_file, package=package or None, in_functions=False)
            )
    return report
