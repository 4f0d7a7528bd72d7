"""Servers on 127.0.0.1 for the auth tests: certificates made here (a CA, a server and a client), an mTLS
HTTP server and an mTLS gRPC server (as an Envoy front would be), front doors that deny, and the example
service standalone behind its SigV4 front door."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIDAUTHTESTS0000001",
    "AWS_SECRET_ACCESS_KEY": "auth-tests-secret-0123456789",
}


@dataclass
class Pki:
    """PEM files: ``ca``, ``server_cert``/``server_key`` (for 127.0.0.1), ``client_cert``/``client_key``,
    and ``other_ca`` (a CA that signed none of them)."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool, server: bool = False) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: Any = None, key: Any = None) -> str:
    from cryptography.hazmat.primitives import serialization

    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return str(path)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A fresh CA, a server certificate for 127.0.0.1 and a client certificate, all made for this run."""
    d = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key, other_key = _key(), _key(), _key(), _key()
    ca = _cert("test ca", ca_key, "test ca", ca_key, ca=True)
    return Pki(
        ca=_write(d / "ca.pem", ca),
        server_cert=_write(
            d / "server.pem", _cert("127.0.0.1", server_key, "test ca", ca_key, ca=False, server=True)
        ),
        server_key=_write(d / "server.key", key=server_key),
        client_cert=_write(d / "client.pem", _cert("test client", client_key, "test ca", ca_key, ca=False)),
        client_key=_write(d / "client.key", key=client_key),
        other_ca=_write(d / "other-ca.pem", _cert("other ca", other_key, "other ca", other_key, ca=True)),
    )


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with its headers as JSON, or with the status and headers set on the server."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, extra, body = getattr(self.server, "reply", (200, {}, b""))
        routes = getattr(self.server, "routes", None)
        if routes is not None and self.path not in routes:  # as API Gateway answers a path with no method
            status, extra = 403, {"x-amzn-ErrorType": "MissingAuthenticationTokenException"}
            body = b'{"message":"Missing Authentication Token"}'
        if status == 200:
            body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server_factory() -> Iterator[Any]:
    """``make(tls_context=None, reply=(status, headers, body), routes=None)`` -> base URL; all stopped at
    the end. With ``routes`` (paths), any other path gets API Gateway's answer for a path with no method."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def make(tls_context: ssl.SSLContext | None = None, reply: Any = None, routes: Any = None) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        if reply is not None:
            server.reply = reply  # type: ignore[attr-defined]
        if routes is not None:
            server.routes = set(routes)  # type: ignore[attr-defined]
        if tls_context is not None:
            server.socket = tls_context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"{'https' if tls_context else 'http'}://127.0.0.1:{server.server_address[1]}"

    yield make
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def mtls_context(pki: Pki) -> ssl.SSLContext:
    """A server TLS context that requires a client certificate signed by the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture
def grpc_server_factory() -> Iterator[Any]:
    """``make(pki=None, deny=None)`` -> ``127.0.0.1:PORT``: the health service, mTLS when ``pki`` is given,
    every call aborted with ``deny`` (a ``grpc.StatusCode``) when set; ``.seen``: each call's metadata."""
    import grpc
    from grpc_health.v1 import health, health_pb2_grpc

    servers: list[Any] = []

    class Recorder(grpc.ServerInterceptor):
        def __init__(self, deny: Any) -> None:
            self.deny = deny
            self.seen: list[dict[str, str]] = []

        def intercept_service(self, continuation: Any, details: Any) -> Any:
            self.seen.append(dict(details.invocation_metadata))
            if self.deny is None:
                return continuation(details)
            deny = self.deny

            def abort(request: Any, context: Any) -> Any:
                context.abort(deny, f"denied by the test ({deny.name})")

            return grpc.unary_unary_rpc_method_handler(abort)

    def make(pki: Pki | None = None, deny: Any = None) -> tuple[str, Any]:
        from concurrent.futures import ThreadPoolExecutor

        recorder = Recorder(deny)
        server = grpc.server(ThreadPoolExecutor(4), interceptors=[recorder])
        health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
        if pki is None:
            port = server.add_insecure_port("127.0.0.1:0")
        else:
            creds = grpc.ssl_server_credentials(
                [(Path(pki.server_key).read_bytes(), Path(pki.server_cert).read_bytes())],
                root_certificates=Path(pki.ca).read_bytes(),
                require_client_auth=True,
            )
            port = server.add_secure_port("127.0.0.1:0", creds)
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}", recorder

    yield make
    for server in servers:
        server.stop(None)


@pytest.fixture(scope="session")
def moto_url(start_moto: Any) -> Iterator[str]:
    """moto's server in its own process, for the standalone example service."""
    with start_moto() as url:
        yield url


@pytest.fixture(scope="session")
def example_factory(moto_url: str, standalone_example: Any) -> Iterator[Any]:
    """``start(service)`` -> the ready line ``{"grpc": ..., "http": ...}`` of the standalone example service
    behind its SigV4 front door for ``service`` (``vpc-lattice-svcs``/``execute-api``), key ``FAKE_AWS``."""
    keys = {FAKE_AWS["AWS_ACCESS_KEY_ID"]: FAKE_AWS["AWS_SECRET_ACCESS_KEY"]}
    started: dict[str, dict[str, str]] = {}
    with contextlib.ExitStack() as stack:

        def start(service: str) -> dict[str, str]:
            if service not in started:
                args = ["--sigv4-service", service, "--table", f"auth-{service}", "--table-timeout", "30"]
                started[service] = stack.enter_context(standalone_example(moto_url, *args, keys=keys))
            return started[service]

        yield start


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test key in the environment (inherited by pytester subprocesses), region us-east-1."""
    for name, value in {**FAKE_AWS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return dict(FAKE_AWS)
