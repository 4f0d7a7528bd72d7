"""Bad ``dualmode package/emulate/invoke`` arguments: exit code 2 and one message naming the argument, the
value and the fix; no traceback."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from rel_support import assert_no_traceback

from pytest_dualmode.cli import main

pytestmark = pytest.mark.reliability

# (id, arguments, what stderr must contain)
CASES: list[tuple[str, str, list[str]]] = [
    ("invoke-shards-zero", "invoke --shards 0", ["argument --shards: '0' is not a shard count", "'auto'"]),
    ("invoke-shards-word", "invoke --shards many", ["argument --shards: 'many' is not a shard count"]),
    ("invoke-concurrency", "invoke --max-concurrency -3", ["argument --max-concurrency: '-3'", "e.g."]),
    ("invoke-timeout-zero", "invoke --timeout 0", ["argument --timeout: '0' is not a number of seconds"]),
    ("invoke-timeout-inf", "invoke --timeout inf", ["argument --timeout: 'inf' is not a number of seconds"]),
    ("invoke-env-no-equals", "invoke --env NOEQUALS", ["argument --env: 'NOEQUALS' is not K=V"]),
    ("invoke-log-tail", "invoke --log-tail some", ["argument --log-tail: invalid choice: 'some'"]),
    ("invoke-no-target", "invoke", ["--function-name is required", "--emulate ZIP"]),
    ("invoke-emulate-missing", "invoke --emulate missing.zip", ["--emulate missing.zip: no such file"]),
    (
        "invoke-emulate-not-zip",
        "invoke --emulate notzip.zip",
        ["notzip.zip: not a zip file", "dualmode package"],
    ),
    (
        "invoke-timeout-over-900",
        "invoke --emulate ok.zip --timeout 901",
        ["--timeout 901: Lambda allows at most 900"],
    ),
    (
        "invoke-junit-folder",
        "invoke --function-name f --junitxml nodir/x.xml",
        ["--junitxml nodir/x.xml: folder"],
    ),
    (
        "invoke-durations-missing",
        "invoke --function-name f --durations-from missing.json",
        ["--durations-from"],
    ),
    (
        "invoke-durations-garbage",
        "invoke --function-name f --durations-from bad.json",
        ["bad.json", "not JSON"],
    ),
    ("emulate-missing", "emulate missing.zip", ["missing.zip: no such file", "dualmode package -o"]),
    ("emulate-not-zip", "emulate notzip.zip", ["notzip.zip: not a zip file"]),
    (
        "emulate-event-json",
        "emulate ok.zip --event {bad",
        ["argument --event: --event is not valid JSON", "e.g."],
    ),
    (
        "emulate-event-file",
        "emulate ok.zip --event @missing.json",
        ["argument --event: cannot read missing.json"],
    ),
    ("emulate-timeout", "emulate ok.zip --timeout 0", ["argument --timeout: 0 s: Lambda allows 1 to 900"]),
    ("emulate-memory", "emulate ok.zip --memory 64", ["--memory 64: Lambda allows 128 to 10240 MB"]),
    ("emulate-memory-word", "emulate ok.zip --memory lots", ["argument --memory: invalid int value: 'lots'"]),
    ("emulate-env-name", "emulate ok.zip --env 1BAD=x", ["--env '1BAD': expected NAME=VALUE"]),
    ("package-python", "package --python 2.7 -o x.zip --tests t", ["argument --python: '2.7'", "3.11"]),
    ("package-arch", "package --arch sparc -o x.zip --tests t", ["argument --arch: 'sparc'", "arm64"]),
    ("package-no-tests", "package -o x.zip", ["the following arguments are required: --tests"]),
    (
        "package-tests-missing",
        "package -o x.zip --tests missing_dir",
        ["--tests 'missing_dir': no such file"],
    ),
    (
        "package-output-folder",
        "package -o nodir/x.zip --tests .",
        ["-o nodir/x.zip: the folder nodir does not"],
    ),
    ("unknown-command", "deploy", ["argument COMMAND: invalid choice: 'deploy'"]),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a valid tiny package, a file that is not a zip, and a file that is not JSON."""
    (tmp_path / "notzip.zip").write_text("not a zip")
    (tmp_path / "bad.json").write_text("{garbage")
    manifest = {
        "schema": "pytest-dualmode.package/1",
        "handler": "probe.handler",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "arch": "x86_64",
    }
    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as zf:
        zf.writestr("probe.py", "def handler(event, context):\n    return {}\n")
        zf.writestr("dualmode-package.json", json.dumps(manifest))
    monkeypatch.chdir(tmp_path)
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_argument_exits_2_naming_it(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    figures: Any,
    request: pytest.FixtureRequest,
    argv: str,
    expected: list[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv.split(" "))
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    last = err.strip().splitlines()[-1]
    assert last.startswith("dualmode")
    for part in expected:
        assert part in last
    assert_no_traceback(out + err)
    assert not (workdir / "x.zip").exists()
    figures.add("bad_input", request.node.callspec.id, area="dualmode command line")
