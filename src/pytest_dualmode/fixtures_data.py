"""Fixtures for test data: declared tables, a boto3 resource, isolation between tests, run ids, cleanup.

- ``--dynamodb-tables FILE`` creates the tables a CloudFormation/SAM template or Terraform file declares
  as soon as the local DynamoDB starts (so before ``dualmode_service`` gets its client).
- ``dynamodb_reset`` / ``@pytest.mark.dualmode_fresh_tables`` empty (or recreate) them between tests.
- ``dualmode_run_id`` names this run's data in a shared environment; ``dualmode_cleanup`` deletes what a
  test registered, whether it passed or failed, in both modes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_dualmode.settings import SETTINGS_KEY

TABLES_KEY = pytest.StashKey[list[Any]]()
RUN_ID_KEY = pytest.StashKey[str]()
_FRESH_MODULE = pytest.StashKey[str]()
#: Set by the Lambda handler from its event's ``shard.index``, so each shard's run id differs.
SHARD_ENV = "DUALMODE_SHARD_INDEX"

FRESH_MARKER = (
    "dualmode_fresh_tables(*names, recreate=False, scope='function'): local mode: empty the declared "
    "DynamoDB tables (all, or those named) before each test, or once per module with scope='module'"
)


# -- the declared tables ------------------------------------------------------------------------------


def load_declared_tables(config: pytest.Config) -> None:
    """Read ``--dynamodb-tables`` (local mode) into ``config.stash``; a bad file is a usage error."""
    s = config.stash[SETTINGS_KEY]
    if s.is_remote or not s.dynamodb_tables:
        config.stash[TABLES_KEY] = []
        return
    from pytest_dualmode.tables import TableError, load

    where = s.source("dynamodb_tables")
    for path in s.dynamodb_tables:
        if not os.path.isfile(path):
            raise pytest.UsageError(
                f"--dynamodb-tables {path!r} (from {where}) is not an existing file; give the path of a "
                "CloudFormation/SAM template or a Terraform .tf file"
            )
    try:
        config.stash[TABLES_KEY] = load(s.dynamodb_tables, s.aws_region or "us-east-1")
    except TableError as exc:
        raise pytest.UsageError(f"--dynamodb-tables (from {where}): {exc}") from None


def declared_tables(config: pytest.Config) -> list[Any]:
    """This run's :class:`~pytest_dualmode.tables.TableSpec` list (empty without ``--dynamodb-tables``)."""
    return config.stash.get(TABLES_KEY, [])


def tables_report(config: pytest.Config) -> tuple[list[str], str | None]:
    """(report-header lines, a warning text listing what was not applied, or None)."""
    specs = declared_tables(config)
    if not specs:
        return [], None
    names = ", ".join(spec.name for spec in specs)
    lines = [f"dualmode: tables from --dynamodb-tables: {names}"]
    lines += [f"dualmode:   {note}" for spec in specs for note in spec.notes]
    skipped = [
        f"{spec.name} ({spec.where}): {', '.join(spec.not_applied)}" for spec in specs if spec.not_applied
    ]
    if not skipped:
        return lines, None
    return lines, "--dynamodb-tables: properties not applied to the local tables: " + "; ".join(skipped)


def create_declared_tables(config: pytest.Config) -> Callable[[Any], None] | None:
    """The local stack's ``on_dynamodb_ready`` hook: create the declared tables (None when there are none)."""
    specs = declared_tables(config)
    if not specs:
        return None

    def create(client: Any) -> None:
        from pytest_dualmode.tables.local import create_tables

        create_tables(client, specs)

    return create


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dynamodb_resource(request: pytest.FixtureRequest, dynamodb: Any) -> Any:
    """Local mode only: a boto3 DynamoDB *resource* on the same DynamoDB and path as :func:`dynamodb`.

    ``dynamodb_resource.Table("orders").put_item(Item={"pk": "a"})`` takes Python values; with the
    embedded DynamoDB its requests are answered in-process too, and both fixtures see the same data.
    """
    return request.getfixturevalue("dualmode_local_stack").dynamodb_resource()


class TableReset:
    """Empties or recreates the declared tables; the value of the ``dynamodb_reset`` fixture."""

    def __init__(self, stack: Any, client: Any, specs: list[Any]) -> None:
        self._stack, self._client, self._specs = stack, client, specs

    def _select(self, names: tuple[str, ...]) -> list[Any]:
        if not self._specs:
            raise pytest.UsageError(
                "dynamodb_reset has no tables to reset: declare them with --dynamodb-tables FILE"
            )
        if not names:
            return list(self._specs)
        by_name = {spec.name: spec for spec in self._specs}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise pytest.UsageError(
                f"dynamodb_reset: {', '.join(map(repr, unknown))} not declared by --dynamodb-tables "
                f"(declared: {', '.join(by_name)})"
            )
        return [by_name[n] for n in names]

    def __call__(self, *names: str, recreate: bool = False) -> None:
        """Empty the declared tables (all, or ``names``); ``recreate=True`` deletes and creates them anew."""
        from pytest_dualmode.tables.local import empty_tables, recreate_tables

        specs = self._select(names)
        if recreate:
            recreate_tables(self._client, specs)
        else:
            empty_tables(self._client, [s.name for s in specs], embedded_region=self._stack.embedded_region)


