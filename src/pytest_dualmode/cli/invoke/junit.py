"""One JUnit XML file from the shards' reports, with exactly the merged result's tests.

Each merged test record takes its ``<testcase>`` from the XML of the shard its record came from (with
pytest's full failure text, captured output and properties); a test that shard's XML lacks (no result,
XML dropped from a truncated result, a test that did not run) gets a ``<testcase>`` built from the record.
A ``not_run`` test is written as skipped, with a message starting ``not run:``.

A re-run test (``attempts``) is written as Maven Surefire writes re-runs, which GitLab, Jenkins and most
JUnit readers accept: a flaky test is the passing attempt's ``<testcase>`` with one ``<flakyFailure>``
(or ``<flakyError>``) per failed attempt; a test that failed every attempt is the first attempt's
``<testcase>`` (with its ``<failure>``) and one ``<rerunFailure>`` (or ``<rerunError>``) per re-run.
Each of those holds ``message`` and ``type`` attributes, a ``<stackTrace>`` and the attempt's
``<system-out>`` / ``<system-err>``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import socket
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pytest_dualmode.aws_lambda.junit import NOT_RUN_TYPE, junit_address

ENCODING = "gzip+base64"
__all__ = ["NOT_RUN_TYPE", "decode", "encode", "junit_address", "merged_xml", "testcases"]


def decode(blob: Any) -> str | None:
    """The XML text of a result's ``junit_xml`` object, or None when absent or undecodable."""
    if (
        not isinstance(blob, dict)
        or blob.get("encoding") != ENCODING
        or not isinstance(blob.get("data"), str)
    ):
        return None
    try:
        return gzip.decompress(base64.b64decode(blob["data"])).decode("utf-8", errors="replace")
    except (binascii.Error, OSError, EOFError, zlib.error, ValueError):
        return None


def encode(xml: str) -> dict[str, str]:
    """``{"encoding": "gzip+base64", "data": ...}`` for ``xml``; mtime 0 keeps it reproducible."""
    data = gzip.compress(xml.encode("utf-8"), mtime=0)
    return {"encoding": ENCODING, "data": base64.b64encode(data).decode("ascii")}


def testcases(xml: str | None) -> dict[tuple[str, str], ET.Element]:
    """The ``<testcase>`` elements of a shard's report by (classname, name); the first wins."""
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)  # noqa: S314 - our own function's report, parsed by expat (entity-safe)
    except ET.ParseError:
        return {}
    found: dict[tuple[str, str], ET.Element] = {}
    for case in root.iter("testcase"):
        found.setdefault((case.get("classname", ""), case.get("name", "")), case)
    return found


def merged_xml(
    tests: Iterable[dict[str, Any]],
    shard_xml: dict[int, str | None],
    *,
    duration_s: float,
    attempt_xml: dict[tuple[int, int], str | None] | None = None,
) -> str:
    """The merged report: one ``<testsuite>`` holding every merged test once, in the merged order.

    ``attempt_xml`` holds the reports of re-run invocations by (shard, invocation index), for the
    ``attempts`` of re-run tests.
    """
    cases = {index: testcases(xml) for index, xml in shard_xml.items()}
    rerun_cases = {key: testcases(xml) for key, xml in (attempt_xml or {}).items()}
    suite = ET.Element("testsuite", name="dualmode-invoke")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for record in tests:
        classname, name = junit_address(record["nodeid"])
        outcome = record["outcome"]
        case = None if outcome == "not_run" else cases.get(record.get("shard", -1), {}).get((classname, name))
        if record.get("attempts"):
            case = _with_attempts(record, case, rerun_cases, classname, name)
        suite.append(case if case is not None else _build_case(record, classname, name))
        totals["tests"] += 1
        key = {"failed": "failures", "error": "errors", "skipped": "skipped", "not_run": "skipped"}.get(
            outcome
        )
        if key:
            totals[key] += 1
    for key, value in totals.items():
        suite.set(key, str(value))
    suite.set("time", f"{duration_s:.3f}")
    suite.set("timestamp", datetime.now(UTC).isoformat(timespec="seconds"))
    suite.set("hostname", socket.gethostname())
    root = ET.Element("testsuites", name="dualmode invoke")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _build_case(record: dict[str, Any], classname: str, name: str) -> ET.Element:
    case = ET.Element("testcase", classname=classname, name=name)
    case.set("time", f"{float(record.get('duration') or 0.0):.3f}")
    message = str(record.get("message") or "")
    first = message.splitlines()[0] if message else ""
    outcome = record["outcome"]
    if outcome == "failed":
        ET.SubElement(case, "failure", message=first).text = message
    elif outcome == "error":
        ET.SubElement(case, "error", message=first).text = message
    elif outcome == "skipped":
        ET.SubElement(case, "skipped", type="pytest.skip", message=first).text = message
    elif outcome == "not_run":
        ET.SubElement(case, "skipped", type=NOT_RUN_TYPE, message=f"not run: {first}")
    return case


