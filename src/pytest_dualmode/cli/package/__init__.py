"""``dualmode package``: a Lambda zip of the system tests and everything they import.

What goes in (see docs/deploy.md):

* the runtime dependencies of pytest-dualmode's remote mode (pytest, grpcio, protobuf, requests,
  boto3/botocore unless ``--without-boto``), installed by pip as wheels for Lambda's platform;
* ``pytest_dualmode`` itself with a ``.dist-info`` carrying its ``pytest11`` entry point;
* the tests, the conftest and ``__init__`` files above them up to the rootdir, and the pytest
  configuration rewritten as ``pytest.ini`` at the zip's root;
* what the tests import: first-party packages of the project (e.g. ``src/example_service``)
  are copied, third-party distributions installed for Lambda at the version installed here;
  ``--include`` adds packages that are not found through imports;
* ``dualmode-package.json``, a manifest that ``dualmode emulate`` reads (target Python, arch).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest_dualmode
from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.package import archive, importscan, testtree, wheels

MANIFEST = "dualmode-package.json"
MANIFEST_SCHEMA = "pytest-dualmode.package/1"
HANDLER = "pytest_dualmode.aws_lambda.handler"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")


@dataclass
class PackageOptions:
    """The inputs of one build (the command line's options)."""

    output: Path
    tests: list[str]
    python: str = "3.11"
    arch: str = "x86_64"
    requirements: Path | None = None
    without_boto: bool = False
    include: list[Path] = field(default_factory=list)
    compile: bool = True


@dataclass
class PackageReport:
    """What a build produced."""

    output: Path
    zip: archive.ZipReport
    distributions: dict[str, str]
    first_party: list[str]
    notes: list[str]


def _python_version(value: str) -> str:
    if value not in wheels.PYTHONS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Lambda Python runtime this supports; use one of " + ", ".join(wheels.PYTHONS)
        )
    return value


def _arch(value: str) -> str:
    if value not in wheels.ARCHS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Lambda architecture; use x86_64 or arm64 (Graviton; aarch64 is arm64)"
        )
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``dualmode package``."""
    p = subparsers.add_parser(
        "package",
        help="build a reproducible Lambda zip of the system tests and their dependencies",
        description="Build a Lambda zip of the tests, their conftest files, the pytest configuration, "
        "pytest-dualmode and every dependency as wheels for Lambda's platform. The same inputs "
        "give a byte-identical zip.",
    )
    p.add_argument("-o", "--output", required=True, type=Path, metavar="ZIP", help="the zip to write")
    p.add_argument(
        "--tests", nargs="+", required=True, metavar="PATH", help="test folders or files to package"
    )
    p.add_argument("--requirements", type=Path, metavar="FILE", help="extra requirements (pip format)")
    p.add_argument("--python", type=_python_version, default="3.11", help="Lambda runtime (3.11, 3.12, 3.13)")
    p.add_argument("--arch", type=_arch, default="x86_64", help="Lambda architecture (x86_64 or arm64)")
    p.add_argument(
        "--without-boto",
        action="store_true",
        help="leave out boto3/botocore (Lambda's runtime provides them)",
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        type=Path,
        metavar="PKG_PATH",
        help="also add this package folder or module file (for packages the tests' imports do not reveal)",
    )
    p.add_argument("--no-compile", dest="compile", action="store_false", help="do not precompile bytecode")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``dualmode package`` from parsed arguments."""
    options = PackageOptions(
        output=args.output,
        tests=args.tests,
        python=args.python,
        arch=args.arch,
        requirements=args.requirements,
        without_boto=args.without_boto,
        include=args.include,
        compile=args.compile,
    )
    report = build_package(options)
    z = report.zip
    mib = archive.MIB
    print(
        f"wrote {report.output}: {z.zipped / mib:.1f} MiB zipped "
        f"({100 * z.zipped / archive.ZIPPED_LIMIT:.0f}% of Lambda's 50 MiB), "
        f"{z.unzipped / mib:.1f} MiB unzipped ({100 * z.unzipped / archive.UNZIPPED_LIMIT:.0f}% of 250 MiB)"
    )
    print("  largest: " + ", ".join(f"{name} {size / mib:.1f} MiB" for name, size in z.largest))
    print(f"  sha256 {z.sha256}")
    return 0


