"""The previous run's result as history: its durations (for sharding) and its failures (``--lf`` / ``--ff``).

The history file is ``--durations-from FILE``, else the existing ``--json`` file. A merged result keeps a
``durations`` map: this run's timings over the previous map, so a test that did not run this time (``--lf``,
``-k``, a lost shard) keeps its old timing for the next run's shards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_dualmode.cli.invoke.shard import load_durations, read_result, test_durations

# outcomes that make a test "failed last time" for --lf / --ff (pytest's --lf also re-runs errors)
LAST_FAILED = ("failed", "error", "not_run")


@dataclass(frozen=True)
class History:
    """What the previous result says: ``durations`` by node id, and the node ids that did not pass."""

    durations: dict[str, float] = field(default_factory=dict)
    failed: tuple[str, ...] = ()
    source: str | None = None  # "--durations-from r.json", for messages


def load_history(path: Path | None, *, where: str) -> History:
    """The history in ``path`` (nothing when None or missing); CliError when the file is not a result."""
    if path is None:
        return History()
    data = read_result(path, where=where)
    if not data:
        return History(source=f"{where} {path}")
    failed = [
        str(t["nodeid"])
        for t in data.get("tests") or []
        if isinstance(t, dict) and isinstance(t.get("nodeid"), str) and t.get("outcome") in LAST_FAILED
    ]
    return History(load_durations(path, where=where), tuple(dict.fromkeys(failed)), f"{where} {path}")


def select_last_failed(collected: Sequence[str], history: History) -> tuple[list[str], str]:
    """``--lf``: the collected tests that failed last time, or all of them (and why) when none did."""
    failed = set(history.failed)
    chosen = [n for n in collected if n in failed]
    if chosen:
        return chosen, f"{len(chosen)} of {len(collected)} tests failed last time ({history.source})"
    why = "no previous result" if history.source is None else f"no test failed in {history.source}"
    return list(collected), f"--lf: {why}; running all {len(collected)} tests"


def failed_first(shards: Sequence[Sequence[str]], history: History) -> tuple[tuple[str, ...], ...]:
    """``--ff``: each shard's previously failed tests first (in their order), then the others."""
    failed = set(history.failed)
    return tuple(
        tuple([n for n in shard if n in failed] + [n for n in shard if n not in failed]) for shard in shards
    )


def merged_durations(previous: Mapping[str, float], tests: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The ``durations`` map to write: the previous history, this run's timings over it, sorted."""
    durations = dict(previous)
    durations.update(test_durations(tests))
    return {n: round(durations[n], 4) for n in sorted(durations)}
