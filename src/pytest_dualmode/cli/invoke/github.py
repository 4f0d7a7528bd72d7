"""GitHub Actions: ``::error`` annotations for failures and a Markdown job summary (``$GITHUB_STEP_SUMMARY``).

Both happen only when ``GITHUB_ACTIONS=true`` (GitHub sets it in every step). An annotation names the
test's file and the line of the last traceback entry in that file, parsed from the failure text
(pytest's ``path:line: Exception`` lines). The node id's path is relative to the package's rootdir, which
need not be the repository's root (``dualmode package --tests tests`` makes ``tests/`` the root), so it
is looked up under the workspace (``$GITHUB_WORKSPACE``, else the working directory): a file there, or
the one file whose path ends with it, gives the repository-relative path GitHub attaches the annotation
to. GitHub shows at most 10 error annotations per step, so at most ``MAX_ANNOTATIONS - 1`` tests get
their own and one more says how many are left; tests that did not run get one annotation with the count
and the first reason; flaky tests get warnings.

Escaping follows GitHub's workflow command rules: in the message ``%``, ``\\r`` and ``\\n`` become ``%25``,
``%0D`` and ``%0A``; in property values ``:`` and ``,`` also become ``%3A`` and ``%2C``. All text is
redacted first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from pytest_dualmode.cli.invoke.report import crash_line
from pytest_dualmode.redaction import redact_local as redact

MAX_ANNOTATIONS = 10  # GitHub keeps 10 error (and 10 warning) annotations per step
MAX_MESSAGE = 4000  # characters of failure text per annotation
MAX_SUMMARY_FAILURES = 30
MAX_SUMMARY_BYTES = 900_000  # GitHub refuses a step summary over 1 MiB
_SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "venv", "build", "dist"}
_LOCATION = re.compile(r"^(?P<path>[^\s:][^:\n]*?):(?P<line>\d+):", re.MULTILINE)


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as :func:`escape_data`, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def location(record: Mapping[str, Any]) -> tuple[str, int | None]:
    """The test's file (from its node id) and the line of the last traceback entry in that file, if any."""
    nodeid = str(record.get("nodeid") or "")
    path = nodeid.split("::", 1)[0]
    line = None
    for match in _LOCATION.finditer(str(record.get("message") or "")):
        where = match.group("path").replace("\\", "/")
        # the function may report absolute paths (/var/task/tests/test_x.py): match on the node id's path
        if path and (where == path or where.endswith("/" + path)):
            line = int(match.group("line"))
    return path, line


def repository_path(path: str, root: Path | None, *, max_dirs: int = 5000) -> str:
    """``path`` as GitHub wants it, relative to ``root``: itself when it exists there, else the one file
    under ``root`` whose path ends with it (hidden folders, virtualenvs and caches skipped); else unchanged.
    """
    if root is None or not path or Path(path).is_absolute():
        return path
    if (root / path).is_file():
        return path
    found: list[str] = []
    for seen, (folder, dirs, files) in enumerate(os.walk(root)):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        if seen >= max_dirs or len(found) > 1:
            break
        here = Path(folder)
        if Path(path).name in files:
            rel = (here / Path(path).name).relative_to(root).as_posix()
            if rel.endswith("/" + path):
                found.append(rel)
    return found[0] if len(found) == 1 else path


def commands(merged: Mapping[str, Any], *, root: Path | None = None) -> list[str]:
    """The ``::error`` / ``::warning`` lines for ``merged``: failures, then not-run tests, then flaky ones.

    ``root``: the checkout, where the tests' files are looked up (:func:`repository_path`).
    """
    resolved: dict[str, str] = {}

    def where(record: Mapping[str, Any]) -> tuple[str, int | None]:
        path, line = location(record)
        if path not in resolved:
            resolved[path] = repository_path(path, root)
        return resolved[path], line

    tests = [t for t in merged.get("tests") or [] if isinstance(t, dict)]
    bad = [t for t in tests if t.get("outcome") in ("failed", "error")]
    lost = [t for t in tests if t.get("outcome") == "not_run"]
    budget = MAX_ANNOTATIONS - (1 if lost else 0)
    lines = []
    shown = bad if len(bad) <= budget else bad[: budget - 1]
    for record in shown:
        path, line = where(record)
        props = {"file": path, "line": str(line) if line else None, "title": _title(record)}
        lines.append(_command("error", props, _message(record)))
    if len(shown) < len(bad):
        rest = len(bad) - len(shown)
        message = f"{rest} more failed tests; the job summary and the --junitxml / --json files list them all"
        lines.append(_command("error", {"title": "dualmode invoke"}, message))
    if lost:
        reason = str(lost[0].get("message") or "not run")
        message = f"{len(lost)} tests did not run; the first, {lost[0]['nodeid']}: {reason}"
        lines.append(_command("error", {"title": "dualmode invoke: tests not run"}, message))
    for record in [t for t in tests if t.get("outcome") == "flaky"][:MAX_ANNOTATIONS]:
        path, line = where(record)
        tries = len(record.get("attempts") or []) or "several"
        props = {"file": path, "line": str(line) if line else None, "title": f"flaky: {record['nodeid']}"}
        lines.append(_command("warning", props, f"failed, then passed ({tries} attempts)"))
    return lines


