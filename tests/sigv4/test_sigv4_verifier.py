"""The verifier's checks one by one, its reasons (short, and never secret), and the credentials file."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.credentials import Credentials
from sigv4_support import (
    ACCESS_KEY,
    ALL_SECRETS,
    REGION,
    SECRET,
    SESSION_TOKEN,
    TOKEN_KEY,
    TOKEN_SECRET,
    keys,
)

from pytest_dualmode.sigv4 import canonical
from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.verifier import (
    CredentialsFileError,
    SignatureError,
    SigV4WsgiMiddleware,
    Verifier,
    load_credentials_file,
)

NOW = 1_750_000_000.0
HOST = "svc.example"
BODY = b'{"email": "a@example.com"}'


def sign(
    service: str = "vpc-lattice-svcs",
    *,
    key: tuple[str, str, str | None] = (ACCESS_KEY, SECRET, None),
    region: str = REGION,
    at: float = NOW,
    body: bytes | None = BODY,
    unsigned: bool = False,
) -> dict[str, str]:
    """Headers of a request signed as ``POST https://svc.example/v1/items?a=1``, host included."""
    signer = Signer(
        Credentials(*key), region, service, sign_payload=service == "execute-api", clock=lambda: at
    )
    url = f"https://{HOST}/v1/items?a=1"
    return {"host": HOST, **signer.sign("POST", url, {}, body, unsigned_payload=unsigned)}


def check(
    headers: dict[str, str],
    service: str = "vpc-lattice-svcs",
    *,
    body: bytes | None = BODY,
    region: str | None = REGION,
    now: float = NOW,
) -> None:
    Verifier(keys(), service=service, region=region, clock=lambda: now).verify(
        "POST", "/v1/items", "a=1", headers, body
    )


def test_a_signed_request_passes() -> None:
    check(sign())
    check(sign("execute-api"), "execute-api")
    check(sign(key=(TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN)))
    # gRPC: the body is streamed, so an execute-api front door takes UNSIGNED-PAYLOAD
    check(sign("execute-api", unsigned=True), "execute-api", body=None)
    # region None accepts any region in the scope
    check(sign(region="eu-west-2"), region=None)


def edit(headers: dict[str, str], **changes: str | None) -> dict[str, str]:
    names = {name.replace("_", "-"): value for name, value in changes.items()}
    out = {k: v for k, v in headers.items() if k.lower() not in names}
    out.update({name: value for name, value in names.items() if value is not None})
    return out


