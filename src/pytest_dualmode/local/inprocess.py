"""Answer a boto3 DynamoDB client from moto's DynamoDB handler inside this process.

:func:`attach` makes :func:`send` a client's ``before-send`` hook: it hands botocore's prepared
request to moto's ``DynamoHandler`` and returns moto's answer as the HTTP response, so the request
still goes through botocore's whole pipeline and moto's whole handler; only the socket is skipped.

Some steps of moto's per-request path are taken faster here, with the same result (tests compare
both ways, byte for byte, over a battery of every kind of DynamoDB request):

- **Building moto's request.** moto builds a werkzeug ``Request`` through werkzeug's test
  ``EnvironBuilder``; a DynamoDB request (``POST /``, a bytes body, no query) gets the same WSGI
  environ built directly, its body read as werkzeug's form parser would leave it, and its
  ``raw_url`` (which werkzeug rebuilds on every request) remembered per host and port. Anything
  else goes through moto's own ``normalize_request``.
- **Picking values while serialising the answer.** For every member of every structure in the
  answer (ten per DynamoDB ``AttributeValue``), moto's serializer asks a chain of alias providers
  which keys to look for. For a plain ``dict`` the answer depends only on the member's name, its
  shape and that shape's parent, so it is remembered per (name, shape, parent). Any other object,
  a provider this module does not know, or a response transformer takes moto's own path.
- **Listing the handler's methods.** moto lists the handler class's methods on every request to
  check the action; for this module's handler class, the list is made once.

Together they take about 40% off an in-process ``GetItem``; ``bench/bench_dynamodb.py`` and
``bench/bench_http_server.py`` measure it.
"""

from __future__ import annotations

import functools
import io
import re
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

_PREFIX = "HTTP_"
# A host (lower-case name or IPv4 address) and port that werkzeug's iri_to_uri leaves as they are.
_PLAIN_NETLOC = re.compile(r"[a-z0-9.-]+(:[0-9]+)?")


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


def send(request: Any, *, authorization: str = "", **_: Any) -> Any:
    """botocore ``before-send`` hook: answer a DynamoDB request from moto's handler in this process.

    ``authorization`` names the key and region as a signed request would (moto takes the account and
    region from it), so in-process data lands where the HTTP endpoint's clients find it.
    """
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse
    from moto.core.exceptions import HTTPException

    if authorization and "Authorization" not in request.headers:
        request.headers["Authorization"] = authorization
    handler_class = _handler_class()
    normalized, raw_url = moto_request_and_url(request)
    try:
        status, headers, body = handler_class.dispatch(normalized, raw_url, normalized.headers)
    except HTTPException as exc:
        status, headers, body = exc.code, exc.get_headers(), exc.get_body()
    return AWSResponse(request.url, status, headers, MockRawResponse(body))


def moto_request(request: Any) -> Any:
    """moto's ``Request`` for botocore's prepared ``request``, as ``normalize_request`` builds it.

    A DynamoDB request (``POST``, path ``/``, no query, a bytes body, ``str``/``bytes`` header values)
    gets its WSGI environ built here, key for key and in the same order as werkzeug's
    ``EnvironBuilder`` would; any other request goes to moto's ``normalize_request``.
    """
    return moto_request_and_url(request)[0]


def moto_request_and_url(request: Any) -> tuple[Any, str]:
    """:func:`moto_request` and the request's ``raw_url``, which moto's handler is given with it.

    werkzeug rebuilds that URL from the environ on every request (host checks, quoting, IRI
    decoding: about 5% of an in-process ``GetItem``). For a DynamoDB-shaped request it depends on
    nothing but the host and port, so it is remembered per host and port, as werkzeug gave it.
    """
    from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, Request, normalize_request

    fast = _dynamodb_environ(request)
    if fast is None:
        normalized = normalize_request(request)
        return normalized, normalized.raw_url
    environ, netloc = fast
    built = Request(environ)
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = {}
    if environ.get("CONTENT_TYPE") == _DYNAMODB_JSON:
        _read_body(built)
    raw_url = _RAW_URLS.get(netloc) if Request.trusted_hosts is None else None
    if raw_url is None:
        raw_url = built.raw_url
        if Request.trusted_hosts is None and len(_RAW_URLS) < _RAW_URLS_LIMIT:
            _RAW_URLS[netloc] = raw_url
    return built, raw_url


