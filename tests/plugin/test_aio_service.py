"""Async services end to end through pytester: a grpc.aio servicer and an ASGI app on the plugin's own
event loop, reached by sync tests (grpc_channel, http) and async ones (grpc_aio_channel, http_aio)
under pytest-asyncio (strict and auto, several loop scopes) and anyio, every request signed and
verified by the local front door."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from aio_support import (
    ANYIO_CONFTEST_EXTRA,
    ASYNC_SERVICE_CONFTEST,
    ECHO_CONFTEST,
    ECHO_DEFS,
    ECHO_TESTS,
    SYNC_SERVICE_CONFTEST,
    service_tests,
)

BASE = ("-p", "no:cacheprovider", "-p", "no:randomly")

# (name, extra command-line args, ini lines, mark on the async tests)
ASYNCIO_MODES = [
    ("strict-function", ("-p", "asyncio"), "asyncio_mode = strict", "@pytest.mark.asyncio"),
    ("auto-function", ("-p", "asyncio"), "asyncio_mode = auto", ""),
    # the service on asyncio's own loop (the others get uvloop, installed with the dev extra)
    ("auto-function-asyncio-loop", ("-p", "asyncio", "--aio-loop", "asyncio"), "asyncio_mode = auto", ""),
    (
        "strict-module",
        ("-p", "asyncio"),
        "asyncio_mode = strict",
        '@pytest.mark.asyncio(loop_scope="module")',
    ),
    (
        "auto-session",
        ("-p", "asyncio"),
        "asyncio_mode = auto\nasyncio_default_test_loop_scope = session",
        "",
    ),
]


def _ini(pytester: pytest.Pytester, lines: str) -> None:
    pytester.makeini(f"[pytest]\n{lines}\nasyncio_default_fixture_loop_scope = function\n")


@pytest.mark.parametrize(("name", "args", "ini", "mark"), ASYNCIO_MODES, ids=[m[0] for m in ASYNCIO_MODES])
def test_aio_example_service_under_pytest_asyncio(
    pytester: pytest.Pytester, name: str, args: tuple[str, ...], ini: str, mark: str
) -> None:
    pytester.makeconftest(ASYNC_SERVICE_CONFTEST)
    _ini(pytester, ini)
    pytester.makepyfile(test_suppressions=service_tests(mark))
    result = pytester.runpytest_subprocess(
        *BASE, *args, "-W", "error::pytest.PytestUnraisableExceptionWarning"
    )
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["dualmode: local, dynamodb embedded (moto)*"])


def test_aio_example_service_under_anyio(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ASYNC_SERVICE_CONFTEST + ANYIO_CONFTEST_EXTRA)
    pytester.makepyfile(test_suppressions=service_tests("@pytest.mark.anyio"))
    # anyio's own plugin alone (pytest-asyncio off), asyncio backend.
    result = pytester.runpytest_subprocess(*BASE, "-p", "no:asyncio", "-p", "anyio")
    result.assert_outcomes(passed=5)


UVLOOP_TEST_LOOP = """

def pytest_asyncio_loop_factories(config, item):
    import uvloop

    return {"uvloop": uvloop.new_event_loop}  # every async test on uvloop (pytest-asyncio 1.4+)
"""
ANYIO_UVLOOP = """

@pytest.fixture(scope="module")
def anyio_backend():
    return ("asyncio", {"use_uvloop": True})
"""
# Which loop the async test itself runs on: uvloop's, as its conftest asks.
TEST_LOOP_IS_UVLOOP = """

async def test_the_test_loop_is_uvloop():
    import asyncio

    assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
"""


@pytest.mark.parametrize("runner", ["pytest-asyncio", "anyio"])
def test_async_tests_on_a_uvloop_loop_of_their_own(pytester: pytest.Pytester, runner: str) -> None:
    """The README's speed-up for the test side: async tests on a uvloop loop of their own, signed as ever."""
    if runner == "pytest-asyncio":
        pytester.makeconftest(ASYNC_SERVICE_CONFTEST + UVLOOP_TEST_LOOP)
        _ini(pytester, "asyncio_mode = auto")
        tests, args = service_tests("") + TEST_LOOP_IS_UVLOOP, ("-p", "asyncio")
    else:
        pytester.makeconftest(ASYNC_SERVICE_CONFTEST + ANYIO_UVLOOP)
        mark = "@pytest.mark.anyio"
        tests = service_tests(mark) + TEST_LOOP_IS_UVLOOP.replace("\nasync def", f"\n{mark}\nasync def")
        args = ("-p", "no:asyncio", "-p", "anyio")
    pytester.makepyfile(test_suppressions=tests)
    result = pytester.runpytest_subprocess(
        *BASE, *args, "-W", "error::pytest.PytestUnraisableExceptionWarning"
    )
    result.assert_outcomes(passed=6)


