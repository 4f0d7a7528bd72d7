"""The run's JUnit XML: the suites' reports merged into one document, with ``not_run`` tests added as
skipped (``type="pytest-dualmode.not_run"``, message ``not run: ...``) so that CI shows every collected test,
then compressed for the result."""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Callable, Sequence
from typing import Any

NOT_RUN_TYPE = "pytest-dualmode.not_run"  # the type dualmode invoke writes too


def junit_address(nodeid: str) -> tuple[str, str]:
    """(classname, name) that pytest's junitxml plugin writes for ``nodeid`` (its ``mangle_test_address``)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def merge(reports: Sequence[bytes], not_run: Sequence[dict[str, str]]) -> bytes | None:
    """One XML document from the suites' reports (in order), with the not_run tests as skipped testcases."""
    if len(reports) == 1 and not not_run:
        return reports[0]  # pytest's own document, as it is
    import xml.etree.ElementTree as ET  # only when there is a report to write

    root: Any = None
    for data in reports:
        try:
            doc = ET.fromstring(data)  # noqa: S314 - pytest's own output, written moments ago
        except ET.ParseError:
            continue
        suites = [doc] if doc.tag == "testsuite" else list(doc.iter("testsuite"))
        if root is None:
            root = ET.Element("testsuites", {"name": "pytest tests"})
        root.extend(suites)
    if root is None:
        if not not_run:
            return None
        root = ET.Element("testsuites", {"name": "pytest tests"})
    if not_run:
        _add_not_run(root, not_run)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _add_not_run(root: Any, not_run: Sequence[dict[str, str]]) -> None:
    """Each not_run test as one skipped testcase: pytest's own (a test the deadline interrupted has one, as a
    failure) is turned into it, the others are added to the first suite."""
    import xml.etree.ElementTree as ET

    wanted = {junit_address(e["nodeid"]): e for e in not_run}
    for suite in root.iter("testsuite"):
        for case in suite.findall("testcase"):
            entry = wanted.pop((case.get("classname", ""), case.get("name", "")), None)
            if entry is None:
                continue
            for child in list(case):
                if child.tag in ("failure", "error", "skipped"):
                    key = {"failure": "failures", "error": "errors", "skipped": "skipped"}[child.tag]
                    suite.set(key, str(max(0, int(suite.get(key, "0")) - 1)))
                    case.remove(child)
            case.append(_skipped(entry))
            suite.set("skipped", str(int(suite.get("skipped", "0")) + 1))
    if not wanted:
        return
    suite = root.find("testsuite")
    if suite is None:
        suite = ET.SubElement(root, "testsuite", {"name": "pytest", "tests": "0", "skipped": "0"})
    for (classname, name), entry in wanted.items():
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": name, "time": "0.000"})
        case.append(_skipped(entry))
    for attr in ("tests", "skipped"):
        suite.set(attr, str(int(suite.get(attr, "0")) + len(wanted)))


def _skipped(entry: dict[str, str]) -> Any:
    import xml.etree.ElementTree as ET

    reason = entry["reason"] if entry["reason"].startswith("not run") else f"not run: {entry['reason']}"
    return ET.Element("skipped", {"type": NOT_RUN_TYPE, "message": reason})


def encode(xml: bytes | None, redact: Callable[[str], str]) -> dict[str, str] | None:
    """``{"encoding": "gzip+base64", "data": ...}`` of the redacted XML (None when there is none)."""
    if xml is None:
        return None
    text = redact(xml.decode("utf-8", errors="replace"))
    data = gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)
    return {"encoding": "gzip+base64", "data": base64.b64encode(data).decode("ascii")}


def decode(field: dict[str, str] | None) -> str | None:
    """The XML text of a result's ``junit_xml`` field (for callers and tests)."""
    if not field:
        return None
    if field.get("encoding") != "gzip+base64":
        raise ValueError(f"unknown junit_xml encoding {field.get('encoding')!r}; expected 'gzip+base64'")
    return gzip.decompress(base64.b64decode(field["data"])).decode("utf-8")