def step_summary(merged: Mapping[str, Any], *, html_name: str | None = None) -> str:
    """The Markdown job summary: verdict, counts, shards, failures (with output), flaky, not run, cost."""
    counts = merged.get("counts") or {}
    shown = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v) or "no tests"
    how = f" ({merged['strategy']})" if merged.get("strategy") else ""
    out = [
        f"## dualmode invoke: {merged.get('outcome')}, exit code {merged.get('exit_code')}",
        "",
        f"{_md(shown)} in {float(merged.get('duration_s') or 0):.1f} s over "
        f"{len(merged.get('shards') or [])} shards{how}",
    ]
    if merged.get("exit_reason"):
        out.append(f"\nExit reason: {_md(str(merged['exit_reason']))}")
    error = merged.get("error")
    if isinstance(error, dict):
        out.append(f"\n**{_md(str(error.get('type')))}**: {_md(redact(str(error.get('message'))))}")
    cost = merged.get("cost")
    if isinstance(cost, dict) and isinstance(cost.get("usd"), int | float):
        out.append(
            f"\nCost: {float(cost.get('gb_seconds') or 0):.3f} GB-s, about ${cost['usd']:.6f} "
            f"({cost.get('region')}, {cost.get('architecture')})"
        )
    if html_name:
        out.append(f"\nThe HTML report with the timeline: `{html_name}` (keep it as an artifact).")
    out += ["", "| shard | tests | counts | wall | attempts | fate |", "|---|---|---|---|---|---|"]
    for e in merged.get("shards") or []:
        if isinstance(e, dict):
            text = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in (e.get("counts") or {}).items() if v)
            fate = e.get("fate") or e.get("status") or ""
            if e.get("error_type"):
                fate = f"{fate} ({e['error_type']})"
            out.append(
                f"| {int(e.get('index') or 0) + 1}/{e.get('count')} | {e.get('tests')} | "
                f"{_md(text) or '-'} | {float(e.get('duration_s') or 0):.1f}s | {e.get('attempts')} | "
                f"{_md(str(fate))} |"
            )
    tests = [t for t in merged.get("tests") or [] if isinstance(t, dict)]
    out += _failures_md(tests)
    flaky = [t for t in tests if t.get("outcome") == "flaky"]
    if flaky:
        out += ["", f"### Flaky ({len(flaky)})", ""]
        out += [f"- `{_code(t['nodeid'])}`: {len(t.get('attempts') or [])} attempts" for t in flaky]
    lost = [t for t in tests if t.get("outcome") == "not_run"]
    if lost:
        out += ["", f"### Not run ({len(lost)})", ""]
        out += [f"- `{_code(t['nodeid'])}`: {_md(redact(str(t.get('message'))))}" for t in lost[:50]]
        if len(lost) > 50:
            out.append(f"- ... and {len(lost) - 50} more")
    text = "\n".join(out) + "\n"
    if len(text.encode("utf-8")) > MAX_SUMMARY_BYTES:
        text = text.encode("utf-8")[:MAX_SUMMARY_BYTES].decode("utf-8", "ignore") + "\n\n(cut)\n"
    return text


def report(
    merged: Mapping[str, Any],
    environ: Mapping[str, str],
    out: TextIO,
    warn: TextIO,
    *,
    html_name: str | None = None,
) -> None:
    """With ``GITHUB_ACTIONS=true``: print the annotations to ``out``, append the summary to the file.

    A step summary that cannot be written is a warning on ``warn``, never a failed run.
    """
    if environ.get("GITHUB_ACTIONS") != "true":
        return
    root = Path(environ.get("GITHUB_WORKSPACE") or Path.cwd())
    for line in commands(merged, root=root):
        print(line, file=out)
    out.flush()
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with Path(target).open("a", encoding="utf-8") as summary:
            summary.write(step_summary(merged, html_name=html_name))
    except OSError as exc:
        print(f"dualmode invoke: warning: cannot append to GITHUB_STEP_SUMMARY {target}: {exc}", file=warn)


def _failures_md(tests: Sequence[dict[str, Any]]) -> list[str]:
    bad = [t for t in tests if t.get("outcome") in ("failed", "error")]
    if not bad:
        return []
    out = ["", f"### Failures ({len(bad)})", ""]
    for t in bad[:MAX_SUMMARY_FAILURES]:
        text = redact(str(t.get("message") or ""))[-MAX_MESSAGE:]
        fence = "`" * max(3, _longest_backticks(text) + 1)  # a fence the text cannot close
        out += [
            f"<details><summary>{t['outcome']}: <code>{_html(t['nodeid'])}</code>: "
            f"{_html(redact(crash_line(t))[:200])}</summary>",
            "",
            f"{fence}text",
            text,
            fence,
            "",
            "</details>",
        ]
    if len(bad) > MAX_SUMMARY_FAILURES:
        out.append(f"\n... and {len(bad) - MAX_SUMMARY_FAILURES} more in the --junitxml / --json files")
    return out


def _command(kind: str, props: Mapping[str, str | None], message: str) -> str:
    given = ",".join(f"{k}={escape_property(v)}" for k, v in props.items() if v)
    return f"::{kind} {given}::{escape_data(message)}" if given else f"::{kind}::{escape_data(message)}"


def _title(record: Mapping[str, Any]) -> str:
    return redact(f"{record.get('outcome')}: {record.get('nodeid')}")[:200]


def _message(record: Mapping[str, Any]) -> str:
    text = redact(str(record.get("message") or record.get("outcome") or "")).strip()
    crash = crash_line(record) if record.get("outcome") in ("failed", "error") else ""
    if len(text) > MAX_MESSAGE:  # the end of a traceback says what failed
        text = "...\n" + text[-MAX_MESSAGE:]
    if crash:  # GitHub shows the first line of an annotation first
        text = f"{redact(crash)}\n\n{text}"
    return text or "failed"


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _md(text: str) -> str:
    """Text in a Markdown table cell or line: pipes and HTML-significant characters escaped."""
    return _html(text).replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
