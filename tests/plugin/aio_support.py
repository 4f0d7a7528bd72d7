"""Files for the async-service pytester runs: conftests serving the example service's async APIs (or an
all-kinds gRPC echo), and test modules written once, sync and async side by side."""

from __future__ import annotations

# The example service's async shape: a grpc.aio servicer and a Starlette app on the embedded DynamoDB.
ASYNC_SERVICE_CONFTEST = """
import pytest
from pytest_dualmode import LocalService

@pytest.fixture(scope="session")
def dualmode_service(dynamodb):
    from example_service import SuppressionService
    from example_service.aio_api import asgi_app, register_grpc_aio

    svc = SuppressionService(dynamodb, table="aio-suppressions")
    return LocalService(grpc_aio=register_grpc_aio(svc), http=asgi_app(svc))
"""

# The same tests against the sync shape (the async clients work against any service).
SYNC_SERVICE_CONFTEST = """
import pytest
from pytest_dualmode import LocalService

@pytest.fixture(scope="session")
def dualmode_service(dynamodb):
    from example_service import SuppressionService

    svc = SuppressionService(dynamodb, table="sync-suppressions")
    return LocalService(grpc=svc.register_grpc, http=svc.wsgi_app)
"""

_HELPERS = """
import uuid
import grpc
import pytest
from example_service.gen.suppression.v1 import suppression_pb2 as pb
from example_service.gen.suppression.v1 import suppression_pb2_grpc as pb_grpc

def _account():
    return f"aio-{uuid.uuid4()}"
"""

_SYNC_TESTS = """
def test_sync_grpc_round_trip(grpc_channel):
    stub = pb_grpc.SuppressionServiceStub(grpc_channel)
    account = _account()
    assert stub.Add(pb.AddRequest(account_id=account, email="a@example.com")).created
    assert stub.Get(pb.GetRequest(account_id=account, email="a@example.com")).email == "a@example.com"
    with pytest.raises(grpc.RpcError) as info:
        stub.Get(pb.GetRequest(account_id=account, email="b@example.com"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

def test_sync_http_round_trip(http):
    account = _account()
    r = http.post("/v1/suppressions", json={"account_id": account, "email": "a@example.com", "reason": "x y"})
    assert r.status_code == 201, r.text
    r = http.get(f"/v1/suppressions/{account}", params={"page_size": "10"})
    assert [s["email"] for s in r.json()["suppressions"]] == ["a@example.com"]
"""

_ASYNC_TESTS = """
{mark}
async def test_async_grpc_round_trip(grpc_aio_channel):
    stub = pb_grpc.SuppressionServiceStub(grpc_aio_channel)
    account = _account()
    for email in ("b@example.com", "a@example.com"):
        reply = await stub.Add(pb.AddRequest(account_id=account, email=email))
        assert reply.created
    page = await stub.List(pb.ListRequest(account_id=account, page_size=10))
    assert [s.email for s in page.suppressions] == ["a@example.com", "b@example.com"]
    exported = [s.email async for s in stub.Export(pb.ExportRequest(account_id=account))]
    assert exported == ["a@example.com", "b@example.com"]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Delete(pb.DeleteRequest(account_id=account, email="c@example.com"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

{mark}
async def test_async_http_round_trip(http_aio):
    account = _account()
    r = await http_aio.post("/v1/suppressions", json={{"account_id": account, "email": "a@example.com"}})
    assert r.status_code == 201, r.text
    r = await http_aio.get(f"/v1/suppressions/{{account}}/a@example.com")
    assert r.status_code == 200 and r.json()["email"] == "a@example.com"
    r = await http_aio.get(f"/v1/suppressions/{{account}}", params={{"page_size": "10", "page_token": ""}})
    assert r.status_code == 200, r.text
    assert (await http_aio.delete(f"/v1/suppressions/{{account}}/a@example.com")).status_code == 204
    assert (await http_aio.get(f"/v1/suppressions/{{account}}/a@example.com")).status_code == 404

{mark}
async def test_async_both_apis_see_one_table(grpc_aio_channel, http_aio):
    account = _account()
    stub = pb_grpc.SuppressionServiceStub(grpc_aio_channel)
    await stub.Add(pb.AddRequest(account_id=account, email="x@example.com"))
    r = await http_aio.get(f"/v1/suppressions/{{account}}/x@example.com")
    assert r.status_code == 200, r.text
"""


