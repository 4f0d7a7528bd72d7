"""``dualmode package`` of the example suite: zip size with and without boto3/botocore, and cold init from the
zip with precompiled bytecode against without.

Run from the repository root: ``python bench/bench_package.py``. It builds the example suite's package
twice (with boto3/botocore and ``--without-boto``; pip's cache makes the second build quick), derives the
no-bytecode variant by dropping the ``__pycache__`` entries (what ``--no-compile`` builds), then, in
interleaved rounds:

* **imports**: a clean interpreter (no site-packages, no bytecode writes, a read-only copy of the zip on its
  path) imports the handler and everything a signed run loads before its first test;
* **collect**: a full cold invocation under ``dualmode emulate`` with ``collect_only`` (a new runtime process,
  awslambdaric's start, handler init, pytest start-up, the suite's collection), the nearest thing to Lambda's
  cold start offline; the zips are extracted before timing starts.

Targets: at most 15 MB zipped without boto3/botocore; cold init (the imports) at least 1.3x faster with
bytecode. The collect figure is end to end and also pays for work that bytecode cannot speed up.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from pytest_dualmode.cli.emulate import Emulator, sandbox
from pytest_dualmode.cli.package import PackageOptions, build_package

ROOT = Path(__file__).resolve().parents[1]
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
IMPORT_ROUNDS = 5
COLLECT_ROUNDS = 3
ROUND_TIMEOUT_S = 120
# the handler, and what a run of the example suite imports before its first test
IMPORTS = (
    "import pytest_dualmode.aws_lambda, pytest_dualmode.aws_lambda.runner, pytest_dualmode.plugin, "
    "pytest_dualmode.fixtures, pytest_dualmode.clients, pytest_dualmode.frontdoor, pytest, grpc, requests, "
    "botocore.session, botocore.auth, example_service, "
    "example_service.gen.suppression.v1.suppression_pb2_grpc"
)


def build(output: Path, *, without_boto: bool) -> Path:
    options = PackageOptions(output=output, tests=[str(ROOT / "tests" / "system")], python=PYTHON)
    options.without_boto = without_boto
    build_package(options, log=lambda _: None)
    return output


def strip_bytecode(source: Path, output: Path) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(output, "w") as dst:
        for info in src.infolist():
            if "/__pycache__/" not in f"/{info.filename}":
                dst.writestr(info, src.read(info), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return output


def import_seconds(root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-S", "-s", "-B", "-c", IMPORTS],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "HOME": str(root.parent)},
        check=True,
        timeout=ROUND_TIMEOUT_S,
    )
    return time.perf_counter() - started


def collect_seconds(emulator: Emulator) -> float:
    # remote mode, signed (fake keys): collect_only makes no request, so nothing listens on the address
    env = {
        "DUALMODE_ADDR": "127.0.0.1:9",
        "DUALMODE_GRPC_PLAINTEXT": "1",
        "AWS_ACCESS_KEY_ID": "AKIDBENCHPACKAGE0000",
        "AWS_SECRET_ACCESS_KEY": "bench-package-not-a-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    started = time.perf_counter()
    outcome = emulator.invoke({"collect_only": True}, timeout_s=ROUND_TIMEOUT_S, env=env)
    elapsed = time.perf_counter() - started
    if outcome.result is None or not outcome.result.get("collected"):
        raise SystemExit(f"collect_only failed: {outcome.error or outcome.result}\n{outcome.log_tail}")
    return elapsed


def mb(size: int) -> str:
    return f"{size / 1e6:6.1f} MB ({size / 2**20:5.1f} MiB)"


def main() -> None:
    """Build, measure, print the side-by-side figures."""
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        work = Path(tmp)
        with_boto = build(work / "with-boto.zip", without_boto=False)
        without_boto = build(work / "without-boto.zip", without_boto=True)
        no_bytecode = strip_bytecode(with_boto, work / "with-boto-no-pyc.zip")
        print(f"package of tests/system for Python {PYTHON} (zipped; unzipped in brackets)")
        print("  (Lambda's limits are in MiB: its '50 MB' upload limit is 50 MiB)")
        sizes = {}
        for label, path in [("with boto3/botocore", with_boto), ("--without-boto", without_boto)]:
            with zipfile.ZipFile(path) as zf:
                unzipped = sum(i.file_size for i in zf.infolist())
            sizes[label] = path.stat().st_size
            print(f"  {label:22} {mb(path.stat().st_size)}  [{mb(unzipped)}]")
        ratio = sizes["with boto3/botocore"] / sizes["--without-boto"]
        small = sizes["--without-boto"]
        verdict = (
            "ok" if small <= 15e6 else ("ok in MiB, above in decimal MB" if small <= 15 * 2**20 else "ABOVE")
        )
        print(f"  without boto: {ratio:.2f}x smaller; target <= 15 MB zipped: {verdict}")

        roots = {}
        for label, path in [("bytecode", with_boto), ("no bytecode", no_bytecode)]:
            roots[label] = work / label.replace(" ", "-")
            roots[label].mkdir()
            sandbox.extract_read_only(path, roots[label])
        timings: dict[str, list[float]] = {"bytecode": [], "no bytecode": []}
        for i in range(IMPORT_ROUNDS):
            order = ["bytecode", "no bytecode"] if i % 2 == 0 else ["no bytecode", "bytecode"]
            for label in order:
                timings[label].append(import_seconds(roots[label]))
        collects: dict[str, list[float]] = {"bytecode": [], "no bytecode": []}
        with (
            Emulator(with_boto) as fast,
            Emulator(no_bytecode) as slow,
        ):  # extracted once: only runs are timed
            for i in range(COLLECT_ROUNDS):
                order = [("bytecode", fast), ("no bytecode", slow)]
                for label, emulator in order if i % 2 == 0 else order[::-1]:
                    collects[label].append(collect_seconds(emulator))
        for root in roots.values():
            sandbox.make_writable(root)

        print("cold init from the zip (median seconds; clean interpreter, read-only root)")
        for name, data, rounds in [
            ("imports", timings, IMPORT_ROUNDS),
            ("collect", collects, COLLECT_ROUNDS),
        ]:
            fast, slow = statistics.median(data["bytecode"]), statistics.median(data["no bytecode"])
            if name == "imports":
                verdict = "target >= 1.3x: " + ("ok" if slow / fast >= 1.3 else "BELOW TARGET")
            else:  # also pays for the runtime's start and pytest's collection: bytecode cannot speed those
                verdict = "end to end, for reference"
            print(
                f"  {name:8} bytecode {fast:6.3f} s   no bytecode {slow:6.3f} s   "
                f"{slow / fast:.2f}x faster with bytecode ({rounds} rounds); {verdict}"
            )


if __name__ == "__main__":
    main()
