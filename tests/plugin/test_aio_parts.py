"""The async parts one by one: what LocalService accepts as an app, the background loop and its servers,
the per-loop clients, the ASGI front door and the httpx signer's redirects."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import grpc
import httpx
import pytest
from botocore.credentials import Credentials

from pytest_dualmode import LocalService
from pytest_dualmode.aio_loops import PerLoop
from pytest_dualmode.local.aio import AsgiServer, BackgroundLoop
from pytest_dualmode.local.stack import LocalStack
from pytest_dualmode.sigv4.aio import SigV4AsgiMiddleware
from pytest_dualmode.sigv4.httpx_auth import HttpxSigV4Auth, hooks
from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, Verifier

KEY, SECRET = "AKIDAIOTESTS", "aio-tests-secret"


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]


async def asgi_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi:" + body})


class AsgiClassApp:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await asgi_echo(scope, receive, send)


async def two_args(scope: Any, receive: Any) -> None:
    return None


def register_nothing(server: Any) -> None:
    return None


BAD_SERVICES = [
    ("not-callable", {"http": object()}, "(http=...) got an instance of object, which is not callable"),
    ("number", {"http": 42}, "which is not callable"),
    ("asgi-class", {"http": AsgiClassApp}, "pass an instance (AsgiClassApp(...)), not the class"),
    ("one-arg", {"http": lambda environ: None}, "taking 1 positional arguments, which is neither a WSGI"),
    ("async-two-args", {"http": two_args}, "an ASGI app takes (scope, receive, send)"),
    ("wsgi-as-asgi", {"asgi": wsgi_app}, "looks like a WSGI app (environ, start_response): pass it as http="),
    ("asgi-not-callable", {"asgi": "app"}, "(asgi=...) got an instance of str, which is not callable"),
    ("grpc-twice", {"grpc": register_nothing, "grpc_aio": register_nothing}, "not both"),
    ("http-twice", {"http": wsgi_app, "asgi": asgi_echo}, "got both http= and asgi="),
]


@pytest.mark.parametrize(("case", "kwargs", "message"), BAD_SERVICES, ids=[c[0] for c in BAD_SERVICES])
def test_asgi_or_wsgi_bad_app_is_a_usage_error(case: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(pytest.UsageError) as info:
        LocalService(**kwargs)
    assert message in str(info.value)


def test_asgi_apps_are_detected() -> None:
    from starlette.applications import Starlette

    assert LocalService(http=wsgi_app).http_app() == ("wsgi", wsgi_app)
    assert LocalService(http=asgi_echo).http_app() == ("asgi", asgi_echo)
    app = Starlette()
    assert LocalService(http=app).http_app() == ("asgi", app)
    assert LocalService(asgi=AsgiClassApp()).http_app() is not None
    service = LocalService(grpc_aio=register_nothing)
    assert service.grpc_is_aio and service.grpc_registrations() == [register_nothing]
    assert not LocalService(grpc=register_nothing).grpc_is_aio


def _aio_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dualmode-aio"]


def test_aio_stack_serves_both_and_stops_its_loop() -> None:
    """grpc.aio and ASGI on one background loop; stop() ends the servers and joins the loop's thread."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    async def register(server: Any) -> None:
        servicer = health.aio.HealthServicer()
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)

    before = len(_aio_threads())
    stack = LocalStack()
    service = LocalService(grpc_aio=register, http=asgi_echo)
    try:
        address, url = stack.serve_grpc(service), stack.serve_http(service)
        assert len(_aio_threads()) == before + 1  # one loop for both servers
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert httpx.post(url + "/", content=b"hi", timeout=5).text == "asgi:hi"
    finally:
        stack.stop()
    assert len(_aio_threads()) == before
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=2)


def test_asgi_lifespan_startup_failure_is_reported() -> None:
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    loop = BackgroundLoop()
    try:
        with pytest.raises(RuntimeError, match="lifespan startup failed"):
            AsgiServer(loop, Starlette(lifespan=lifespan)).start(ready_timeout=5)
        assert loop.loop.is_running()  # the failure did not take the loop down
    finally:
        loop.stop()


def test_aio_loop_run_is_bounded() -> None:
    loop = BackgroundLoop()
    try:
        with pytest.raises(TimeoutError, match=r"waiting forever did not finish within 0\.2 s"):
            loop.run(asyncio.sleep(30), timeout=0.2, what="waiting forever")
    finally:
        loop.stop()


