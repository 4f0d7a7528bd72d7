"""The standalone service: ``python -m example_service --dynamodb-endpoint URL --grpc-port N --http-port M``.

Serves the gRPC API and the HTTP JSON API, prints one JSON line with the bound addresses once both
answer (``{"grpc": "127.0.0.1:PORT", "http": "http://127.0.0.1:PORT"}``), and on SIGTERM or SIGINT
stops accepting, finishes running calls (bounded) and exits 0. ``--sigv4-credentials FILE`` puts a
SigV4 front door (pytest-dualmode's verifier) in front of both APIs. ``--no-create-table`` leaves the
table to its template (``tables.yaml``) instead of creating it when missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

PROG = "python -m example_service"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Stopped(BaseException):  # not an Exception: no "except Exception" on the way swallows it
    """SIGTERM/SIGINT arrived: stop (before or after the service was ready)."""


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port; use 0-65535 (0 picks a free port)")
    return int(text)


def _endpoint(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL; use e.g. http://127.0.0.1:8000")
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds between 0 and 3600")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (errors exit 2 with a message naming the bad value)."""
    parser = argparse.ArgumentParser(prog=PROG, description="The suppression-list example service.")
    parser.add_argument(
        "--dynamodb-endpoint",
        type=_endpoint,
        default=None,
        help="DynamoDB endpoint URL (default: AWS DynamoDB in --region)",
    )
    parser.add_argument("--grpc-port", type=_port, default=0, help="gRPC port (0 picks a free port)")
    parser.add_argument("--http-port", type=_port, default=0, help="HTTP port (0 picks a free port)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind both servers to (default 127.0.0.1)"
    )
    parser.add_argument("--table", default="suppressions", help="DynamoDB table name, created when missing")
    parser.add_argument(
        "--no-create-table",
        dest="create_table",
        action="store_false",
        help="do not create the table (nor wait for it): it comes from tables.yaml, the service's template",
    )
    parser.add_argument(
        "--table-timeout",
        type=_seconds,
        default=60.0,
        help="seconds to wait for a new table to become ACTIVE (default 60)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="AWS region (default: AWS_REGION, else us-east-1)",
    )
    parser.add_argument(
        "--sigv4-credentials",
        metavar="FILE",
        default=None,
        help="JSON file {access key id: secret or {secret, session_token}}: verify SigV4 on every request",
    )
    parser.add_argument(
        "--sigv4-service",
        default="vpc-lattice-svcs",
        help="the service name signatures must be for (default vpc-lattice-svcs)",
    )
    return parser.parse_args(argv)


def dynamodb_client(endpoint: str | None, region: str) -> Any:
    """A boto3 DynamoDB client; a local endpoint without credentials in the environment gets dummy ones."""
    import boto3
    from botocore.config import Config

    from pytest_dualmode.local.fake_aws import FAKE_KEY_ID, FAKE_SECRET

    kwargs: dict[str, Any] = {}
    has_env_credentials = os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")
    if endpoint and urlsplit(endpoint).hostname in _LOCAL_HOSTS and not has_env_credentials:
        # The project's fake key, only for a local DynamoDB: never valid anywhere else.
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = FAKE_KEY_ID, FAKE_SECRET
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=10,
        max_pool_connections=64,
    )
    return boto3.session.Session().client(
        "dynamodb", region_name=region, endpoint_url=endpoint, config=config, **kwargs
    )


def _front_door(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """(WSGI wrapper, gRPC interceptors) of the SigV4 front door, or (None, []) without one."""
    if not args.sigv4_credentials:
        return None, []
    from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, SigV4WsgiMiddleware, Verifier

    verifier = Verifier.from_credentials_file(args.sigv4_credentials, service=args.sigv4_service)
    return (lambda app: SigV4WsgiMiddleware(app, verifier)), [SigV4ServerInterceptor(verifier)]


def _log_http_error(exc: BaseException) -> None:
    """One line per failed HTTP request (the app's own errors are JSON responses, not exceptions)."""
    print(f"example_service: an HTTP request failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def _fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the service until SIGTERM/SIGINT; 0 on a clean stop, 1 when it cannot start, 2 on bad usage."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="example_service %(levelname)s %(name)s: %(message)s"
    )

    # The handler only raises: setting a threading.Event from a signal handler can deadlock, when the
    # signal lands while the main thread holds that Event's lock (inside its own wait()). The first
    # signal stops the service; later ones are ignored while it stops (bounded).
    def on_signal(signum: int, frame: Any) -> None:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise _Stopped

    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
    grpc_server: Any = None
    http_server: Any = None
    serving = False  # once it serves, it reports NOT_SERVING on the way out
    try:
        try:
            wrap_wsgi, interceptors = _front_door(args)
        except ImportError as exc:
            return _fail(f"--sigv4-credentials needs pytest-dualmode's SigV4 verifier (missing: {exc})")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            return _fail(f"--sigv4-credentials: {exc}", 2)
        from example_service.service import SuppressionService

        try:
            service = SuppressionService(
                dynamodb_client(args.dynamodb_endpoint, args.region),
                table=args.table,
                create_table=args.create_table,
                table_timeout=args.table_timeout,
            )
        except Exception as exc:  # any failure here is the database's: say which one, no traceback
            where = args.dynamodb_endpoint or f"AWS DynamoDB in {args.region}"
            return _fail(f"DynamoDB at {where} is not usable: {exc}")

        import grpc

        from pytest_dualmode.local.http_server import WsgiServer

        # so_reuseport=0: a port that is already taken must fail here, not be silently shared.
        grpc_server = grpc.server(
            ThreadPoolExecutor(max_workers=32, thread_name_prefix="grpc"),
            interceptors=interceptors,
            options=[("grpc.so_reuseport", 0)],
        )
        service.register_grpc(grpc_server)
        try:
            grpc_port = grpc_server.add_insecure_port(f"{args.host}:{args.grpc_port}")
        except RuntimeError:
            grpc_port = 0
        if not grpc_port:
            return _fail(f"cannot bind the gRPC port {args.host}:{args.grpc_port}; pick a free one (or 0)")
        grpc_server.start()
        app = service.wsgi_app if wrap_wsgi is None else wrap_wsgi(service.wsgi_app)
        try:
            http_server = WsgiServer(app, args.host, args.http_port, on_error=_log_http_error).start()
        except OSError as exc:
            return _fail(
                f"cannot bind the HTTP port {args.host}:{args.http_port} ({exc.strerror}); pick a "
                "free one (or 0)"
            )
        # Bound and started: a TCP connect proves the gRPC port serves (a throwaway channel's close
        # would wait out grpc's 200 ms connectivity poll).
        with socket.create_connection((args.host, grpc_port), timeout=10):
            pass
        serving = True
        host, http_port = http_server.address
        bracketed = f"[{host}]" if ":" in host else host
        print(
            json.dumps({"grpc": f"{bracketed}:{grpc_port}", "http": f"http://{bracketed}:{http_port}"}),
            flush=True,
        )
        while True:
            time.sleep(3600)  # until a signal raises _Stopped
    except _Stopped:
        if serving:
            service.set_serving(False)
        return 0
    finally:
        if http_server is not None:
            http_server.stop()
        if grpc_server is not None:
            grpc_server.stop(grace=5).wait(10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
