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


def main(argv: list[str] | None = None) -> int:
    """``python -m pytest_dualmode.local.proxy --grpc-backend HOST:PORT --http-backend URL
    --sigv4-credentials FILE``: the SigV4 front door, standalone, before a running service.

    Serves on 127.0.0.1 (ephemeral ports unless ``--grpc-port``/``--http-port``), prints one JSON line
    ``{"grpc": "127.0.0.1:PORT", "http": "http://127.0.0.1:PORT"}`` once both accept, and runs until
    SIGTERM or SIGINT. The credentials file is the one ``python -m example_service --sigv4-credentials``
    reads: ``{access key id: secret}``.
    """
    import argparse
    import json
    import signal
    import threading

    from pytest_dualmode.local.grpc_server import GrpcServer
    from pytest_dualmode.local.http_server import WsgiServer
    from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, SigV4WsgiMiddleware, Verifier

    parser = argparse.ArgumentParser(prog="python -m pytest_dualmode.local.proxy", description=main.__doc__)
    parser.add_argument("--grpc-backend", help="HOST:PORT of the service's gRPC API")
    parser.add_argument("--http-backend", help="base URL of the service's HTTP API")
    parser.add_argument("--sigv4-credentials", required=True, metavar="FILE", help="JSON {key id: secret}")
    parser.add_argument("--sigv4-service", default="vpc-lattice-svcs", help="the signed service name")
    parser.add_argument("--grpc-port", type=int, default=0, help="port to serve gRPC on (0: a free one)")
    parser.add_argument("--http-port", type=int, default=0, help="port to serve HTTP on (0: a free one)")
    args = parser.parse_args(argv)
    if not (args.grpc_backend or args.http_backend):
        parser.error("give --grpc-backend, --http-backend or both")
    try:
        verifier = Verifier.from_credentials_file(args.sigv4_credentials, service=args.sigv4_service)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        parser.error(f"--sigv4-credentials: {exc}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parts: list[Any] = []
    ready: dict[str, str] = {}
    try:
        if args.grpc_backend:
            forwarder = GrpcForwarder(args.grpc_backend)
            parts.append(forwarder)
            interceptor = SigV4ServerInterceptor(verifier)
            grpc_server = GrpcServer([forwarder.register], port=args.grpc_port, interceptors=[interceptor])
            parts.append(grpc_server.start())
            ready["grpc"] = grpc_server.address
        if args.http_backend:
            http_forwarder = HttpForwarder(args.http_backend)
            parts.append(http_forwarder)
            http_server = WsgiServer(
                SigV4WsgiMiddleware(http_forwarder, verifier), "127.0.0.1", args.http_port
            )
            parts.append(http_server.start())
            ready["http"] = http_server.url
        print(json.dumps(ready), flush=True)
        while not stop.wait(1.0):
            pass
        return 0
    finally:
        for part in reversed(parts):
            part.stop() if hasattr(part, "stop") else part.close()


if __name__ == "__main__":
    raise SystemExit(main())