def _validate(options: PackageOptions) -> None:
    if options.output.is_dir():
        raise CliError(
            f"-o {options.output}: is a folder; give the zip file to write, e.g. -o system-tests.zip"
        )
    if not options.output.resolve().parent.is_dir():
        raise CliError(
            f"-o {options.output}: the folder {options.output.parent} does not exist; create it first"
        )
    if options.requirements is not None and not options.requirements.is_file():
        raise CliError(f"--requirements {options.requirements}: no such file; give a pip requirements file")
    for inc in options.include:
        if (
            not (inc / "__init__.py").is_file()
            and not (inc.is_file() and inc.suffix == ".py")
            and not inc.is_dir()
        ):
            raise CliError(
                f"--include {inc}: not a package folder or .py module; give e.g. --include src/mypkg"
            )


def _copy_plugin(staging: Path) -> None:
    """pytest_dualmode's files, and a dist-info whose pytest11 entry point makes pytest load it."""
    shutil.copytree(Path(pytest_dualmode.__file__).parent, staging / "pytest_dualmode", ignore=_IGNORE)
    version = pytest_dualmode.__version__
    info = staging / f"pytest_dualmode-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: pytest-dualmode\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[pytest11]\ndualmode = pytest_dualmode.plugin\n")
    (info / "top_level.txt").write_text("pytest_dualmode\n")
    (info / "INSTALLER").write_text("dualmode-package\n")
    (info / "RECORD").write_text("")


def _copy_first_party(staging: Path, name: str, location: Path, notes: list[str]) -> None:
    target = staging / (location.name if location.is_file() else name)
    if target.exists():
        notes.append(
            f"first-party {name}: a package of that name is already installed; the project's copy wins"
        )
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if location.is_file():
        shutil.copy2(location, target)
    else:
        shutil.copytree(location, target, ignore=_IGNORE)
    if any(p.suffix in (".so", ".pyd") for p in target.rglob("*") if location.is_dir()):
        notes.append(f"first-party {name} holds compiled extensions built here; they may not load in Lambda")


def _tree_modules(tree: testtree.TestTree) -> set[str]:
    """Top-level names the packaged test tree provides (pytest puts test folders on sys.path)."""
    names = set()
    for arcname in tree.files:
        parts = Path(arcname).parts
        names.add(Path(parts[0]).stem)
        names.add(Path(parts[-1]).stem if len(parts) > 1 else parts[0])
        if len(parts) > 1:
            names.add(parts[-2])
    return names


def _pythonpath(tree: testtree.TestTree) -> tuple[Path, ...]:
    """pytest's ``pythonpath`` setting as folders: where pytest itself would import the project from."""
    value = tree.ini.get("pythonpath", [])
    entries = value.split() if isinstance(value, str) else value
    return tuple((tree.rootdir / entry).resolve() for entry in entries)


def _available(staging: Path) -> Callable[[str], bool]:
    entry_points: set[str] = set()
    for dist in importlib.metadata.distributions(path=[str(staging)]):
        entry_points.update(ep.name for ep in dist.entry_points if ep.group == "pytest11")

    def available(module: str) -> bool:
        path = staging.joinpath(*module.split("."))
        return (
            module in entry_points
            or path.is_dir()
            or path.with_suffix(".py").is_file()
            or (staging / "_pytest" / f"{module}.py").is_file()  # pytest's builtin plugins (pytester...)
        )

    return available


# What the suite's own configuration asks of the plugin that its base requirements lack (remote mode only:
# the local-mode speed-ups never run in Lambda): ini key, value -> distribution.
_CONFIG_NEEDS = {("dualmode_http_aio_transport", "aiohttp"): "httpx-aiohttp"}


