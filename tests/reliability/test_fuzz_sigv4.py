"""Property test of the SigV4 verifier: a randomly built request signed by the signer verifies, and every
random mutation of a signed part of it (method, path, query, host, a signed header, the date, the body when
the payload is signed, any part of the Authorization header, the session token) is rejected."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from rel_settings import fuzz_settings

from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.verifier import SignatureError, Verifier

pytestmark = pytest.mark.reliability

NOW = 1_750_000_000.0
REGION = "us-east-1"
KEYS = {
    "AKIDFUZZPERMANENT01": ("Fuzz0SecretKey/For+ThePermanentKey012345", None),
    "ASIAFUZZTEMPORARY01": (
        "Fuzz1SecretKey/For+TheTemporaryKey012345",
        "IQoJb3JpZ2luFuzzSessionToken0123456789",
    ),
}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
WORD = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)
SEGMENTS = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,10}|%[0-9A-F]{2}", fullmatch=True), max_size=4)
QUERY = st.lists(st.tuples(WORD, st.from_regex(r"[A-Za-z0-9]{0,8}", fullmatch=True)), max_size=4)
HEADERS = st.dictionaries(
    st.from_regex(r"x-fuzz-[a-z]{1,8}", fullmatch=True),
    st.from_regex(r"[!-~]{1,20}", fullmatch=True),
    max_size=3,
)
MUTATIONS = [
    "method", "path", "query-add", "query-change", "query-drop", "host", "header-change", "header-drop",
    "header-dup", "date", "body", "signature", "scope-key", "scope-date", "scope-region", "scope-service",
    "signed-headers", "token", "authorization-drop", "content-sha",
]  # fmt: skip


def _set(headers: list[tuple[str, str]], name: str, value: str | None) -> list[tuple[str, str]]:
    """``headers`` with every ``name`` replaced by one ``value`` (or removed when None)."""
    kept = [(k, v) for k, v in headers if k.lower() != name]
    return kept if value is None else [*kept, (name, value)]


def _get(headers: list[tuple[str, str]], name: str) -> str:
    return next(v for k, v in headers if k.lower() == name)


def mutate(kind: str, req: dict[str, Any], data: st.DataObject) -> dict[str, Any] | None:
    """``req`` with one signed part changed, so no honest verifier may accept it (None: not applicable)."""
    req = dict(req)
    headers: list[tuple[str, str]] = list(req["headers"])
    auth = _get(headers, "authorization")
    pairs = [p.split("=", 1) for p in req["query"].split("&")] if req["query"] else []
    extra = [k for k, _ in headers if k.startswith("x-fuzz-")]
    if kind == "method":
        req["method"] = data.draw(st.sampled_from([m for m in METHODS if m != req["method"]]))
    elif kind == "path":
        req["path"] = req["path"].rstrip("/") + "/" + data.draw(WORD)
    elif kind == "query-add":
        pairs.append([data.draw(WORD), data.draw(WORD)])
    elif kind == "query-change" and pairs:
        pairs[0] = [pairs[0][0], pairs[0][1] + data.draw(WORD)]
    elif kind == "query-drop" and pairs:
        pairs.pop(data.draw(st.integers(0, len(pairs) - 1)))
    elif kind == "host":
        headers = _set(headers, "host", data.draw(WORD) + ".other.internal")
    elif kind == "header-change" and extra:
        name = data.draw(st.sampled_from(extra))
        headers = _set(headers, name, _get(headers, name) + data.draw(WORD))
    elif kind == "header-drop" and extra:
        headers = _set(headers, data.draw(st.sampled_from(extra)), None)
    elif kind == "header-dup" and extra:
        headers.append((data.draw(st.sampled_from(extra)), data.draw(WORD)))
    elif kind == "date":
        stamp = _get(headers, "x-amz-date")
        second = int(stamp[13:15])
        shifted = (second + data.draw(st.integers(1, 58))) % 60
        headers = _set(headers, "x-amz-date", f"{stamp[:13]}{shifted:02d}Z")
    elif kind == "body" and req["signs_payload"]:
        req["body"] = req["body"] + data.draw(st.binary(min_size=1, max_size=4))
    elif kind == "signature":
        sig = re.search(r"Signature=([0-9a-f]{64})", auth)
        assert sig is not None
        i = data.draw(st.integers(0, 63))
        flipped = sig.group(1)[:i] + ("0" if sig.group(1)[i] != "0" else "1") + sig.group(1)[i + 1 :]
        headers = _set(headers, "authorization", auth.replace(sig.group(1), flipped))
    elif kind.startswith("scope-"):
        match = re.search(r"Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request", auth)
        assert match is not None
        key, date, region, service = match.groups()
        if kind == "scope-key":
            key = next(k for k in KEYS if k != key)
        elif kind == "scope-date":
            date = "20240101" if date != "20240101" else "20240102"
        elif kind == "scope-region":
            region = "eu-west-1"
        else:
            service = "execute-api" if service != "execute-api" else "vpc-lattice-svcs"
        headers = _set(
            headers,
            "authorization",
            auth.replace(match.group(0), f"Credential={key}/{date}/{region}/{service}/aws4_request"),
        )
    elif kind == "signed-headers":
        listed = re.search(r"SignedHeaders=([^,]+)", auth)
        assert listed is not None
        names = listed.group(1).split(";")
        drop = data.draw(st.sampled_from(names))
        kept = ";".join(n for n in names if n != drop)
        headers = _set(headers, "authorization", auth.replace(listed.group(0), f"SignedHeaders={kept}"))
    elif kind == "token":
        token = next((v for k, v in headers if k == "x-amz-security-token"), None)
        headers = _set(
            headers,
            "x-amz-security-token",
            None if token and data.draw(st.booleans()) else (token or "") + "x",
        )
    elif kind == "authorization-drop":
        headers = _set(headers, "authorization", None)
    elif kind == "content-sha":
        current = _get(headers, "x-amz-content-sha256")
        headers = _set(headers, "x-amz-content-sha256", "0" * 64 if current != "0" * 64 else "1" * 64)
    else:
        return None
    req["query"] = "&".join(f"{k}={v}" for k, v in pairs)
    req["headers"] = headers
    return req


# What a mutation needs to apply: a header to change, a query pair, a signed payload.
_NEEDS_HEADER = {"header-change", "header-drop", "header-dup"}
_NEEDS_QUERY = {"query-change", "query-drop"}


@pytest.mark.parametrize("kind", MUTATIONS)
def test_every_mutation_of_a_signed_request_is_rejected(kind: str, figures: Any) -> None:
    # One property per kind of mutation, its inputs drawn so that the mutation applies: every kind is tried
    # by construction, not by the luck of a draw (600 examples in all, as one property over every kind).
    examples = 0
    services = ["execute-api"] if kind == "body" else ["vpc-lattice-svcs", "execute-api"]

    @fuzz_settings(max_examples=600 // len(MUTATIONS), suppress_health_check=[HealthCheck.too_slow])
    @given(
        service=st.sampled_from(services),
        key=st.sampled_from(sorted(KEYS)),
        method=st.sampled_from(METHODS),
        segments=SEGMENTS,
        query=QUERY.filter(bool) if kind in _NEEDS_QUERY else QUERY,
        extra=HEADERS.filter(bool) if kind in _NEEDS_HEADER else HEADERS,
        body=st.binary(max_size=64),
        data=st.data(),
    )
    def check(
        service: str, key: str, method: str, segments: list[str], query: list[tuple[str, str]],
        extra: dict[str, str], body: bytes, data: st.DataObject,
    ) -> None:  # fmt: skip
        nonlocal examples
        from botocore.credentials import Credentials

        secret, token = KEYS[key]
        signs_payload = service == "execute-api"
        signer = Signer(Credentials(key, secret, token), REGION, service, sign_payload=signs_payload,
                        clock=lambda: NOW, header_filter=lambda name: True)  # fmt: skip
        path = "/" + "/".join(segments)
        query_text = "&".join(f"{k}={v}" for k, v in query)
        url = f"https://api.internal{path}" + (f"?{query_text}" if query_text else "")
        headers = [("host", "api.internal"), *extra.items()]
        headers += list(signer.sign(method, url, dict(headers), body).items())
        verifier = Verifier(KEYS, service=service, region=REGION, clock=lambda: NOW)
        req: dict[str, Any] = {"method": method, "path": path, "query": query_text, "headers": headers,
                               "body": body, "signs_payload": signs_payload}  # fmt: skip
        verifier.verify(method, path, query_text, headers, body)  # the original is accepted
        bad = mutate(kind, req, data)
        if bad is None:
            return
        examples += 1
        with pytest.raises(SignatureError):
            verifier.verify(bad["method"], bad["path"], bad["query"], bad["headers"], bad["body"])

    check()
    assert examples > 0, f"no example applied the {kind!r} mutation"
    figures.add(
        "fuzz", f"SigV4 verifier: every {kind} mutation of a signed request is rejected", examples=examples
    )
