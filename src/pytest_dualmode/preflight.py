"""``--preflight``: before any test, prove that the target accepts one signed request, or say why not.

For each remote target, in order: a TLS handshake (with the client certificate, when one is set),
then one signed request (gRPC: ``grpc.health.v1.Health/Check``; HTTP: ``GET`` of ``--preflight-path``,
``/`` by default). A failure names the step that failed: **TLS** (the handshake's own error), the
**signature** (``UNAUTHENTICATED``, HTTP 401, or a 403 saying ``InvalidSignatureException``/
``SignatureDoesNotMatch``...) or the **authorisation** (``PERMISSION_DENIED``, a 403 with
``AccessDeniedException`` or any other 403). Any other answer (a 404, ``UNIMPLEMENTED``, a 5xx from the
service behind the door) means the request got through the front door.

One answer is neither: API Gateway (REST) answers a *signed* request to a path that no method serves
with 403 ``MissingAuthenticationTokenException``, as if it were unsigned. The **route** is named then,
with ``--preflight-path`` as the fix.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pytest_dualmode.settings import Settings

# Error codes of AWS front doors (API Gateway, VPC Lattice, IAM) that mean "bad or missing signature".
SIGNATURE_ERRORS = (
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
    "MissingAuthenticationToken",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "UNAUTHENTICATED",
)
AUTHORISATION_ERRORS = ("AccessDeniedException", "not authorized", "PERMISSION_DENIED")
_SIGNATURE_FIX = (
    "check the credentials, --aws-region and --sigv4-service (execute-api for API Gateway, "
    "vpc-lattice-svcs for VPC Lattice)"
)
_AUTHORISATION_FIX = (
    "the signature was accepted but this identity may not call the service: check its IAM or auth "
    "policy (execute-api:Invoke, vpc-lattice-svcs:Invoke) or the API key (--header x-api-key=...)"
)


def tls_problem(
    host: str,
    port: int,
    *,
    server_name: str,
    ca_file: str | None,
    cert: str | None,
    key: str | None,
    alpn: str,
    timeout: float,
) -> str | None:
    """A TLS handshake with ``host:port``; a description of what failed, or None.

    With TLS 1.3 a server checks the client's certificate after the client's handshake is done, so a
    refusal arrives as an alert on the first read: one short read follows the handshake.
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols([alpn])
    if cert and key:
        context.load_cert_chain(cert, key)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            tls.settimeout(min(timeout, 0.5))
            # Nothing to read yet means the server kept the connection, so it took our certificate; a
            # connection closed at once (as BoringSSL's servers do, without an alert) means it did not.
            closed = False
            with contextlib.suppress(TimeoutError):
                closed = tls.recv(1) == b""
            if closed:
                given = "refused the client certificate" if cert else "wants a client certificate"
                return (
                    f"TLS: the server closed the connection right after the handshake: it probably {given}; "
                    "check --tls-client-cert and --tls-client-key"
                )
    except ssl.SSLCertVerificationError as exc:
        return (
            f"TLS: the server's certificate was not accepted ({exc.verify_message}); pass the CA that signed "
            "it with --tls-ca-file (or --grpc-ca-file), or check --grpc-authority"
        )
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if any(
            word in str(exc).upper() for word in ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA")
        ):
            given = "the client certificate was refused" if cert else "the server wants a client certificate"
            return f"TLS: {given} ({reason}); check --tls-client-cert and --tls-client-key"
        return f"TLS: the handshake failed ({reason})"
    except OSError as exc:
        return f"TLS: the connection failed during the handshake ({exc.strerror or type(exc).__name__})"
    return None


def classify_http(status: int, error_type: str, body: str, *, signed: bool = True) -> str | None:
    """The failed step of an HTTP answer (``signature``/``authorisation``/``route``), or None when it got
    through. ``signed``: the request carried a signature (a "missing token" answer then means the route)."""
    if status not in (401, 403):
        return None
    text = f"{error_type} {body}"
    missing = "MissingAuthenticationToken" in text or "Missing Authentication Token" in text
    others = [code for code in SIGNATURE_ERRORS if not code.startswith("MissingAuthenticationToken")]
    if signed and status == 403 and missing and not any(code in text for code in others):
        return "route"
    if status == 401 or missing or any(code in text for code in SIGNATURE_ERRORS):
        return "signature"
    return "authorisation"


