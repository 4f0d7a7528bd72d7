"""The signing channel wrapper (what ``grpc_channel`` is built from) against a real gRPC server on
127.0.0.1 behind the verifying interceptor: every call kind and calling style is signed, the caller's
metadata and options pass through, and the default deadline applies only when the caller sets none."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from botocore.credentials import Credentials
from sigv4_support import (
    ACCESS_KEY,
    ALL_SECRETS,
    REGION,
    SECRET,
    SERVICE,
    SESSION_TOKEN,
    TOKEN_KEY,
    TOKEN_SECRET,
    grpc_echo_handlers,
    keys,
)

from pytest_dualmode.clients import make_channel
from pytest_dualmode.sigv4.channel import SigningChannel
from pytest_dualmode.sigv4.signer import Signer
from pytest_dualmode.sigv4.verifier import AUTHORITY_METADATA, SigV4ServerInterceptor, Verifier

TIMEOUT = 5

ECHO = "/dualmode.test.Echo/"
PROBE = "/dualmode.test.Probe/"


def _seen(request: bytes, context: Any) -> bytes:
    """What the server received (access key id only: the signature and secrets stay out)."""
    metadata = context.invocation_metadata()
    authorizations = [m.value for m in metadata if m.key == "authorization"]
    key = authorizations[0].split("Credential=", 1)[1].split("/", 1)[0] if authorizations else None
    seen = {
        "caller": [m.value for m in metadata if m.key == "x-caller"],
        "authorizations": len(authorizations),
        "key": key,
        "authorities": [m.value for m in metadata if m.key == AUTHORITY_METADATA],
        "dates": [m.value for m in metadata if m.key == "x-amz-date"],
        "remaining": context.time_remaining(),
    }
    return json.dumps(seen).encode()


def _wait(seconds: float, context: Any) -> None:
    # Returns when the call ends (the client gives up) or `seconds` pass, so the server's threads free up
    # quickly.
    ended = threading.Event()
    if context.add_callback(ended.set):  # False: the call has already ended
        ended.wait(seconds)


def _slow_unary(request: bytes, context: Any) -> bytes:
    _wait(float(request), context)
    return b"late"


def _slow_server_stream(request: bytes, context: Any) -> Iterator[bytes]:
    _wait(float(request), context)
    yield b"late"


def _slow_client_stream(requests: Iterator[bytes], context: Any) -> bytes:
    _wait(float(next(requests)), context)
    return b"late"


def _slow_bidi(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
    _wait(float(next(requests)), context)
    yield b"late"


def _probe_handlers() -> Any:
    return grpc.method_handlers_generic_handler(
        "dualmode.test.Probe",
        {
            "Seen": grpc.unary_unary_rpc_method_handler(_seen),
            "SlowUnary": grpc.unary_unary_rpc_method_handler(_slow_unary),
            "SlowServerStream": grpc.unary_stream_rpc_method_handler(_slow_server_stream),
            "SlowClientStream": grpc.stream_unary_rpc_method_handler(_slow_client_stream),
            "SlowBidi": grpc.stream_stream_rpc_method_handler(_slow_bidi),
        },
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a real gRPC server (Echo and Probe) behind the verifying interceptor."""
    interceptor = SigV4ServerInterceptor(Verifier(keys(), service=SERVICE, region=REGION))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=[interceptor])
    server.add_generic_rpc_handlers((grpc_echo_handlers(), _probe_handlers()))
    port = server.add_insecure_port("127.0.0.1:0")
    assert port, "gRPC server could not bind 127.0.0.1"
    server.start()
    addr = f"127.0.0.1:{port}"
    try:
        with grpc.insecure_channel(addr) as channel:
            grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
        yield addr
    finally:
        server.stop(grace=None).wait(5)


@pytest.fixture
def raw(server: str) -> Iterator[Any]:
    """A plain channel to the server."""
    with grpc.insecure_channel(server) as channel:
        yield channel


def make_signer(key: tuple[str, str, str | None] = (ACCESS_KEY, SECRET, None), **kwargs: Any) -> Signer:
    return Signer(Credentials(*key), REGION, SERVICE, sign_payload=False, **kwargs)


