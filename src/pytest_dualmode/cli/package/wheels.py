"""Install the suite's dependencies for Lambda's platform with pip, into a staging folder.

Versions are pinned to the ones installed where ``dualmode package`` runs (what the local runs
used), so two builds resolve the same wheels; a name listed in ``--requirements`` is left to that
file instead. pip's own download cache makes the second build fast.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

from pytest_dualmode.cli import CliError

PYTHONS = ("3.11", "3.12", "3.13")
ARCHS = {"x86_64": "x86_64", "arm64": "aarch64"}
# Lambda's OS per runtime: python3.11 runs on Amazon Linux 2 (glibc 2.26), 3.12+ on AL2023 (glibc 2.34)
_GLIBC_TAGS = {"3.11": ("manylinux2014",), "3.12": ("manylinux_2_34", "manylinux_2_28", "manylinux2014")}
# local mode's embedded DynamoDB and ASGI server: a Lambda run is always remote
LOCAL_ONLY = {"moto", "uvicorn", "httptools"}
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")  # shipped by Lambda's Python runtime
# the plugin's remote-mode needs, used when its metadata is not installed (a plain source checkout)
_FALLBACK = ["pytest", "grpcio", "grpcio-health-checking", "protobuf", "requests", "boto3", "botocore"]
PIP_TIMEOUT_S = 900


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form (``Grpcio_Tools`` -> ``grpcio-tools``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalized distribution name of a requirement string (``grpcio>=1.60`` -> ``grpcio``)."""
    return normalize(re.split(r"[\s<>=!~;\[@]", requirement.strip(), maxsplit=1)[0])


def platforms(python: str, arch: str) -> list[str]:
    """pip ``--platform`` tags for a Lambda runtime, most specific first."""
    return [f"{tag}_{ARCHS[arch]}" for tag in _GLIBC_TAGS.get(python, _GLIBC_TAGS["3.12"])]


def plugin_requirements(*, without_boto: bool) -> list[str]:
    """pytest-dualmode's remote-mode runtime dependencies, as requirement strings."""
    try:
        declared = importlib.metadata.requires("pytest-dualmode") or []
    except importlib.metadata.PackageNotFoundError:
        declared = list(_FALLBACK)
    wanted = []
    for req in declared:
        if ";" in req:
            continue  # an extra (dev) or an environment marker: not a runtime need
        name = requirement_name(req)
        if name in LOCAL_ONLY or (without_boto and name in RUNTIME_PROVIDED):
            continue
        wanted.append(req)
    return wanted


def names_in_requirements_file(path: Path) -> set[str]:
    """Normalized distribution names listed in a requirements file (options and URLs ignored)."""
    names = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")) or "://" in line:
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match:
            names.add(normalize(match.group(0)))
    return names


def pin(requirement: str) -> str:
    """``name==<version installed here>`` for a requirement, or the requirement as given if not installed."""
    name = re.split(r"[\s<>=!~;]", requirement, maxsplit=1)[0]
    base = name.split("[", 1)[0]
    try:
        return f"{name}=={importlib.metadata.version(base)}"
    except importlib.metadata.PackageNotFoundError:
        return requirement


def _explain_failure(output: str, *, python: str, arch: str, tags: list[str]) -> str:
    missing = re.search(r"No matching distribution found for (\S+)", output)
    if missing:
        req = missing.group(1)
        name = re.split(r"[<>=!~;\[]", req, maxsplit=1)[0]
        return (
            f"no wheel of {req} for Lambda's platform (CPython {python}, {arch}: {', '.join(tags)}); "
            "Lambda cannot build from source, so pip needs a binary wheel. Fix: pin a version of "
            f"{name} that publishes a manylinux wheel for cp{python.replace('.', '')} "
            f"(see https://pypi.org/project/{name}/#files) in --requirements, or drop the dependency"
        )
    if "ResolutionImpossible" in output or "conflicting dependencies" in output:
        detail = [ln.strip() for ln in output.splitlines() if "requested" in ln or "depends on" in ln]
        return (
            "pip found conflicting versions: "
            + "; ".join(detail[:6])
            + ". Fix: align the versions in --requirements with the ones installed here (pip list)"
        )
    tail = "\n  ".join(output.strip().splitlines()[-12:])
    return f"pip install for Lambda's platform failed:\n  {tail}"


def pip_install(
    staging: Path, requirements: list[str], *, requirements_file: Path | None, python: str, arch: str
) -> None:
    """Install ``requirements`` (and ``requirements_file``) as Lambda wheels into ``staging``."""
    tags = platforms(python, arch)
    cmd = [sys.executable, "-m", "pip", "install", "--target", str(staging)]
    for tag in tags:
        cmd += ["--platform", tag]
    cmd += ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    cmd += ["--no-compile", "--no-warn-conflicts", "--disable-pip-version-check", "--no-input"]
    cmd += ["--progress-bar", "off", *requirements]
    if requirements_file is not None:
        cmd += ["-r", str(requirements_file)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise CliError(
            f"pip did not finish within {PIP_TIMEOUT_S} s; check your network or package index settings"
        ) from None
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if "No module named pip" in output:
            raise CliError(f"pip is not installed in {sys.executable}; install it (python -m ensurepip)")
        raise CliError(_explain_failure(output, python=python, arch=arch, tags=tags))
    shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts carry this machine's shebang


def installed(staging: Path) -> dict[str, str]:
    """Normalized name -> version of every distribution in ``staging``."""
    found = {}
    for dist in importlib.metadata.distributions(path=[str(staging)]):
        found[normalize(dist.metadata["Name"])] = dist.version
    return dict(sorted(found.items()))


def remove_distribution(staging: Path, name: str) -> bool:
    """Delete an installed distribution from ``staging``: the files its RECORD lists, then empty folders."""
    root = staging.resolve()
    for dist in importlib.metadata.distributions(path=[str(staging)]):
        if normalize(dist.metadata["Name"]) != normalize(name):
            continue
        dirs: set[Path] = set()
        for entry in dist.files or []:
            target = (root / str(entry)).resolve()
            if root not in target.parents:
                continue  # RECORD may name scripts outside the target folder: never touch those
            target.unlink(missing_ok=True)
            dirs.update(p for p in target.parents if root in p.parents)
        for directory in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
        return True
    return False