def _read_body(built: Any) -> None:
    """Leave ``built`` as werkzeug's ``get_data(parse_form_data=True)`` leaves a request whose body is
    not a form: the body read and kept, no form fields, no files.

    moto reads ``data`` and ``form`` of every request; werkzeug gets there through its form parser,
    about 4% of an in-process ``GetItem``. The values go where werkzeug's own ``_load_form_data`` puts
    them, in the instance's ``__dict__`` ahead of its cached properties.
    """
    stream = built.environ["wsgi.input"]
    body = stream.getvalue()
    stream.seek(0, io.SEEK_END)  # read to its end, as werkzeug leaves it
    state = built.__dict__
    empty = built.parameter_storage_class
    state["stream"], state["form"], state["files"] = stream, empty(), empty()
    state["_cached_data"] = state["data"] = body


_DYNAMODB_JSON = "application/x-amz-json-1.0"  # DynamoDB's requests; not a form to werkzeug
_RAW_URLS: dict[str, str] = {}  # host[:port] -> werkzeug's raw_url of a DynamoDB-shaped request to it
_RAW_URLS_LIMIT = 64


def _valid_port(url: Any) -> bool:
    """The split URL's port is absent or a number from 0 to 65535 (``urlsplit`` checks on access)."""
    try:
        url.port  # noqa: B018 - raises for a port outside 0 to 65535
    except ValueError:
        return False
    return True


def _dynamodb_environ(request: Any) -> tuple[dict[str, Any], str] | None:
    """The WSGI environ of a DynamoDB-shaped ``request`` and its host[:port], or None for any other."""
    url = urlsplit(request.url)
    body = request.body
    if (
        request.method != "POST"
        or url.path != "/"
        or url.query
        or url.fragment
        or url.scheme != "http"
        or not isinstance(body, bytes | None)
        or not _PLAIN_NETLOC.fullmatch(url.netloc)  # werkzeug would rewrite it (iri_to_uri): its path
        or not _valid_port(url)  # moto's path refuses it (ValueError), as it should be
    ):
        return None
    body = body or b""
    content_type = None
    fields: dict[str, list[str]] = {}
    for name, raw in request.headers.items():
        value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        lowered = name.lower()
        if not isinstance(value, str) or lowered == "host" or "_" in name or "\n" in value or "\r" in value:
            # A Host field, a name moto keeps as sent (underscores), or a value werkzeug refuses
            # (a line break): moto's path, which answers them its own way.
            return None
        if lowered == "content-type":
            content_type = value if content_type is None else content_type
        elif lowered not in ("content-length", "transfer-encoding"):  # the body's own, as in moto
            fields.setdefault(_PREFIX + name.upper().replace("-", "_"), []).append(value)
    # As EnvironBuilder reads its base URL: the host is the netloc as written, the port its number.
    server_name, _, port = url.netloc.partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "REQUEST_URI": "/",
        "RAW_URI": "/",
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(int(port or 80)),
        "HTTP_HOST": url.netloc,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    environ["CONTENT_LENGTH"] = str(len(body))
    for key, values in fields.items():
        environ[key] = ", ".join(values)
    return environ, url.netloc


