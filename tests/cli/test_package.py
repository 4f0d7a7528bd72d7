"""``dualmode package``: its parts without a full build (config rewrite, import following, zip writing)
and its errors. The full builds of the example suite are in test_package_emulate.py."""

from __future__ import annotations

import os
import stat
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_dualmode.cli import CliError, main
from pytest_dualmode.cli.package import PackageOptions, archive, build_package, importscan, testtree, wheels

LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small project: pyproject with pytest settings, a src/ package, and tests with conftest files."""
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "demo"\nversion = "1"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n'
        'testpaths = ["tests"]\naddopts = "-p pytester -p no:randomly -p xdist -n 2 --strict-markers"\n'
        'markers = ["slow: slow tests"]\nrequired_plugins = ["pytest-xdist>=3", "pytest-dualmode>=0.1"]\n',
    )
    write(tmp_path / "src/demo/__init__.py", "from demo.core import add\n")
    write(
        tmp_path / "src/demo/core.py",
        "import json\nimport typing\nfrom . import helpers\nif typing.TYPE_CHECKING:\n    import numpy\n\n"
        "def add(a, b):\n    import yaml  # only when called: not followed\n    return a + b\n",
    )
    write(tmp_path / "src/demo/helpers.py", "import requests\n")
    write(tmp_path / "src/demo/data/table.json", "{}")
    write(tmp_path / "conftest.py", "")
    write(tmp_path / "tests/conftest.py", "import pytest\n")
    write(tmp_path / "tests/system/conftest.py", "pytest_plugins = ['demo_plugin_not_installed_anywhere']\n")
    write(
        tmp_path / "tests/system/test_demo.py",
        "import grpc\nimport helpers_local\nfrom demo import add\n\n"
        "def test_add():\n    import no_such_module_xyz\n",
    )
    write(tmp_path / "tests/system/helpers_local.py", "")
    write(tmp_path / "tests/system/data/case.txt", "x")
    write(tmp_path / "tests/system/__pycache__/junk.pyc", "x")
    write(tmp_path / "tests/system/.hidden/secret.txt", "x")
    write(tmp_path / "tests/other/test_other.py", "def test_other():\n    pass\n")
    return tmp_path


def test_tests_are_collected_with_their_conftest_files_up_to_the_rootdir(project: Path) -> None:
    tree = testtree.collect_tests([str(project / "tests/system")])
    assert tree.rootdir == project
    assert tree.config_file == project / "pyproject.toml"
    assert tree.test_paths == ["tests/system"]
    assert sorted(tree.files) == [
        "conftest.py",
        "tests/conftest.py",
        "tests/system/conftest.py",
        "tests/system/data/case.txt",
        "tests/system/helpers_local.py",
        "tests/system/test_demo.py",
    ]


def test_a_test_folder_without_configuration_names_its_tests_not_the_zips_root(tmp_path: Path) -> None:
    # no pytest configuration: the folder itself is the rootdir, which becomes the zip's root beside the
    # dependencies; "testpaths = ." would collect the dependencies' own tests too
    write(tmp_path / "tests/test_top.py", "def test_top():\n    pass\n")
    write(tmp_path / "tests/api/test_api.py", "def test_api():\n    pass\n")
    write(tmp_path / "tests/helpers.py")
    tree = testtree.collect_tests([str(tmp_path / "tests")])
    assert tree.rootdir == tmp_path / "tests"
    assert tree.test_paths == ["api", "test_top.py"]


def test_the_config_is_rewritten_for_the_zip_and_pytest_reads_it(
    project: Path, pytester: pytest.Pytester
) -> None:
    tree = testtree.collect_tests([str(project / "tests/system")])
    available = {"pytester", "no:randomly"}
    text, notes = testtree.rewrite_config(
        tree, available=available.__contains__, distributions={"pytest-dualmode"}
    )
    assert "testpaths: tests -> tests/system" in notes
    assert "addopts: dropped '-p xdist' (plugin not in the package)" in notes
    assert "addopts: dropped '-n 2' (xdist not in the package)" in notes
    assert "required_plugins: dropped 'pytest-xdist>=3' (not in the package)" in notes
    assert "addopts = -p pytester -p no:randomly --strict-markers" in text
    # the rewritten file, with the packaged tests beside it: pytest reads it and collects only testpaths
    pytester.makefile(".ini", pytest=text.replace("[pytest]", "[pytest]", 1))
    pytester.makepyfile(
        **{"tests/system/test_a.py": "import pytest\n@pytest.mark.slow\ndef test_a():\n    pass\n"}
    )
    pytester.makepyfile(**{"tests/other/test_b.py": "def test_b():\n    pass\n"})
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["testpaths: tests/system", "tests/system/test_a.py .*"])


def test_plugin_options_are_kept_when_the_plugin_is_packaged(project: Path) -> None:
    tree = testtree.collect_tests([str(project / "tests/system")])
    text, notes = testtree.rewrite_config(
        tree, available=lambda name: True, distributions={"pytest-dualmode", "pytest-xdist"}
    )
    assert "-p xdist -n 2" in text
    assert not [n for n in notes if "dropped" in n]


def test_imports_are_followed_to_first_party_and_third_party_packages(project: Path) -> None:
    tree = testtree.collect_tests([str(project / "tests/system")])
    report = importscan.follow_imports(
        tree.files.values(),
        rootdir=project,
        tree_modules={"helpers_local", "tests", "system", "conftest", "test_demo"},
        skip={"pytest_dualmode"},
        search_paths=(project / "src",),
    )
    assert report.first_party == {"demo": (project / "src/demo").resolve()}
    assert report.importers["demo"] == "tests/system/test_demo.py"
    # grpc from the test, requests through demo.core's relative import of demo.helpers; not yaml or numpy
    assert {"grpcio", "requests", "pytest"} <= set(report.third_party)
    assert report.third_party["grpcio"] == _version("grpcio")
    assert not {"PyYAML", "numpy"} & set(report.third_party)
    assert "no_such_module_xyz" in report.unresolved
    assert "demo_plugin_not_installed_anywhere" in report.unresolved


def _version(dist: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(dist)


def test_plugin_requirements_leave_out_local_only_and_optionally_boto() -> None:
    names = {wheels.requirement_name(r) for r in wheels.plugin_requirements(without_boto=False)}
    assert {"pytest", "grpcio", "protobuf", "requests", "boto3", "botocore"} <= names
    assert "moto" not in names
    without = {wheels.requirement_name(r) for r in wheels.plugin_requirements(without_boto=True)}
    assert not {"boto3", "botocore"} & without
    assert wheels.pin("grpcio>=1.60") == f"grpcio=={_version('grpcio')}"
    assert wheels.platforms("3.11", "arm64") == ["manylinux2014_aarch64"]
    assert wheels.platforms("3.13", "x86_64")[0] == "manylinux_2_34_x86_64"


def test_a_suite_configured_for_the_aiohttp_transport_gets_httpx_aiohttp(project: Path) -> None:
    """``dualmode_http_aio_transport = aiohttp`` in the suite's ini: its Lambda would need httpx-aiohttp."""
    from pytest_dualmode.cli.package import _requirements

    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'dualmode_http_aio_transport = "aiohttp"\n')
    tree = testtree.collect_tests([str(project / "tests/system")])
    logged: list[str] = []
    options = PackageOptions(output=project / "out.zip", tests=[str(project / "tests/system")])
    pinned = _requirements(options, importscan.ImportReport(), logged.append, tree.ini)
    assert f"httpx-aiohttp=={_version('httpx-aiohttp')}" in pinned
    assert logged == [
        "dependency from the configuration: httpx-aiohttp (dualmode_http_aio_transport = aiohttp)"
    ]
    # the default transport needs nothing more
    plain = _requirements(options, importscan.ImportReport(), logged.append, {})
    assert not [r for r in plain if r.startswith("httpx-aiohttp")]


