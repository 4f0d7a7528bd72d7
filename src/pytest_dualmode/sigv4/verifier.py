"""A SigV4 verifier that checks requests the way an IAM-auth front door (VPC Lattice, API Gateway) does.

:class:`Verifier` holds the known keys and checks one request; :class:`SigV4WsgiMiddleware` and
:class:`SigV4ServerInterceptor` put it in front of a WSGI app and a gRPC server. A rejection
carries a short reason that names what was wrong, never the expected signature or a secret.

How the gRPC server learns the signed host: grpcio does not show ``:authority`` to server code
(neither in ``invocation_metadata`` nor on the context), so the client interceptors also send the
host they signed as ``x-dualmode-authority`` metadata. That value is covered by the signature
(it is the signed ``host``), so it cannot be changed without breaking it; a server that knows
its own names passes ``authorities=`` and rejects a signature made for any other host.
"""

from __future__ import annotations

import calendar
import hmac
import io
import json
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_dualmode.sigv4 import canonical
from pytest_dualmode.sigv4.canonical import Headers
from pytest_dualmode.sigv4.signer import UNSIGNED_PAYLOAD_SERVICES
from pytest_dualmode.sigv4.wire import AUTHORITY_METADATA

_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9._:;\[\]-]{1,100}")
# AWS access key ids are upper-case letters and digits (AKIA..., ASIA...); anything else in that
# place may be a secret pasted into the wrong variable, and is not echoed.
_ACCESS_KEY_LIKE = re.compile(r"[A-Z0-9]{4,128}")