def service_tests(mark: str) -> str:
    """The test module: two sync tests and three async ones marked with ``mark``."""
    return _HELPERS + _SYNC_TESTS + _ASYNC_TESTS.format(mark=mark)


ANYIO_CONFTEST_EXTRA = """

@pytest.fixture(scope="module")
def anyio_backend():
    return "asyncio"
"""

# A grpc.aio echo service with one method of each call kind and an ASGI echo, for the signing checks.
ECHO_DEFS = """
def _register(server):
    import grpc

    async def unary(request, context):
        return b"unary:" + request

    async def server_stream(request, context):
        for i in range(3):
            yield b"%d:" % i + request

    async def client_stream(requests, context):
        return b"|".join([r async for r in requests])

    async def bidi(requests, context):
        async for item in requests:
            yield b"echo:" + item

    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("dualmode.test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }),))

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = scope["method"].encode() + b" " + scope["raw_path"] + b"?" + scope["query_string"] + b" " + body
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": payload})
"""

ECHO_CONFTEST = (
    """
import pytest
from pytest_dualmode import LocalService
"""
    + ECHO_DEFS
    + """
@pytest.fixture(scope="session")
def dualmode_service():
    return LocalService(grpc_aio=_register, http=app)
"""
)

ECHO_TESTS = """
import grpc
import grpc.aio
import httpx
import pytest
import requests

async def _requests(*items):
    for item in items:
        yield item

async def test_all_four_call_kinds_signed(grpc_aio_channel):
    ch = grpc_aio_channel
    assert await ch.unary_unary("/dualmode.test.Echo/Unary")(b"a") == b"unary:a"
    got = [m async for m in ch.unary_stream("/dualmode.test.Echo/ServerStream")(b"b")]
    assert got == [b"0:b", b"1:b", b"2:b"]
    assert await ch.stream_unary("/dualmode.test.Echo/ClientStream")(_requests(b"c", b"d")) == b"c|d"
    got = [m async for m in ch.stream_stream("/dualmode.test.Echo/Bidi")(_requests(b"e", b"f"))]
    assert got == [b"echo:e", b"echo:f"]

async def test_caller_metadata_and_timeout_pass_through(grpc_aio_channel):
    unary = grpc_aio_channel.unary_unary("/dualmode.test.Echo/Unary")
    call = unary(b"m", metadata=(("x-caller", "me"),), timeout=5)
    assert await call == b"unary:m"
    assert await call.code() == grpc.StatusCode.OK

async def test_unsigned_aio_calls_are_refused(dualmode_grpc_addr):
    async with grpc.aio.insecure_channel(dualmode_grpc_addr) as ch:
        for kind, method, arg in (
            ("unary_unary", "Unary", b"a"),
            ("unary_stream", "ServerStream", b"a"),
            # no request messages: the client would race the server's early answer writing them
            ("stream_unary", "ClientStream", _requests()),
            ("stream_stream", "Bidi", _requests()),
        ):
            call = getattr(ch, kind)("/dualmode.test.Echo/" + method)(arg)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                if kind.endswith("stream"):
                    [m async for m in call]
                else:
                    await call
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, kind
            assert "SigV4: missing Authorization header" in info.value.details()

async def test_signed_asgi_request_and_body(http_aio):
    r = await http_aio.post("/p/a%20b", params={"q": "x y"}, content=b"body!")
    assert r.status_code == 200, r.text
    assert r.text == "POST /p/a%20b?q=x%20y body!"

async def test_unsigned_asgi_request_is_refused(dualmode_http_url):
    async with httpx.AsyncClient(base_url=dualmode_http_url) as client:
        r = await client.get("/p")
    assert r.status_code == 403
    message = r.json()["error"]["message"]
    assert message == "SigV4: missing Authorization header: the request is not SigV4-signed"

def test_sync_clients_against_async_service(grpc_channel, http):
    assert grpc_channel.unary_unary("/dualmode.test.Echo/Unary")(b"s") == b"unary:s"
    assert list(grpc_channel.stream_stream("/dualmode.test.Echo/Bidi")(iter([b"t"]))) == [b"echo:t"]
    assert http.get("/sync").text == "GET /sync? "
    r = requests.get(http.base_url + "sync", headers={"Authorization": "AWS4-HMAC-SHA256 junk"}, timeout=5)
    assert r.status_code == 403
    assert "malformed Authorization header" in r.json()["error"]["message"]
"""
