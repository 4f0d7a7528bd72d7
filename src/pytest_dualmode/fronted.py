"""What a fronted service (Envoy with mTLS, API Gateway with API keys) needs from the clients.

Shared by the ``grpc_channel``, ``http``, ``grpc_aio_channel`` and ``http_aio`` fixtures and by
``--preflight``: the client certificate and CA of ``--tls-client-cert``/``--tls-client-key``/
``--tls-ca-file``, and the ``--header`` values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_dualmode.settings import Settings

if TYPE_CHECKING:
    from pytest_dualmode.target import Target


def tls_and_headers(s: Settings, *, remote: bool) -> dict[str, Any]:
    """``make_channel`` keyword arguments for TLS (remote only: the CA, ``--grpc-ca-file`` before
    ``--tls-ca-file``, and the client certificate) and the extra metadata."""
    out: dict[str, Any] = {"metadata": s.header}
    if remote:
        out["ca_file"] = s.grpc_ca_file or s.tls_ca_file
        out["client_cert"], out["client_key"] = s.tls_client_cert, s.tls_client_key
    return out


def channel_arguments(target: Target, signer: Any) -> dict[str, Any]:
    """The keyword arguments of ``make_channel`` and ``make_aio_channel`` for ``target``, the same for
    the ``grpc_channel`` and ``grpc_aio_channel`` fixtures: TLS, mTLS, CA and ``--header`` as
    :func:`tls_and_headers` says, the call timeout, and ``signer``."""
    s = target.settings
    remote = target.is_remote
    return {
        "tls": target.grpc_tls,
        # Signed for the authority when one is set, else for the address dialled (make_channel's rule).
        "authority": s.grpc_authority if remote else None,
        "signer": signer,
        "timeout": s.request_timeout,
        "proxy": remote,  # loopback never goes through a proxy
        **tls_and_headers(s, remote=remote),
    }


def configure_session(session: Any, s: Settings, *, remote: bool) -> None:
    """Put the extra headers, the client certificate and the CA of the settings on a ``requests`` session."""
    session.headers.update(dict(s.header))
    if remote and s.tls_client_cert and s.tls_client_key:
        session.cert = (s.tls_client_cert, s.tls_client_key)
    if remote and s.tls_ca_file:
        session.verify = s.tls_ca_file


def ssl_context(s: Settings, *, remote: bool) -> Any:
    """The ``ssl.SSLContext`` for an ``httpx`` client (``verify=``): the CA of ``--tls-ca-file`` and the
    client certificate, as :func:`configure_session` sets them on ``requests``; ``True`` (the default
    trust store) when neither is set or the run is local."""
    if not remote or not (s.tls_ca_file or (s.tls_client_cert and s.tls_client_key)):
        return True
    import ssl

    context = ssl.create_default_context(cafile=s.tls_ca_file)
    if s.tls_client_cert and s.tls_client_key:
        context.load_cert_chain(s.tls_client_cert, s.tls_client_key)
    return context
