"""When a pytest run uses dualmode, and what the plugin does to such a run (and to no other).

The plugin is installed in a virtualenv, so pytest loads it for every project there, also for those that
never use it. It stays out of their way: a run **uses dualmode** when

1. it sets any dualmode option (command line, ``DUALMODE_*`` variable or ``dualmode_*`` ini key), other
   than an on/off option set to off: ``--dualmode`` (``DUALMODE_ENABLED=1``, ini ``dualmode_enabled =
   true``) says so explicitly, and a remote target (``--addr`` / ``--http-addr``) always does;
2. a conftest.py (or plugin) defines a ``dualmode_service`` fixture (``def dualmode_service``); or
3. a collected test uses one of the plugin's fixtures (``grpc_channel``, ``http``, ``dynamodb``,
   ``dynamodb_endpoint``, ``grpc_aio_channel``, ``http_aio``, ``dynamodb_resource``, ``dynamodb_reset``,
   ``dualmode_*``), directly or through other fixtures. A project's own fixture that happens to have the
   same name does not count.

Only then does the plugin force fake AWS credentials and region in local mode (and add loopback to
``NO_PROXY``), redact this run's secrets from its reports, and, in remote mode, check the target once at
session start. A bad ``DUALMODE_*`` value (an option set, so a run that uses dualmode) stops the run
before any test; ``--help``, ``--version``, ``--fixtures`` and ``--markers`` never look at the settings.

It does so as soon as it knows, and always before the first of its fixtures runs: at ``pytest_configure``
for 1 (and for 2 when the conftest is one pytest loads at start, next to the tests or above them); for 2
deeper in the tree, when collection reaches its directory, just before that conftest.py is imported (its
text is read first), so what it and the modules beside and below it do on import runs in the fake
environment; after collection for 3 (before any test or fixture runs). As a last resort each fixture
activates the run when it is set up (a test that calls ``request.getfixturevalue("http")``). Only a
conftest.py that pytest loads at start is imported before any plugin's ``pytest_configure``, so before
the fake environment: code of its that must see it belongs in a fixture. The environment is given back as
it was at ``pytest_unconfigure``: the Lambda handler runs many sessions in one process.
"""

from __future__ import annotations

import os
import re
import types
from pathlib import Path
from typing import Any

import pytest

from pytest_dualmode import settings as _settings
from pytest_dualmode.local.fake_aws import FAKE_KEY_ID, FAKE_REGION, FAKE_SECRET
from pytest_dualmode.settings import SETTINGS_KEY, Settings

# Local mode forces these so that nothing in the run (the service, the tests, boto3) can reach real AWS.
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_UNSET_IN_LOCAL = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)
# Loopback never goes through a proxy: a proxy set for the outside world would otherwise capture the
# local servers' traffic (boto3 clients of the embedded DynamoDB, the service's own clients).
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
# The plugin's fixtures, but for its autouse one, which is in every test's closure.
_FIXTURE_MODULES = (
    "pytest_dualmode.fixtures",
    "pytest_dualmode.fixtures_aio",
    "pytest_dualmode.fixtures_data",
)
_AUTOUSE = frozenset({"_dualmode_fresh_tables"})
_DEFINES_SERVICE = re.compile(r"^\s*(?:async\s+)?def\s+dualmode_service\b", re.MULTILINE)


class _State:
    """What the plugin knows of one run: whether it uses dualmode (and why), the environment it replaced."""

    __slots__ = ("informational", "reason", "saved_env")

    def __init__(self) -> None:
        self.reason: str | None = None  # why the run uses dualmode; None while it does not
        self.informational = False  # --help, --fixtures, --markers: never active, never failing
        self.saved_env: dict[str, str | None] | None = None


_STATE = pytest.StashKey[_State]()


def _with_loopback(value: str | None) -> str:
    hosts = [h.strip() for h in (value or "").split(",") if h.strip()]
    return ",".join([*hosts, *(h for h in _LOOPBACK if h not in hosts)])


def _informational(config: pytest.Config) -> bool:
    option = config.option
    return any(
        getattr(option, name, False)
        for name in ("help", "version", "showfixtures", "show_fixtures_per_test", "markers")
    )


