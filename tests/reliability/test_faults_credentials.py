"""Credentials expiring mid-run: refreshing credentials rotate to new keys under a running suite, every
request is signed with the current key, and a front door that knows the old and the new keys accepts them
all. Once in this process (botocore's ``RefreshableCredentials`` on a clock the test moves past expiry), and
once through a whole remote-mode pytest run whose profile's ``credential_process`` hands out rotating keys."""

from __future__ import annotations

import base64
import json
import secrets
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from rel_support import assert_accounted, assert_no_leaks, junit_outcomes

from pytest_dualmode.sigv4.verifier import SignatureError, Verifier

pytestmark = pytest.mark.reliability

SERVICE = "vpc-lattice-svcs"


def aws_shaped_secret() -> str:
    """40 base64 characters with upper case, lower case and a digit, like an AWS secret access key."""
    while True:
        value = base64.b64encode(secrets.token_bytes(30)).decode()
        if (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


# Three generations of temporary keys (AWS-shaped, fake), as an assumed role hands them out.
GENERATIONS = [
    (
        f"ASIAROTATE{n:010d}",
        aws_shaped_secret(),
        "IQoJb3JpZ2luX2VjE" + base64.b64encode(secrets.token_bytes(120)).decode(),
    )
    for n in range(3)
]
# The same, shaped like nothing the redactor's patterns know (a credential_process may hand out anything).
ODD_GENERATIONS = [
    (f"ASIAODDSHAPE{n:08d}", f"odd-secret-{n}-{secrets.token_hex(16)}", f"odd-token-{n}") for n in range(3)
]


class RecordingVerifier(Verifier):
    """A verifier that also notes which access key signed each request it accepted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def verify(self, method: str, path: str, query: str, headers: Any, body: bytes | None) -> None:
        """Verify, then record the access key id of the accepted request."""
        super().verify(method, path, query, headers, body)
        pairs = headers.items() if hasattr(headers, "items") else headers
        auth = next(v for k, v in pairs if k.lower() == "authorization")
        with self._lock:
            self.seen.append(auth.split("Credential=", 1)[1].split("/", 1)[0])


def rotating_verifier(generations: list[tuple[str, str, str]] = GENERATIONS) -> RecordingVerifier:
    """A front door that knows every generation's key and session token."""
    return RecordingVerifier({key: (secret, token) for key, secret, token in generations}, service=SERVICE)


class SignedService:
    """The example service behind a SigV4 front door: real gRPC and HTTP servers on 127.0.0.1."""

    def __init__(self, service: Any, verifier: Verifier) -> None:
        from pytest_dualmode.local.grpc_server import GrpcServer
        from pytest_dualmode.local.http_server import WsgiServer
        from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, SigV4WsgiMiddleware

        self.grpc = GrpcServer(
            [service.register_grpc], interceptors=[SigV4ServerInterceptor(verifier)]
        ).start()
        self.http = WsgiServer(SigV4WsgiMiddleware(service.wsgi_app, verifier)).start()

    def close(self) -> None:
        """Stop both servers."""
        self.grpc.stop()
        self.http.stop()


@pytest.fixture
def signed_service(service: Any) -> Iterator[tuple[SignedService, RecordingVerifier]]:
    """The in-process example service behind a front door that knows every key generation."""
    verifier = rotating_verifier()
    front = SignedService(service, verifier)
    try:
        yield front, verifier
    finally:
        front.close()


class Clock:
    """The credentials' clock: the test moves it past the expiry."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_refreshing_credentials_carry_a_run_through_expiry(
    signed_service: tuple[SignedService, RecordingVerifier], account: str, figures: Any
) -> None:
    import grpc
    from botocore.credentials import RefreshableCredentials

    from example_service.gen.suppression.v1 import suppression_pb2 as pb
    from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc
    from pytest_dualmode.sigv4 import RequestsSigV4Auth, Signer, client_interceptors

    front, verifier = signed_service
    clock = Clock()
    generation = {"n": 0}

    def refresh() -> dict[str, str]:
        generation["n"] += 1
        key, secret, token = GENERATIONS[generation["n"] % len(GENERATIONS)]
        expiry = clock.now + timedelta(hours=1)
        return {"access_key": key, "secret_key": secret, "token": token, "expiry_time": expiry.isoformat()}

    key, secret, token = GENERATIONS[0]
    credentials = RefreshableCredentials(
        key, secret, token, clock.now + timedelta(hours=1), refresh, "rel-rotating", time_fetcher=clock
    )
    signer = Signer(credentials, "us-east-1", SERVICE, sign_payload=False)
    channel = grpc.intercept_channel(
        grpc.insecure_channel(front.grpc.address), *client_interceptors(signer, front.grpc.address, False)
    )
    session = requests.Session()
    session.auth = RequestsSigV4Auth(signer)
    stub = pb_grpc.SuppressionServiceStub(channel)
    try:
        for i in range(30):
            if i and i % 10 == 0:
                clock.now += timedelta(hours=1, minutes=1)  # the current keys have expired
            email = f"rotate{i}@example.com"
            assert stub.Add(pb.AddRequest(account_id=account, email=email), timeout=10).created
            got = session.get(f"{front.http.url}/v1/suppressions/{account}/{email}", timeout=10)
            assert got.status_code == 200, got.text
    finally:
        channel.close()
        session.close()
    assert len(verifier.seen) == 60
    assert [verifier.seen[i] for i in (0, 20, 40)] == [g[0] for g in GENERATIONS]  # rotated twice mid-run
    # the signer really moved on: a front door that knows only the first key refuses what it signs now
    stale = Verifier({GENERATIONS[0][0]: GENERATIONS[0][1:]}, service=SERVICE)
    signed = signer.sign("GET", f"{front.http.url}/healthz")
    with pytest.raises(SignatureError, match="unknown access key id"):
        stale.verify("GET", "/healthz", "", {**signed, "host": front.http.url.removeprefix("http://")}, b"")
    figures.add(
        "fault",
        "credentials expiring mid-run (in process)",
        tests=60,
        detail="2 expiries, 3 key generations; 60 signed gRPC + HTTP requests, all accepted",
    )


CREDENTIAL_PROCESS = """
import json, sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

generations = json.loads(Path(sys.argv[1]).read_text())
counter = Path(sys.argv[2])
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
key, secret, token = generations[n % len(generations)]
expires = datetime.now(timezone.utc) + timedelta(minutes=11)  # inside botocore's refresh window
print(json.dumps({"Version": 1, "AccessKeyId": key, "SecretAccessKey": secret, "SessionToken": token,
                  "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}))
"""

ROTATING_TESTS = """
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

@pytest.mark.parametrize("n", range(4))
def test_signed_calls(n, http, grpc_channel):
    assert http.get("/healthz").json() == {"status": "SERVING"}
    reply = health_pb2_grpc.HealthStub(grpc_channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    print("signed with", http.auth.signer.credentials().secret_key)  # the report must not show it
"""


@pytest.mark.parametrize(
    "keys",
    [pytest.param(GENERATIONS, id="aws-shaped"), pytest.param(ODD_GENERATIONS, id="odd-shaped")],
)
def test_a_pytest_run_whose_profile_rotates_keys_passes_throughout(
    pytester: pytest.Pytester,
    run_pytest: Any,
    clean_env: Any,
    service: Any,
    tmp_path: Path,
    figures: Any,
    keys: list[tuple[str, str, str]],
    request: pytest.FixtureRequest,
) -> None:
    verifier = rotating_verifier(keys)
    front = SignedService(service, verifier)
    generations = tmp_path / "generations.json"
    generations.write_text(json.dumps(keys))
    script = tmp_path / "credential_process.py"
    script.write_text(CREDENTIAL_PROCESS)
    config = tmp_path / "aws-config"
    command = f"{sys.executable} {script} {generations} {tmp_path / 'calls'}"
    config.write_text(f"[profile rotating]\ncredential_process = {command}\nregion = us-east-1\n")
    clean_env(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    pytester.makepyfile(test_rotating=ROTATING_TESTS)
    try:
        result = run_pytest(
            f"--addr={front.grpc.address}",
            "--grpc-plaintext",
            f"--http-addr={front.http.url}",
            "--aws-profile=rotating",
            "--junitxml=junit.xml",
            "-rA",
        )
    finally:
        front.close()
    result.assert_outcomes(passed=4)
    assert_accounted(
        junit_outcomes(pytester.path / "junit.xml"),
        {f"test_rotating.py::test_signed_calls[{n}]": "passed" for n in range(4)},
    )
    assert len(verifier.seen) == 8
    # botocore re-ran the credential_process inside its refresh window: the keys rotated during the run
    assert len(set(verifier.seen)) >= 2
    shown = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "junit": (pytester.path / "junit.xml").read_text(),
    }
    assert_no_leaks(shown, [secret for _, secret, _ in keys] + [token for _, _, token in keys])
    figures.add(
        "fault",
        f"credentials rotating under a pytest run (credential_process, {request.node.callspec.id} keys)",
        tests=4,
        detail="3 key generations over 8 signed requests; all passed, no secret shown",
    )
