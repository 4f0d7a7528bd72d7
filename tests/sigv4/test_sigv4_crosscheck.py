"""Our signer against botocore's ``SigV4Auth``: byte-identical Authorization for the same request and time.

botocore signs every header it is given; ours signs only host, x-amz-date, x-amz-content-sha256 and
x-amz-security-token, so botocore gets exactly those (plus unsigned noise it would also sign is left
out). botocore always signs the payload over plain http, so unsigned-payload cases use https URLs.
"""

from __future__ import annotations

import datetime
from unittest import mock
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_dualmode.sigv4.signer import Signer

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SEGMENT = TEXT.filter(lambda s: s not in ("", ".", "..")).map(lambda s: quote(s, safe=""))
PAIR = st.tuples(TEXT.filter(bool), TEXT).map(
    lambda kv: f"{quote(kv[0], safe='-_.~')}={quote(kv[1], safe='-_.~')}"
)


# Hosts as written in URLs: botocore (and an HTTP client) lower-case them and drop user info.
HOSTS = [
    "api.internal",
    "Example.COM",
    "127.0.0.1",
    "svc-0a1b.vpc-lattice-svcs.aws",
    "user:pw@api.internal",
    "[::1]",
]


@st.composite
def requests_(draw: st.DrawFn) -> dict[str, object]:
    service = draw(st.sampled_from(["vpc-lattice-svcs", "execute-api"]))
    signs_payload = service == "execute-api"
    scheme = draw(st.sampled_from(["http", "https"])) if signs_payload else "https"
    host = draw(st.sampled_from(HOSTS))
    port = draw(st.sampled_from(["", ":443", ":80", ":8443", ":50051"]))
    path = "/" + "/".join(draw(st.lists(SEGMENT, max_size=4))) + draw(st.sampled_from(["", "/"]))
    query = "&".join(draw(st.lists(PAIR, max_size=4)))
    return {
        "service": service,
        "signs_payload": signs_payload,
        "url": f"{scheme}://{host}{port}{path}" + (f"?{query}" if query else ""),
        "method": draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])),
        "body": draw(st.one_of(st.none(), st.binary(max_size=64))),
        "region": draw(st.sampled_from(["us-east-1", "eu-west-2", "ap-southeast-2"])),
        "when": draw(st.integers(min_value=1_400_000_000, max_value=2_000_000_000)),
        "secret": draw(st.text(alphabet="abcXYZ0129/+", min_size=1, max_size=40)),
        "token": draw(st.one_of(st.none(), st.text(alphabet="abcXYZ0129/+=", min_size=1, max_size=80))),
    }


def botocore_authorization(case: dict[str, object], content_sha256: str) -> str:
    creds = Credentials("AKIDCROSSCHECK", str(case["secret"]), case["token"])  # type: ignore[arg-type]
    request = AWSRequest(method=case["method"], url=case["url"], data=case["body"] or b"", headers={})
    if case["signs_payload"]:
        request.headers["X-Amz-Content-SHA256"] = content_sha256
    else:
        request.context["payload_signing_enabled"] = False
    now = datetime.datetime.fromtimestamp(case["when"], datetime.UTC).replace(tzinfo=None)  # type: ignore[arg-type]
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        SigV4Auth(creds, case["service"], case["region"]).add_auth(request)
    return str(request.headers["Authorization"])


@settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests_())
def test_signatures_equal_botocores(case: dict[str, object]) -> None:
    creds = Credentials("AKIDCROSSCHECK", str(case["secret"]), case["token"])  # type: ignore[arg-type]
    signer = Signer(
        creds,
        str(case["region"]),
        str(case["service"]),
        sign_payload=bool(case["signs_payload"]),
        clock=lambda: float(case["when"]),  # type: ignore[arg-type]
    )
    # Headers a client adds that neither signer may sign (ours leaves them out; botocore never sees them).
    noise = {"User-Agent": "python-requests/2", "Accept": "*/*", "Connection": "keep-alive"}
    ours = signer.sign(str(case["method"]), str(case["url"]), noise, case["body"])  # type: ignore[arg-type]
    assert ours["Authorization"] == botocore_authorization(case, ours["X-Amz-Content-Sha256"])
    assert ours.get("X-Amz-Security-Token") == case["token"]


def test_the_cached_key_gives_the_same_signature_as_a_fresh_one() -> None:
    creds = Credentials("AKIDCROSSCHECK", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    signer = Signer(creds, "us-east-1", "execute-api", sign_payload=True, clock=lambda: 1_700_000_000.0)
    first = signer.sign("GET", "https://api.internal/v1/x?a=1")
    again = signer.sign("GET", "https://api.internal/v1/x?a=1")
    fresh = Signer(creds, "us-east-1", "execute-api", sign_payload=True, clock=lambda: 1_700_000_000.0)
    assert first == again == fresh.sign("GET", "https://api.internal/v1/x?a=1")
    case = {
        "service": "execute-api", "signs_payload": True, "url": "https://api.internal/v1/x?a=1",
        "method": "GET", "body": None, "region": "us-east-1", "when": 1_700_000_000,
        "secret": creds.secret_key, "token": None,
    }  # fmt: skip
    assert first["Authorization"] == botocore_authorization(case, first["X-Amz-Content-Sha256"])