class _ConftestWatch:
    """Activates the run when a conftest.py (or plugin) that defines ``dualmode_service`` is found.

    pytest calls ``pytest_plugin_registered`` for the plugins registered before this one too. A conftest.py
    met during collection is also read before pytest imports it, so that the code it runs on import sees
    the fake environment too.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_collect_directory(self, path: Path) -> None:
        """Before a directory's conftest.py is imported: activate the run if its text defines the fixture."""
        if is_active(self.config):
            return
        try:
            text = (path / "conftest.py").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        if _DEFINES_SERVICE.search(text):
            activate(self.config, f"{path / 'conftest.py'} defines dualmode_service")

    def pytest_plugin_registered(self, plugin: Any, plugin_name: str) -> None:
        """Note a module (not the plugin's own) that defines ``dualmode_service``."""
        if not isinstance(plugin, types.ModuleType) or plugin.__name__.startswith("pytest_dualmode."):
            return
        if hasattr(plugin, "dualmode_service") and not is_active(self.config):
            where = getattr(plugin, "__file__", None) or plugin_name
            activate(self.config, f"{where} defines dualmode_service")


def configure(config: pytest.Config) -> None:
    """Resolve the settings (a bad value raises :class:`pytest.UsageError`) and activate the run if its
    settings or a conftest loaded at start ask for it; ``--help`` and the like resolve nothing."""
    state = config.stash[_STATE] = _State()
    if _informational(config):
        state.informational = True
        return
    config.stash[SETTINGS_KEY] = _settings.from_config(config)
    why = _settings.requested_by_config(config)
    if why:
        activate(config, why)
    config.pluginmanager.register(_ConftestWatch(config), "dualmode-conftest-watch")


def activate(config: pytest.Config, reason: str) -> None:
    """Mark the run as using dualmode (``reason`` says why) and, in local mode, force the fake AWS
    environment."""
    state = config.stash[_STATE]
    if state.reason is not None or state.informational:
        return
    state.reason = reason
    settings = config.stash[SETTINGS_KEY]
    if settings.header:  # --header values that are credentials (an API key) are this run's secrets too
        from pytest_dualmode.redaction import header_secrets, run_secrets

        run_secrets(config).add(*header_secrets(settings.header))
    if not settings.is_remote:
        _force_local_env(state, settings)


def _force_local_env(state: _State, settings: Settings) -> None:
    region = settings.aws_region or FAKE_REGION
    forced = {**_FAKE_ENV, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    forced.update({name: _with_loopback(os.environ.get(name)) for name in _NO_PROXY_VARS})
    state.saved_env = {k: os.environ.get(k) for k in (*forced, *_UNSET_IN_LOCAL)}
    os.environ.update(forced)
    for key in _UNSET_IN_LOCAL:
        os.environ.pop(key, None)


def is_active(config: pytest.Config) -> bool:
    """True once the run uses dualmode (see the module docstring)."""
    state = config.stash.get(_STATE, None)
    return state is not None and state.reason is not None


def _uses_dualmode(item: pytest.Item) -> bool:
    # The definitions a test's fixtures resolve to (the closest one of each name): pytest keeps them on
    # the item; a project's own fixture named ``http`` is not the plugin's.
    info = getattr(item, "_fixtureinfo", None)
    for name, defs in getattr(info, "name2fixturedefs", {}).items():
        if name in _AUTOUSE or not defs:
            continue
        if getattr(defs[-1].func, "__module__", None) in _FIXTURE_MODULES:
            return True
    return False


def after_collection(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Activate the run if a collected test uses one of the plugin's fixtures."""
    state = config.stash[_STATE]
    if state.reason is not None or state.informational:
        return
    used = next((item for item in items if _uses_dualmode(item)), None)
    if used is not None:
        activate(config, f"{used.nodeid} uses a dualmode fixture")


def ensure_active(config: pytest.Config) -> Settings:
    """For the fixtures: activate the run if it is not yet, and return its settings."""
    activate(config, "a dualmode fixture is set up")
    return config.stash[SETTINGS_KEY]


def active_settings(config: pytest.Config) -> Settings | None:
    """The run's settings once it uses dualmode, else None."""
    return config.stash[SETTINGS_KEY] if is_active(config) else None


def unconfigure(config: pytest.Config) -> None:
    """Give the environment back as it was (the Lambda handler runs many sessions in one process)."""
    state = config.stash.get(_STATE, None)
    if state is None or state.saved_env is None:
        return
    for key, value in state.saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    state.saved_env = None