def auth_with(old: str, new: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda h: {**h, "Authorization": h["Authorization"].replace(old, new)}


WRONG_KEY = (ACCESS_KEY, "wrong" + SECRET, None)
TEMP_KEY = (TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN)

REJECTIONS: list[tuple[str, Callable[[], None], str]] = [
    ("unsigned", lambda: check({"host": HOST}), "missing Authorization header"),
    (
        "algorithm",
        lambda: check(auth_with("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")(sign())),
        "algorithm",
    ),
    ("bearer", lambda: check({**sign(), "Authorization": "Bearer abc"}), "unsupported algorithm 'Bearer'"),
    ("malformed", lambda: check(auth_with("SignedHeaders=", "Headers=")(sign())), "malformed Authorization"),
    (
        "scope",
        lambda: check(auth_with("/aws4_request", "/aws5_request")(sign())),
        "malformed credential scope",
    ),
    ("short sig", lambda: check(auth_with("Signature=", "Signature=ab")(sign())), "malformed signature"),
    (
        "unknown key",
        lambda: check(sign(key=("AKIDUNKNOWN", SECRET, None))),
        "unknown access key id 'AKIDUNKNOWN'",
    ),
    (
        "wrong secret",
        lambda: check(sign(key=(ACCESS_KEY, "wrong" + SECRET, None))),
        "signature does not match",
    ),
    ("service", lambda: check(sign("execute-api"), "vpc-lattice-svcs"), "names service 'execute-api'"),
    ("region", lambda: check(sign(region="eu-west-2")), "names region 'eu-west-2'"),
    ("no date", lambda: check(edit(sign(), x_amz_date=None)), "missing or malformed x-amz-date"),
    ("bad date", lambda: check(edit(sign(), x_amz_date="2025-06-15")), "missing or malformed x-amz-date"),
    ("date", lambda: check(edit(sign(), x_amz_date="20250616T150640Z")), "is not the day of x-amz-date"),
    ("expired", lambda: check(sign(at=NOW - 301)), "behind the server clock"),
    ("future", lambda: check(sign(at=NOW + 301)), "ahead of the server clock"),
    ("no host", lambda: check(edit(sign(), host=None)), "signed header 'host' is not in the request"),
    (
        "host unsigned",
        lambda: check(auth_with("SignedHeaders=host;", "SignedHeaders=")(sign())),
        "must include host and x-amz-date",
    ),
    ("host changed", lambda: check(edit(sign(), host="other.example")), "signature does not match"),
    ("lattice hash", lambda: check(edit(sign(), x_amz_content_sha256=None)), "missing x-amz-content-sha256"),
    (
        "unsigned body",
        lambda: check(sign("execute-api", unsigned=True), "execute-api"),
        "UNSIGNED-PAYLOAD is not accepted by execute-api",
    ),
    (
        "body changed",
        lambda: check(sign("execute-api"), "execute-api", body=b"{}"),
        "does not match the request body",
    ),
    ("bad hash", lambda: check(edit(sign(), x_amz_content_sha256="xyz")), "malformed x-amz-content-sha256"),
    (
        "no token",
        lambda: check(edit(sign(key=TEMP_KEY), x_amz_security_token=None)),
        "missing x-amz-security-token",
    ),
    (
        "wrong token",
        lambda: check(sign(key=(TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN + "x"))),
        "does not match this access key's session token",
    ),
    (
        "needless token",
        lambda: check(sign(key=(ACCESS_KEY, SECRET, SESSION_TOKEN))),
        "takes no session token",
    ),
    (
        "two auth",
        lambda: check([*sign().items(), ("Authorization", sign()["Authorization"])]),  # type: ignore[arg-type]
        "appears 2 times",
    ),
]


@pytest.mark.parametrize(("attempt", "reason"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_rejections_say_why(attempt: Callable[[], None], reason: str) -> None:
    with pytest.raises(SignatureError, match=reason.replace("(", r"\(").replace(")", r"\)")) as info:
        attempt()
    # short, and nothing secret: no key, no token, no signature (expected or sent)
    text = str(info.value)
    assert len(text) < 200 and info.value.reason == text
    for secret in ALL_SECRETS:
        assert secret not in text and secret[:12] not in text
    assert not canonical.re.search(r"[0-9a-f]{64}", text)


def test_a_secret_in_the_access_key_place_is_not_echoed() -> None:
    with pytest.raises(SignatureError, match=r"unknown access key id \(not an access key id\)") as info:
        check(sign(key=(TOKEN_SECRET.replace("/", ""), SECRET, None)))
    assert TOKEN_SECRET.replace("/", "") not in str(info.value)


def test_hosts_and_header_lists_are_shown_readably() -> None:
    with pytest.raises(SignatureError, match=r"\(signed: 'x-amz-date;x-amz-content-sha256'\)"):
        check(
            auth_with(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date",
                "SignedHeaders=x-amz-date;x-amz-content-sha256",
            )(sign())
        )


def test_the_expected_signature_is_never_revealed() -> None:
    headers = sign(key=WRONG_KEY)
    right = sign()["Authorization"].rsplit("=", 1)[1]
    with pytest.raises(SignatureError) as info:
        check(headers)
    assert right not in repr(info.value) and right not in str(info.value.args)


def test_skew_is_configurable() -> None:
    headers = sign(at=NOW - 100)
    Verifier(keys(), service="vpc-lattice-svcs", clock=lambda: NOW, max_skew_s=120).verify(
        "POST", "/v1/items", "a=1", headers, BODY
    )
    with pytest.raises(SignatureError, match="limit 60 s"):
        Verifier(keys(), service="vpc-lattice-svcs", clock=lambda: NOW, max_skew_s=60).verify(
            "POST", "/v1/items", "a=1", headers, BODY
        )


def test_repr_names_no_secret() -> None:
    text = repr(Verifier(keys(), service="vpc-lattice-svcs"))
    assert "keys=2" in text and all(s not in text for s in ALL_SECRETS)


# ---- the credentials file ---------------------------------------------------------------------


def test_the_credentials_file_takes_both_forms(tmp_path: Any) -> None:
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps({ACCESS_KEY: SECRET, TOKEN_KEY: {"secret": TOKEN_SECRET, "session_token": SESSION_TOKEN}})
    )
    assert load_credentials_file(path) == keys()
    verifier = Verifier.from_credentials_file(path, region=REGION, clock=lambda: NOW)
    verifier.verify("POST", "/v1/items", "a=1", sign(key=(TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN)), BODY)
    assert verifier.service == "vpc-lattice-svcs"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ('{"AKID": "' + SECRET + '",', "is not valid JSON (line 1)"),
        ("[1, 2]", "must be a non-empty JSON object"),
        ("{}", "must be a non-empty JSON object"),
        ('{"AKID": 5, "B": "' + SECRET + '"}', "the entry for 'AKID' is a int"),
        ('{"AKID": {"token": "' + SESSION_TOKEN + '"}}', "the entry for 'AKID' is a dict"),
        (
            '{"AKID": {"secret": "' + SECRET + '", "session_token": 7}}',
            "session_token of 'AKID' must be a string",
        ),
        ('{"AKID": ""}', "empty access key id or secret"),
    ],
    ids=["missing", "not-json", "list", "empty", "number", "no-secret", "token-type", "blank"],
)
def test_a_bad_credentials_file_is_a_clear_error(tmp_path: Any, content: str | None, message: str) -> None:
    path = tmp_path / "keys.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CredentialsFileError) as info:
        Verifier.from_credentials_file(path)
    text = str(info.value)
    assert (message in text and str(path) in text and "want JSON like" in text) or message == "cannot read"
    assert str(path) in text
    for secret in ALL_SECRETS:
        assert secret not in text
    assert isinstance(info.value, ValueError)


