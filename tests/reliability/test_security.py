"""Security: no secret key, session token, Authorization value or signature in any output (terminal, JUnit
XML, Lambda results, logs), even when tests print them on purpose; local mode never connects anywhere but
loopback; destructive tests never run remotely without the flag."""

from __future__ import annotations

import ipaddress
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from rel_support import assert_accounted, assert_no_leaks, junit_outcomes

pytestmark = pytest.mark.reliability

ROLE_SECRET = "RoleSecret0123456789abcdefGHIJKLMNOPqrst"  # fake, AWS-shaped
ROLE_TOKEN = "IQoJb3JpZ2luX2VjFakeRoleSessionToken0123456789abcdefABCDEF=="

LEAKY_TESTS = """
import json, logging, os

import pytest


def test_prints_and_logs_its_secrets(http, dualmode_signer):
    response = http.get("/healthz")
    auth = response.request.headers["Authorization"]
    frozen = dualmode_signer.credentials()
    with open(os.environ["REL_SECRETS_OUT"], "a") as fh:
        fh.write(json.dumps({"secret": frozen.secret_key, "token": frozen.token, "auth": auth}) + "\\n")
    print("secret key:", frozen.secret_key, "token:", frozen.token)
    print("request headers:", dict(response.request.headers))
    logging.getLogger("leaky").warning("sent Authorization: %s", auth)


def test_fails_showing_its_secrets(http, dualmode_signer):
    response = http.get("/healthz")
    frozen = dualmode_signer.credentials()
    headers = dict(response.request.headers)
    assert headers["Authorization"] == frozen.secret_key, f"token {frozen.token} env {dict(os.environ)}"
"""

SERVICE_CONFTEST = """
import pytest
from pytest_dualmode import LocalService

@pytest.fixture(scope="session")
def dualmode_service(dynamodb):
    from example_service import SuppressionService

    svc = SuppressionService(dynamodb, table="security")
    return LocalService(grpc=svc.register_grpc, http=svc.wsgi_app)
"""


def scan_run(pytester: pytest.Pytester, result: pytest.RunResult, known: list[str]) -> None:
    """Nothing the run wrote (terminal, JUnit with all captured output) holds a secret or a signature."""
    secrets = list(known)
    out_file = pytester.path / "secrets.jsonl"
    if out_file.exists():  # what the tests themselves saw: the run's generated secret and its signatures
        for line in out_file.read_text().splitlines():
            seen = json.loads(line)
            secrets += [
                v for v in (seen["secret"], seen["token"], seen["auth"].rsplit("Signature=", 1)[-1]) if v
            ]
    assert secrets
    texts = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "junit": (pytester.path / "junit.xml").read_text(),
    }
    assert_no_leaks(texts, secrets)


def test_local_mode_output_never_shows_the_generated_secret_or_a_signature(
    pytester: pytest.Pytester, run_pytest: Any, clean_env: Any, figures: Any
) -> None:
    clean_env(REL_SECRETS_OUT=str(pytester.path / "secrets.jsonl"))
    pytester.makeconftest(SERVICE_CONFTEST)
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = run_pytest("--junitxml=junit.xml", "-o", "junit_logging=all", "-rA", "--log-level=WARNING")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*secret key: [[]REDACTED[]]*"])  # it was printed, and masked
    scan_run(pytester, result, [])
    figures.add(
        "security",
        "local mode: the generated secret, token and signatures never shown",
        checked="stdout, stderr, JUnit with all captured output",
    )


def test_remote_mode_output_never_shows_the_environment_credentials(
    pytester: pytest.Pytester, run_pytest: Any, clean_env: Any, http_url: str, grpc_addr: str, figures: Any
) -> None:
    clean_env(
        REL_SECRETS_OUT=str(pytester.path / "secrets.jsonl"),
        AWS_ACCESS_KEY_ID="ASIAROLESECURITY0001",
        AWS_SECRET_ACCESS_KEY=ROLE_SECRET,
        AWS_SESSION_TOKEN=ROLE_TOKEN,
        AWS_REGION="us-east-1",
    )
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = run_pytest(
        f"--addr={grpc_addr}",
        "--grpc-plaintext",
        f"--http-addr={http_url}",
        "--junitxml=junit.xml",
        "-o",
        "junit_logging=all",
        "-rA",
        "--showlocals",
    )
    result.assert_outcomes(passed=1, failed=1)
    scan_run(pytester, result, [ROLE_SECRET, ROLE_TOKEN])
    figures.add(
        "security",
        "remote mode: the environment's secret key and session token never shown",
        checked="stdout, stderr, JUnit with all captured output, --showlocals",
    )


