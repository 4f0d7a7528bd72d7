"""Remote mode's single readiness check: is each target reachable, within ``--connect-timeout``?"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from pytest_dualmode.settings import Settings


def _split_host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def _url_host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _probe(label: str, shown: str, host: str, port: int, timeout: float) -> str | None:
    """Open (and close) one TCP connection; return a problem description, or None when reachable."""
    deadline = time.monotonic() + timeout
    last: str = ""
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(left, 0.05)):
                return None
        except socket.gaierror as exc:
            return f"{label} {shown}: cannot resolve {host!r} ({exc.strerror})"
        except OSError as exc:
            last = exc.strerror or type(exc).__name__
        if time.monotonic() + 0.2 >= deadline:
            return f"{label} {shown}: not reachable within {timeout:g}s ({last})"
        time.sleep(0.2)


def check_reachable(settings: Settings) -> list[str]:
    """Probe every remote target concurrently; return one problem line per unreachable target."""
    probes: list[tuple[str, str, str, int]] = []
    if settings.addr:
        host, port = _split_host_port(settings.addr)
        probes.append(("--addr", settings.addr, host, port))
    if settings.http_addr:
        host, port = _url_host_port(settings.http_addr)
        probes.append(("--http-addr", settings.http_addr, host, port))
    if not probes:
        return []
    with ThreadPoolExecutor(len(probes)) as pool:
        timeout = settings.connect_timeout
        results = pool.map(lambda p: _probe(p[0], p[1], p[2], p[3], timeout), probes)
        return [r for r in results if r]
