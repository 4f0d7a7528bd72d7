"""One JUnit XML file from the shards' reports, with exactly the merged result's tests.

Each merged test record takes its ``<testcase>`` from the XML of the shard its record came from (with
pytest's full failure text, captured output and properties); a test that shard's XML lacks (no result,
XML dropped from a truncated result, a test that did not run) gets a ``<testcase>`` built from the record.
A ``not_run`` test is written as skipped, with a message starting ``not run:``.
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
    tests: Iterable[dict[str, Any]], shard_xml: dict[int, str | None], *, duration_s: float
) -> str:
    """The merged report: one ``<testsuite>`` holding every merged test once, in the merged order."""
    cases = {index: testcases(xml) for index, xml in shard_xml.items()}
    suite = ET.Element("testsuite", name="dualmode-invoke")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for record in tests:
        classname, name = junit_address(record["nodeid"])
        outcome = record["outcome"]
        case = None if outcome == "not_run" else cases.get(record.get("shard", -1), {}).get((classname, name))
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
