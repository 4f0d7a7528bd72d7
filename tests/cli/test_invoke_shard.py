"""Sharding for ``dualmode invoke``: longest-first balance, round robin, determinism, ``--shards auto``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_dualmode.cli import CliError
from pytest_dualmode.cli.invoke.shard import auto_shard_count, load_durations, plan_shards


def ids(n: int) -> list[str]:
    return [f"tests/test_m.py::test_{i:03d}" for i in range(n)]


def test_round_robin_without_history_keeps_collection_order():
    plan = plan_shards(ids(7), 3, {})
    assert plan.strategy == "round-robin"
    assert plan.shards == (
        tuple(ids(7)[0::3]),
        tuple(ids(7)[1::3]),
        tuple(ids(7)[2::3]),
    )


def test_longest_first_balances_a_skewed_suite():
    # one 30 s test, five 10 s tests, ten 1 s tests: 90 s over 3 shards -> 30 s each is achievable
    names = ids(16)
    durations = {names[0]: 30.0, **{n: 10.0 for n in names[1:6]}, **{n: 1.0 for n in names[6:]}}
    plan = plan_shards(names, 3, durations)
    assert plan.strategy == "durations"
    loads = sorted(sum(durations[n] for n in shard) for shard in plan.shards)
    assert loads == [30.0, 30.0, 30.0]
    assert plan.shards[0][0] == names[0]  # the longest test starts on the first shard
    for shard in plan.shards:  # each shard keeps collection order
        assert list(shard) == sorted(shard, key=names.index)


def test_longest_first_beats_round_robin_on_the_same_suite():
    names = ids(12)
    durations = {n: (20.0 if i % 4 == 0 else 1.0) for i, n in enumerate(names)}  # the long ones line up
    rr = plan_shards(names, 4, {})
    lpt = plan_shards(names, 4, durations)
    worst = lambda plan: max(sum(durations[n] for n in s) for s in plan.shards)  # noqa: E731
    assert worst(rr) == 60.0  # round robin puts every long test on shard 0
    assert worst(lpt) == 20.0  # the three long tests alone, the nine short ones together


def test_new_tests_are_estimated_at_the_mean_of_known_ones():
    names = ids(4)
    plan = plan_shards(names, 2, {names[0]: 9.0, names[1]: 1.0, names[2]: 3.0})
    # test 3 is new: estimated at the mean, 13/3; LPT: 9 | 13/3, 3, 1 -> loads 9 and 25/3
    assert sorted(plan.estimates) == pytest.approx([25 / 3, 9.0])


def test_zero_durations_still_spread_over_every_shard():
    names = ids(10)
    plan = plan_shards(names, 5, dict.fromkeys(names, 0.0))
    assert [len(s) for s in plan.shards] == [2, 2, 2, 2, 2]


def test_more_shards_than_tests_gives_one_test_per_shard():
    plan = plan_shards(ids(3), 8, {})
    assert len(plan.shards) == 3
    assert all(len(s) == 1 for s in plan.shards)


def test_a_node_id_collected_twice_runs_once():
    names = ids(3) + ids(3)[:1]
    plan = plan_shards(names, 2, {})
    assert sorted(n for s in plan.shards for n in s) == ids(3)


durations_st = st.dictionaries(
    st.sampled_from(ids(60)), st.floats(min_value=0, max_value=100, allow_nan=False), max_size=60
)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 60), count=st.integers(1, 12), durations=durations_st)
def test_every_test_lands_in_exactly_one_shard_and_lpt_is_within_grahams_bound(n, count, durations):
    names = ids(n)
    plan = plan_shards(names, count, durations)
    flat = [x for s in plan.shards for x in s]
    assert sorted(flat) == names
    assert all(plan.shards)
    assert plan == plan_shards(names, count, durations)  # deterministic
    if plan.strategy == "durations":
        known = [durations[x] for x in names if x in durations]
        expected = {x: durations.get(x, sum(known) / len(known)) for x in names}
        total = sum(expected.values())
        longest = max(expected.values())
        # list scheduling never exceeds average load + the longest job
        assert max(plan.estimates) <= total / len(plan.shards) + longest + 1e-6


def test_auto_shard_count_without_history_is_one_shard_per_25_tests():
    assert auto_shard_count(ids(1), {}, function_timeout_s=None) == 1
    assert auto_shard_count(ids(26), {}, function_timeout_s=None) == 2
    assert auto_shard_count(ids(10_000), {}, function_timeout_s=None) == 64  # capped


def test_auto_shard_count_with_history_targets_a_minute_per_shard_and_half_the_timeout():
    names = ids(100)
    durations = dict.fromkeys(names, 3.0)  # 300 s in total
    assert auto_shard_count(names, durations, function_timeout_s=None) == 5  # 60 s each
    assert auto_shard_count(names, durations, function_timeout_s=60) == 10  # at most 30 s each
    assert auto_shard_count(ids(3), dict.fromkeys(ids(3), 500.0), function_timeout_s=None) == 3  # <= tests


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_load_durations_reads_a_previous_result_and_ignores_not_run(tmp_path):
    result = {
        "schema": "pytest-dualmode.result/1",
        "tests": [
            {"nodeid": "a", "outcome": "passed", "duration": 1.5},
            {"nodeid": "b", "outcome": "not_run", "duration": 0.0},
            {"nodeid": "c", "outcome": "failed", "duration": 2},
            {"nodeid": "d", "outcome": "passed", "duration": "x"},
        ],
    }
    assert load_durations(write(tmp_path / "r.json", result), where="--json") == {"a": 1.5, "c": 2.0}
    assert load_durations(tmp_path / "missing.json", where="--json") == {}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("not json", r"r\.json \(--durations-from\) is not JSON; pass the --json file of a previous"),
        ({"schema": "other/1"}, r"is not a pytest-dualmode\.result/1 result"),
        ([1, 2], r"is not a pytest-dualmode\.result/1 result"),
    ],
)
def test_load_durations_names_the_bad_file_and_the_fix(tmp_path, content, expected):
    with pytest.raises(CliError, match=expected):
        load_durations(write(tmp_path / "r.json", content), where="--durations-from")