def _http(s: Settings, signer: Any, redact: Callable[[str], str]) -> str | None:
    import requests

    from pytest_dualmode.clients import BaseUrlSession
    from pytest_dualmode.frontdoor import requests_auth
    from pytest_dualmode.fronted import configure_session

    assert s.http_addr is not None
    session = BaseUrlSession(s.http_addr, timeout=s.connect_timeout)
    session.auth = requests_auth(signer)
    configure_session(session, s, remote=True)
    try:
        with session:
            response = session.get(s.preflight_path)
    except requests.exceptions.SSLError as exc:
        return f"TLS: {redact(str(exc))[:300]}"
    except requests.RequestException as exc:
        return f"the signed request failed ({type(exc).__name__}: {redact(str(exc))[:300]})"
    error_type = response.headers.get("x-amzn-ErrorType", "")
    step = classify_http(response.status_code, error_type, response.text[:2000], signed=signer is not None)
    if step is None:
        return None
    shown = redact(f"{error_type} {response.text[:300]}".strip())
    if step == "route":
        return (
            f"route not found: HTTP {response.status_code} {shown} to a signed GET {s.preflight_path}: "
            "API Gateway answers so when no method serves the path, whatever the signature; "
            "give --preflight-path a path the API serves, e.g. --preflight-path /health"
        )
    fix = _SIGNATURE_FIX if step == "signature" else _AUTHORISATION_FIX
    return f"{step} rejected: HTTP {response.status_code} {shown}; {fix}"


def _grpc(s: Settings, signer: Any, redact: Callable[[str], str]) -> str | None:
    import grpc

    from pytest_dualmode.clients import make_channel
    from pytest_dualmode.fronted import tls_and_headers

    assert s.addr is not None
    channel = make_channel(
        s.addr,
        tls=not s.grpc_plaintext,
        authority=s.grpc_authority,
        signer=signer,
        timeout=s.connect_timeout,
        **tls_and_headers(s, remote=True),
    )
    try:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        check(b"", timeout=s.connect_timeout)  # an empty HealthCheckRequest
    except grpc.RpcError as exc:
        code, details = exc.code(), redact(exc.details() or "")[:300]
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return f"signature rejected: gRPC UNAUTHENTICATED {details}; {_SIGNATURE_FIX}"
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return f"authorisation rejected: gRPC PERMISSION_DENIED {details}; {_AUTHORISATION_FIX}"
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            lowered = details.lower()
            if "ssl" in lowered or "handshake" in lowered or "certificate" in lowered or "tls" in lowered:
                return f"TLS: {details}"
            return f"the signed call did not get an answer: {code.name} {details}"
        return None  # NOT_FOUND, UNIMPLEMENTED...: the front door let the call through
    finally:
        channel.close()
    return None


def run(s: Settings, signer: Any, redact: Callable[[str], str] = lambda t: t) -> list[str]:
    """Every problem found, one line per target (empty when each accepted a signed request)."""
    problems = []
    if s.addr:
        host, _, port = s.addr.rpartition(":")
        problem = None
        if not s.grpc_plaintext:
            ca = s.grpc_ca_file or s.tls_ca_file
            problem = tls_problem(
                host.strip("[]"),
                int(port),
                server_name=s.grpc_authority or host.strip("[]"),
                ca_file=ca,
                cert=s.tls_client_cert,
                key=s.tls_client_key,
                alpn="h2",
                timeout=s.connect_timeout,
            )
        problem = problem or _grpc(s, signer, redact)
        if problem:
            problems.append(f"--addr {s.addr}: {problem}")
    if s.http_addr:
        parts = urlsplit(s.http_addr)
        problem = None
        if parts.scheme == "https":
            problem = tls_problem(
                parts.hostname or "",
                parts.port or 443,
                server_name=parts.hostname or "",
                ca_file=s.tls_ca_file,
                cert=s.tls_client_cert,
                key=s.tls_client_key,
                alpn="http/1.1",
                timeout=s.connect_timeout,
            )
        problem = problem or _http(s, signer, redact)
        if problem:
            problems.append(f"--http-addr {s.http_addr}: {problem}")
    return problems