def test_aio_clients_against_the_sync_service(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SYNC_SERVICE_CONFTEST)
    _ini(pytester, "asyncio_mode = strict")
    pytester.makepyfile(test_suppressions=service_tests("@pytest.mark.asyncio"))
    result = pytester.runpytest_subprocess(*BASE, "-p", "asyncio")
    result.assert_outcomes(passed=5)


def test_aio_signing_all_call_kinds_and_asgi_front_door(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ECHO_CONFTEST)
    _ini(pytester, "asyncio_mode = auto")
    pytester.makepyfile(test_echo=ECHO_TESTS)
    result = pytester.runpytest_subprocess(*BASE, "-p", "asyncio")
    result.assert_outcomes(passed=6)


def test_aio_and_asgi_unsigned_with_no_sigv4(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ECHO_CONFTEST)
    _ini(pytester, "asyncio_mode = strict")
    pytester.makepyfile(
        test_plain="""
import grpc.aio, httpx, pytest

@pytest.mark.asyncio
async def test_plain(grpc_aio_channel, http_aio, dualmode_grpc_addr, dualmode_http_url):
    assert await grpc_aio_channel.unary_unary("/dualmode.test.Echo/Unary")(b"a") == b"unary:a"
    assert (await http_aio.get("/x")).status_code == 200
    async with grpc.aio.insecure_channel(dualmode_grpc_addr) as ch:  # no front door to refuse it
        assert await ch.unary_unary("/dualmode.test.Echo/Unary")(b"b") == b"unary:b"
    async with httpx.AsyncClient(base_url=dualmode_http_url) as client:
        assert (await client.get("/y")).status_code == 200
"""
    )
    result = pytester.runpytest_subprocess(*BASE, "-p", "asyncio", "--no-sigv4")
    result.assert_outcomes(passed=1)


@pytest.fixture
def running_async_service() -> Iterator[dict[str, str]]:
    """The echo service's grpc.aio and ASGI servers started here behind a SigV4 check of this run's
    (fake) environment credentials, as a deployed service behind an IAM-auth front door would be."""
    from pytest_dualmode.local.aio import AioGrpcServer, AsgiServer, BackgroundLoop
    from pytest_dualmode.sigv4.aio import SigV4AioServerInterceptor, SigV4AsgiMiddleware
    from pytest_dualmode.sigv4.verifier import SigV4ServerInterceptor, Verifier

    namespace: dict[str, Any] = {}
    exec(compile(ECHO_DEFS, "echo_service", "exec"), namespace)
    verifier = Verifier(
        {os.environ["AWS_ACCESS_KEY_ID"]: (os.environ["AWS_SECRET_ACCESS_KEY"], None)},
        service="vpc-lattice-svcs",
        region=os.environ["AWS_REGION"],
    )
    loop = BackgroundLoop()
    interceptor = SigV4AioServerInterceptor(SigV4ServerInterceptor(verifier))
    try:
        grpc_server = AioGrpcServer(loop, [namespace["_register"]], interceptors=[interceptor]).start()
        http_server = AsgiServer(loop, SigV4AsgiMiddleware(namespace["app"], verifier)).start()
        yield {"grpc": grpc_server.address, "http": http_server.url}
        grpc_server.stop()
        http_server.stop()
    finally:
        loop.stop()


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_aio_fixtures_in_remote_mode(
    pytester: pytest.Pytester, running_async_service: dict[str, str], transport: str
) -> None:
    """The same async tests against a running service: signed with the credential chain, checked there
    (``http_aio`` on either transport)."""
    _ini(pytester, "asyncio_mode = auto")
    pytester.makepyfile(test_echo=ECHO_TESTS)
    args = ("--addr", running_async_service["grpc"], "--grpc-plaintext", "--http-aio-transport", transport)
    result = pytester.runpytest_subprocess(
        *BASE, "-p", "asyncio", *args, "--http-addr", running_async_service["http"]
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["dualmode: remote, grpc 127.0.0.1:* (plaintext), http http://127.0.0.1:*"])


def test_asgi_not_an_app_errors_each_test_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest
from starlette.applications import Starlette
from pytest_dualmode import LocalService

@pytest.fixture(scope="session")
def dualmode_service():
    return LocalService(http=Starlette)
"""
    )
    tests = ("def test_a(http):", "def test_b(grpc_channel):", "def test_c():")
    pytester.makepyfile(test_x="\n".join(f"{line}\n    pass\n" for line in tests))
    result = pytester.runpytest_subprocess(*BASE)
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        ["*UsageError: LocalService(http=...) got the class Starlette, not an app: pass an instance*"]
    )


def test_aio_example_service_with_xdist(pytester: pytest.Pytester) -> None:
    """One background loop and one set of async servers per xdist worker, each stopped at its end."""
    pytester.makeconftest(ASYNC_SERVICE_CONFTEST)
    _ini(pytester, "asyncio_mode = auto")
    pytester.makepyfile(test_suppressions=service_tests(""))
    result = pytester.runpytest_subprocess(*BASE, "-p", "asyncio", "-n", "2")
    result.assert_outcomes(passed=5)
