"""Remote mode talks TLS to --addr by default: a real TLS gRPC server with a certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = """
from grpc_health.v1 import health_pb2, health_pb2_grpc

def test_grpc(grpc_channel):
    reply = health_pb2_grpc.HealthStub(grpc_channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
"""


def _certificate(directory: Path) -> tuple[bytes, bytes, Path]:
    """A self-signed certificate for the name ``api.test`` and 127.0.0.1 (key PEM, cert PEM, cert file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("api.test"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file = directory / "ca.pem"
    cert_file.write_bytes(cert_pem)
    return key_pem, cert_pem, cert_file


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, Path]:
    """Made once per module: cryptography must be imported before pytester snapshots sys.modules."""
    return _certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificate: tuple[bytes, bytes, Path]) -> Iterator[dict[str, Any]]:
    """A gRPC health service over TLS on 127.0.0.1, and the CA file that trusts it."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from grpc_health.v1 import health, health_pb2_grpc

    key_pem, cert_pem, cert_file = certificate
    server = grpc.server(ThreadPoolExecutor(4))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    server.start()
    try:
        yield {"addr": f"127.0.0.1:{port}", "ca": str(cert_file)}
    finally:
        server.stop(0).wait(5)


def test_tls_with_the_right_ca_passes(pytester: pytest.Pytester, tls_server: dict[str, Any]) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--addr", tls_server["addr"], "--grpc-ca-file", tls_server["ca"]
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"dualmode: remote, grpc {tls_server['addr']} (TLS)*"])


def test_tls_server_name_override_with_grpc_authority(
    pytester: pytest.Pytester, tls_server: dict[str, Any]
) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--addr",
        tls_server["addr"],
        "--grpc-ca-file",
        tls_server["ca"],
        "--grpc-authority",
        "api.test",
    )
    result.assert_outcomes(passed=1)


def test_tls_is_the_default_and_an_untrusted_server_fails(
    pytester: pytest.Pytester, tls_server: dict[str, Any]
) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--addr", tls_server["addr"], "--request-timeout", "3"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*StatusCode.UNAVAILABLE*"])


def test_plaintext_client_against_a_tls_server_fails(
    pytester: pytest.Pytester, tls_server: dict[str, Any]
) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--addr", tls_server["addr"], "--grpc-plaintext", "--request-timeout", "3"
    )
    result.assert_outcomes(failed=1)
