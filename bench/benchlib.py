"""Small helpers shared by the benchmarks (run as ``python bench/NAME.py``, so this folder is on sys.path)."""

from __future__ import annotations

import os


def machine_line(load_at_start: float) -> str:
    """The conditions of this run: cores and the 1-minute load average (ratios move with the load)."""
    return (
        f"machine: {os.cpu_count()} cores, 1-min load average {load_at_start:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end"
    )


def other_plugins() -> list[str]:
    """``-p no:NAME`` for every installed pytest plugin but pytest-dualmode, for both variants alike.

    Only the plugin under test should differ between the variants; another package's plugin (one
    that imports requests at start-up, say) would add the same cost to both and drown the figure.
    """
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="pytest11") if not ep.value.startswith("pytest_dualmode")}
    return [arg for name in sorted(names) for arg in ("-p", f"no:{name}")]


def clean_env() -> dict[str, str]:
    """The parent's environment without anything that would change how pytest or the plugin runs."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DUALMODE_", "PYTEST_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
