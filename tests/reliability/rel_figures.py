"""The suite's figures (cases tried, faults survived, fuzz examples, load results) and docs/reliability.md.

Tests add figures as they pass (:class:`Figures`); at the end of the session they are written as JSON lines
to the pytest temp folder. With ``DUALMODE_WRITE_RELIABILITY_DOC=1`` the session also rewrites
docs/reliability.md from them (``scripts/reliability_report.py`` does that in one command), so an ordinary
CI run never touches the committed document.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

WRITE_DOC_ENV = "DUALMODE_WRITE_RELIABILITY_DOC"
FIGURES_FILE = "reliability-figures.jsonl"
DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


class Figures:
    """Thread-safe collector of ``{"kind", "name", ...}`` records for one pytest process."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, kind: str, name: str, **values: Any) -> None:
        """Record one figure: ``kind`` is bad_input, fault, fuzz or load; ``name`` says which.

        A fuzz figure must count at least one example: a property that ran none proved nothing.
        """
        if kind == "fuzz":
            assert int(values.get("examples", 0)) > 0, f"the property {name!r} ran no examples"
        with self._lock:
            self.records.append({"kind": kind, "name": name, **values})

    def dump(self, path: Path) -> None:
        """Append the records as JSON lines (several xdist workers may append to one file)."""
        if not self.records:
            return
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)


HOW = [
    "- **Bad input** goes in through the real entry points: pytest runs in a subprocess (`pytester`) for "
    "options, environment variables and ini keys; the Lambda handler itself for events and function "
    "settings; `dualmode` for command lines; real gRPC and HTTP servers on 127.0.0.1 for the example "
    "service. Each case checks the message (value, source, fix), the exit code or status, and that no "
    "traceback was printed or logged.",
    "- **Faults** are caused for real: the service process is SIGKILLed mid-run, DynamoDB's server is "
    "stopped or SIGKILLed, handlers sleep past `--request-timeout`, a profile's `credential_process` hands "
    "out rotating keys, the Lambda deadline fires `SIGALRM` in a hanging test, shards run `sys.exit`, "
    "`os._exit`, a segfault or `KeyboardInterrupt` in emulated Lambda runtimes, and a fake Lambda API on "
    "127.0.0.1 throttles, fails and crashes invocations. The JUnit XML and the JSON result of every run are "
    "then read back: every collected test exactly once, and passed only if it passed.",
    "- **Load** runs the standalone service with its SigV4 front door and moto's server, each in its own "
    "process, against concurrent signed clients; afterwards every account is listed in full over both "
    "transports.",
    "- **Fuzzing** uses Hypothesis (derandomized in CI) against the running APIs, the invoke merge and the "
    "SigV4 verifier, and Schemathesis against the OpenAPI document the service serves.",
]

# Open product bugs this suite found, each with a strict xfail test (which fails once the bug is fixed).
FINDINGS: list[str] = []

# Found by this suite and fixed since; each is now guarded by an ordinary test.
FIXED = [
    "- HEAD responses carried a body on keep-alive connections, garbling the next response (both WSGI "
    "servers; now one shared server).",
    "- After a key rotation, an earlier secret that matches no pattern stayed in test output (the redactor "
    "now masks every secret the signer used).",
    "- `openapi.json` allowed control characters in `reason` that the service refuses (schema-valid adds "
    "got 400).",
    "- The Lambda result's JUnit XML listed a test interrupted by the deadline twice (pytest's failure, "
    "then the added `not_run` skip).",
    "- A Lambda event error for a secret-named variable had its reason masked by the redactor "
    "(`event.env.AWS_SECRET_ACCESS_KEY: [REDACTED] a string value`).",
    "- The keep-alive WSGI server printed socketserver's traceback to stderr when a client reset its "
    "connection between requests.",
]