@pytest.fixture
def dynamodb_reset(request: pytest.FixtureRequest, dynamodb: Any) -> TableReset:
    """Local mode only: ``dynamodb_reset()`` empties every table declared by ``--dynamodb-tables``.

    ``dynamodb_reset("orders")`` empties one; ``dynamodb_reset(recreate=True)`` deletes and recreates
    them from the template (settings too). Emptying the embedded DynamoDB costs no request at all; against
    ``--dynamodb-endpoint`` it scans and deletes, so tables of many items are quicker with ``recreate=True``.
    To do it before every test of a module, mark it ``pytestmark = pytest.mark.dualmode_fresh_tables``.
    """
    stack = request.getfixturevalue("dualmode_local_stack")
    return TableReset(stack, dynamodb, declared_tables(request.config))


@pytest.fixture(autouse=True)
def _dualmode_fresh_tables(request: pytest.FixtureRequest) -> None:
    """Apply ``@pytest.mark.dualmode_fresh_tables`` (local mode; a remote run leaves staging's data alone)."""
    marker = request.node.get_closest_marker("dualmode_fresh_tables")
    if marker is None or request.config.stash[SETTINGS_KEY].is_remote:
        return
    scope = marker.kwargs.get("scope", "function")
    if scope not in ("function", "module"):
        raise pytest.UsageError(f"dualmode_fresh_tables(scope={scope!r}): use 'function' or 'module'")
    if scope == "module":
        module = request.node.nodeid.split("::")[0]
        if request.config.stash.get(_FRESH_MODULE, None) == module:
            return
        request.config.stash[_FRESH_MODULE] = module
    reset: TableReset = request.getfixturevalue("dynamodb_reset")
    reset(*marker.args, recreate=bool(marker.kwargs.get("recreate", False)))


def make_run_id(config: pytest.Config) -> str:
    """This run's id: ``DUALMODE_RUN_ID``/``--run-id`` or a generated one, plus the shard and worker."""
    if RUN_ID_KEY in config.stash:
        return config.stash[RUN_ID_KEY]
    import secrets
    import time

    s = config.stash[SETTINGS_KEY]
    workerinput = getattr(config, "workerinput", None) or {}
    base = (
        s.run_id
        or workerinput.get("dualmode_run_id")
        or ("dm-" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3))
    )
    parts = [base]
    shard = os.environ.get(SHARD_ENV, "")
    if shard.isdigit():
        parts.append(f"s{shard}")
    if workerinput.get("workerid"):
        parts.append(str(workerinput["workerid"]))
    config.stash[RUN_ID_KEY] = "-".join(parts)
    return config.stash[RUN_ID_KEY]


class XdistRunId:
    """Registered when pytest-xdist is active: every worker starts from the controller's run id."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def pytest_configure_node(self, node: Any) -> None:
        """Hand the controller's run id to each worker (pytest-xdist hook)."""
        node.workerinput["dualmode_run_id"] = make_run_id(self._config)


@pytest.fixture(scope="session")
def dualmode_run_id(pytestconfig: pytest.Config) -> str:
    """A name unique to this run, its Lambda shard and its xdist worker: ``dm-20260101120000-a1b2c3-s2-gw0``.

    Put it in the keys of data written to a shared staging environment, so concurrent runs never meet.
    Give every shard of a fan-out the same prefix with ``--run-id``/``DUALMODE_RUN_ID``.
    """
    return make_run_id(pytestconfig)


class Cleanup:
    """What a test registered for deletion, undone at teardown (last first), even when the test failed."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self._actions: list[tuple[str, Callable[[], object]]] = []
        self._client_factory = client_factory
        self._client: Any = None

    def register(self, action: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Call ``action(*args, **kwargs)`` at teardown."""
        self._actions.append((getattr(action, "__name__", repr(action)), lambda: action(*args, **kwargs)))

    def register_item(self, table: str, key: dict[str, Any]) -> None:
        """Delete the DynamoDB item ``key`` from ``table`` at teardown (a missing item is fine).

        ``key`` is typed (``{"pk": {"S": "a"}}``) or plain (``{"pk": "a"}``). Locally it goes to the local
        DynamoDB, remotely to the region's DynamoDB with the run's credentials.
        """
        typed = _typed_key(key)
        if self._client is None:  # now, while the test runs: fixtures cannot be requested at teardown
            self._client = self._client_factory()
        self._actions.append((f"delete {table} {sorted(typed)}", lambda: self._delete(table, typed)))

    def _delete(self, table: str, key: dict[str, Any]) -> None:
        self._client.delete_item(TableName=table, Key=key)

    def run(self) -> list[str]:
        """Run every action (last first); return one line per failure."""
        failures = []
        while self._actions:
            name, action = self._actions.pop()
            try:
                action()
            except Exception as exc:
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
        return failures


_TYPE_KEYS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


def _typed_key(key: dict[str, Any]) -> dict[str, Any]:
    if all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _TYPE_KEYS for v in key.values()):
        return key
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in key.items()}


def _cleanup_client(request: pytest.FixtureRequest) -> Any:
    s = request.config.stash[SETTINGS_KEY]
    if not s.is_remote:
        return request.getfixturevalue("dynamodb")
    import boto3

    return boto3.session.Session(profile_name=s.aws_profile).client("dynamodb", region_name=s.aws_region)


@pytest.fixture
def dualmode_cleanup(request: pytest.FixtureRequest) -> Iterator[Cleanup]:
    """Deletes what the test registered, at teardown, even when the test failed (local and remote).

    ``dualmode_cleanup.register_item("orders", {"pk": key})`` deletes an item;
    ``dualmode_cleanup.register(fn, *args)`` calls anything. A failing action does not stop the others;
    the failures are reported together as one teardown error.
    """
    cleanup = Cleanup(lambda: _cleanup_client(request))
    yield cleanup
    failures = cleanup.run()
    if failures:
        pytest.fail("dualmode_cleanup could not undo everything:\n  " + "\n  ".join(failures), pytrace=False)