def rerun_reports(shards: Iterable[Any]) -> dict[tuple[int, int], str | None]:
    """The re-runs' reports by (shard index, invocation index), as attempts refer to them."""
    reports: dict[tuple[int, int], str | None] = {}
    for shard in shards:
        position = len(shard.invocations) - 1
        for again in shard.reruns:
            position += len(again.invocations)
            if again.outcome and again.outcome.result:
                reports[(shard.index, position)] = decode(again.outcome.result.get("junit_xml"))
    return reports


def _with_attempts(
    record: dict[str, Any],
    first: ET.Element | None,
    rerun_cases: dict[tuple[int, int], dict[tuple[str, str], ET.Element]],
    classname: str,
    name: str,
) -> ET.Element:
    """The ``<testcase>`` of a re-run test, in Surefire's shape (see the module doc)."""
    attempts = record["attempts"]

    def case_of(n: int) -> ET.Element | None:
        if n == 0:
            return first
        key = (attempts[n].get("shard"), attempts[n].get("invocation"))
        return rerun_cases.get(key, {}).get((classname, name))

    if record["outcome"] == "flaky":
        passing = next(n for n in range(1, len(attempts)) if attempts[n]["outcome"] == "passed")
        case = case_of(passing)
        case = _copy(case) if case is not None else _build_case({**attempts[passing]}, classname, name)
        kinds = {"failed": "flakyFailure", "error": "flakyError"}
        failed = [n for n in range(passing) if attempts[n]["outcome"] in kinds]
    else:
        case = _copy(first) if first is not None else _build_case(record, classname, name)
        kinds = {"failed": "rerunFailure", "error": "rerunError"}
        failed = [n for n in range(1, len(attempts)) if attempts[n]["outcome"] in kinds]
    for n in failed:
        case.append(_rerun_element(kinds[attempts[n]["outcome"]], attempts[n], case_of(n)))
    return case


def _copy(case: ET.Element) -> ET.Element:
    return ET.fromstring(ET.tostring(case))  # noqa: S314 - our own element, serialised just now


def _rerun_element(tag: str, attempt: dict[str, Any], case: ET.Element | None) -> ET.Element:
    """``<flakyFailure message type><stackTrace/><system-out/></flakyFailure>`` (and its kin)."""
    message = str(attempt.get("message") or "")
    problem = None
    if case is not None:
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
    element = ET.Element(tag)
    first = message.split("\n", maxsplit=1)[0]
    element.set("message", problem.get("message", "") if problem is not None else first)
    said = problem.get("message", "") if problem is not None else first
    kind = problem.get("type", "") if problem is not None else ""
    if not kind and said.partition(":")[0].replace(".", "").isidentifier():  # "AssertionError: ..."
        kind = said.partition(":")[0]
    element.set("type", kind)
    trace = problem.text if problem is not None and problem.text else message
    ET.SubElement(element, "stackTrace").text = trace
    for stream in ("system-out", "system-err"):
        found = case.find(stream) if case is not None else None
        if found is not None and found.text:
            ET.SubElement(element, stream).text = found.text
    return element
