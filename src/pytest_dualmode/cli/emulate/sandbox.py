"""The emulated Lambda environment: a read-only task root, a runtime folder and the function's environment.

Lambda's Python runtime puts the task root (``/var/task``, the zip) first on the path, then its
runtime folder, which holds ``awslambdaric`` and boto3/botocore. The emulator builds the same: a
runtime folder of links to the locally installed ``awslambdaric`` and boto3 (with their
dependencies) and the bootstrap script, and nothing else, so anything else the suite imports has
to come from the zip.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import shutil
import stat
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

from pytest_dualmode.cli import CliError

MANIFEST = "dualmode-package.json"
DEFAULT_HANDLER = "pytest_dualmode.aws_lambda.handler"
_BOOTSTRAP = "_dualmode_bootstrap.py"
# provided by Lambda's Python runtime, not by the zip
RUNTIME_DISTRIBUTIONS = ("awslambdaric", "boto3")
# set by the runtime itself; an --env value cannot replace them
_RESERVED = re.compile(
    r"^(_HANDLER|_X_AMZN_TRACE_ID|AWS_LAMBDA_.*|AWS_EXECUTION_ENV|LAMBDA_TASK_ROOT|LAMBDA_RUNTIME_DIR)$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# forwarded from the caller's environment, as a deployed function has them in its configuration/role
_FORWARDED = re.compile(
    r"^(DUALMODE_.*|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_REGION|AWS_DEFAULT_REGION)$"
)
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def read_manifest(zip_path: Path) -> dict[str, Any]:
    """The package manifest of a zip built by ``dualmode package`` (empty for other zips)."""
    if not zip_path.is_file():
        raise CliError(
            f"{zip_path}: no such file; build one with: dualmode package -o {zip_path} --tests tests"
        )
    if not zipfile.is_zipfile(zip_path):
        raise CliError(
            f"{zip_path}: not a zip file; build one with: dualmode package -o {zip_path} --tests tests"
        )
    with zipfile.ZipFile(zip_path) as zf:
        try:
            data = json.loads(zf.read(MANIFEST))
        except KeyError:
            return {}
        except ValueError:
            raise CliError(
                f"{zip_path}: {MANIFEST} is not valid JSON; rebuild the zip with dualmode package"
            ) from None
    return data if isinstance(data, dict) else {}


def check_platform(manifest: dict[str, Any], zip_path: Path) -> None:
    """Refuse a zip whose compiled wheels cannot load on this machine."""
    arch = manifest.get("arch")
    here = _MACHINES.get(platform.machine().lower())
    if arch and here and arch != here:
        raise CliError(
            f"{zip_path} is built for {arch} and this machine is {here}: its compiled wheels cannot load "
            f"here; to emulate, build with --arch {here} (deploy the {arch} build)"
        )
    if sys.platform != "linux" and manifest:
        raise CliError(
            f"{zip_path} holds Linux wheels; dualmode emulate needs a Linux machine (or container)"
        )


def extract_read_only(zip_path: Path, task_root: Path) -> None:
    """Extract ``zip_path`` into ``task_root`` and make it read-only, as Lambda's ``/var/task`` is."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(task_root)  # names with .. or absolute paths are sanitised by zipfile
    except (zipfile.BadZipFile, OSError) as exc:
        raise CliError(f"cannot extract {zip_path}: {exc}; rebuild it with dualmode package") from None
    for path in sorted(task_root.rglob("*"), key=lambda p: -len(p.parts)):
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            path.chmod(0o555)
        elif stat.S_ISREG(mode):
            path.chmod(0o555 if mode & stat.S_IXUSR else 0o444)
    task_root.chmod(0o555)