def test_aio_per_loop_resource_closed_when_its_loop_ends() -> None:
    opened: list[int] = []
    closed: list[int] = []

    async def aclose(n: int) -> None:
        await asyncio.sleep(0)
        closed.append(n)

    per_loop = PerLoop(lambda: opened.append(len(opened)) or len(opened) - 1, aclose, what="thing")

    async def use() -> int:
        first = per_loop.get()
        assert per_loop.get() == first  # one per loop
        return first

    assert asyncio.run(use()) == 0
    assert closed == [0]  # closed in its loop, as asyncio.run ended it
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(use()) == 1
        per_loop.close()  # the loop is still open: closed in it now
        assert closed == [0, 1]
    finally:
        loop.close()

    async def close_then_reopen() -> int:
        first = per_loop.get()
        await per_loop.aclose_current()  # as `await grpc_aio_channel.close()` does
        assert closed[-1] == first
        return per_loop.get()

    assert asyncio.run(close_then_reopen()) == 3
    assert closed == [0, 1, 2, 3]


def test_aio_clients_outside_a_loop_say_so() -> None:
    from pytest_dualmode.aio_clients import make_aio_channel

    channel = make_aio_channel("127.0.0.1:1", tls=False)
    stub_method = channel.unary_unary("/x.Y/Z")  # a stub can be built anywhere
    with pytest.raises(RuntimeError, match="grpc_aio_channel is async: use it inside an async test"):
        stub_method(b"")
    channel.close_all()


def _signer() -> Signer:
    return Signer(Credentials(KEY, SECRET), "us-east-1", "execute-api", sign_payload=True)


def _verifier() -> Verifier:
    return Verifier({KEY: (SECRET, None)}, service="execute-api", region="us-east-1")


def test_asgi_middleware_verifies_signed_payload_and_replays_body() -> None:
    """execute-api signs the body hash: the middleware reads the body whole, checks it, hands it on."""
    app = SigV4AsgiMiddleware(asgi_echo, _verifier())
    auth = HttpxSigV4Auth(_signer())

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc.test", auth=auth) as client:
            r = await client.post("/p", content=b"payload", params={"q": "a b"})
            assert (r.status_code, r.text) == (200, "asgi:payload")
        async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as client:
            r = await client.post("/p", content=b"payload")
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "UNAUTHENTICATED"

        def tamper(request: httpx.Request) -> None:
            request.headers["x-amz-content-sha256"] = "0" * 64

        tampered = httpx.AsyncClient(
            transport=transport,
            base_url="http://svc.test",
            auth=auth,
            event_hooks={"request": [_async(tamper)]},
        )
        async with tampered as client:
            r = await client.post("/p", content=b"payload")
        assert r.status_code == 403
        assert "x-amz-content-sha256 does not match the request body" in r.json()["error"]["message"]

    asyncio.run(main())


def _async(fn: Any) -> Any:
    async def hook(request: httpx.Request) -> None:
        fn(request)

    return hook


def test_aio_http_redirects_resign_same_host_and_strip_other_hosts() -> None:
    """A redirect to the signed host is signed again (and verifies); one to another host carries no
    signing header at all (httpx itself would drop only Authorization)."""
    verifier = _verifier()
    seen: dict[str, httpx.Headers] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[str(request.url)] = request.headers
        if request.url.path == "/start":
            return httpx.Response(302, headers={"Location": "/same"})
        if request.url.path == "/same":
            return httpx.Response(307, headers={"Location": "http://other.test/away"})
        return httpx.Response(200)

    auth = HttpxSigV4Auth(_signer())
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="http://svc.test", auth=auth, event_hooks=hooks(auth)
    )

    async def main() -> None:
        async with client:
            r = await client.get("/start", follow_redirects=True)
            assert r.status_code == 200

    asyncio.run(main())
    same = seen["http://svc.test/same"]
    verifier.verify("GET", "/same", "", list(same.items()), b"")  # re-signed for its own URL
    away = seen["http://other.test/away"]
    assert not {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"} & set(away)


def test_aio_interceptor_shares_the_sync_rules() -> None:
    from pytest_dualmode.sigv4.aio import SigV4AioServerInterceptor

    inner = SigV4ServerInterceptor(_verifier(), authorities={"127.0.0.1:1"})
    aio = SigV4AioServerInterceptor(inner)
    assert isinstance(aio, grpc.aio.ServerInterceptor)
    assert aio.inner.authorities == frozenset({"127.0.0.1:1"})


def test_aio_httpx_auth_signs_a_sync_httpx_client_too() -> None:
    """The one signer on a plain ``httpx.Client`` against the sync front door (WSGI middleware)."""
    from pytest_dualmode.local.http_server import WsgiServer
    from pytest_dualmode.sigv4.verifier import SigV4WsgiMiddleware

    def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    server = WsgiServer(SigV4WsgiMiddleware(echo, _verifier())).start()
    try:
        auth = HttpxSigV4Auth(_signer())
        hooks_ = {"request": [auth.on_request]}
        with httpx.Client(base_url=server.url, auth=auth, event_hooks=hooks_, trust_env=False) as client:
            r = client.put("/x", params={"a": "b c"}, content=b"sync body")
            assert (r.status_code, r.text) == (200, "sync body")
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            assert client.put("/x", content=b"sync body").status_code == 403
    finally:
        server.stop()