def test_zip_is_byte_identical_whatever_the_file_times_and_modes(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    write(staging / "b.py", "print('b')\n")
    write(staging / "a/mod.py", "x = 1\n")
    tool = write(staging / "a/tool.sh", "#!/bin/sh\n")
    tool.chmod(0o775)
    first = archive.write_zip(staging, tmp_path / "one.zip")
    os.utime(staging / "b.py", (1_000_000_000, 1_000_000_000))
    (staging / "a/mod.py").chmod(0o600)
    second = archive.write_zip(staging, tmp_path / "two.zip")
    assert first.sha256 == second.sha256
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["a/mod.py", "a/tool.sh", "b.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert [stat.S_IMODE(i.external_attr >> 16) for i in infos] == [0o644, 0o755, 0o644]
    assert first.unzipped == sum(len(p.read_bytes()) for p in staging.rglob("*") if p.is_file())


def test_a_zip_above_lambdas_limit_fails_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = tmp_path / "staging"
    write(staging / "big.bin").write_bytes(os.urandom(64 * 1024))
    monkeypatch.setattr(archive, "ZIPPED_LIMIT", 32 * 1024)
    with pytest.raises(
        CliError, match=r"above Lambda's 0 MiB upload limit \(largest: big.bin .*--without-boto"
    ):
        archive.write_zip(staging, tmp_path / "out.zip")
    assert not list(tmp_path.glob("out.zip*"))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--python", "3.10"],
            "argument --python: '3.10' is not a Lambda Python runtime this supports; "
            "use one of 3.11, 3.12, 3.13",
        ),
        (["--arch", "sparc"], "argument --arch: 'sparc' is not a Lambda architecture; use x86_64 or arm64"),
        (["--tests", "no/such/dir"], "--tests 'no/such/dir': no such file or folder"),
        (["--requirements", "missing.txt"], "--requirements missing.txt: no such file"),
        (["--include", "nothing_here"], "--include nothing_here: not a package folder or .py module"),
    ],
)
def test_bad_input_is_named_with_the_fix(
    argv: list[str],
    message: str,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(project)
    base = ["package", "-o", "out.zip", "--tests", "tests/system"]
    code, err = run_cli(capsys, *base, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (project / "out.zip").exists()


def test_tests_without_test_files_are_refused(project: Path) -> None:
    with pytest.raises(CliError, match=r"no test files \(test_\*.py or \*_test.py\) found"):
        build_package(PackageOptions(output=project / "a.zip", tests=[str(project / "src")]))


def test_a_dependency_without_a_lambda_wheel_is_named(project: Path) -> None:
    requirements = write(project / "requirements.txt", "docopt==0.6.2  # sdist only\n")
    options = PackageOptions(
        output=project / "a.zip",
        tests=[str(project / "tests/system")],
        requirements=requirements,
        python="3.12",
    )
    with pytest.raises(CliError) as info:
        build_package(options, log=lambda line: None)
    message = str(info.value)
    assert message.startswith("no wheel of docopt==0.6.2 for Lambda's platform (CPython 3.12, x86_64:")
    assert "https://pypi.org/project/docopt/#files" in message
    assert not (project / "a.zip").exists()


def test_bytecode_is_skipped_with_a_reason_when_no_interpreter_of_the_target_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = write(
        tmp_path / "bin/python3.99", "#!/bin/sh\necho 'python3.99: command not found' >&2\nexit 127\n"
    )
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    assert archive.interpreter_for("3.99") is None
    assert archive.interpreter_for(LOCAL_PYTHON) == sys.executable
    staging = tmp_path / "staging"
    write(staging / "mod.py", "x = 1\n")
    line = archive.compile_bytecode(staging, "3.99")
    assert line.startswith("bytecode: skipped (the target is Python 3.99: this interpreter is not")
    assert not list(staging.rglob("*.pyc"))
    assert archive.compile_bytecode(staging, LOCAL_PYTHON).startswith("bytecode: precompiled")
    assert list(staging.rglob("*.pyc"))
