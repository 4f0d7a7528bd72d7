"""The example service under load, side by side: SigV4 front door on vs off, gRPC vs HTTP, in one run.

Two standalone services (``python -m example_service``), one with ``--sigv4-credentials`` and one without,
share one moto DynamoDB server process; each gets the same load (tests/reliability/rel_load.py: concurrent
clients mixing adds, reads, listings, deletes and invalid requests over both transports) for the same time,
one after the other, then everything acknowledged is read back. Printed: throughput and latency per
variant and transport, the ratios signed / unsigned and gRPC / HTTP, and the lost-write count of each.

Run: ``python bench/bench_load.py [--seconds 10] [--clients 16]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))  # the load harness lives with the suite

from rel_load import LoadConfig, run_load  # noqa: E402
from rel_support import start_moto, start_standalone  # noqa: E402

KEY_ID, SECRET = "AKIDBENCHLOAD0000001", "BenchLoadSecret0123456789abcdefGHIJKLMNO"


def _one(label: str, moto_url: str, work: Path, config: LoadConfig, signed: bool) -> dict[str, Any]:
    from botocore.credentials import Credentials

    from pytest_dualmode.sigv4 import Signer

    extra = ["--table", f"bench-{label}"]
    signer = None
    if signed:
        keys = work / "keys.json"
        keys.write_text(json.dumps({KEY_ID: SECRET}))
        extra += ["--sigv4-credentials", str(keys)]
        signer = Signer(Credentials(KEY_ID, SECRET), "us-east-1", "vpc-lattice-svcs", sign_payload=False)
    child, ready = start_standalone(moto_url, work / f"{label}.log", *extra)
    try:
        return run_load(ready["grpc"], ready["http"], signer, config)
    finally:
        child.stop()


def _transport(report: dict[str, Any], transport: str, q: str) -> float:
    """The count-weighted mean of one percentile over a transport's operations (adds, gets, lists...)."""
    rows = [v for name, v in report["latency"].items() if name.endswith(transport) and "invalid" not in name]
    total = sum(r["count"] for r in rows)
    return sum(r[q] * r["count"] for r in rows) / total if total else 0.0


def main() -> int:
    """Run both variants and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="load time per variant (default 10)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    args = parser.parse_args()
    config = LoadConfig(clients=args.clients, seconds=args.seconds)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        moto, moto_url = start_moto(work / "moto.log")
        try:
            reports = {
                "signed": _one("signed", moto_url, work, config, signed=True),
                "unsigned": _one("unsigned", moto_url, work, config, signed=False),
            }
        finally:
            moto.stop()
    print(f"{config.clients} clients, {config.seconds:g} s per variant, one moto DynamoDB server\n")
    print(f"{'variant':<10} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'gRPC p50':>9} {'HTTP p50':>9} "
          f"{'acked':>7} {'lost':>5} {'errors':>7}")  # fmt: skip
    for name, r in reports.items():
        print(
            f"{name:<10} {r['ops_per_s']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{_transport(r, 'grpc', 'p50_ms'):>9.1f} {_transport(r, 'http', 'p50_ms'):>9.1f} "
            f"{r['acked_writes']:>7} {r['lost_writes']:>5} {r['unexpected']:>7}"
        )
    s, u = reports["signed"], reports["unsigned"]
    print()
    print(f"signed / unsigned: throughput {s['ops_per_s'] / u['ops_per_s']:.2f}x, "
          f"p50 {s['p50_ms'] / u['p50_ms']:.2f}x, p99 {s['p99_ms'] / u['p99_ms']:.2f}x")  # fmt: skip
    for name, r in reports.items():
        ratio = _transport(r, "grpc", "p50_ms") / max(_transport(r, "http", "p50_ms"), 1e-9)
        print(f"gRPC / HTTP p50 ({name}): {ratio:.2f}x")
    return 1 if any(r["lost_writes"] or r["unexpected"] for r in reports.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
