"""Answer a boto3 DynamoDB client from moto's DynamoDB server app inside this process, without a socket.

:func:`attach` registers two of botocore's public events on one client, and nothing else:

- ``choose-signer.dynamodb`` returns ``botocore.UNSIGNED``: nothing checks a signature in-process;
- ``before-send.dynamodb`` is :func:`send`: botocore's prepared request becomes a WSGI environ
  (werkzeug's public ``EnvironBuilder``, as moto itself builds its requests), moto's DynamoDB server
  app answers it (``create_backend_app("dynamodb")``, the Flask app moto's own server runs for
  DynamoDB), and the answer goes back to botocore as the HTTP response.

So the request still goes through botocore's whole pipeline and moto's whole server path; only
the socket is skipped. The embedded DynamoDB's HTTP endpoint serves moto's server app too, so
both ways give moto's answers from one state.

Why this way, not the faster one it replaces: that one reached into moto's and werkzeug's
internals (names of ``moto.core.request`` that moto 5.0.0 to 5.2.3 do not have, werkzeug's cached
values written into a request's ``__dict__``, a near-copy of werkzeug's ``EnvironBuilder``, and a
process-wide wrap of ``moto.core.responses.method_names_from_class`` never undone), so each moto
release could break it or, worse, make it answer differently from moto. Side by side
(``bench/bench_dynamodb.py``) it did 1.8x to 2.4x the PutItem+GetItem pairs per second of this
path, about half a millisecond to a millisecond per DynamoDB call; this path still needs 2.4x to
2.9x less CPU per pair than moto's stock ``ThreadedMotoServer``, and it needs nothing to check,
no fallback and no pinned moto range, because it uses only what moto supports (its server app),
werkzeug's public test helpers and botocore's public events (docs/performance.md has the figures). It patches
nothing: other clients, moto's ``mock_aws`` and the rest of the process are untouched.
"""

from __future__ import annotations

import functools
import io
from typing import Any
from urllib.parse import urlsplit


def attach(client: Any, *, key_id: str, region: str) -> None:
    """Make the boto3 DynamoDB ``client`` answer from moto in this process, unsigned.

    moto takes the account and region of a request from its ``Authorization`` header, so each
    request carries one naming ``key_id`` and ``region``, as a signed request would, without a
    signature being computed.
    """
    scope = f"{key_id}/20000101/{region}/dynamodb/aws4_request"
    authorization = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"
    client.meta.events.register("choose-signer.dynamodb", _unsigned)
    client.meta.events.register("before-send.dynamodb", functools.partial(send, authorization=authorization))


def _unsigned(**_: Any) -> Any:
    """botocore ``choose-signer`` hook: nothing checks a signature in-process, so skip computing one."""
    from botocore import UNSIGNED

    return UNSIGNED


@functools.cache
def _app() -> Any:
    """moto's server app for DynamoDB (built once per process: it imports Flask)."""
    from moto.moto_server.werkzeug_app import create_backend_app

    return create_backend_app("dynamodb")


class _Body(io.BytesIO):
    """A response body as botocore reads one from urllib3 (``stream()``, or ``read()``)."""

    def stream(self, **_: Any) -> Any:
        """The whole body, as one piece."""
        data = self.read()
        if data:
            yield data


def send(request: Any, *, authorization: str = "", **_: Any) -> Any:
    """botocore ``before-send`` hook: answer ``request`` from moto's DynamoDB server app in this process.

    ``authorization`` names the key and region as a signed request would (moto takes the account and
    region from it), so in-process data lands where the HTTP endpoint's clients find it.
    """
    from botocore.awsrequest import AWSResponse
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    headers = [
        (name, value.decode("utf-8") if isinstance(value, bytes) else value)
        for name, value in request.headers.items()
    ]
    if authorization and "Authorization" not in request.headers:
        headers.append(("Authorization", authorization))
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    url = urlsplit(request.url)
    builder = EnvironBuilder(
        method=request.method,
        base_url=f"{url.scheme}://{url.netloc}",
        path=url.path or "/",
        query_string=url.query,
        headers=headers,
        data=body if body is not None else b"",
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    answer, status, response_headers = run_wsgi_app(_app(), environ, buffered=True)
    try:
        content = b"".join(answer)
    finally:
        close = getattr(answer, "close", None)
        if close is not None:
            close()
    return AWSResponse(request.url, int(status[:3]), list(response_headers.items()), _Body(content))
