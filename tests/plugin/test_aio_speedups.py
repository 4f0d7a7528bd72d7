"""``--aio-loop`` and ``--http-aio-transport``: the loop that serves async services (auto picks uvloop when
installed) and what ``http_aio`` sends with (httpx's own transport or aiohttp's), each choice end to end
through pytester, with its error when the library it needs is missing."""

from __future__ import annotations

import httpx
import pytest
from aio_support import ASYNC_SERVICE_CONFTEST, ECHO_CONFTEST, service_tests

from pytest_dualmode.aio_clients import aiohttp_url_form

BASE = ("-p", "no:cacheprovider", "-p", "no:randomly")

# An ASGI app that answers with the module of the loop serving it, and the raw path and query it got.
LOOP_CONFTEST = """
import asyncio
import sys
import pytest
from pytest_dualmode import LocalService

{hide}

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    payload = loop.encode() + b" " + scope["raw_path"] + b"?" + scope["query_string"]
    headers = [(b"content-type", b"text/plain")]
    await send({{"type": "http.response.start", "status": 200, "headers": headers}})
    await send({{"type": "http.response.body", "body": payload}})

@pytest.fixture(scope="session")
def dualmode_service():
    return LocalService(http=app)
"""
HIDE_UVLOOP = 'sys.modules["uvloop"] = None  # as if uvloop were not installed: importing it fails'
HIDE_HTTPX_AIOHTTP = 'sys.modules["httpx_aiohttp"] = None  # as if httpx-aiohttp were not installed'

LOOP_TEST = """
def test_loop(http):
    r = http.get("/loop")
    assert r.status_code == 200, r.text
    print("served by", r.text.split()[0])
    assert r.text.split()[0] == {expected!r}
"""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "uvloop"),
        (("--aio-loop", "auto"), "uvloop"),
        (("--aio-loop", "asyncio"), "asyncio"),
        (("--aio-loop", "uvloop"), "uvloop"),
    ],
    ids=["default", "auto", "asyncio", "uvloop"],
)
def test_the_async_service_runs_on_the_chosen_loop(
    pytester: pytest.Pytester, args: tuple[str, ...], expected: str
) -> None:
    pytester.makeconftest(LOOP_CONFTEST.format(hide=""))
    pytester.makepyfile(test_loop=LOOP_TEST.format(expected=expected))
    result = pytester.runpytest_subprocess(*BASE, *args)
    result.assert_outcomes(passed=1)


def test_the_loop_is_chosen_by_environment_and_ini_too(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOOP_CONFTEST.format(hide=""))
    pytester.makeini("[pytest]\ndualmode_aio_loop = asyncio\n")
    pytester.makepyfile(test_loop=LOOP_TEST.format(expected="asyncio"))
    pytester.runpytest_subprocess(*BASE).assert_outcomes(passed=1)
    pytester.makepyfile(test_loop=LOOP_TEST.format(expected="uvloop"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DUALMODE_AIO_LOOP", "uvloop")  # the environment wins over the ini
        pytester.runpytest_subprocess(*BASE).assert_outcomes(passed=1)


def test_auto_falls_back_to_asyncio_without_uvloop(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOOP_CONFTEST.format(hide=HIDE_UVLOOP))
    pytester.makepyfile(test_loop=LOOP_TEST.format(expected="asyncio"))
    pytester.runpytest_subprocess(*BASE).assert_outcomes(passed=1)


def test_uvloop_asked_for_but_missing_fails_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOOP_CONFTEST.format(hide=HIDE_UVLOOP))
    pytester.makepyfile(test_loop=LOOP_TEST.format(expected="uvloop"))
    result = pytester.runpytest_subprocess(*BASE, "--aio-loop", "uvloop")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*--aio-loop uvloop: uvloop is not installed; pip install 'pytest-dualmode?speedups?'*"]
    )


@pytest.mark.parametrize("option", ["--aio-loop", "--http-aio-transport"])
def test_an_unknown_choice_is_a_usage_error_naming_the_choices(
    pytester: pytest.Pytester, option: str
) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess(*BASE, option, "fastest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    choices = "auto, asyncio, uvloop" if option == "--aio-loop" else "httpx, aiohttp"
    result.stderr.fnmatch_lines([f"*{option} 'fastest' is not one of {choices} (from {option})*"])


def test_the_example_async_service_with_the_aiohttp_transport(pytester: pytest.Pytester) -> None:
    """The whole async example suite, http_aio on aiohttp, every request verified by the front door."""
    pytester.makeconftest(ASYNC_SERVICE_CONFTEST)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_suppressions=service_tests(""))
    result = pytester.runpytest_subprocess(*BASE, "-p", "asyncio", "--http-aio-transport", "aiohttp")
    result.assert_outcomes(passed=5)


# Paths and queries that yarl (under aiohttp) sends in another form than httpx: signed in the form sent.
URL_TESTS = """
import pytest

CASES = [
    ("/e/a%7Eb", "/e/a~b", "/e/a%7Eb"),
    ("/e/%41", "/e/A", "/e/%41"),
    ("/e/caf%C3%A9;v=1", "/e/caf%C3%A9;v=1", "/e/caf%C3%A9;v=1"),
    ("/e/q?s=%7E&t=a%2Bb", "/e/q?s=~&t=a%2Bb", "/e/q?s=%7E&t=a%2Bb"),
]

@pytest.mark.parametrize(("url", "aiohttp_sends", "httpx_sends"), CASES)
async def test_edge_urls_are_signed_as_sent(http_aio, pytestconfig, url, aiohttp_sends, httpx_sends):
    r = await http_aio.get(url)
    assert r.status_code == 200, r.text  # the front door verified the signature of what it got
    kind = pytestconfig.getoption("dualmode_http_aio_transport")
    assert r.text.split(" ")[1].rstrip("?") == (aiohttp_sends if kind == "aiohttp" else httpx_sends)
"""


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_edge_urls_pass_the_front_door_with_either_transport(
    pytester: pytest.Pytester, transport: str
) -> None:
    pytester.makeconftest(ECHO_CONFTEST)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_urls=URL_TESTS)
    result = pytester.runpytest_subprocess(*BASE, "-p", "asyncio", "--http-aio-transport", transport)
    result.assert_outcomes(passed=4)


def test_the_aiohttp_transport_asked_for_but_missing_fails_with_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(LOOP_CONFTEST.format(hide=HIDE_HTTPX_AIOHTTP))
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile("async def test_x(http_aio):\n    await http_aio.get('/')\n")
    result = pytester.runpytest_subprocess(*BASE, "-p", "asyncio", "--http-aio-transport", "aiohttp")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--http-aio-transport aiohttp: httpx-aiohttp is not installed*"])


@pytest.mark.parametrize(
    "url",
    [
        "http://h:1/v1/a%7Eb",
        "http://h:1/v1/%41%42",
        "http://h:1/v1/a%zz",
        "http://h:1/v1/a b",
        "http://h:1/v1/a+b@c/%2F/x?q=a%2Bb&r=~&s=%7E&t=x+y&u=%20",
        "http://h:1/v1/caf%C3%A9/%E2%82%AC",
        "http://h:1/v1/a//b/./c",
        "http://h:1/",
        "https://h/p?",
    ],
)
def test_the_aiohttp_url_form_is_stable_through_httpx_and_yarl(url: str) -> None:
    """What is signed (httpx's URL of the form) is byte for byte what aiohttp then sends (yarl's)."""
    import yarl

    form = aiohttp_url_form(str(httpx.URL(url)))
    assert str(httpx.URL(form)) == form
    assert str(yarl.URL(form)) == form
