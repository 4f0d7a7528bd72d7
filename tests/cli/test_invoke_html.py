"""``dualmode invoke --html``: the self-contained report, its content, and how Chromium renders it.

The browser tests run Debian's headless Chromium (installed by .ci/run): a screenshot is kept in the
test's tmp_path, the timeline's bars are counted in the DOM Chromium serialises, and the screenshot's
pixels must show the bars' colours. In CI (``CI`` set) a missing Chromium fails them; elsewhere it skips.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from invoke_results import SECRET, full_result, plain_result

from pytest_dualmode.cli.invoke import html_report


class Elements(HTMLParser):
    """Start tags with their attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    return elements


def bars(elements: Elements) -> list[dict[str, str]]:
    return [a for tag, a in elements.tags if tag == "div" and "bar" in a.get("class", "").split()]


def test_the_timeline_has_one_bar_per_invocation_with_its_figures_and_the_straggler_marked():
    page = html_report.render(full_result())
    found = bars(parse(page))
    assert [b["data-shard"] for b in found] == ["0", "1", "2", "2", "3"]  # shard 3 was re-run
    straggler = [b for b in found if "straggler" in b["class"].split()]
    assert [b["data-shard"] for b in straggler] == ["3"]
    assert "fate-infrastructure" in found[2]["class"] and "Runtime.OutOfMemory" in found[2]["title"]
    assert "init 420 ms" in found[0]["title"] and "billed 1951 ms" in found[0]["title"]
    assert 'class="seg init"' in page and 'class="billed"' in page
    assert "shard 3/4 #2 re-run" in page and "last to finish" in page


def test_failures_flaky_attempts_not_run_slowest_and_cost_are_shown_redacted():
    page = html_report.render(full_result())
    text = "".join(parse(page).text)
    assert SECRET not in page and "0123456789abcdef0123456789abcdef" not in page
    assert "[REDACTED]" in text and "assert 500 == 204" in text
    assert "Failures (2)" in text and "100% wrong: a,b" in text
    assert "Flaky (1)" in text and "TimeoutError: first try <timed out>" in text  # escaped, then shown
    assert "&lt;timed out&gt;" in page
    assert "Not run (1)" in text and "deadline: not started" in text
    assert text.index("test_slow_scan") < text.index("test_create", text.index("Slowest tests"))
    assert "17.300 GB-s" in text and "$0.000231 estimated" in text and "$0.0000133334 per GB-s" in text
    assert "exit reason: tests failed" in text


def test_the_page_loads_nothing_from_anywhere():
    page = html_report.render(full_result())
    elements = parse(page)
    assert not [t for t, a in elements.tags if "src" in a or ("href" in a and not a["href"].startswith("#"))]
    assert not [t for t, _ in elements.tags if t in ("script", "link", "img", "iframe", "object")]
    assert "url(" not in page and "@import" not in page


def test_a_result_without_the_optional_fields_still_gets_a_bar_per_shard():
    result = plain_result()
    timings = {0: (0.5, 2.6), 1: (0.5, 2.1), 2: (0.6, 4.3)}  # shard 3's start was not measured
    page = html_report.render(result, timings=timings)
    found = bars(parse(page))
    assert [b["data-shard"] for b in found] == ["0", "1", "2", "3"]
    assert [(b["data-start"], b["data-end"]) for b in found][:3] == [
        ("0.500", "2.600"),
        ("0.500", "2.100"),
        ("0.600", "4.300"),
    ]
    assert found[3]["data-start"] == "0.000" and "fate-failed" in found[3]["class"]
    assert "Flaky" not in page and "Cost" not in page


def test_an_empty_run_renders():
    page = html_report.render({"outcome": "error", "exit_code": 5, "counts": {}, "tests": [], "shards": []})
    assert "No invocation ran" in page and "Failures" in page and page.rstrip().endswith("</html>")


# -- in a real browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; in CI its absence is a failure, elsewhere a skip."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def run_chromium(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def png_pixels(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    """Width, height and the set of colours of an 8-bit RGB(A) PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6) and header[12] == 0  # 8-bit RGB/RGBA, not interlaced
    channels = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    previous, colours = bytearray(stride), set()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(tuple(line[x : x + 3]) for x in range(0, stride, channels))
        previous = line
    return width, height, colours


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_chromium_renders_one_bar_per_shard_and_the_screenshot_shows_them(chromium, tmp_path):
    result = plain_result()
    timings = {0: (0.5, 2.6), 1: (0.5, 2.1), 2: (0.6, 4.3), 3: (0.6, 11.0)}
    report = tmp_path / "report.html"
    report.write_text(html_report.render(result, timings=timings), encoding="utf-8")

    dom = run_chromium(chromium, tmp_path, "--dump-dom", report.as_uri()).stdout
    (tmp_path / "dom.html").write_text(dom, encoding="utf-8")
    timeline = dom[dom.index('<section id="timeline">') : dom.index("</section>", dom.index('id="timeline"'))]
    found = bars(parse(timeline))
    assert sorted(b["data-shard"] for b in found) == [str(s["index"]) for s in result["shards"]]
    assert len(re.findall(r'<section id="(?:timeline|shards|failures|not-run|slowest)"', dom)) == 5

    shot = tmp_path / "report.png"  # kept with the test's artifacts
    run_chromium(chromium, tmp_path, "--window-size=1280,900", f"--screenshot={shot}", report.as_uri())
    width, height, colours = png_pixels(shot)
    assert (width, height) == (1280, 900)
    assert rgb("#2da44e") in colours  # the passed shard's bar
    assert rgb("#e5534b") in colours  # the failed shards' bars
    assert rgb("#cf222e") in colours  # the failed badge


def test_chromium_renders_the_full_report(chromium, tmp_path):
    report = tmp_path / "full.html"
    report.write_text(html_report.render(full_result()), encoding="utf-8")
    dom = run_chromium(chromium, tmp_path, "--dump-dom", report.as_uri()).stdout
    assert len(bars(parse(dom))) == 5 and 'id="flaky"' in dom and 'id="cost"' in dom
    shot = tmp_path / "full.png"
    run_chromium(chromium, tmp_path, "--window-size=1280,1400", f"--screenshot={shot}", report.as_uri())
    _, _, colours = png_pixels(shot)
    assert rgb("#8250df") in colours  # the infrastructure failure's bar
    assert rgb("#0969da") in colours  # the billed-duration lines
