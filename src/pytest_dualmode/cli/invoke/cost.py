"""What a run cost: each invocation's billed figures (Lambda's ``REPORT`` line), GB-seconds and a price.

The price table below is the one place prices live (docs/invoke.md, "Cost", points here). It is an
estimate: the first pricing tier, no free tier, no Savings Plans, no provisioned concurrency charge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# AWS Lambda on-demand prices in USD, first tier (the first 6 billion GB-s a month for x86_64, 7.5 billion
# for arm64), as published on https://aws.amazon.com/lambda/pricing/ (read 2025-06). The regions listed
# share US East's price; a region not listed is estimated at US East's price, and the summary says so.
# Since 2025-08-01 Lambda also bills the init phase of on-demand functions: the REPORT line's Billed
# Duration includes it, so the sums below need no separate init term.
PRICE_PER_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.0000002  # $0.20 per million requests
PRICED_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
)
DEFAULT_REGION = "us-east-1"
# error types of invocations that never reached a function environment: no request, nothing billed
NEVER_RAN = ("TooManyRequestsException", "ConnectionError")

_REPORT = re.compile(r"^REPORT RequestId:.*$", re.MULTILINE)
_FIELDS = {
    "duration_ms": re.compile(r"(?<!Billed )(?<!Init )Duration: ([0-9.]+) ms"),
    "billed_ms": re.compile(r"Billed Duration: ([0-9.]+) ms"),
    "memory_mb": re.compile(r"Memory Size: ([0-9]+) MB"),
    "max_memory_mb": re.compile(r"Max Memory Used: ([0-9]+) MB"),
    "init_ms": re.compile(r"Init Duration: ([0-9.]+) ms"),
}


@dataclass(frozen=True)
class Report:
    """The figures of one invocation's ``REPORT`` line (None where the line did not say)."""

    duration_ms: float | None = None
    billed_ms: float | None = None
    memory_mb: int | None = None
    max_memory_mb: int | None = None
    init_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields for a result's ``invocations`` entry."""
        return {
            "init_ms": self.init_ms,
            "duration_ms": self.duration_ms,
            "billed_ms": self.billed_ms,
            "memory_mb": self.memory_mb,
            "max_memory_mb": self.max_memory_mb,
        }


def parse_report(log_tail: str) -> Report | None:
    """The last ``REPORT`` line of a log tail, or None when the tail holds none.

    ``REPORT RequestId: r  Duration: 2.25 ms  Billed Duration: 3 ms  Memory Size: 128 MB  Max Memory
    Used: 38 MB  Init Duration: 139.25 ms`` (tab-separated in Lambda's log). Without ``Billed Duration``
    (an older emulator), the duration plus the init rounded up to the millisecond is what Lambda bills.
    """
    lines = _REPORT.findall(log_tail or "")
    if not lines:
        return None
    line = lines[-1]
    found: dict[str, float] = {}
    for key, pattern in _FIELDS.items():
        match = pattern.search(line)
        if match:
            found[key] = float(match.group(1))
    billed = found.get("billed_ms")
    if billed is None and "duration_ms" in found:
        billed = float(math.ceil(found["duration_ms"] + found.get("init_ms", 0.0)))
    memory, peak = found.get("memory_mb"), found.get("max_memory_mb")
    return Report(
        duration_ms=found.get("duration_ms"),
        billed_ms=billed,
        memory_mb=int(memory) if memory is not None else None,
        max_memory_mb=int(peak) if peak is not None else None,
        init_ms=found.get("init_ms"),
    )


def price_of(region: str | None, architecture: str | None) -> tuple[str, str, float, bool]:
    """(region, architecture, USD per GB-s, whether the region is in the table) for an estimate."""
    arch = architecture if architecture in PRICE_PER_GB_S else "x86_64"
    where = region or DEFAULT_REGION
    return where, arch, PRICE_PER_GB_S[arch], where in PRICED_REGIONS


def total(
    invocations: Iterable[dict[str, Any]], *, region: str | None, architecture: str | None
) -> dict[str, Any]:
    """The result's ``cost`` object over invocation entries (each with ``billed_ms`` and ``memory_mb``).

    Every invocation that reached the function is a request (a throttle or a connection that never
    opened is not); one without a REPORT line in its log tail is counted in ``unreported``.
    """
    where, arch, per_gb_s, known = price_of(region, architecture)
    gb_s = 0.0
    requests = 0
    unreported = 0
    for item in invocations:
        if item.get("error_type") in NEVER_RAN:
            continue
        requests += 1
        billed, memory = item.get("billed_ms"), item.get("memory_mb")
        if billed is None or memory is None:
            unreported += 1
        else:
            gb_s += billed / 1000.0 * memory / 1024.0
    usd = gb_s * per_gb_s + requests * PRICE_PER_REQUEST
    cost: dict[str, Any] = {
        "gb_seconds": round(gb_s, 6),
        "usd": round(usd, 10),
        "region": where,
        "architecture": arch,
        "price_per_gb_s": per_gb_s,
        "price_per_request": PRICE_PER_REQUEST,
        "invocations": requests,
    }
    if not known:
        cost["note"] = f"no price for {where} in the table; estimated at {DEFAULT_REGION}'s"
    if unreported:
        cost["unreported"] = unreported
    return cost


def cost_line(cost: dict[str, Any]) -> str:
    """``cost: 9 invocations, 12.3 GB-s billed, about $0.000207 (x86_64, eu-west-1 prices)``."""
    note = f"; {cost['note']}" if cost.get("note") else ""
    missing = ""
    if cost.get("unreported"):
        missing = f"; {cost['unreported']} invocations without a REPORT line not counted"
    return (
        f"cost: {cost['invocations']} invocations, {cost['gb_seconds']:.3f} GB-s billed, about "
        f"${cost['usd']:.6f} ({cost['architecture']}, {cost['region']} prices{note}{missing})"
    )
