"""The local front door as a reverse proxy, for a service that runs as its own process.

A process in another language cannot take the plugin's SigV4 verifier as middleware, so in process
mode the plugin's servers sit in front of it, as VPC Lattice or API Gateway would: a gRPC server whose
one generic handler forwards every method, as raw bytes, over a channel to the process, and an HTTP
server whose WSGI app forwards every request. Both verify the signature first (the same verifier as
in-process mode); the tests' ``grpc_channel`` and ``http`` dial the proxy and do not change.

The gRPC forwarder treats every call as a bidirectional stream: on the wire, the four call kinds differ
only in how many messages flow, so one handler carries them all, with metadata, deadlines, status and
trailers passed through. ``python -m pytest_dualmode.local.proxy`` runs the same front door standalone
in front of a running service (see :func:`main`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own, never forwarded either way.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_CHUNK = 64 * 1024


class GrpcForwarder:
    """A ``grpc.GenericRpcHandler`` that forwards every method to ``target`` (``host:port``).

    ``on_unavailable`` is called when the target did not answer (UNAVAILABLE), before the caller is told.
    """

    def __init__(self, target: str, *, on_unavailable: Callable[[], object] | None = None) -> None:
        import grpc

        grpc.GenericRpcHandler.register(GrpcForwarder)
        self._grpc = grpc
        self._on_unavailable = on_unavailable
        self._channel = grpc.insecure_channel(target)

    def service(self, handler_call_details: Any) -> Any:
        """A stream-stream handler of raw bytes for whichever method was called."""
        grpc = self._grpc
        call = self._channel.stream_stream(handler_call_details.method)  # no (de)serializers: bytes

        def forward(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
            metadata = [
                (k, v)
                for k, v in context.invocation_metadata()
                if not (k.startswith(":") or k.startswith("grpc-"))
            ]
            responses = call(requests, metadata=metadata, timeout=context.time_remaining())
            context.add_callback(responses.cancel)  # the client went away: so does the forwarded call
            try:
                context.send_initial_metadata(responses.initial_metadata() or ())
                yield from responses
                context.set_trailing_metadata(responses.trailing_metadata() or ())
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE and self._on_unavailable is not None:
                    self._on_unavailable()
                context.set_trailing_metadata(exc.trailing_metadata() or ())
                context.abort(exc.code(), exc.details() or "")

        return grpc.stream_stream_rpc_method_handler(forward)

    def register(self, server: Any) -> None:
        """Add this handler to ``server`` (the shape of a ``LocalService`` gRPC registration)."""
        server.add_generic_rpc_handlers((self,))

    def close(self) -> None:
        """Close the channel to the service."""
        self._channel.close()


class HttpForwarder:
    """A WSGI app that forwards every request to ``base_url`` and streams the answer back.

    ``on_unavailable`` is called when the target did not answer, before the caller gets a 502.
    """

    def __init__(
        self, base_url: str, *, timeout: float = 60.0, on_unavailable: Callable[[], object] | None = None
    ) -> None:
        import urllib3

        self._on_unavailable = on_unavailable
        self._pool = urllib3.connection_from_url(
            base_url, maxsize=32, block=False, retries=False, timeout=timeout
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Forward the request as it came (method, path, query, headers, body)."""
        path = environ.get("RAW_URI") or _path(environ)
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _HOP_BY_HOP
        }
        for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
            if environ.get(key):
                headers[name] = environ[key]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        try:
            answer = self._pool.urlopen(
                environ["REQUEST_METHOD"],
                path,
                body=body,
                headers=headers,
                redirect=False,
                preload_content=False,
                decode_content=False,
                assert_same_host=False,
            )
        except Exception as exc:  # the service is down or broke the connection: as a gateway says it
            if self._on_unavailable is not None:
                self._on_unavailable()
            message = f"the service did not answer: {type(exc).__name__}".encode()
            start_response(
                "502 Bad Gateway", [("Content-Type", "text/plain"), ("Content-Length", str(len(message)))]
            )
            return [message]
        out = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
        start_response(f"{answer.status} {answer.reason or ''}".rstrip(), out)
        return _stream(answer)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()


def _path(environ: dict[str, Any]) -> str:
    from urllib.parse import quote

    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~")
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _stream(answer: Any) -> Iterator[bytes]:
    try:
        yield from answer.stream(_CHUNK, decode_content=False)
    finally:
        answer.release_conn()
