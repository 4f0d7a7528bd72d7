"""The signer and the verifier against AWS's published SigV4 test vectors.

Every case's header-signing variant is in scope: the signer is configured per case the way the
vectors sign (all headers, x-amz-content-sha256 only when the body is signed, the session token
unsigned for post-sts-header-after, dot segments kept for the *-unnormalized cases). Out of scope:
the ``query-*`` files (presigned URLs, signature in the query string): the suite never presigns.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.credentials import Credentials
from sigv4_support import Case, case_names, load_case, parse_request, suite_dir

from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.verifier import SignatureError, Verifier

CASES = case_names() or ["(suite absent)"]


def signer_for(case: Case) -> Signer:
    """A signer set up the way the case's vectors were signed."""
    creds = case.context["credentials"]
    return Signer(
        Credentials(creds["access_key_id"], creds["secret_access_key"], creds.get("token")),
        case.context["region"],
        case.context["service"],
        sign_payload=True,
        clock=lambda: case.timestamp,
        header_filter=lambda name: True,
        content_sha256_header=case.context["sign_body"],
        sign_token=not case.context.get("omit_session_token", False),
        normalize_path=case.context["normalize"],
    )


def verifier_for(case: Case, *, now: float | None = None) -> Verifier:
    """A verifier that knows the case's key, with the clock at the case's timestamp."""
    creds = case.context["credentials"]
    moment = case.timestamp if now is None else now
    return Verifier(
        {creds["access_key_id"]: (creds["secret_access_key"], creds.get("token"))},
        service=case.context["service"],
        region=case.context["region"],
        clock=lambda: moment,
        normalize_path=case.context["normalize"],
    )


def test_the_suite_is_there_and_complete() -> None:
    folder = suite_dir()
    if folder is None:
        pytest.skip("AWS SigV4 test suite not found: set DUALMODE_SIGV4_SUITE to its folder")
    assert len(case_names()) >= 30
    for name in case_names():
        for step in ("canonical-request", "string-to-sign", "signature", "signed-request"):
            assert (folder / name / f"header-{step}.txt").is_file(), (name, step)


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_signer_matches_each_step(case: Case) -> None:
    signed = signer_for(case).sign_parts(
        case.method, case.host, case.path, case.query, headers=case.headers, body=case.body
    )
    assert signed.canonical_request == case.expected("canonical-request")
    assert signed.string_to_sign == case.expected("string-to-sign")
    assert signed.signature == case.expected("signature")
    # And the headers it returns are those of the expected signed request.
    _, _, expected_headers, _ = parse_request((case.folder / "header-signed-request.txt").read_text("utf-8"))
    expected = {n.lower(): v for n, v in expected_headers}
    assert signed.headers["Authorization"] == expected["authorization"]
    assert signed.headers["X-Amz-Date"] == expected["x-amz-date"]
    assert signed.headers.get("X-Amz-Security-Token") == expected.get("x-amz-security-token")
    assert signed.headers.get("X-Amz-Content-Sha256") == expected.get("x-amz-content-sha256")


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_signer_sign_takes_a_url(case: Case) -> None:
    url = f"https://{case.host}{case.path}" + (f"?{case.query}" if case.query else "")
    headers = signer_for(case).sign(case.method, url, case.headers, case.body)
    assert headers["Authorization"].endswith("Signature=" + case.expected("signature"))


def signed_case(case: Case) -> Case:
    """The case's ``header-signed-request.txt``, parsed."""
    return load_case(case.folder, "header-signed-request.txt")


def verify(verifier: Verifier, req: Case, **changes: Any) -> None:
    """Verify ``req`` with some parts replaced."""
    parts = {
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": req.headers,
        "body": req.body,
    }
    parts.update(changes)
    verifier.verify(parts["method"], parts["path"], parts["query"], parts["headers"], parts["body"])


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_verifier_accepts_each_signed_request(case: Case) -> None:
    verify(verifier_for(case), signed_case(case))
    # within the allowed skew on either side
    verify(verifier_for(case, now=case.timestamp + 299), signed_case(case))
    verify(verifier_for(case, now=case.timestamp - 299), signed_case(case))


def mutations(req: Case) -> list[tuple[str, dict[str, Any]]]:
    """Every signed part of ``req`` changed, one at a time."""
    auth = next(v for n, v in req.headers if n.lower() == "authorization")
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    out: list[tuple[str, dict[str, Any]]] = [
        ("method", {"method": "PUT" if req.method != "PUT" else "GET"}),
        ("path", {"path": req.path.rstrip("/") + "/other"}),
        ("query", {"query": (req.query + "&" if req.query else "") + "extra=1"}),
        ("body", {"body": req.body + b"tampered"}),
    ]
    if req.query:
        out.append(("query value", {"query": req.query.replace("=", "=x", 1)}))
    for name in signed:
        changed = [(n, v + "x" if n.lower() == name else v) for n, v in req.headers]
        out.append((f"header {name}", {"headers": changed}))
        dropped = [(n, v) for n, v in req.headers if n.lower() != name]
        out.append((f"no header {name}", {"headers": dropped}))
    sig = auth[-64:]
    flipped = auth[:-64] + ("0" if sig[0] != "0" else "1") + sig[1:]
    for label, new in [
        ("signature", flipped),
        ("region", auth.replace("/us-east-1/", "/us-west-2/")),
        ("service", auth.replace("/service/", "/other/")),
        ("scope date", auth.replace("/20150830/", "/20150831/")),
        ("access key", auth.replace("Credential=AKIDEXAMPLE", "Credential=AKIDOTHER")),
        (
            "signed header list",
            auth.replace(f"SignedHeaders={';'.join(signed)}", f"SignedHeaders={';'.join(signed[1:])}"),
        ),
        ("algorithm", auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512")),
    ]:
        assert new != auth, f"the {label} mutation changed nothing"
        headers = [(n, new if n.lower() == "authorization" else v) for n, v in req.headers]
        out.append((label, {"headers": headers}))
    return out


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_verifier_rejects_any_change(case: Case) -> None:
    req = signed_case(case)
    verifier = verifier_for(case)
    for label, change in mutations(req):
        with pytest.raises(SignatureError):
            verify(verifier, req, **change)
            pytest.fail(f"{case.name}: accepted after changing the {label}")


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_verifier_rejects_outside_the_skew(case: Case) -> None:
    for now in (case.timestamp + 301, case.timestamp - 301, case.timestamp + 86400):
        with pytest.raises(SignatureError, match="server clock"):
            verify(verifier_for(case, now=now), signed_case(case))
