"""Where the plugin meets SigV4: the signer of this run, and the local front door that verifies it.

Locally, every run signs with freshly generated fake credentials and the local servers verify each
request like an IAM-auth front door (VPC Lattice, API Gateway) would, so the signing path runs and
is checked on every laptop. Remotely, the signer uses botocore's credential chain.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_dualmode.local.fake_aws import FAKE_KEY_ID, FAKE_REGION
from pytest_dualmode.redaction import run_secrets
from pytest_dualmode.settings import SETTINGS_KEY, Settings


@dataclass(frozen=True)
class LocalKey:
    """The signing key of one local run: the project's fake key id and a secret made for this run (never
    real, never printed), so only this run's signer passes the local front door."""

    access_key_id: str = FAKE_KEY_ID
    secret_access_key: str = field(default_factory=lambda: secrets.token_urlsafe(30), repr=False)


@dataclass(frozen=True)
class FrontDoor:
    """The local verifier, as a WSGI wrapper and gRPC server interceptors.

    ``answer_to`` tells the gRPC verifier the address its server was bound to: like a front door,
    it then refuses a signature made for any other host.
    """

    wsgi_middleware: Callable[[Any], Any]
    grpc_interceptors: list[Any]
    answer_to: Callable[[str], None]
    #: The same checks for an ASGI app and a ``grpc.aio`` server (built on first use: they import grpc).
    asgi_middleware: Callable[[Any], Any] | None = None
    grpc_aio_interceptors: Callable[[], list[Any]] | None = None


_KEY = pytest.StashKey[LocalKey]()
_SIGNER = pytest.StashKey[Any]()


def _local_key(config: pytest.Config) -> LocalKey:
    if _KEY not in config.stash:
        config.stash[_KEY] = LocalKey()
        run_secrets(config).add(config.stash[_KEY].secret_access_key)
    return config.stash[_KEY]


def _region(settings: Settings) -> str:
    return settings.aws_region or FAKE_REGION


def local_front_door(config: pytest.Config) -> FrontDoor | None:
    """The verifier for the local servers, or None with ``--no-sigv4``."""
    settings = config.stash[SETTINGS_KEY]
    if settings.no_sigv4:
        return None
    from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, SigV4WsgiMiddleware, Verifier

    key = _local_key(config)
    verifier = Verifier(
        {key.access_key_id: (key.secret_access_key, None)},
        service=settings.sigv4_service,
        region=_region(settings),
    )
    interceptor = SigV4ServerInterceptor(verifier)

    def answer_to(address: str) -> None:
        # The names a client on this machine may dial: the bound address and localhost on its port.
        port = address.rpartition(":")[2]
        interceptor.authorities = frozenset({address, f"localhost:{port}"})

    def asgi_middleware(app: Any) -> Any:
        from pytest_dualmode.sigv4.aio import SigV4AsgiMiddleware

        return SigV4AsgiMiddleware(app, verifier)

    def grpc_aio_interceptors() -> list[Any]:
        from pytest_dualmode.sigv4.aio import SigV4AioServerInterceptor

        return [SigV4AioServerInterceptor(interceptor)]  # shares the sync one's rules and authorities

    return FrontDoor(
        wsgi_middleware=lambda app: SigV4WsgiMiddleware(app, verifier),
        grpc_interceptors=[interceptor],
        answer_to=answer_to,
        asgi_middleware=asgi_middleware,
        grpc_aio_interceptors=grpc_aio_interceptors,
    )


def build_signer(config: pytest.Config) -> Any:
    """Build (once) and return the run's signer; raises :class:`pytest.UsageError` without credentials."""
    if _SIGNER in config.stash:
        return config.stash[_SIGNER]
    settings = config.stash[SETTINGS_KEY]
    signer: Any = None
    if not settings.no_sigv4:
        if settings.is_remote:
            from pytest_dualmode.sigv4.credentials import CredentialsError
            from pytest_dualmode.sigv4.credentials import build_signer as chain_signer

            try:
                signer = chain_signer(
                    region=settings.aws_region, service=settings.sigv4_service, profile=settings.aws_profile
                )
            except CredentialsError as exc:
                raise pytest.UsageError(f"remote mode signs every request with SigV4, but {exc}") from None
        else:
            from botocore.credentials import Credentials

            from pytest_dualmode.sigv4.signer import Signer, preset_signs_payload

            key = _local_key(config)
            signer = Signer(
                Credentials(key.access_key_id, key.secret_access_key),
                _region(settings),
                settings.sigv4_service,
                sign_payload=preset_signs_payload(settings.sigv4_service),
            )
    if signer is not None:
        run_secrets(config).add_signer(signer)
    config.stash[_SIGNER] = signer
    return signer


signer_for = build_signer


def requests_auth(signer: Any) -> Any:
    """A ``requests`` auth that signs every request (None when ``signer`` is None)."""
    if signer is None:
        return None
    from pytest_dualmode.sigv4.transport import RequestsSigV4Auth

    return RequestsSigV4Auth(signer)