class SignatureError(Exception):
    """A request failed SigV4 verification; ``reason`` says why (safe to show: no secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CredentialsFileError(ValueError):
    """A ``--sigv4-credentials`` file cannot be used; the message names the file and the fix."""


def _shown(value: str) -> str:
    """``value`` quoted when it looks like a name or id, else a placeholder (never echo odd input)."""
    return repr(value) if _TOKEN_LIKE.fullmatch(value) else "(unreadable value)"


class Verifier:
    """Check SigV4 signatures against known keys.

    ``keys`` maps an access key id to ``(secret key, required session token or None)``.
    ``service`` is the service name the signature's scope must carry; ``region`` the region
    (``None`` accepts any). ``clock`` returns epoch seconds; requests more than ``max_skew_s``
    away from it are rejected. ``vpc-lattice-svcs`` requires ``x-amz-content-sha256`` and allows
    ``UNSIGNED-PAYLOAD``; other services (``execute-api``) need the payload hash to match the
    body, except when the body is not available (``body=None``, as for streamed gRPC calls).
    ``normalize_path=False`` keeps dot segments (S3-style services and some AWS test vectors).
    """

    def __init__(
        self,
        keys: Mapping[str, tuple[str, str | None]],
        *,
        service: str,
        region: str | None = None,
        clock: Callable[[], float] | None = None,
        max_skew_s: float = 300,
        normalize_path: bool = True,
    ) -> None:
        self._keys = dict(keys)
        self.service = service
        self.region = region
        self.max_skew_s = max_skew_s
        self._clock = clock or time.time
        self._normalize_path = normalize_path
        self._lattice = service in UNSIGNED_PAYLOAD_SERVICES
        self._signing_keys = canonical.SigningKeyCache()

    def __repr__(self) -> str:
        return f"<Verifier service={self.service} region={self.region or '*'} keys={len(self._keys)}>"

    @classmethod
    def from_credentials_file(
        cls,
        path: str | Path,
        *,
        service: str = "vpc-lattice-svcs",
        region: str | None = None,
        **options: Any,
    ) -> Verifier:
        """A verifier for the keys in a JSON file: ``{"AKID...": "secret"}`` or
        ``{"AKID...": {"secret": "...", "session_token": "..."}}``.

        ``options`` are the other :class:`Verifier` keywords (``clock``, ``max_skew_s``, ...).
        Raises :class:`CredentialsFileError` naming the file and what to fix.
        """
        return cls(load_credentials_file(path), service=service, region=region, **options)

    def verify(
        self,
        method: str,
        path: str,
        query: str,
        headers: Headers,
        body: bytes | None,
    ) -> None:
        """Check one request; raise :class:`SignatureError` if a front door would reject it.

        ``path`` and ``query`` are as sent on the wire (percent-encoded); ``headers`` a mapping or
        ``(name, value)`` pairs (repeated names allowed) that must include ``host``; ``body`` the
        request body, or ``None`` when it is streamed and cannot be hashed (gRPC).
        """
        fields: dict[str, list[str]] = {}
        for name, value in canonical.header_pairs(headers):
            fields.setdefault(name, []).append(value)

        auth = _single(fields, "authorization")
        if auth is None:
            raise SignatureError("missing Authorization header: the request is not SigV4-signed")
        access_key, date, region, service, signed, provided = _parse_authorization(auth)

        if access_key not in self._keys:
            shown = repr(access_key) if _ACCESS_KEY_LIKE.fullmatch(access_key) else "(not an access key id)"
            raise SignatureError(f"unknown access key id {shown}")
        secret, token = self._keys[access_key]
        if service != self.service:
            raise SignatureError(
                f"credential scope names service {_shown(service)}, this front door is {self.service!r}"
            )
        if self.region is not None and region != self.region:
            raise SignatureError(
                f"credential scope names region {_shown(region)}, this front door is in {self.region!r}"
            )

        amz_date = _single(fields, "x-amz-date")
        if amz_date is None or not _AMZ_DATE.fullmatch(amz_date):
            raise SignatureError("missing or malformed x-amz-date header (want YYYYMMDDTHHMMSSZ)")
        if amz_date[:8] != date:
            raise SignatureError(
                f"credential scope date {_shown(date)} is not the day of x-amz-date {amz_date}"
            )
        self._check_clock(amz_date)

        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            raise SignatureError(
                f"signed headers must include host and x-amz-date (signed: {_shown(signed)})"
            )
        # Payload and token first: their reasons are more telling than "a signed header is missing".
        content_hash = self._payload_hash(_single(fields, "x-amz-content-sha256"), body)
        self._check_token(_single(fields, "x-amz-security-token"), token)
        missing = [name for name in names if name not in fields]
        if missing:
            raise SignatureError(f"signed header {_shown(missing[0])} is not in the request")

        headers_text = "".join(
            f"{name}:{','.join(' '.join(v.split()) for v in fields[name])}\n" for name in names
        )
        request = canonical.canonical_request(
            method,
            canonical.canonical_path(path, normalize=self._normalize_path),
            canonical.canonical_query(query),
            headers_text,
            signed,
            content_hash=content_hash,
        )
        scope = canonical.credential_scope(date, region, service)
        text = canonical.string_to_sign(amz_date, scope, request)
        key = self._signing_keys.get(secret, date, region, service)
        if not hmac.compare_digest(canonical.signature(key, text), provided):
            raise SignatureError(
                f"signature does not match for access key {access_key}: wrong secret key, "
                "or the request changed after it was signed"
            )

    def _check_clock(self, amz_date: str) -> None:
        stamp = calendar.timegm(
            (
                int(amz_date[0:4]), int(amz_date[4:6]), int(amz_date[6:8]),
                int(amz_date[9:11]), int(amz_date[11:13]), int(amz_date[13:15]), 0, 0, 0,
            )
        )  # fmt: skip
        skew = stamp - self._clock()
        if abs(skew) > self.max_skew_s:
            when = "ahead of" if skew > 0 else "behind"
            raise SignatureError(
                f"request time {amz_date} is {abs(skew):.0f} s {when} the server clock "
                f"(limit {self.max_skew_s:.0f} s): expired or skewed clock"
            )

    def _payload_hash(self, header: str | None, body: bytes | None) -> str:
        if header is None:
            if self._lattice:
                raise SignatureError(
                    "missing x-amz-content-sha256 header (VPC Lattice needs UNSIGNED-PAYLOAD)"
                )
            return canonical.payload_hash(body or b"")
        if header == canonical.UNSIGNED_PAYLOAD:
            if self._lattice or body is None:
                return header
            raise SignatureError(f"UNSIGNED-PAYLOAD is not accepted by {self.service}: sign the payload hash")
        if not _HEX64.fullmatch(header):
            raise SignatureError(
                "malformed x-amz-content-sha256 header (want a hex SHA-256 or UNSIGNED-PAYLOAD)"
            )
        if body is not None and not hmac.compare_digest(header, canonical.payload_hash(body)):
            raise SignatureError("x-amz-content-sha256 does not match the request body")
        return header

    @staticmethod
    def _check_token(sent: str | None, required: str | None) -> None:
        # The token is compared directly, so an unsigned token (AWS allows it) is still checked.
        if required is None:
            if sent is not None:
                raise SignatureError("x-amz-security-token sent, but this access key takes no session token")
            return
        if sent is None:
            raise SignatureError("missing x-amz-security-token: this access key needs its session token")
        if not hmac.compare_digest(sent.encode(), required.encode()):
            raise SignatureError("x-amz-security-token does not match this access key's session token")


def _single(fields: Mapping[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise SignatureError(f"header {name} appears {len(values)} times")
    return values[0]


def _parse_authorization(value: str) -> tuple[str, str, str, str, str, str]:
    """``(access key, date, region, service, signed headers, signature)`` from the header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != canonical.ALGORITHM:
        raise SignatureError(f"unsupported algorithm {_shown(algorithm)} (want {canonical.ALGORITHM})")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, val = item.strip().partition("=")
        if sep:
            parts[name] = val.strip()
    credential, signed, sig = parts.get("Credential"), parts.get("SignedHeaders"), parts.get("Signature")
    if not credential or not signed or not sig:
        raise SignatureError(
            "malformed Authorization header "
            "(want 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...')"
        )
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != canonical.TERMINATOR:
        raise SignatureError(
            "malformed credential scope (want ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request)"
        )
    if not _HEX64.fullmatch(sig):
        raise SignatureError("malformed signature (want 64 lower-case hex digits)")
    return scope[0], scope[1], scope[2], scope[3], signed, sig


