"""AWS Signature Version 4 for pytest-dualmode: one signer for HTTP and gRPC, one verifying front door.

- :class:`Signer` signs a request (byte-identical to botocore's ``SigV4Auth``, with a cached
  signing key); :func:`build_signer` builds one from botocore's credential chain.
- :class:`RequestsSigV4Auth` puts it on ``requests``; :func:`signing_channel` (what the plugin uses)
  and :func:`client_interceptors` put it on gRPC.
- :class:`Verifier` checks signatures like an IAM-auth front door; :class:`SigV4WsgiMiddleware`
  and :class:`SigV4ServerInterceptor` put it before a WSGI app and a gRPC server,
  :class:`SigV4AsgiMiddleware` and :class:`SigV4AioServerInterceptor` before an ASGI app and a
  ``grpc.aio`` server; :class:`HttpxSigV4Auth` signs ``httpx`` requests.

Importing this package imports neither grpc nor botocore nor requests: names that need them load on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_dualmode import lazy_getattr
from pytest_dualmode.sigv4.signer import SAFE_HEADERS, Signer, preset_signs_payload
from pytest_dualmode.sigv4.verifier import (
    CredentialsFileError,
    SignatureError,
    SigV4ServerInterceptor,
    SigV4WsgiMiddleware,
    Verifier,
)

if TYPE_CHECKING:
    from pytest_dualmode.sigv4.aio import SigV4AioServerInterceptor, SigV4AsgiMiddleware
    from pytest_dualmode.sigv4.credentials import CredentialsError, build_signer
    from pytest_dualmode.sigv4.httpx_auth import HttpxSigV4Auth
    from pytest_dualmode.sigv4.transport import RequestsSigV4Auth, client_interceptors, signing_channel

# Names whose modules import requests or botocore: loaded on first access.
_LAZY = {
    "CredentialsError": "pytest_dualmode.sigv4.credentials",
    "build_signer": "pytest_dualmode.sigv4.credentials",
    "HttpxSigV4Auth": "pytest_dualmode.sigv4.httpx_auth",
    "SigV4AioServerInterceptor": "pytest_dualmode.sigv4.aio",
    "SigV4AsgiMiddleware": "pytest_dualmode.sigv4.aio",
    "RequestsSigV4Auth": "pytest_dualmode.sigv4.transport",
    "client_interceptors": "pytest_dualmode.sigv4.transport",
    "signing_channel": "pytest_dualmode.sigv4.transport",
}

__all__ = [
    "SAFE_HEADERS",
    "CredentialsError",
    "CredentialsFileError",
    "HttpxSigV4Auth",
    "RequestsSigV4Auth",
    "SigV4AioServerInterceptor",
    "SigV4AsgiMiddleware",
    "SigV4ServerInterceptor",
    "SigV4WsgiMiddleware",
    "SignatureError",
    "Signer",
    "Verifier",
    "build_signer",
    "client_interceptors",
    "preset_signs_payload",
    "signing_channel",
]

__getattr__ = lazy_getattr(__name__, _LAZY, globals())