@functools.cache
def _handler_class() -> type[Any]:
    """moto's ``DynamoHandler`` with its answers serialised through :func:`_fast_serializer`.

    If moto's internals are not what this module expects, moto's own handler (the same answers,
    slower).
    """
    from moto.dynamodb.responses import DynamoHandler

    try:
        from moto.core import serialize
        from moto.core.responses import ActionResult

        defaults = serialize.DEFAULT_ALIAS_PROVIDERS
        serialize.XFormedAttributePicker  # noqa: B018 - the picker the fast serializer stands in for
        serialize.AttributePickerContext  # noqa: B018 - built by the memo on a miss
        # The alias providers whose answer for a dict depends only on the key, the shape and its parent.
        known = {
            serialize.ExplicitAlias,
            serialize.ShapeNameAlias,
            serialize.NoAlias,
            serialize.ShapePrefixAlias,
            serialize.ClassPrefixAlias,
            serialize.ModelAlias,
        }
        if not set(defaults) <= known:
            return DynamoHandler
    except (ImportError, AttributeError):
        return DynamoHandler

    class _Result(ActionResult):
        """An action's result whose serializer picks ``dict`` values through the memo."""

        def __init__(self, inner: Any) -> None:
            super().__init__(inner.result)
            self._inner = inner

        def execute_result(self, context: Any) -> Any:
            context.serializer_class = _fast_serializer(context.serializer_class)
            return self._inner.execute_result(context)

    class InProcessDynamoHandler(DynamoHandler):
        """moto's DynamoDB handler, serialising through the memo (see the module docstring)."""

        def serialized(self, action_result: Any) -> Any:
            return super().serialized(_Result(action_result))

    _remember_method_names(InProcessDynamoHandler)
    return InProcessDynamoHandler


def _remember_method_names(handler: type[Any]) -> None:
    """Have moto list ``handler``'s methods once, not on every request.

    moto's ``call_action`` checks that the action names a method of the handler class through
    ``method_names_from_class``, an ``inspect.getmembers`` over a few hundred attributes on every
    request. moto looks the function up in its ``moto.core.responses`` module, so it is wrapped
    there; every other class still gets moto's own answer, and if something else has replaced the
    function, it is left alone.
    """
    from moto.core import responses, utils

    original = utils.method_names_from_class
    if getattr(responses, "method_names_from_class", None) is not original:
        return
    names = original(handler)

    def method_names_from_class(clazz: object) -> list[str]:
        return names if clazz is handler else original(clazz)

    responses.method_names_from_class = method_names_from_class


class _KeyMemo:
    """The keys moto's picker tries for a member of a ``dict``, per (member name, shape, parent).

    Entries keep their shape and parent alive, so an ``id`` in a key never names another object.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int, int], tuple[Any, Any, tuple[str, ...] | None]] = {}
        self._lock = threading.Lock()

    def keys(self, picker: Any, value: dict[str, Any], key: str, shape: Any) -> tuple[str, ...] | None:
        """The keys to try, in order, or None when one is a dotted path (moto's own path then)."""
        parent = getattr(shape, "parent", None)
        memo_key = (key, id(shape), id(parent))
        entry = self._entries.get(memo_key)
        if entry is not None and entry[0] is shape and entry[1] is parent:
            return entry[2]
        from moto.core.serialize import AttributePickerContext

        # The context moto's get_value builds, less what no known alias provider reads.
        context = AttributePickerContext(obj=value, key=key, shape=shape)
        keys = tuple(picker.get_possible_keys(context))
        found = None if any("." in candidate for candidate in keys) else keys
        with self._lock:
            if len(self._entries) >= self.LIMIT:
                self._entries.clear()
            self._entries[memo_key] = (shape, parent, found)
        return found


_MEMO = _KeyMemo()


@functools.cache
def _fast_serializer(base: type[Any]) -> type[Any]:
    """``base`` (one of moto's serializers) picking values out of a ``dict`` through :data:`_MEMO`.

    A serializer with its own ``get_value`` is returned as it is.
    """
    from moto.core import serialize

    if base.get_value is not serialize.ResponseSerializer.get_value:
        return base
    picker_class, defaults = serialize.XFormedAttributePicker, serialize.DEFAULT_ALIAS_PROVIDERS

    class FastSerializer(base):
        def get_value(self, value: Any, key: str, shape: Any) -> Any:
            picker = self._value_picker
            if (
                type(value) is dict
                and type(picker) is picker_class
                and picker.alias_providers is defaults
                and not picker.response_transformers
            ):
                keys = _MEMO.keys(picker, value, key, shape)
                if keys is not None:
                    # AttributePicker.__call__ for a dict: the first key present wins, else None.
                    for candidate in keys:
                        if candidate in value:
                            return value[candidate]
                    return None
            return super().get_value(value, key, shape)

    FastSerializer.__name__ = FastSerializer.__qualname__ = f"InProcess{base.__name__}"
    return FastSerializer
