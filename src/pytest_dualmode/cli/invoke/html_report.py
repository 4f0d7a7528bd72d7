"""``dualmode invoke --html FILE``: the merged result as one self-contained HTML page.

One file, no network: the CSS is inline, there is no script, no image and no link outside the page.
What it shows, top to bottom: the verdict and counts (and the cost when the result has one), a timeline
with one row per invocation (init, test time, the rest of the wall time, and the billed duration as a
line under it; stragglers marked), the shards, the failures with their output, the flaky tests with
every attempt, the tests that did not run with the reason, and the slowest tests.

Every text taken from the result goes through the invoke redaction, then HTML escaping. Fields that a
result may lack (``invocations``, ``fate``, ``attempts``, ``cost``, ``exit_reason``) are shown when
present: without ``invocations``, a shard's row spans its measured start and end (``timings``), or
its wall time from the run's start.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pytest_dualmode.cli.invoke.report import crash_line
from pytest_dualmode.redaction import redact_local as redact

MAX_FAILURES = 200  # failures shown with their output; the JSON and JUnit files have them all
MAX_NOT_RUN = 500
SLOWEST = 20
STRAGGLER_FACTOR = 1.5  # a row this much longer than the median row (and 1 s more) is a straggler
_BAD = ("failed", "error")


@dataclass(frozen=True)
class Row:
    """One invocation on the timeline (seconds from the run's start; milliseconds as Lambda reports)."""

    shard: int
    label: str
    start_s: float
    end_s: float
    fate: str
    init_ms: float | None = None
    duration_ms: float | None = None
    billed_ms: float | None = None
    memory_mb: float | None = None
    max_memory_mb: float | None = None
    error_type: str | None = None
    rerun: bool = False


def render(
    merged: Mapping[str, Any],
    *,
    title: str = "dualmode invoke",
    timings: Mapping[int, tuple[float, float | None]] | None = None,
) -> str:
    """The page for ``merged`` (a docs/result-schema.md result); ``timings``: shard index -> (start, end)."""
    rows = timeline_rows(merged, timings or {})
    tests = [t for t in merged.get("tests") or [] if isinstance(t, dict)]
    parts = [
        _head(title),
        _verdict(merged),
        _cost(merged.get("cost")),
        _timeline(rows, float(merged.get("duration_s") or 0.0)),
        _shards(merged.get("shards") or []),
        _failures(tests),
        _flaky(tests),
        _not_run(tests),
        _slowest(tests),
        "</main></body></html>\n",
    ]
    return "".join(p for p in parts if p)


def timeline_rows(merged: Mapping[str, Any], timings: Mapping[int, tuple[float, float | None]]) -> list[Row]:
    """One row per invocation: the result's ``invocations``, else one per shard from ``timings``."""
    rows: list[Row] = []
    for entry in merged.get("shards") or []:
        if not isinstance(entry, dict):
            continue
        index = int(entry.get("index") or 0)
        label = f"shard {index + 1}/{entry.get('count') or '?'}"
        fate = str(entry.get("fate") or entry.get("status") or "unknown")
        invocations = [i for i in entry.get("invocations") or [] if isinstance(i, dict)]
        for inv in invocations:
            attempt = inv.get("attempt") or 1
            start = _num(inv.get("start_s")) or 0.0
            end = _num(inv.get("end_s"))
            if end is None:
                end = start + (_num(inv.get("duration_ms")) or 0.0) / 1000
            rows.append(
                Row(
                    shard=index,
                    label=f"{label} #{attempt}" + (" re-run" if inv.get("rerun") else ""),
                    start_s=start,
                    end_s=max(end, start),
                    fate=str(inv.get("fate") or fate),
                    init_ms=_num(inv.get("init_ms")),
                    duration_ms=_num(inv.get("duration_ms")),
                    billed_ms=_num(inv.get("billed_ms")),
                    memory_mb=_num(inv.get("memory_mb")),
                    max_memory_mb=_num(inv.get("max_memory_mb")),
                    error_type=inv.get("error_type") or None,
                    rerun=bool(inv.get("rerun")),
                )
            )
        if not invocations:
            start, end = timings.get(index, (0.0, None))
            wall = _num(entry.get("duration_s")) or 0.0
            end = end if end is not None else start + wall
            rows.append(Row(index, label, start, max(end, start), fate, error_type=entry.get("error_type")))
    return rows


def stragglers(rows: Sequence[Row]) -> set[int]:
    """Positions of rows much longer than the median row (``STRAGGLER_FACTOR`` and at least 1 s more)."""
    if len(rows) < 3:
        return set()
    lengths = [r.end_s - r.start_s for r in rows]
    median = statistics.median(lengths)
    return {
        i for i, length in enumerate(lengths) if length >= STRAGGLER_FACTOR * median and length - median >= 1
    }


def _timeline(rows: Sequence[Row], wall: float) -> str:
    if not rows:
        return '<section id="timeline"><h2>Timeline</h2><p>No invocation ran.</p></section>'
    span = max([wall, *(r.end_s for r in rows)]) or 1.0
    slow = stragglers(rows)
    last = max(range(len(rows)), key=lambda i: rows[i].end_s)
    legend = (
        '<span class="swatch sw-init"></span>init <span class="swatch sw-run"></span>test time '
        '<span class="swatch sw-wait"></span>rest of the wall time (latency, queueing) '
        '<span class="swatch sw-billed"></span>billed duration; '
        if any(r.duration_ms is not None for r in rows)
        else "each bar: an invocation's wall time, as the client saw it; "
    )
    plural = "s" if len(slow) != 1 else ""
    out = [
        f'<section id="timeline"><h2>Timeline</h2><p class="legend">{legend}one row per invocation, '
        f"0 to {span:.1f} s{f'; {len(slow)} straggler{plural}' if slow else ''}</p>",
        _axis(span),
    ]
    for i, row in enumerate(rows):
        length = row.end_s - row.start_s
        left, width = 100 * row.start_s / span, max(100 * length / span, 0.2)
        classes = ["bar", f"fate-{_css(row.fate)}"]
        marks = []
        if i in slow:
            classes.append("straggler")
            marks.append("straggler")
        if i == last:
            marks.append("last to finish")
        segments = _segments(row, length)
        tip = _tooltip(row, length)
        billed = ""
        if row.billed_ms is not None:
            bw = max(100 * row.billed_ms / 1000 / span, 0.2)
            billed = f'<div class="billed" style="left:{left:.3f}%;width:{bw:.3f}%"></div>'
        mark = f' <span class="mark">{", ".join(marks)}</span>' if marks else ""
        out.append(
            f'<div class="row"><div class="label">{_t(row.label)}{mark}</div><div class="track">'
            f'<div class="{" ".join(classes)}" data-shard="{row.shard}" data-start="{row.start_s:.3f}" '
            f'data-end="{row.end_s:.3f}" title="{_a(tip)}" style="left:{left:.3f}%;width:{width:.3f}%">'
            f"{segments}</div>{billed}</div>"
            f'<div class="num">{length:.1f}s</div></div>'
        )
    out.append("</section>")
    return "".join(out)


def _segments(row: Row, length: float) -> str:
    """init, test time and the rest, as shares of the bar (when the invocation reported them)."""
    if not length or row.duration_ms is None:
        return '<span class="seg run" style="width:100%"></span>'
    init = min((row.init_ms or 0) / 1000, length)
    run = min(row.duration_ms / 1000, length - init)
    shares = [("init", init), ("run", run), ("wait", max(length - init - run, 0.0))]
    return "".join(
        f'<span class="seg {name}" style="width:{100 * part / length:.2f}%"></span>'
        for name, part in shares
        if part > 0
    )


def _tooltip(row: Row, length: float) -> str:
    bits = [f"{row.label}: {row.fate}", f"{row.start_s:.1f}s to {row.end_s:.1f}s ({length:.1f}s wall)"]
    for name, value, unit in (
        ("init", row.init_ms, "ms"),
        ("duration", row.duration_ms, "ms"),
        ("billed", row.billed_ms, "ms"),
        ("memory", row.memory_mb, "MB"),
        ("max memory used", row.max_memory_mb, "MB"),
    ):
        if value is not None:
            bits.append(f"{name} {value:g} {unit}")
    if row.error_type:
        bits.append(f"error {row.error_type}")
    return "; ".join(bits)


def _axis(span: float) -> str:
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if span / s <= 8), 1200)
    ticks = []
    t = 0.0
    while t <= span + 1e-9:
        ticks.append(f'<span class="tick" style="left:{100 * t / span:.3f}%">{t:g}s</span>')
        t += step
    return f'<div class="row axis"><div class="label"></div><div class="track">{"".join(ticks)}</div></div>'


