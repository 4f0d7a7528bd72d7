"""The embedded DynamoDB: moto's DynamoDB, reachable two ways that share one state.

- **HTTP endpoint** (:attr:`EmbeddedDynamoDB.url`): moto's server app on a keep-alive WSGI server on
  127.0.0.1, for anything outside this process (a service started as a subprocess, the AWS CLI).
  The port serves from :meth:`EmbeddedDynamoDB.start`; the app itself is built on the first request.
- **In-process client** (:meth:`EmbeddedDynamoDB.client`): a boto3 client whose requests are answered
  by moto's DynamoDB server app in this process, without a socket (see
  :mod:`pytest_dualmode.local.inprocess`). The request still goes through botocore's whole pipeline
  (serialisation, parsing) and moto's whole server path; only the network hop is skipped, through
  botocore's public ``before-send`` event, with nothing of moto's or werkzeug's patched.

Both paths reach the same moto backend, so data written through one is read through the other.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pytest_dualmode.local import inprocess
from pytest_dualmode.local.fake_aws import FAKE_KEY_ID, FAKE_REGION, FAKE_SECRET
from pytest_dualmode.local.http_server import WsgiServer


class _LazyMotoApp:
    """moto's server app, built on the first HTTP request rather than at start.

    Building it sets up moto's dispatcher over every service; a run whose service uses only the
    in-process client (which has DynamoDB's own app) never sends an HTTP request, so it never pays for it.
    """

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()
        self._serial = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

                    self._app = DomainDispatcherApplication(create_backend_app)
        # One request at a time: moto's backend does not lock, and DynamoDB's conditional writes are
        # atomic (two concurrent conditional puts of one item from a service process must not both win).
        with self._serial:
            return list(self._app(environ, start_response))


class EmbeddedDynamoDB:
    """moto's DynamoDB served on 127.0.0.1 (ephemeral port) and in-process; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, region: str = FAKE_REGION) -> None:
        self.region = region
        self._host = host
        self._port = port
        self._server: WsgiServer | None = None

    @property
    def url(self) -> str:
        """The HTTP endpoint (``http://127.0.0.1:PORT``)."""
        if self._server is None:
            raise RuntimeError("the embedded DynamoDB is not started")
        return self._server.url

    def start(self, ready_timeout: float = 10.0) -> EmbeddedDynamoDB:
        """Bind (in this thread), serve from a daemon thread, and return once the endpoint accepts."""
        self._server = WsgiServer(_LazyMotoApp(), self._host, self._port).start(ready_timeout)
        return self

    def client(self, *, in_process: bool = True, **kwargs: Any) -> Any:
        """A boto3 DynamoDB client bound to this DynamoDB (fake credentials, this region).

        ``in_process=True`` answers requests inside this process (no socket); ``False`` goes through
        the HTTP endpoint like any other process would.
        """
        return self._make("client", in_process, kwargs)

    def resource(self, *, in_process: bool = True, **kwargs: Any) -> Any:
        """A boto3 DynamoDB resource bound to this DynamoDB; its client is answered like :meth:`client`'s."""
        return self._make("resource", in_process, kwargs)

    def _make(self, kind: str, in_process: bool, kwargs: dict[str, Any]) -> Any:
        import boto3
        from botocore.config import Config

        made = getattr(boto3.session.Session(), kind)(
            "dynamodb",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
            config=kwargs.pop("config", Config(retries={"max_attempts": 2, "mode": "standard"})),
            **kwargs,
        )
        if in_process:
            # A resource's own client carries boto3's high-level (Python types) hooks: attach to it.
            inprocess.attach(
                made if kind == "client" else made.meta.client, key_id=FAKE_KEY_ID, region=self.region
            )
        return made

    def stop(self) -> None:
        """Stop the endpoint and forget every table, so the next start begins empty.

        moto's state is per process, so this empties every DynamoDB of moto in the process: the plugin
        runs one embedded DynamoDB per process (per pytest-xdist worker) for that reason.
        """
        if self._server is not None:
            self._server.stop()
            self._server = None
        from moto.backends import get_backend

        with contextlib.suppress(Exception):
            get_backend("dynamodb").reset()

    def __enter__(self) -> EmbeddedDynamoDB:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
