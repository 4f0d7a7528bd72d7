"""Bytecode for the target Python, and a reproducible zip within Lambda's size limits."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_dualmode.cli import CliError

MIB = 1024 * 1024
ZIPPED_LIMIT = 50 * MIB  # Lambda's direct-upload limit for a zip
UNZIPPED_LIMIT = 250 * MIB  # Lambda's limit for the unzipped function (and its layers)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
_COMPRESSLEVEL = 6  # level 9 takes 2.5x as long for 0.3% less
COMPILE_TIMEOUT_S = 600

# Run in the target interpreter: the .pyc magic number must be that version's. Unchecked-hash
# .pyc files are used without looking at the source's mtime (valid on a read-only task root, and
# the same bytes on every build); ddir names the Lambda path in code objects instead of the
# staging folder (the import system fixes the file name up to the real path when loading).
# argv[3:] are paths to leave alone: test files and conftest files, which pytest's assertion
# rewriter compiles itself (it never reads their ordinary .pyc, so shipping them only costs size).
_COMPILE_SCRIPT = """
import compileall, os, py_compile, re, sys
if sys.version_info[:2] != tuple(int(p) for p in sys.argv[2].split(".")):
    sys.exit(3)
skip = "|".join(re.escape(os.path.join(sys.argv[1], p)) + r"(/|$)" for p in sys.argv[3:]) or "(?!)"
compileall.compile_dir(sys.argv[1], ddir="/var/task", quiet=2, workers=1, rx=re.compile(skip),
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


@dataclass(frozen=True)
class ZipReport:
    """The written zip's size, unzipped size, sha256 and largest top-level entries."""

    zipped: int
    unzipped: int
    sha256: str
    largest: list[tuple[str, int]]


def interpreter_for(python: str) -> str | None:
    """A working local interpreter of version ``python`` (this one, else ``pythonX.Y`` on PATH), or None."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python:
        return sys.executable
    found = shutil.which(f"python{python}")
    if found is None:
        return None
    try:  # a version manager's shim may be on PATH without that version being usable
        probe = subprocess.run(
            [found, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if probe.returncode == 0 and probe.stdout.strip() == python else None


def compile_bytecode(staging: Path, python: str, *, skip: Sequence[str] = ()) -> str:
    """Precompile the modules in ``staging`` for ``python`` except the ``skip`` paths (relative, posix).

    Returns a line saying what was done.
    """
    interpreter = interpreter_for(python)
    if interpreter is None:
        return (
            f"bytecode: skipped (the target is Python {python}: this interpreter is not, and there is no "
            f"working python{python} on PATH); Lambda will compile modules in memory on every cold start. "
            f"Run dualmode package with Python {python} to precompile"
        )
    try:
        done = subprocess.run(
            [interpreter, "-I", "-c", _COMPILE_SCRIPT, str(staging), python, *skip],
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CliError(
            f"compiling bytecode took over {COMPILE_TIMEOUT_S} s; try again with --no-compile"
        ) from None
    if done.returncode == 3:
        return f"bytecode: skipped ({interpreter} is not Python {python})"
    if done.returncode != 0:
        raise CliError(f"compiling bytecode with {interpreter} failed: {done.stderr.strip()[-500:]}")
    return f"bytecode: precompiled for Python {python} (unchecked-hash .pyc, valid on a read-only task root)"


def write_zip(staging: Path, output: Path) -> ZipReport:
    """Write ``staging`` as a reproducible zip at ``output`` (atomically), failing above Lambda's limits.

    Entries are sorted, with a fixed timestamp, fixed permissions (0644, or 0755 for files that
    were executable) and a fixed compression level: the same files give the same bytes.
    """
    files = sorted((p.relative_to(staging).as_posix(), p) for p in staging.rglob("*") if p.is_file())
    partial = output.with_name(output.name + ".partial")
    unzipped = 0
    per_top: dict[str, int] = {}
    try:
        with zipfile.ZipFile(partial, "w") as zf:
            for arcname, path in files:
                info = zipfile.ZipInfo(arcname, _FIXED_TIME)
                info.create_system = 3  # unix, so the permission bits below are honoured
                mode = 0o755 if path.stat().st_mode & 0o100 else 0o644
                info.external_attr = (0o100000 | mode) << 16
                data = path.read_bytes()
                zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=_COMPRESSLEVEL)
                unzipped += len(data)
                top = arcname.split("/", 1)[0]
                per_top[top] = per_top.get(top, 0) + len(data)
        zipped = partial.stat().st_size
        over = []
        if zipped > ZIPPED_LIMIT:
            over.append(
                f"{zipped / MIB:.1f} MiB zipped, above Lambda's {ZIPPED_LIMIT // MIB} MiB upload limit"
            )
        if unzipped > UNZIPPED_LIMIT:
            over.append(
                f"{unzipped / MIB:.1f} MiB unzipped, above Lambda's {UNZIPPED_LIMIT // MIB} MiB limit"
            )
        if over:
            biggest = ", ".join(
                f"{n} {s / MIB:.1f} MiB" for n, s in sorted(per_top.items(), key=lambda i: -i[1])[:5]
            )
            raise CliError(
                f"the package is {' and '.join(over)} (largest: {biggest}); no zip written. Fix: leave out "
                "boto3/botocore with --without-boto (Lambda's runtime provides them) or trim --requirements"
            )
        digest = hashlib.sha256(partial.read_bytes()).hexdigest()
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    largest = sorted(per_top.items(), key=lambda item: (-item[1], item[0]))[:5]
    return ZipReport(zipped, unzipped, digest, largest)