def _verdict(merged: Mapping[str, Any]) -> str:
    outcome = str(merged.get("outcome") or "unknown")
    counts = merged.get("counts") or {}
    shown = [
        f'<span class="count {_css(key)}">{counts[key]} {key.replace("_", " ")}</span>'
        for key in ("passed", "failed", "errors", "flaky", "skipped", "not_run")
        if counts.get(key)
    ]
    facts = [
        f"{float(merged.get('duration_s') or 0):.1f} s wall time",
        f"{len(merged.get('shards') or [])} shards",
        f"exit code {merged.get('exit_code')}",
    ]
    if merged.get("strategy"):
        facts.append(f"strategy {merged['strategy']}")
    if merged.get("exit_reason"):
        facts.append(f"exit reason: {merged['exit_reason']}")
    error = merged.get("error")
    problem = ""
    if isinstance(error, dict):
        problem = f'<p class="problem">{_t(str(error.get("type")))}: {_t(str(error.get("message")))}</p>'
    return (
        f'<header><h1><span class="badge {_css(outcome)}">{_t(outcome)}</span> '
        f"{' '.join(shown) or 'no tests'}</h1><p>{_t(', '.join(facts))}</p>{problem}</header>"
    )


def _cost(cost: Any) -> str:
    if not isinstance(cost, dict):
        return ""
    usd = cost.get("usd")
    price = f"${usd:.6f} estimated" if isinstance(usd, int | float) else "no price"
    facts = [
        f"{float(cost.get('gb_seconds') or 0):.3f} GB-s",
        price,
        f"{cost.get('invocations', '?')} invocations",
        f"{cost.get('region') or '?'} {cost.get('architecture') or ''}".strip(),
    ]
    if cost.get("price_per_gb_s") is not None:
        per_request = _plain(cost.get("price_per_request"))
        facts.append(f"${_plain(cost['price_per_gb_s'])} per GB-s, ${per_request} per request")
    return f'<section id="cost"><h2>Cost</h2><p>{_t("; ".join(facts))}</p></section>'


