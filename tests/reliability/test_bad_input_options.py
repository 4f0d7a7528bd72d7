"""Bad option, environment and ini values through real pytest runs: each stops the run before any test with
one line naming the value, where it came from and the fix, and no traceback."""

from __future__ import annotations

from typing import Any

import pytest
from rel_support import assert_no_traceback

pytestmark = pytest.mark.reliability

TESTS = """
import os

def test_never_runs():
    open(os.path.join(os.path.dirname(__file__), "RAN"), "w").close()
"""

NO_AWS = {
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}

# (id, command-line args, environment, ini lines, the line pytest must print)
CASES: list[tuple[str, list[str], dict[str, str], str, str]] = [
    (
        "addr-not-host-port",
        ["--addr", "staging"],
        {},
        "",
        "ERROR: --addr 'staging' is not HOST:PORT (from --addr); use e.g. --addr=api.internal:443",
    ),
    (
        "addr-port-out-of-range-env",
        [],
        {"DUALMODE_ADDR": "api.internal:99999"},
        "",
        "ERROR: --addr 'api.internal:99999' has port '99999'*(from the DUALMODE_ADDR environment variable)*",
    ),
    (
        "addr-bare-ipv6",
        ["--addr", "::1:443"],
        {},
        "",
        "ERROR: --addr '::1:443' looks like a bare IPv6 address; write it as [[]::1]:443*",
    ),
    (
        "addr-huge-shortened",
        ["--addr", "x" * 5000],
        {},
        "",
        "ERROR: --addr 'xxxx*...' is not HOST:PORT (from --addr)*",
    ),
    (
        "http-addr-not-http",
        ["--http-addr", "ftp://files.internal"],
        {},
        "",
        "ERROR: --http-addr 'ftp://files.internal' is not an http:// or https:// URL (from --http-addr)*",
    ),
    (
        "http-addr-query-in-ini",
        [],
        {},
        "dualmode_http_addr = https://api.internal/?debug=1",
        "ERROR: --http-addr 'https://api.internal/?debug=1' has a query or fragment*"
        "(from dualmode_http_addr in *)*",
    ),
    (
        "http-addr-no-host",
        ["--http-addr", "http://:8080"],
        {},
        "",
        "ERROR: --http-addr 'http://:8080' has no host*",
    ),
    (
        "http-addr-bad-port-env",
        [],
        {"DUALMODE_HTTP_ADDR": "https://api.internal:http"},
        "",
        "ERROR: --http-addr 'https://api.internal:http' has an invalid port (from the DUALMODE_HTTP_ADDR *",
    ),
    (
        "connect-timeout-not-a-number",
        ["--connect-timeout", "soon"],
        {},
        "",
        "ERROR: --connect-timeout 'soon' is not a number of seconds (from --connect-timeout); use e.g.*",
    ),
    (
        "connect-timeout-zero-env",
        [],
        {"DUALMODE_CONNECT_TIMEOUT": "0"},
        "",
        "ERROR: --connect-timeout '0' must be more than 0 and at most 3600 seconds (from the DUALMODE_*",
    ),
    (
        "request-timeout-huge",
        ["--request-timeout", "1e9"],
        {},
        "",
        "ERROR: --request-timeout '1e9' must be more than 0 and at most 3600 seconds*",
    ),
    (
        "request-timeout-nan-in-ini",
        [],
        {},
        "dualmode_request_timeout = nan",
        "ERROR: --request-timeout 'nan' must be more than 0*(from dualmode_request_timeout in *)*",
    ),
    (
        "region-upper-case",
        ["--aws-region", "US-EAST-1"],
        {},
        "",
        "ERROR: --aws-region 'US-EAST-1' is not an AWS region name (from --aws-region); use e.g.*",
    ),
    (
        "region-in-ini",
        [],
        {},
        "dualmode_aws_region = mars",
        "ERROR: --aws-region 'mars' is not an AWS region name (from dualmode_aws_region in *",
    ),
    (
        "flag-not-boolean-env",
        [],
        {"DUALMODE_GRPC_PLAINTEXT": "maybe"},
        "",
        "ERROR: --grpc-plaintext 'maybe' is not a boolean*(from the DUALMODE_GRPC_PLAINTEXT environment *",
    ),
    (
        "sigv4-service-two-words",
        ["--sigv4-service", "vpc lattice"],
        {},
        "",
        "ERROR: --sigv4-service 'vpc lattice' must be a single word without spaces*",
    ),
    (
        "ca-file-missing",
        ["--grpc-ca-file", "no-such-ca.pem"],
        {},
        "",
        "ERROR: --grpc-ca-file 'no-such-ca.pem' is not an existing file (from --grpc-ca-file)*",
    ),
    (
        "dynamodb-endpoint-with-remote-target",
        ["--dynamodb-endpoint", "http://127.0.0.1:8000"],
        {"DUALMODE_ADDR": "api.internal:443"},
        "",
        "ERROR: --dynamodb-endpoint (from --dynamodb-endpoint) only applies in local mode, but a remote*",
    ),
    (
        "remote-without-credentials",
        ["--addr", "127.0.0.1:9", "--http-addr", "http://127.0.0.1:9"],
        {**NO_AWS, "AWS_REGION": "eu-west-1"},
        "",
        "ERROR: remote mode signs every request with SigV4, but no AWS credentials were found*--no-sigv4*",
    ),
    (
        "remote-without-region",
        ["--addr", "127.0.0.1:9"],
        {**NO_AWS, "AWS_ACCESS_KEY_ID": "AKIDREL", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-key"},
        "",
        "ERROR: remote mode signs every request with SigV4, but no AWS region to sign for*"
        "--aws-region us-east-1*",
    ),
]


@pytest.mark.parametrize(("args", "env", "ini", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_setting_stops_the_run_with_one_clear_line(
    pytester: pytest.Pytester,
    run_pytest: Any,
    clean_env: Any,
    figures: Any,
    request: pytest.FixtureRequest,
    args: list[str],
    env: dict[str, str],
    ini: str,
    line: str,
) -> None:
    clean_env(**env)
    pytester.makepyfile(test_settings=TESTS)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = run_pytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    assert_no_traceback(result.stdout.str() + result.stderr.str())
    assert not (pytester.path / "RAN").exists()
    figures.add("bad_input", request.node.callspec.id, area="pytest options, environment, ini")
