"""The plan validator: a valid plan passes, and each plan below breaks exactly one rule."""

from __future__ import annotations

import numpy as np
import pytest

from suandian.compute.jobs import JobTable, Plan
from suandian.compute.validate import check_plan, check_replan

from .conftest import T0, job

# Jobs on a 30-min grid from T0:
#   A: window [0, 8), 3 steps, 2 MW, interruptible after any step, sites a or b
#   B: window [2, 6), 2 steps, 1 MW, not interruptible, site a only
#   C: window [0, 8), 4 steps, 1 MW, interruptible at checkpoints of 2 steps, site b only
JOBS = JobTable.from_jobs(
    [
        job("A", 0, 8, 3, power_mw=2.0, interruptible=True, sites=("a", "b")),
        job("B", 2, 6, 2, sites=("a",)),
        job("C", 0, 8, 4, interruptible=True, checkpoint_steps=2, sites=("b",)),
    ]
)
VALID = [
    ("A", "a", 1),
    ("A", "a", 3),
    ("A", "a", 5),
    ("B", "a", 2),
    ("B", "a", 3),
    ("C", "b", 0),
    ("C", "b", 1),
    ("C", "b", 6),
    ("C", "b", 7),
]
CAPACITY = {"a": 3.0, "b": 3.0}  # A + B in step 3 is 3 MW: exactly at a's capacity


def plan(rows: list[tuple[str, str, int]], step_min: int = 30) -> Plan:
    return Plan(
        job_id=np.array([r[0] for r in rows], dtype=object),
        site=np.array([r[1] for r in rows], dtype=object),
        step=np.array([r[2] for r in rows], dtype=np.int64),
        grid_start_utc=T0,
        step_min=step_min,
    )


def replace(old: tuple[str, str, int], new: tuple[str, str, int]) -> list[tuple[str, str, int]]:
    return [new if r == old else r for r in VALID]


def test_the_valid_plan_passes_in_any_row_order() -> None:
    assert check_plan(JOBS, plan(VALID), site_capacity_mw=CAPACITY) == []
    assert check_plan(JOBS, plan(VALID[::-1]), site_capacity_mw=CAPACITY) == []


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([*VALID, ("Z", "a", 0)], "plan names job 'Z', which is not among the jobs"),
        ([r for r in VALID if r[0] != "B"], "job 'B' is not placed (lost)"),
        (replace(("A", "a", 5), ("A", "b", 5)), "job 'A' is placed on 2 sites ['a', 'b']"),
        (replace(("A", "a", 5), ("A", "a", 3)), "job 'A' runs more than once in step(s) [3]"),
        ([r for r in VALID if r != ("A", "a", 5)], "job 'A' runs 2 steps but needs 3"),
        (
            [*VALID[:3], ("B", "a", 5), ("B", "a", 6), *VALID[5:]],
            "job 'B' runs past its deadline_utc (step starting 2020-01-01 03:00:00+00:00)",
        ),
        (
            [*VALID[:3], ("B", "a", 1), ("B", "a", 2), *VALID[5:]],
            "job 'B' runs before its release_utc (step starting 2020-01-01 00:30:00+00:00)",
        ),
        (
            [*VALID[:3], ("B", "a", 2), ("B", "a", 4), *VALID[5:]],
            "job 'B' is not interruptible but pauses between steps",
        ),
        (
            [*VALID[:5], ("C", "b", 0), ("C", "b", 2), ("C", "b", 3), ("C", "b", 4)],
            "job 'C' pauses after 1 run steps, not at a checkpoint (every 2 steps)",
        ),
        (
            [*VALID[:3], ("B", "b", 2), ("B", "b", 3), *VALID[5:]],
            "job 'B' runs on site 'b', which is not in its allowed_sites",
        ),
    ],
)
def test_each_broken_rule_is_reported_alone(rows: list[tuple[str, str, int]], message: str) -> None:
    problems = check_plan(JOBS, plan(rows), site_capacity_mw=CAPACITY)
    assert len(problems) == 1, problems
    assert problems[0].startswith(message), problems


def test_capacity_is_checked_per_site_and_step() -> None:
    problems = check_plan(JOBS, plan(VALID), site_capacity_mw={"a": 2.5, "b": 1.0})
    # A (2 MW) and B (1 MW) both run in step 3 on site a: 3 MW > 2.5 MW; C alone on b is 1 MW.
    assert problems == [
        "site 'a' runs 3 MW in step 3 (2020-01-01 01:30:00+00:00), over its capacity of 2.5 MW"
    ]
    assert (
        check_plan(JOBS, plan(VALID), site_capacity_mw={"a": 3.0})
        == ["site 'b' has no entry in site_capacity_mw"]  # once, not once per step
    )
    assert check_plan(JOBS, plan(VALID)) == []  # no capacities: unlimited


def test_capacity_may_change_from_step_to_step() -> None:
    # Site a: 3 MW in steps 0-2, then 2 MW. A (2 MW, steps 1, 3, 5) and B (1 MW, steps 2, 3):
    # step 2 holds 1 MW, step 3 holds 3 MW > 2 MW, step 5 holds 2 MW (at capacity).
    a_mw = np.array([3.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    problems = check_plan(JOBS, plan(VALID), site_capacity_mw={"a": a_mw, "b": 1.0})
    assert problems == [
        "site 'a' runs 3 MW in step 3 (2020-01-01 01:30:00+00:00), over its capacity of 2 MW"
    ]
    short = check_plan(JOBS, plan(VALID), site_capacity_mw={"a": a_mw[:4], "b": 1.0})
    assert short == [
        "site 'a': site_capacity_mw covers steps [0, 4) but the plan runs jobs in step 5; give "
        "a figure for every step",
        "site 'a' runs 3 MW in step 3 (2020-01-01 01:30:00+00:00), over its capacity of 2 MW",
    ]


def test_replan_bookkeeping_accounts_for_every_job_once() -> None:
    queue = ["A", "B", "C", "D"]
    assert (
        check_replan(queue, finished=["A"], running=["B"], planned=plan(VALID[5:]), unplaced=["D"])
        == []
    )  # C's four rows count once
    problems = check_replan(
        queue, finished=["A"], running=["B", "B"], planned=["B", "C", "Z"], unplaced=[]
    )
    assert problems == [
        "job 'B' is listed twice as running (duplicated)",
        "job 'Z' is planned but not in the queue",
        "job 'B' is both running and planned (duplicated)",
        "job 'D' is lost: neither finished, running, planned nor reported unplaceable",
    ]


def test_a_plan_on_another_step_length_is_refused() -> None:
    problems = check_plan(JOBS, plan(VALID, step_min=15))
    assert problems == ["plan uses 15-min steps but the jobs 30-min; plan on the jobs' step"]