def _shards(entries: Sequence[Any]) -> str:
    head = ("shard", "tests", "counts", "wall", "attempts", "fate", "error")
    rows = []
    for e in entries:
        if not isinstance(e, dict):
            continue
        counts = e.get("counts") or {}
        text = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v) or "no result"
        fate = str(e.get("fate") or e.get("status") or "")
        error = e.get("error_type") or e.get("function_error") or e.get("error") or ""
        cells = (
            f"{int(e.get('index') or 0) + 1}/{e.get('count')}",
            str(e.get("tests", "")),
            text,
            f"{float(e.get('duration_s') or 0):.1f}s",
            str(e.get("attempts", "")),
            fate,
            str(error),
        )
        rows.append(f'<tr class="fate-{_css(fate)}">' + "".join(f"<td>{_t(c)}</td>" for c in cells) + "</tr>")
    if not rows:
        return ""
    header = "".join(f"<th>{h}</th>" for h in head)
    return f'<section id="shards"><h2>Shards</h2><table><tr>{header}</tr>{"".join(rows)}</table></section>'


def _failures(tests: Sequence[dict[str, Any]]) -> str:
    bad = [t for t in tests if t.get("outcome") in _BAD]
    if not bad:
        return '<section id="failures"><h2>Failures</h2><p>None.</p></section>'
    out = [f'<section id="failures"><h2>Failures ({len(bad)})</h2>']
    for t in bad[:MAX_FAILURES]:
        where = f" (shard {int(t['shard']) + 1})" if isinstance(t.get("shard"), int) else ""
        out.append(
            f'<details class="failure" open><summary><span class="badge {_css(t["outcome"])}">'
            f"{_t(t['outcome'])}</span> {_t(t['nodeid'])}{where} {float(t.get('duration') or 0):.2f}s"
            f'<div class="crash">{_t(crash_line(t))}</div></summary>'
            f"<pre>{_t(str(t.get('message') or ''))}</pre>{_attempts(t)}</details>"
        )
    if len(bad) > MAX_FAILURES:
        out.append(f"<p>... and {len(bad) - MAX_FAILURES} more: see the JSON and JUnit files.</p>")
    out.append("</section>")
    return "".join(out)