# ---- the WSGI middleware, called directly ------------------------------------------------------


def call_wsgi(headers: dict[str, str], body: bytes, raw_uri: str | None = "/v1/items?a=1") -> tuple[str, Any]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"ok"]

    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/items",
        "QUERY_STRING": "a=1",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
    }
    if raw_uri:
        environ["RAW_URI"] = raw_uri
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: list[str] = []
    out = SigV4WsgiMiddleware(app, Verifier(keys(), service="execute-api", clock=lambda: NOW))(
        environ, lambda s, h: status.append(s)
    )
    return status[0], (b"".join(out), seen.get("body"))


def test_the_middleware_passes_signed_requests_with_their_body() -> None:
    status, (out, body) = call_wsgi(sign("execute-api"), BODY)
    assert status == "200 OK" and out == b"ok" and body == BODY
    # without RAW_URI, PATH_INFO is re-encoded
    status, _ = call_wsgi(sign("execute-api"), BODY, raw_uri=None)
    assert status == "200 OK"


def test_the_middleware_answers_403_with_a_readable_reason() -> None:
    status, (out, body) = call_wsgi(sign("execute-api", key=WRONG_KEY), BODY)
    assert status == "403 Forbidden" and body is None
    error = json.loads(out)["error"]
    assert error["code"] == "UNAUTHENTICATED"
    assert error["message"].startswith("SigV4: signature does not match for access key AKIDDUALMODETEST")