def load_credentials_file(path: str | Path) -> dict[str, tuple[str, str | None]]:
    """Read a credentials JSON file into the ``keys`` a :class:`Verifier` takes."""
    where = f"SigV4 credentials file {str(path)!r}"
    hint = (
        'want JSON like {"AKIDEXAMPLE": "secret"} or '
        '{"AKIDEXAMPLE": {"secret": "...", "session_token": "..."}}'
    )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsFileError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        # The message names the position only: the text may hold secrets.
        raise CredentialsFileError(
            f"{where} is not valid JSON (line {getattr(exc, 'lineno', '?')}); {hint}"
        ) from None
    if not isinstance(data, dict) or not data:
        raise CredentialsFileError(f"{where} must be a non-empty JSON object; {hint}")
    keys: dict[str, tuple[str, str | None]] = {}
    for key_id, entry in data.items():
        if isinstance(entry, str):
            secret, token = entry, None
        elif isinstance(entry, dict) and isinstance(entry.get("secret"), str):
            secret, token = entry["secret"], entry.get("session_token")
            if token is not None and not isinstance(token, str):
                raise CredentialsFileError(f"{where}: session_token of {key_id!r} must be a string; {hint}")
        else:
            raise CredentialsFileError(
                f"{where}: the entry for {key_id!r} is a {type(entry).__name__}, not a secret string "
                f"or an object with a 'secret'; {hint}"
            )
        if not key_id or not secret:
            raise CredentialsFileError(f"{where}: empty access key id or secret for {key_id!r}; {hint}")
        keys[key_id] = (secret, token)
    return keys