def test_lambda_results_and_logs_never_show_the_role_credentials(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    http_url: str,
    grpc_addr: str,
    figures: Any,
) -> None:
    from pytest_dualmode.aws_lambda import SuiteFailed, handler
    from pytest_dualmode.aws_lambda.junit import decode

    root = tmp_path / "task"
    root.mkdir()
    (root / "test_leaky.py").write_text(
        textwrap.dedent(
            """
            import logging, os

            def test_prints():
                print("env:", dict(os.environ))
                logging.getLogger("leaky").error("Authorization: AWS4-HMAC-SHA256 Credential=ASIAX/20250101/"
                    "us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=" + "ab" * 32)

            def test_fails():
                assert os.environ["AWS_SESSION_TOKEN"] == os.environ["AWS_SECRET_ACCESS_KEY"]
            """
        )
    )
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(root))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAROLELAMBDA000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ROLE_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", ROLE_TOKEN)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    target = {"DUALMODE_ADDR": grpc_addr, "DUALMODE_HTTP_ADDR": http_url, "DUALMODE_GRPC_PLAINTEXT": "1"}
    try:
        result = handler({"args": ["-o", "junit_logging=all", "-rA"], "env": target}, None)
    except SuiteFailed as exc:
        result = exc.result
    out, err = capsys.readouterr()
    texts = {"result": json.dumps(result), "junit": decode(result["junit_xml"]) or "", "log": out + err}
    assert result["counts"]["passed"] == 1 and result["counts"]["failed"] == 1  # both ran, in remote mode
    assert_no_leaks(texts, [ROLE_SECRET, ROLE_TOKEN])
    figures.add(
        "security",
        "Lambda: the role's credentials never in the result, its JUnit or the log",
        checked="result JSON, decoded JUnit XML, stdout/stderr",
    )


# ---- local mode stays on loopback ------------------------------------------------------------------

AUDIT_CONFTEST = """
import json, os, sys

import pytest
from pytest_dualmode import LocalService

OUT = os.environ["REL_CONNECTIONS_OUT"]


def _record(kind, value):
    with open(OUT, "a") as fh:
        fh.write(json.dumps({"kind": kind, "value": value}) + "\\n")


def _hook(event, args):
    if event == "socket.connect":
        address = args[1]
        _record("connect", list(address) if isinstance(address, tuple) else str(address))
    elif event == "socket.getaddrinfo":
        _record("resolve", [str(args[0]), args[1]])


sys.addaudithook(_hook)

import grpc  # gRPC's C core opens its own sockets: record every channel's target instead

for _name in ("insecure_channel", "secure_channel"):
    def _wrap(original, name=_name):
        def channel(target, *args, **kwargs):
            _record("grpc", str(target))
            return original(target, *args, **kwargs)
        return channel
    setattr(grpc, _name, _wrap(getattr(grpc, _name)))


@pytest.fixture(scope="session")
def dualmode_service(dynamodb):
    from example_service import SuppressionService

    svc = SuppressionService(dynamodb, table="loopback")
    return LocalService(grpc=svc.register_grpc, http=svc.wsgi_app)
"""