def _flaky(tests: Sequence[dict[str, Any]]) -> str:
    flaky = [t for t in tests if t.get("outcome") == "flaky"]
    if not flaky:
        return ""
    out = [f'<section id="flaky"><h2>Flaky ({len(flaky)})</h2>']
    for t in flaky:
        out.append(
            f'<details class="flaky" open><summary>{_t(t["nodeid"])}</summary>{_attempts(t)}</details>'
        )
    out.append("</section>")
    return "".join(out)


def _attempts(test: Mapping[str, Any]) -> str:
    attempts = [a for a in test.get("attempts") or [] if isinstance(a, dict)]
    if not attempts:
        return ""
    rows = []
    for n, a in enumerate(attempts, 1):
        shard = a.get("shard")
        where = f"shard {shard + 1}" if isinstance(shard, int) else ""
        if a.get("invocation") is not None:
            where += f", invocation {a['invocation']}"
        rows.append(
            f'<tr class="fate-{_css(str(a.get("outcome")))}"><td>{n}</td><td>{_t(str(a.get("outcome")))}</td>'
            f"<td>{float(a.get('duration') or 0):.2f}s</td><td>{_t(where)}</td>"
            f"<td><pre>{_t(str(a.get('message') or ''))}</pre></td></tr>"
        )
    return (
        '<table class="attempts"><tr><th>attempt</th><th>outcome</th><th>duration</th><th>where</th>'
        f"<th>output</th></tr>{''.join(rows)}</table>"
    )


def _not_run(tests: Sequence[dict[str, Any]]) -> str:
    lost = [t for t in tests if t.get("outcome") == "not_run"]
    if not lost:
        return ""
    rows = "".join(
        f"<tr><td>{_t(t['nodeid'])}</td><td>{_t(str(t.get('message') or 'not run'))}</td></tr>"
        for t in lost[:MAX_NOT_RUN]
    )
    more = f"<p>... and {len(lost) - MAX_NOT_RUN} more.</p>" if len(lost) > MAX_NOT_RUN else ""
    return (
        f'<section id="not-run"><h2>Not run ({len(lost)})</h2><table><tr><th>test</th><th>reason</th></tr>'
        f"{rows}</table>{more}</section>"
    )


def _slowest(tests: Sequence[dict[str, Any]]) -> str:
    ran = sorted(
        (t for t in tests if t.get("outcome") != "not_run"), key=lambda t: -float(t.get("duration") or 0)
    )[:SLOWEST]
    if not ran:
        return ""
    rows = "".join(
        f"<tr><td>{float(t.get('duration') or 0):.2f}s</td><td>{_t(t['nodeid'])}</td>"
        f"<td>{_t(str(t.get('outcome')))}</td>"
        f"<td>{int(t['shard']) + 1 if isinstance(t.get('shard'), int) else ''}</td></tr>"
        for t in ran
    )
    return (
        f'<section id="slowest"><h2>Slowest tests</h2><table><tr><th>duration</th><th>test</th>'
        f"<th>outcome</th><th>shard</th></tr>{rows}</table></section>"
    )