class SigV4WsgiMiddleware:
    """WSGI middleware that answers requests failing SigV4 verification with 403.

    The body is ``{"error": {"code": "UNAUTHENTICATED", "message": "SigV4: <reason>"}}``. The
    path is taken as sent (``RAW_URI`` / ``REQUEST_URI``; re-encoded ``PATH_INFO`` otherwise),
    and the body is read once and handed on to the app.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], verifier: Verifier) -> None:
        self.app = app
        self.verifier = verifier

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Verify the request, then pass it to the app or answer 403."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            self.verifier.verify(
                environ.get("REQUEST_METHOD", "GET"),
                _raw_path(environ),
                environ.get("QUERY_STRING", ""),
                _wsgi_headers(environ),
                body,
            )
        except SignatureError as exc:
            payload = rejection_body(exc.reason)
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        return self.app(environ, start_response)


def rejection_body(reason: str) -> bytes:
    """The JSON body of a 403 answer to a request that failed verification (the HTTP middlewares')."""
    error = {"code": "UNAUTHENTICATED", "message": f"SigV4: {reason}"}
    return json.dumps({"error": error}).encode()


def _raw_path(environ: Mapping[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = str(raw).partition("?")[0]
        if "://" in path:  # an absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return path
    from urllib.parse import quote

    # PATH_INFO is decoded (as latin-1); re-encode what a client would have encoded.
    decoded = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    decoded = decoded.encode("latin-1").decode("utf-8", "replace")
    return quote(decoded, safe="/!$&'()*+,;=:@~")


def _wsgi_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = [
        (key[5:].replace("_", "-").lower(), value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    if environ.get("CONTENT_TYPE"):
        pairs.append(("content-type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        pairs.append(("content-length", environ["CONTENT_LENGTH"]))
    if "HTTP_HOST" not in environ:
        pairs.append(("host", f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"))
    return pairs


class SigV4ServerInterceptor:
    """A ``grpc.ServerInterceptor`` that rejects calls failing SigV4 verification with UNAUTHENTICATED.

    A call is verified as ``POST https://{host}/{package.Service}/{Method}`` with no body
    (clients sign ``UNSIGNED-PAYLOAD``). The host is the ``x-dualmode-authority`` metadata sent by
    :func:`pytest_dualmode.sigv4.transport.client_interceptors` and
    :class:`pytest_dualmode.sigv4.channel.SigningChannel`; ``authorities`` (optional) lists
    the hosts this server answers to, and a signature for any other is rejected. Works for all
    four call kinds: the rejecting handler has the kind of the method it stands in for.
    """

    def __init__(self, verifier: Verifier, *, authorities: Collection[str] = ()) -> None:
        import grpc

        # Registered, not inherited, so that importing this module does not import grpc.
        grpc.ServerInterceptor.register(SigV4ServerInterceptor)
        self.verifier = verifier
        self.authorities = frozenset(authorities)

    def intercept_service(self, continuation: Callable[[Any], Any], handler_call_details: Any) -> Any:
        """Verify the call's metadata; hand on to ``continuation`` or return a rejecting handler."""
        reason = self.rejection(handler_call_details)
        if reason is not None:
            return _rejecting_handler(continuation(handler_call_details), reason)
        return continuation(handler_call_details)

    def rejection(self, handler_call_details: Any) -> str | None:
        """Why a front door would refuse this call (``"SigV4: <reason>"``), or None when it is signed right.

        Shared by this interceptor and the ``grpc.aio`` one
        (:class:`pytest_dualmode.sigv4.aio.SigV4AioServerInterceptor`).
        """
        # Binary (-bin) values cannot be signed headers; a client's own "host" never overrides the signed one.
        headers = [
            (m.key, m.value)
            for m in handler_call_details.invocation_metadata or ()
            if isinstance(m.value, str) and m.key != "host"
        ]
        try:
            host = next((v for k, v in headers if k == AUTHORITY_METADATA), None)
            if host is not None:
                if self.authorities and host not in self.authorities:
                    raise SignatureError(f"signed for host {_shown(host)}, not for this server")
                headers.append(("host", host))
            elif any(k == "authorization" for k, _ in headers):
                raise SignatureError(
                    f"no signed host: send the {AUTHORITY_METADATA} metadata "
                    "(pytest-dualmode's client interceptors do)"
                )
            # (an unsigned call, host or not, fails in verify() as "missing Authorization header")
            self.verifier.verify("POST", handler_call_details.method, "", headers, None)
        except SignatureError as exc:
            return f"SigV4: {exc.reason}"
        return None


def _rejecting_handler(handler: Any, message: str, reject: Callable[..., Any] | None = None) -> Any:
    """A handler of ``handler``'s call kind whose behaviour is ``reject`` (default: abort with
    UNAUTHENTICATED and ``message``)."""
    import grpc

    def abort(request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    reject = reject or abort

    if handler is None:  # an unknown method: reject before revealing that it does not exist
        return grpc.unary_unary_rpc_method_handler(reject)
    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(
        reject,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