def _requirements(
    options: PackageOptions,
    imports: importscan.ImportReport,
    log: Callable[[str], None],
    ini: dict[str, testtree.IniValue] | None = None,
) -> list[str]:
    """The plugin's runtime needs, what the tests' configuration (``ini``) asks of it, and the tests'
    third-party imports, pinned to the versions installed here; names that ``--requirements`` lists are
    left to that file."""
    user_names = wheels.names_in_requirements_file(options.requirements) if options.requirements else set()
    requirements: dict[str, str] = {}
    for req in wheels.plugin_requirements(without_boto=options.without_boto):
        requirements[wheels.requirement_name(req)] = req
    for (key, value), dist in _CONFIG_NEEDS.items():
        setting = (ini or {}).get(key)
        if isinstance(setting, str) and setting.strip().lower() == value:
            requirements[wheels.normalize(dist)] = dist
            log(f"dependency from the configuration: {dist} ({key} = {value})")
    for dist in imports.third_party:
        name = wheels.normalize(dist)
        if name in requirements or (options.without_boto and name in wheels.RUNTIME_PROVIDED):
            continue
        requirements[name] = dist
        log(f"dependency from the tests' imports: {dist} (imported by {imports.importers[dist]})")
    return [wheels.pin(req) for name, req in requirements.items() if name not in user_names]


def build_package(options: PackageOptions, *, log: Callable[[str], None] = print) -> PackageReport:
    """Build the zip described by ``options``; raises :class:`CliError` on bad input."""
    _validate(options)
    output = options.output.resolve()
    tree = testtree.collect_tests(options.tests, exclude=output)
    config = tree.config_file.name if tree.config_file else "none"
    log(f"tests: {' '.join(tree.test_paths)} (rootdir {tree.rootdir}, config {config})")
    notes: list[str] = []
    explicit = {p.stem if p.is_file() else p.name: p.resolve() for p in options.include}
    imports = importscan.follow_imports(
        [f for f in tree.files.values()],
        rootdir=tree.rootdir,
        tree_modules=_tree_modules(tree),
        skip={"pytest_dualmode"},
        extra_first_party=explicit,
        search_paths=_pythonpath(tree),
    )
    for name, importer in sorted(imports.unresolved.items()):
        notes.append(
            f"import {name} (in {importer}) is not installed here: "
            "if Lambda needs it, add it to --requirements"
        )

    pinned = _requirements(options, imports, log, tree.ini)

    with tempfile.TemporaryDirectory(prefix="dualmode-package-") as tmp:
        staging = Path(tmp) / "task"
        staging.mkdir()
        tags = ", ".join(wheels.platforms(options.python, options.arch))
        log(
            f"installing {len(pinned)} requirements for Lambda python{options.python} {options.arch} ({tags})"
        )
        wheels.pip_install(
            staging, pinned, requirements_file=options.requirements, python=options.python, arch=options.arch
        )
        if options.without_boto:
            for name in wheels.RUNTIME_PROVIDED:
                if wheels.remove_distribution(staging, name):
                    notes.append(f"--without-boto: removed {name}, which another requirement pulled in")
        _copy_plugin(staging)
        for name, location in sorted(imports.first_party.items()):
            log(
                f"first-party package: {name} (from {location}, "
                f"needed by {imports.importers.get(name, '--include')})"
            )
            _copy_first_party(staging, name, location, notes)
        for arcname, source in sorted(tree.files.items()):
            (staging / arcname).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, staging / arcname)
        distributions = wheels.installed(staging)
        ini, config_notes = testtree.rewrite_config(
            tree, available=_available(staging), distributions=set(distributions)
        )
        notes.extend(f"config: {n}" for n in config_notes)
        (staging / "pytest.ini").write_text(ini, encoding="utf-8")
        manifest = {
            "schema": MANIFEST_SCHEMA,
            "handler": HANDLER,
            "python": options.python,
            "arch": options.arch,
            "platforms": wheels.platforms(options.python, options.arch),
            "tests": tree.test_paths,
            "boto": not options.without_boto,
            "first_party": sorted(imports.first_party),
            "distributions": distributions,
            "bytecode": False,
        }
        if options.compile:
            pytest_compiles = [*tree.test_paths, *(n for n in tree.files if Path(n).name == "conftest.py")]
            line = archive.compile_bytecode(staging, options.python, skip=pytest_compiles)
            manifest["bytecode"] = line.startswith("bytecode: precompiled")
            notes.append(line)
        (staging / MANIFEST).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        for note in notes:
            log(note)
        zip_report = archive.write_zip(staging, output)
    return PackageReport(output, zip_report, distributions, sorted(imports.first_party), notes)
