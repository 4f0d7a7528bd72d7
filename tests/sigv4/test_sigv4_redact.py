"""redact() masks Authorization values, signatures, session tokens and secret keys, and nothing else."""

from __future__ import annotations

import pytest
from botocore.credentials import Credentials
from sigv4_support import ALL_SECRETS, REGION, SECRET, SESSION_TOKEN, TOKEN_KEY, TOKEN_SECRET

from pytest_dualmode.redaction import MASK, redact
from pytest_dualmode.sigv4.signer import Signer

SIGNED = Signer(
    Credentials(TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN), REGION, "vpc-lattice-svcs", sign_payload=False
).sign("GET", "https://svc.example/v1/x")
AUTH = SIGNED["Authorization"]
SIGNATURE = AUTH.rsplit("=", 1)[1]


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: {AUTH}\nX-Amz-Security-Token: {SESSION_TOKEN}\n",
        f"  > authorization:{AUTH}",
        repr(SIGNED),
        str({"headers": SIGNED}),
        f"{SIGNED}".replace("'", '"'),  # JSON-ish
        f"(('authorization', '{AUTH}'), ('x-amz-security-token', '{SESSION_TOKEN}'))",  # gRPC metadata
        f"_Metadatum(key='authorization', value='{AUTH}')",
        f"E   AssertionError: assert '{AUTH}' == 'x'",
        f"aws_secret_access_key = {TOKEN_SECRET}\naws_session_token={SESSION_TOKEN}",
        f"AWS_SECRET_ACCESS_KEY={SECRET} AWS_SESSION_TOKEN={SESSION_TOKEN}",
        f'{{"AKID": {{"secret": "{SECRET}", "session_token": "{SESSION_TOKEN}"}}}}',
        f"https://x/?X-Amz-Signature={SIGNATURE}&X-Amz-Security-Token={SESSION_TOKEN}",
        f"the key was {SECRET}.",  # an AWS-secret-looking word, unlabelled
        f"token {SESSION_TOKEN} leaked",  # an STS token, unlabelled
    ],
)
def test_secrets_are_masked(text: str) -> None:
    out = redact(text)
    for secret in (*ALL_SECRETS, SIGNATURE):
        assert secret not in out
    assert MASK in out
    assert redact(out) == out  # masking twice changes nothing


OUR_REASON = "SigV4: signature does not match for access key AKIDEXAMPLE: wrong secret key, or it changed"


@pytest.mark.parametrize(
    "text",
    [
        OUR_REASON,
        "commit 0123456789abcdef0123456789abcdef01234567",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "tests/test_http.py::test_round_trip PASSED",
        "x-amz-date: 20250615T150640Z host: svc.example",
        "a_very_long_identifier_name_without_digits_at_all_here",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_extra_values_are_masked_exactly() -> None:
    local = "dualmode-local-Secret_xyz"
    assert redact(f"key={local} and {local}!", extra=[local]) == f"key={MASK} and {MASK}!"
    assert redact("short ab", extra=["ab"]) == "short ab"  # too short to be a secret


def test_without_guessing_only_this_run_s_secrets_and_what_it_signs_are_masked() -> None:
    """What the plugin does to a run's reports: a test's own data is not taken for a secret, even when
    its key says "secret"; the run's known secrets, signatures and Authorization values are masked."""
    data = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0"  # 40 characters, mixed case and digits
    labelled = "{'secret': 'my-own-test-data', 'aws_session_token': 'fixture-token'} secret_key=plain"
    text = f"assert '{data}' == '{SECRET}' and token {SESSION_TOKEN}, Authorization: {AUTH}\n{labelled}"
    out = redact(text, [SECRET], guess=False)
    assert data in out and SECRET not in out and SIGNATURE not in out
    assert SESSION_TOKEN in out  # unlabelled and not known: left alone without guessing
    assert labelled in out  # labelled, but not this run's: the test's own data stays readable
    assert redact(f"X-Amz-Security-Token: {SESSION_TOKEN}", guess=False) == "X-Amz-Security-Token: [REDACTED]"
    guessed = redact(text, guess=True)
    assert data not in guessed and SECRET not in guessed and SESSION_TOKEN not in guessed
    assert "my-own-test-data" not in guessed and "fixture-token" not in guessed and "plain" not in guessed