# Each kind called the way a test would, with per-call keyword arguments.
KINDS: dict[str, Callable[..., Any]] = {
    "unary-unary": lambda ch, **kw: ch.unary_unary(ECHO + "Unary")(b"a", **kw),
    "unary-stream": lambda ch, **kw: list(ch.unary_stream(ECHO + "ServerStream")(b"b", **kw)),
    "stream-unary": lambda ch, **kw: ch.stream_unary(ECHO + "ClientStream")(iter([b"c", b"d"]), **kw),
    "stream-stream": lambda ch, **kw: list(ch.stream_stream(ECHO + "Bidi")(iter([b"e", b"f"]), **kw)),
}
EXPECTED = {
    "unary-unary": b"unary:a",
    "unary-stream": [b"0:b", b"1:b", b"2:b"],
    "stream-unary": b"c|d",
    "stream-stream": [b"echo:e", b"echo:f"],
}


def seen(channel: Any, **kwargs: Any) -> dict[str, Any]:
    """What the server saw of one signed unary call."""
    return dict(json.loads(channel.unary_unary(PROBE + "Seen")(b"", **kwargs)))


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_is_signed(raw: Any, server: str, kind: str) -> None:
    channel = SigningChannel(raw, make_signer(), server)
    assert KINDS[kind](channel, timeout=TIMEOUT) == EXPECTED[kind]
    with_token = SigningChannel(raw, make_signer((TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN)), server)
    assert KINDS[kind](with_token, timeout=TIMEOUT) == EXPECTED[kind]
    with pytest.raises(grpc.RpcError) as info:  # the same call unsigned: the front door is on
        KINDS[kind](raw, timeout=TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("kind", list(KINDS))
def test_caller_metadata_and_options_pass_through(raw: Any, server: str, kind: str) -> None:
    channel = SigningChannel(raw, make_signer(), server)
    got = KINDS[kind](
        channel,
        timeout=TIMEOUT,
        metadata=(("x-caller", "1"),),
        wait_for_ready=True,
        compression=grpc.Compression.Gzip,
    )
    assert got == EXPECTED[kind]


def test_caller_metadata_is_kept_and_stale_signing_metadata_replaced(raw: Any, server: str) -> None:
    channel = SigningChannel(raw, make_signer(), server)
    stale = (
        ("x-caller", "first"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=STALE/20000101/x/y/aws4_request"),
        ("x-amz-date", "20000101T000000Z"),
        (AUTHORITY_METADATA, "evil.example:443"),
        ("x-caller", "second"),
    )
    got = seen(channel, metadata=stale, timeout=TIMEOUT)
    assert got["caller"] == ["first", "second"]
    assert (got["authorizations"], len(got["dates"]), got["key"]) == (1, 1, ACCESS_KEY)
    assert got["dates"] != ["20000101T000000Z"]
    assert got["authorities"] == [server]
    bare = seen(channel, timeout=TIMEOUT)
    assert (bare["caller"], bare["authorizations"], bare["authorities"]) == ([], 1, [server])


def test_with_call_and_future(raw: Any, server: str) -> None:
    channel = SigningChannel(raw, make_signer(), server)
    unary = channel.unary_unary(ECHO + "Unary")
    response, call = unary.with_call(b"w", timeout=TIMEOUT, metadata=(("x-caller", "1"),))
    assert (response, call.code()) == (b"unary:w", grpc.StatusCode.OK)
    assert unary.future(b"f", timeout=TIMEOUT).result(timeout=TIMEOUT) == b"unary:f"
    client_stream = channel.stream_unary(ECHO + "ClientStream")
    response, call = client_stream.with_call(iter([b"x", b"y"]), timeout=TIMEOUT)
    assert (response, call.code()) == (b"x|y", grpc.StatusCode.OK)
    assert client_stream.future(iter([b"z"]), timeout=TIMEOUT).result(timeout=TIMEOUT) == b"z"


def test_registered_methods_and_serializers_pass_through(raw: Any, server: str) -> None:
    # Generated stubs in grpcio >= 1.63 ask for registered methods and pass their serializers.
    channel = SigningChannel(raw, make_signer(), server)
    call = channel.unary_unary(
        ECHO + "Unary",
        request_serializer=str.encode,
        response_deserializer=bytes.decode,
        _registered_method=True,
    )
    assert call("text", timeout=TIMEOUT) == "unary:text"


SLOW = {
    "unary-unary": lambda ch, wait, **kw: ch.unary_unary(PROBE + "SlowUnary")(wait, **kw),
    "unary-stream": lambda ch, wait, **kw: list(ch.unary_stream(PROBE + "SlowServerStream")(wait, **kw)),
    "stream-unary": lambda ch, wait, **kw: ch.stream_unary(PROBE + "SlowClientStream")(iter([wait]), **kw),
    "stream-stream": lambda ch, wait, **kw: list(ch.stream_stream(PROBE + "SlowBidi")(iter([wait]), **kw)),
}


@pytest.mark.parametrize("kind", list(SLOW))
def test_default_timeout_bounds_a_call_without_one(raw: Any, server: str, kind: str) -> None:
    channel = SigningChannel(raw, make_signer(), server, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        SLOW[kind](channel, b"3")
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2.5


def test_an_explicit_timeout_wins(raw: Any, server: str) -> None:
    short_default = SigningChannel(raw, make_signer(), server, timeout=0.1)
    assert SLOW["unary-unary"](short_default, b"0.4", timeout=TIMEOUT) == b"late"
    long_default = SigningChannel(raw, make_signer(), server, timeout=30)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        SLOW["unary-unary"](long_default, b"3", timeout=0.2)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2.5
    remaining = seen(long_default)["remaining"]
    assert 20 < remaining < 31  # the default (grpc-timeout is rounded up on the wire)


def test_rotated_credentials_are_used_at_once(raw: Any, server: str) -> None:
    # The wrapper reuses a signature within the second only while the credentials are the same.
    class Rotating:
        key = (ACCESS_KEY, SECRET, None)

        def get_frozen_credentials(self) -> Any:
            return Credentials(*self.key).get_frozen_credentials()

    creds = Rotating()
    channel = SigningChannel(raw, Signer(creds, REGION, SERVICE, sign_payload=False), server)
    call = channel.unary_unary(PROBE + "Seen")  # one multicallable, as a stub holds it
    assert json.loads(call(b"", timeout=TIMEOUT))["key"] == ACCESS_KEY
    creds.key = (TOKEN_KEY, TOKEN_SECRET, SESSION_TOKEN)
    assert json.loads(call(b"", timeout=TIMEOUT))["key"] == TOKEN_KEY


def test_a_signature_is_reused_within_the_second_only(
    raw: Any, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytest_dualmode.sigv4.call_signing as signing_module  # where the per-second reuse lives

    now = [float(int(time.time())) + 0.1]
    monkeypatch.setattr(signing_module, "_monotonic", lambda: now[0])
    signs: list[float] = []

    def clock() -> float:
        signs.append(now[0])
        return now[0]

    call = SigningChannel(raw, make_signer(clock=clock), server).unary_unary(PROBE + "Seen")
    first = json.loads(call(b"", timeout=TIMEOUT))["dates"]
    now[0] += 0.8
    assert json.loads(call(b"", timeout=TIMEOUT))["dates"] == first
    assert len(signs) == 1, "a second call within the second was signed again"
    now[0] += 0.5
    later = json.loads(call(b"", timeout=TIMEOUT))["dates"]
    assert len(signs) == 2 and later != first


def test_the_signers_clock_is_used(raw: Any, server: str) -> None:
    channel = SigningChannel(raw, make_signer(clock=lambda: time.time() - 600), server)
    with pytest.raises(grpc.RpcError) as info:
        seen(channel, timeout=TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    details = str(info.value.details())
    assert "server clock" in details
    assert not any(secret in details for secret in ALL_SECRETS)


def test_it_is_a_channel_and_closes_the_one_it_wraps(server: str) -> None:
    inner = grpc.insecure_channel(server)
    with SigningChannel(inner, make_signer(), server) as channel:
        assert isinstance(channel, grpc.Channel)
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)  # subscribe / unsubscribe
        assert isinstance(channel.unary_unary(ECHO + "Unary"), grpc.UnaryUnaryMultiCallable)
        assert isinstance(channel.unary_stream(ECHO + "ServerStream"), grpc.UnaryStreamMultiCallable)
        assert isinstance(channel.stream_unary(ECHO + "ClientStream"), grpc.StreamUnaryMultiCallable)
        assert isinstance(channel.stream_stream(ECHO + "Bidi"), grpc.StreamStreamMultiCallable)
        assert KINDS["unary-unary"](channel, timeout=TIMEOUT) == EXPECTED["unary-unary"]
        assert SECRET not in repr(channel)
    with pytest.raises(ValueError, match="closed channel"):
        inner.unary_unary(ECHO + "Unary")(b"a", timeout=TIMEOUT)


def test_signing_needs_an_authority(raw: Any) -> None:
    with pytest.raises(ValueError, match="authority"):
        SigningChannel(raw, make_signer(), "")


class _Recorder:
    """A fake channel recording what each multicallable is asked for."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str, dict[str, Any]]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _kind(self, kind: str) -> Callable[..., Any]:
        def make(method: str, **kwargs: Any) -> Any:
            self.made.append((kind, method, kwargs))
            recorder = self

            class Multicallable:
                def __call__(self, request: Any, **call: Any) -> Any:
                    recorder.calls.append(("__call__", call))

                def with_call(self, request: Any, **call: Any) -> Any:
                    recorder.calls.append(("with_call", call))

                def future(self, request: Any, **call: Any) -> Any:
                    recorder.calls.append(("future", call))

            return Multicallable()

        return make

    def __getattr__(self, name: str) -> Any:
        if name in {"unary_unary", "unary_stream", "stream_unary", "stream_stream"}:
            return self._kind(name)
        raise AttributeError(name)


def test_call_options_reach_the_wrapped_channel_unchanged() -> None:
    recorder = _Recorder()
    channel = SigningChannel(recorder, make_signer(), "api.internal:443", timeout=7)
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        multicallable = getattr(channel, kind)(
            "/pkg.Svc/M", request_serializer=bytes, response_deserializer=str, _registered_method=True
        )
        styles = (
            ["__call__", "with_call", "future"] if kind in {"unary_unary", "stream_unary"} else ["__call__"]
        )
        for style in styles:
            token = object()
            getattr(multicallable, style)(
                b"r", metadata=[("x-caller", "1")], credentials=token, wait_for_ready=True, compression=2
            )
            name, call = recorder.calls[-1]
            assert name == style
            assert (call["credentials"], call["wait_for_ready"], call["compression"]) == (token, True, 2)
            assert call["timeout"] == 7
            names = [k for k, _ in call["metadata"]]
            assert names[0] == "x-caller" and "authorization" in names and AUTHORITY_METADATA in names
        assert recorder.made[-1] == (
            kind,
            "/pkg.Svc/M",
            {"request_serializer": bytes, "response_deserializer": str, "_registered_method": True},
        )


def test_unsigned_wrapper_only_sets_the_default_timeout() -> None:
    recorder = _Recorder()
    channel = SigningChannel(recorder, None, "", timeout=7)
    channel.unary_unary("/pkg.Svc/M")(b"r", metadata=[("x-caller", "1")])
    channel.unary_stream("/pkg.Svc/M")(b"r", timeout=1)
    (_, first), (_, second) = recorder.calls
    assert (first["timeout"], first["metadata"]) == (7, [("x-caller", "1")])
    assert (second["timeout"], second["metadata"]) == (1, None)


# ---- make_channel: the plugin's channel ------------------------------------------------------------


def test_make_channel_signs_every_kind_and_sets_the_deadline(server: str) -> None:
    channel = make_channel(server, tls=False, signer=make_signer(), timeout=30)
    try:
        for kind, call in KINDS.items():
            assert call(channel) == EXPECTED[kind]
        got = seen(channel)
        assert (got["key"], got["authorities"]) == (ACCESS_KEY, [server])
        assert 20 < got["remaining"] < 31
    finally:
        channel.close()


def test_make_channel_runs_other_interceptors_on_signed_calls(server: str) -> None:
    class Recording(grpc.UnaryUnaryClientInterceptor):
        def __init__(self) -> None:
            self.metadata: list[str] = []

        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            self.metadata = [k for k, _ in details.metadata or ()]
            return continuation(details, request)

    recording = Recording()
    channel = make_channel(server, tls=False, signer=make_signer(), interceptors=[recording], timeout=30)
    try:
        assert KINDS["unary-unary"](channel) == EXPECTED["unary-unary"]
        assert "authorization" in recording.metadata and AUTHORITY_METADATA in recording.metadata
    finally:
        channel.close()


def test_make_channel_without_a_signer_sends_unsigned_calls(server: str) -> None:
    channel = make_channel(server, tls=False, timeout=0.3)
    try:
        with pytest.raises(grpc.RpcError) as info:
            KINDS["unary-unary"](channel)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        channel.close()
    assert isinstance(make_channel(server, tls=False), type(grpc.insecure_channel(server)))