def _head(title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_t(title)}</title><style>{_CSS}</style></head><body><main>"
    )


def _plain(value: Any) -> str:
    """A price without an exponent: ``0.0000133334``, not ``1.33334e-05``."""
    return format(Decimal(str(value)), "f") if isinstance(value, int | float) else str(value)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _css(word: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in word.lower())


def _t(text: str) -> str:
    """Redacted, then escaped for HTML text."""
    return html.escape(redact(text), quote=False)


def _a(text: str) -> str:
    """Redacted, then escaped for an attribute value."""
    return html.escape(redact(text), quote=True)


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
main{max-width:1200px;margin:0 auto;padding:16px 24px}
h1{font-size:20px;margin:8px 0}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d0d7de}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;background:#57606a;font-size:13px}
.badge.passed{background:#1a7f37}.badge.failed,.badge.error{background:#cf222e}
.badge.timeout{background:#bc4c00}.badge.flaky{background:#9a6700}
.count{margin-right:10px;font-weight:600}.count.passed{color:#1a7f37}.count.failed,.count.errors{color:#cf222e}
.count.flaky{color:#9a6700}.count.not-run{color:#57606a}.problem{color:#cf222e}
.row{display:flex;align-items:center;height:22px}
.label{width:270px;flex:none;font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.num{width:56px;flex:none;text-align:right;font-size:12px;color:#57606a}
.track{position:relative;flex:1;height:16px;background:#f6f8fa;border-radius:3px}
.bar{position:absolute;top:0;height:12px;display:flex;border-radius:3px;overflow:hidden;background:#8c959f}
.seg{display:block;height:100%}
.fate-passed .run,.bar.fate-passed{background:#2da44e}.fate-passed .init{background:#116329}
.fate-tests-failed .run,.bar.fate-tests-failed,.fate-failed .run,.bar.fate-failed{background:#e5534b}
.fate-tests-failed .init,.fate-failed .init{background:#a40e26}
.fate-infrastructure .run,.bar.fate-infrastructure,.fate-lost .run,
.fate-function-error .run{background:#8250df}
.fate-collection-error .run,.fate-error .run,.fate-timeout .run{background:#d4a72c}
.seg.init{background:#24292f}.seg.wait{background:#afb8c1}
.bar .seg.init{opacity:.85}.bar .seg.wait{background:#afb8c1}
.billed{position:absolute;top:13px;height:3px;background:#0969da}
.straggler{outline:2px solid #bc4c00;outline-offset:1px}.mark{color:#bc4c00;font-weight:600}
.axis .track{background:none;height:18px}.tick{position:absolute;font-size:11px;color:#57606a;
transform:translateX(-50%);border-left:1px solid #d0d7de;padding-left:2px}
.legend{font-size:12px;color:#57606a}.swatch{display:inline-block;width:12px;height:10px;margin:0 2px 0 8px;
vertical-align:middle}.sw-init{background:#24292f}.sw-run{background:#2da44e}
.sw-wait{background:#afb8c1}.sw-billed{background:#0969da;height:3px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:3px 8px;
border-bottom:1px solid #eaeef2;vertical-align:top}tr.fate-tests-failed td:first-child,
tr.fate-failed td:first-child{border-left:3px solid #cf222e}
tr.fate-infrastructure td:first-child{border-left:3px solid #8250df}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:360px;font-size:12px;margin:4px 0;
white-space:pre-wrap}
.crash{color:#cf222e;margin:2px 0 0 18px}
details{margin:6px 0}summary{cursor:pointer;font-family:ui-monospace,monospace;font-size:13px}
"""
