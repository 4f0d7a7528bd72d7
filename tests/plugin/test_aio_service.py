"""Async services end to end through pytester: a grpc.aio servicer and an ASGI app on the plugin's own
event loop, reached by sync tests (grpc_channel, http) and async ones (grpc_aio_channel, http_aio)
under pytest-asyncio (strict and auto, several loop scopes) and anyio, every request signed and
verified by the local front door."""

from __future__ import annotations

import pytest
from aio_support import (
    ANYIO_CONFTEST_EXTRA,
    ASYNC_SERVICE_CONFTEST,
    ECHO_CONFTEST,
    ECHO_TESTS,
    SYNC_SERVICE_CONFTEST,
    service_tests,
)

BASE = ("-p", "no:cacheprovider", "-p", "no:randomly")

# (name, extra command-line args, ini lines, mark on the async tests)
ASYNCIO_MODES = [
    ("strict-function", ("-p", "asyncio"), "asyncio_mode = strict", "@pytest.mark.asyncio"),
    ("auto-function", ("-p", "asyncio"), "asyncio_mode = auto", ""),
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
    result = pytester.runpytest_subprocess(*BASE, *args, "-W", "error::pytest.PytestUnraisableExceptionWarning")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["dualmode: local, dynamodb embedded (moto)*"])


def test_aio_example_service_under_anyio(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ASYNC_SERVICE_CONFTEST + ANYIO_CONFTEST_EXTRA)
    pytester.makepyfile(test_suppressions=service_tests("@pytest.mark.anyio"))
    # anyio's own plugin alone (pytest-asyncio off), asyncio backend.
    result = pytester.runpytest_subprocess(*BASE, "-p", "no:asyncio", "-p", "anyio")
    result.assert_outcomes(passed=5)


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