LOOPBACK_TESTS = """
import boto3

from example_service.gen.suppression.v1 import suppression_pb2 as pb
from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc


def test_grpc_then_http(grpc_channel, http):
    pb_grpc.SuppressionServiceStub(grpc_channel).Add(pb.AddRequest(account_id="lo", email="a@example.com"))
    assert http.get("/v1/suppressions/lo/a@example.com").status_code == 200


def test_dynamodb(dynamodb, dynamodb_endpoint):
    assert "loopback" in dynamodb.list_tables()["TableNames"]
    over_http = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)  # the forced fake credentials
    assert "loopback" in over_http.list_tables()["TableNames"]
"""


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "::1"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def test_local_mode_never_connects_beyond_loopback(
    pytester: pytest.Pytester, run_pytest: Any, clean_env: Any, figures: Any
) -> None:
    log = pytester.path / "connections.jsonl"
    clean_env(REL_CONNECTIONS_OUT=str(log))
    pytester.makeconftest(AUDIT_CONFTEST)
    pytester.makepyfile(test_loopback=LOOPBACK_TESTS)
    result = run_pytest("--junitxml=junit.xml")
    result.assert_outcomes(passed=2)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    connects = [r["value"] for r in records if r["kind"] == "connect"]
    channels = [r["value"] for r in records if r["kind"] == "grpc"]
    resolved = [r["value"][0] for r in records if r["kind"] == "resolve"]
    assert connects and channels  # the check saw the HTTP, DynamoDB and gRPC traffic
    beyond = [c for c in connects if isinstance(c, list) and not _is_loopback(str(c[0]))]
    beyond += [c for c in channels if not _is_loopback(c.rsplit(":", 1)[0])]
    beyond += [h for h in resolved if not _is_loopback(h)]
    assert not beyond, f"local mode reached beyond loopback: {beyond}"
    figures.add(
        "security",
        "local mode never connects beyond loopback",
        checked=f"{len(connects)} socket connects, {len(channels)} gRPC channels, {len(resolved)} lookups",
    )


# ---- destructive tests ----------------------------------------------------------------------------------

DESTRUCTIVE_TESTS = """
import os

import pytest

DIR = os.environ["REL_MARK_DIR"]


@pytest.mark.destructive
def test_delete_everything():
    open(os.path.join(DIR, "deleted"), "w").close()


class TestCleanup:
    pytestmark = pytest.mark.destructive

    def test_wipe(self):
        open(os.path.join(DIR, "wiped"), "w").close()


def test_harmless():
    pass
"""

# (id, remote?, extra args, environment, ini, destructive tests run?)
DESTRUCTIVE_CASES = [
    ("remote-no-flag", True, [], {}, "", False),
    ("remote-flag", True, ["--allow-destructive"], {}, "", True),
    ("remote-env-1", True, [], {"DUALMODE_ALLOW_DESTRUCTIVE": "1"}, "", True),
    ("remote-env-0", True, [], {"DUALMODE_ALLOW_DESTRUCTIVE": "0"}, "", False),
    ("remote-ini-false", True, [], {}, "dualmode_allow_destructive = false", False),
    ("remote-only-destructive-selected", True, ["-m", "destructive"], {}, "", False),
    ("local-no-flag", False, [], {}, "", True),
]


@pytest.mark.parametrize(
    ("remote", "args", "env", "ini", "runs"),
    [c[1:] for c in DESTRUCTIVE_CASES],
    ids=[c[0] for c in DESTRUCTIVE_CASES],
)
def test_destructive_tests_run_remotely_only_with_the_flag(
    pytester: pytest.Pytester,
    run_pytest: Any,
    clean_env: Any,
    http_url: str,
    grpc_addr: str,
    figures: Any,
    request: pytest.FixtureRequest,
    remote: bool,
    args: list[str],
    env: dict[str, str],
    ini: str,
    runs: bool,
) -> None:
    marks = pytester.mkdir("marks")
    clean_env(REL_MARK_DIR=str(marks), **env)
    pytester.makepyfile(test_destructive=DESTRUCTIVE_TESTS)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    target = (
        [f"--addr={grpc_addr}", "--grpc-plaintext", f"--http-addr={http_url}", "--no-sigv4"] if remote else []
    )
    result = run_pytest(*target, *args, "--junitxml=junit.xml", "-rs")
    selected_only = "-m" in args
    harmless_passed = 0 if selected_only else 1
    result.assert_outcomes(
        passed=harmless_passed + (2 if runs else 0),
        skipped=0 if runs else 2,
        deselected=1 if selected_only else 0,
    )
    harmless = {} if selected_only else {"test_destructive.py::test_harmless": "passed"}
    outcome = "passed" if runs else "skipped"
    assert_accounted(
        junit_outcomes(pytester.path / "junit.xml"),
        {
            "test_destructive.py::test_delete_everything": outcome,
            "test_destructive.py::TestCleanup::test_wipe": outcome,
            **harmless,
        },
    )
    assert sorted(p.name for p in marks.iterdir()) == (["deleted", "wiped"] if runs else [])
    if not runs:
        result.stdout.fnmatch_lines(
            ["*destructive: not run against a remote target without --allow-destructive*"]
        )
    figures.add(
        "security",
        f"destructive tests: {request.node.callspec.id}",
        checked="ran" if runs else "skipped, their bodies never ran",
    )