def load(path: Path) -> list[dict[str, Any]]:
    """The records of a figures file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _by_kind(records: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [r for r in records if r["kind"] == kind]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _load_section(records: Sequence[Mapping[str, Any]]) -> list[str]:
    if not records:
        return [
            "No load run in this report (run it with `pytest -m reliability tests/reliability/test_load.py`)."
        ]
    r = records[-1]
    lines = [
        f"{r['clients']} concurrent clients for {r['seconds']:.0f} s against the standalone example service "
        f"(`python -m example_service --sigv4-credentials FILE`, every request SigV4-signed and verified) "
        "on moto's DynamoDB server, each in its own process, all on 127.0.0.1.",
        "",
        f"- operations: **{r['ops']}** ({r['ops_per_s']:.0f}/s), gRPC {r['by_transport']['grpc']} / "
        f"HTTP {r['by_transport']['http']}",
        f"- writes acknowledged: **{r['acked_writes']}**; lost: **{r['lost_writes']}** (an acknowledged Add "
        "missing from the account's full listing afterwards)",
        f"- deletes acknowledged: {r['acked_deletes']}; resurrected afterwards: {r['resurrected']}",
        f"- shared-address adds: {r['shared_addresses']} addresses, each created exactly once: "
        f"{'yes' if r['double_creates'] == 0 else 'NO (' + str(r['double_creates']) + ' twice)'}",
        f"- read-your-writes misses: {r['stale_reads']}",
        "- latencies describe this one run on the machine it ran on (clients, service and DynamoDB all on "
        "it); they are a record, not a target: `bench/bench_load.py` compares variants side by side",
        f"- unexpected 5xx / INTERNAL / other errors: **{r['unexpected']}**; expected 4xx on purpose: "
        f"{r['expected_rejections']}; client timeouts: {r['timeouts']}",
        "",
    ]
    rows = [
        [name, str(v["count"]), f"{v['p50_ms']:.1f}", f"{v['p99_ms']:.1f}", f"{v['max_ms']:.1f}"]
        for name, v in sorted(r["latency"].items())
    ]
    return lines + _table(["operation", "count", "p50 ms", "p99 ms", "max ms"], rows)


def render(records: Sequence[Mapping[str, Any]]) -> str:
    """docs/reliability.md for these records."""
    bad = _by_kind(records, "bad_input")
    faults = _by_kind(records, "fault")
    fuzz = _by_kind(records, "fuzz")
    load_runs = _by_kind(records, "load")
    security = _by_kind(records, "security")
    areas: dict[str, int] = {}
    for r in bad:
        areas[r["area"]] = areas.get(r["area"], 0) + 1
    fuzz_total = sum(int(r["examples"]) for r in fuzz)
    last_load = load_runs[-1] if load_runs else None
    lines = [
        "# Reliability",
        "",
        "What the reliability suite (`tests/reliability/`, marker `reliability`) tried, and what held. The "
        "figures below are written by the suite itself (see *Re-running*); they are from one run.",
        "",
        "## Summary",
        "",
        f"- bad inputs tried: **{len(bad)}**, each answered with a clear error naming the value, "
        "and no traceback",
        f"- faults survived: **{len(faults)}** scenarios, each run accounted for (every collected test "
        "reported exactly once, nothing reported passed that did not pass)",
        f"- fuzz examples run: **{fuzz_total}** over {len(fuzz)} properties, none failed",
        f"- security checks passed: **{len(security)}** (secrets in every output, loopback only in local "
        "mode, destructive tests gated)",
    ]
    if last_load:
        lines.append(
            f"- load: {last_load['acked_writes']} writes acknowledged, **{last_load['lost_writes']} lost**, "
            f"{last_load['unexpected']} unexpected errors; latency p50 {last_load['p50_ms']:.1f} ms, "
            f"p99 {last_load['p99_ms']:.1f} ms"
        )
    else:
        lines.append("- load: not run in this report, so no lost-writes figure")
    lines += ["", "## How", "", *HOW]
    lines += ["", "## Bad input", ""]
    lines += _table(["area", "cases"], [[k, str(v)] for k, v in sorted(areas.items())])
    lines += ["", "## Faults", ""]
    lines += _table(
        ["fault", "tests accounted", "what the report said"],
        [[str(r["name"]), str(r.get("tests", "")), str(r.get("detail", ""))] for r in faults],
    )
    lines += ["", "## Fuzzing", ""]
    lines += _table(["property", "examples"], [[str(r["name"]), str(r["examples"])] for r in fuzz])
    lines += ["", "## Security", ""]
    lines += _table(
        ["check", "what was looked at"], [[str(r["name"]), str(r.get("checked", ""))] for r in security]
    )
    lines += ["", "## Load", ""]
    lines += _load_section(load_runs)
    lines += [
        "",
        "## Open findings",
        "",
        *(FINDINGS or ["None: every bug this suite found has been fixed."]),
        "",
        "Each open one has a strict `xfail` test: once the bug is fixed that test fails, so its marker and "
        "the line here go with the fix.",
        "",
        "Found by the suite and fixed since (each now guarded by an ordinary test):",
        "",
        *FIXED,
        "",
        "## Known limits",
        "",
        "- A gRPC request whose bytes are not a valid protobuf message (for example a string field holding "
        "invalid UTF-8, which no protobuf library sends) is refused by grpcio itself with `INTERNAL` "
        '("Exception deserializing request!") before the service sees it; the service stays up and answers '
        "the next call. Every well-formed message with invalid field values gets `INVALID_ARGUMENT`.",
        "- The loopback check records connections made through Python's `socket` module (an audit hook) and "
        "the targets of every gRPC channel opened (gRPC's C core does not use Python sockets).",
        "",
        "## Re-running",
        "",
        "```",
        "pytest -m reliability                        # the whole suite (includes the 30 s load run)",
        "pytest -m reliability -k 'not load'          # without the load run",
        "python scripts/reliability_report.py         # run the suite and rewrite this page",
        "python bench/bench_load.py --seconds 10      # gRPC vs HTTP, signed vs not, side by side",
        "```",
        "",
        "Knobs (environment): `DUALMODE_LOAD_SECONDS` (default 30), `DUALMODE_LOAD_CLIENTS` (default 16), "
        "`DUALMODE_FUZZ_EXAMPLES` (multiplies the fuzz example counts), `DUALMODE_FUZZ_RANDOM=1` (explore "
        f"new random examples instead of the fixed derandomized ones), `{WRITE_DOC_ENV}=1` (rewrite this "
        "page at the end of a run that is not split by pytest-xdist).",
        "",
    ]
    return "\n".join(lines)