def make_writable(root: Path) -> None:
    """Undo :func:`extract_read_only` so the folder can be removed."""
    if not root.exists():
        return
    root.chmod(0o755)
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (to find writes that a root user's read-only chmod cannot stop)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _runtime_modules(dist_name: str, seen: set[str]) -> list[Path]:
    """Top-level files/folders of a distribution and its requirements, as installed here."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return []
    key = dist.metadata["Name"].lower()
    if key in seen:
        return []
    seen.add(key)
    tops: list[Path] = []
    for entry in dist.files or []:
        first = Path(str(entry)).parts[0]
        if first in ("..", "bin", "__pycache__") or first.endswith(".pth"):
            continue
        located = Path(str(dist.locate_file(first)))
        if located.exists() and located not in tops:
            tops.append(located)
    for requirement in dist.requires or []:
        if ";" not in requirement:
            tops += _runtime_modules(re.split(r"[\s<>=!~\[(]", requirement, maxsplit=1)[0], seen)
    return tops


def build_runtime_dir(runtime: Path, *, awslambdaric: bool) -> None:
    """Fill ``runtime``: links to the local awslambdaric (if ``awslambdaric``) and boto3; the bootstrap."""
    runtime.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    for dist_name in RUNTIME_DISTRIBUTIONS:
        if dist_name == "awslambdaric" and not awslambdaric:
            continue
        for top in _runtime_modules(dist_name, seen):
            link = runtime / top.name
            if not link.exists():
                link.symlink_to(top, target_is_directory=top.is_dir())
    shutil.copyfile(Path(__file__).with_name("bootstrap.py"), runtime / _BOOTSTRAP)


def local_awslambdaric_fits(interpreter: str) -> bool:
    """True when awslambdaric is installed here for ``interpreter`` (its extension fits one Python)."""
    try:
        importlib.metadata.distribution("awslambdaric")
    except importlib.metadata.PackageNotFoundError:
        return False
    return interpreter == sys.executable


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``--env K=V`` values as a dict; errors name the bad pair (never its value, which may be a secret)."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not _ENV_NAME.match(name):
            shown = re.match(r"[A-Za-z0-9_]*", pair).group(0)  # type: ignore[union-attr]  # never the value
            raise CliError(f"--env {shown!r}: expected NAME=VALUE, e.g. --env DUALMODE_ADDR=api.internal:443")
        check_env_name(name, "--env")
        env[name] = value
    return env


def check_env_name(name: str, where: str) -> None:
    """Refuse names the Lambda runtime sets itself."""
    if _RESERVED.match(name):
        raise CliError(f"{where} {name}: reserved, the Lambda runtime sets it; remove it")


def _forwarded() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if _FORWARDED.match(k)}


def configuration(overrides: dict[str, str]) -> dict[str, str]:
    """The function's configured variables: the forwarded ones from this environment, then ``overrides``.

    Two invocations may share a warm runtime only when this is the same for both: a runtime process keeps
    the environment it started with, as a Lambda execution environment keeps its function's configuration.
    """
    return {**_forwarded(), **overrides}


def region(overrides: dict[str, str]) -> str:
    """The function's region: from ``--env``, else this environment, else us-east-1."""
    merged = configuration(overrides)
    return merged.get("AWS_REGION") or merged.get("AWS_DEFAULT_REGION") or "us-east-1"


def function_env(
    *,
    task_root: Path,
    runtime: Path,
    scratch: Path,
    api_address: str,
    handler: str,
    python: str,
    function_name: str,
    memory_mb: int,
    interpreter: str,
    overrides: dict[str, str],
    initialization: str = "on-demand",
) -> dict[str, str]:
    """The function's environment: Lambda's variables, forwarded configuration, then ``overrides``.

    ``initialization`` is Lambda's ``AWS_LAMBDA_INITIALIZATION_TYPE``: ``on-demand`` for a runtime started
    by an invocation, ``provisioned-concurrency`` for one started ahead of it.
    """
    merged = configuration(overrides)
    region_name = region(overrides)
    for name in ("home", "tmp"):
        (scratch / name).mkdir(exist_ok=True)
    env = {
        "PATH": os.pathsep.join([str(Path(interpreter).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(scratch / "home"),
        "TMPDIR": str(scratch / "tmp"),
        "PYTHONPATH": os.pathsep.join([str(task_root), str(runtime)]),
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "_HANDLER": handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python}",
        "AWS_LAMBDA_RUNTIME_API": api_address,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization,
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"emulated/[$LATEST]{uuid.uuid4().hex}",
        **merged,
        "AWS_REGION": region_name,
        "AWS_DEFAULT_REGION": region_name,
    }
    return env


def bootstrap_command(interpreter: str, runtime: Path, client: str) -> list[str]:
    """The runtime process: a clean interpreter (no site-packages, no user site, no bytecode writes)."""
    return [interpreter, "-S", "-s", "-B", str(runtime / _BOOTSTRAP), client]
