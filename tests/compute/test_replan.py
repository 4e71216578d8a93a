"""Re-planning what is left of a queue: hand-checked toys, the bookkeeping, refusals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from suandian.compute.jobs import Job, JobTable, Plan
from suandian.compute.planner import SiteSignals, capacity_grid
from suandian.compute.replan import (
    reduce_site_capacity,
    replan_jobs,
)
from suandian.compute.validate import check_plan, check_replan
from suandian.core.errors import InputError, TimeError

T0 = dt.datetime(2025, 6, 2, 16, tzinfo=dt.UTC)  # midnight in Shanghai
STEP = dt.timedelta(minutes=15)


def job(
    job_id: str,
    steps: int,
    window: tuple[int, int],
    sites: tuple[str, ...],
    *,
    power_mw: float = 1.0,
    interruptible: bool = False,
    checkpoint_steps: int = 1,
) -> Job:
    return Job(
        id=job_id,
        tenant="t",
        power_mw=power_mw,
        duration_steps=steps,
        release_utc=T0 + window[0] * STEP,
        deadline_utc=T0 + window[1] * STEP,
        interruptible=interruptible,
        checkpoint_steps=checkpoint_steps,
        allowed_sites=sites,
    )


def signals(intensity: list[list[float]]) -> SiteSignals:
    return SiteSignals(
        sites=("a", "b"),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.array(intensity, dtype=np.float64),
    )


def plan_of(rows: list[tuple[str, str, int]]) -> Plan:
    return Plan(
        job_id=np.array([r[0] for r in rows], dtype=object),
        site=np.array([r[1] for r in rows], dtype=object),
        step=np.array([r[2] for r in rows], dtype=np.int64),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
    )


def rows_of(plan: Plan) -> set[tuple[str, str, int]]:
    return {
        (str(j), str(s), int(t)) for j, s, t in zip(plan.job_id, plan.site, plan.step, strict=True)
    }


def test_running_steps_are_taken_off_and_the_rest_is_planned_from_now() -> None:
    # Two sites of 1 MW, 8 steps of 15 min. a is clean except in steps 6-7, b is 5 g/kWh flat.
    # Now is step 1 + 5 min, so the first plannable step is 2.
    #   R runs on a in steps 1-3: a is full in steps 2 and 3.
    #   P (pending, 2 steps, a or b): a in 4-5 costs 1+1 = 2, b anywhere 5+5 = 10, a in 6-7
    #     costs 18 → a, steps 4-5.
    #   F failed after 3 of 4 steps with checkpoints every 2: 2 steps count as done, 2 are left;
    #     only b is allowed, flat → the earliest plannable run, steps 2-3.
    #   L (pending, 3 steps, window [0, 4)) has steps 2 and 3 left: it can no longer make it.
    #   D is done: nothing.
    jobs = JobTable.from_jobs(
        [
            job("R", 3, (0, 8), ("a",)),
            job("P", 2, (0, 8), ("a", "b")),
            job("F", 4, (0, 8), ("b",), interruptible=True, checkpoint_steps=2),
            job("L", 3, (0, 4), ("a",)),
            job("D", 2, (0, 8), ("a",)),
        ]
    )
    current = plan_of(
        [
            *[("R", "a", t) for t in (1, 2, 3)],
            *[("D", "a", t) for t in (0, 1)],
            *[("F", "b", t) for t in (0, 1, 2, 3)],
        ]
    )
    sig = signals([[1, 1, 1, 1, 1, 1, 9, 9], [5] * 8])
    result = replan_jobs(
        jobs,
        current,
        ["running", "pending", "failed", "pending", "done"],
        now_utc=T0 + STEP + dt.timedelta(minutes=5),
        signals=sig,
        capacity_mw={"a": 1.0, "b": 1.0},
        done_steps=[0, 0, 3, 0, 0],
        slot_steps=1,
    )
    assert result.first_step == 2
    assert rows_of(result.plan) == {("P", "a", 4), ("P", "a", 5), ("F", "b", 2), ("F", "b", 3)}
    assert result.running == ("R",) and result.finished == ("D",)
    assert set(result.unplaced) == {"L"}
    assert "can no longer meet its deadline: 2 step(s)" in result.unplaced["L"]
    assert "but 3 to run" in result.unplaced["L"]
    assert result.resumed_steps == {"F": 2}
    assert dict(zip(result.work.ids, result.work.duration_steps, strict=True)) == {"P": 2, "F": 2}
    np.testing.assert_allclose(
        result.capacity_left_mw, [[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1, 1]], atol=1e-12
    )
    assert result.overrun == [] and result.energy_level == "optimal"
    assert check_plan(result.work, result.plan) == []


def test_a_site_losing_capacity_moves_its_jobs_to_other_sites_or_later() -> None:
    # a is the clean site (1 g/kWh), b dirty (3). Both 2 MW. a is down (0 MW) in steps 0-3.
    #   M may run on a or b: it moves to b at once (2 × 3 = 6) rather than wait for a... but
    #     a at steps 4-5 costs 2 < 6, and its window allows it: it waits for a.
    #   N may run on a or b and is due by step 4: it must go to b, steps 0-1 (earliest of equal).
    #   O is allowed on a only, due by step 8: a's first free run, steps 4-5 would clash with M
    #     only if a held 1 MW; a holds 2 MW, so both M and O take a in 4-5.
    jobs = JobTable.from_jobs(
        [
            job("M", 2, (0, 8), ("a", "b")),
            job("N", 2, (0, 4), ("a", "b")),
            job("O", 2, (0, 8), ("a",)),
        ]
    )
    sig = signals([[1] * 8, [3] * 8])
    cap = reduce_site_capacity(
        {"a": 2.0, "b": 2.0}, sig, site="a", from_utc=T0, to_mw=0.0, until_utc=T0 + 4 * STEP
    )
    np.testing.assert_allclose(cap[0], [0, 0, 0, 0, 2, 2, 2, 2], atol=0)
    result = replan_jobs(
        jobs, None, ["pending"] * 3, now_utc=T0, signals=sig, capacity_mw=cap, slot_steps=1
    )
    assert rows_of(result.plan) == {
        ("M", "a", 4),
        ("M", "a", 5),
        ("N", "b", 0),
        ("N", "b", 1),
        ("O", "a", 4),
        ("O", "a", 5),
    }
    assert result.unplaced == {}
    # With a down for good, O has nowhere to go and is reported, never dropped.
    gone = reduce_site_capacity({"a": 2.0, "b": 2.0}, sig, site="a", from_utc=T0, to_mw=0.0)
    result = replan_jobs(
        jobs, None, ["pending"] * 3, now_utc=T0, signals=sig, capacity_mw=gone, slot_steps=1
    )
    assert set(result.plan.job_id) == {"M", "N"}
    assert set(np.asarray(result.plan.site)) == {"b"}
    assert set(result.unplaced) == {"O"} and "capacity" in result.unplaced["O"]
    assert result.energy_level.startswith("skipped")  # the LP alone sees O cannot fit


def test_new_signals_move_pending_jobs_and_running_ones_stay() -> None:
    # Q runs on a in steps 0-1 of 8; S is pending, a or b. a was the clean site; the new
    # forecast makes b the clean one from step 2 on: S goes to b at the first plannable step.
    jobs = JobTable.from_jobs([job("Q", 2, (0, 8), ("a", "b")), job("S", 2, (0, 8), ("a", "b"))])
    current = plan_of([("Q", "a", 0), ("Q", "a", 1), ("S", "a", 2), ("S", "a", 3)])
    new = signals([[1, 1, 4, 4, 4, 4, 4, 4], [9, 9, 2, 2, 3, 3, 3, 3]])
    result = replan_jobs(
        jobs,
        current,
        ["running", "pending"],
        now_utc=T0 + STEP,
        signals=new,
        capacity_mw={"a": 5.0, "b": 5.0},
        slot_steps=1,
    )
    assert rows_of(result.plan) == {("S", "b", 2), ("S", "b", 3)}
    assert result.running == ("Q",)


def test_one_block_places_an_interruptible_job_contiguously() -> None:
    # I may pause anywhere: alone it takes the two clean steps 1 and 6; as one block it takes
    # the best consecutive pair, 6-7 (1 + 2 = 3 against 1 + 9 = 10 for 0-1 or 1-2).
    jobs = JobTable.from_jobs([job("I", 2, (0, 8), ("a",), interruptible=True)])
    sig = signals([[9, 1, 9, 9, 9, 9, 1, 2], [9] * 8])
    spread = replan_jobs(
        jobs, None, ["pending"], now_utc=T0, signals=sig, capacity_mw=[1.0, 1.0], slot_steps=1
    )
    assert rows_of(spread.plan) == {("I", "a", 1), ("I", "a", 6)}
    block = replan_jobs(
        jobs,
        None,
        ["pending"],
        now_utc=T0,
        signals=sig,
        capacity_mw=[1.0, 1.0],
        one_block=True,
        slot_steps=1,
    )
    assert rows_of(block.plan) == {("I", "a", 6), ("I", "a", 7)}


def test_running_jobs_over_a_cut_capacity_are_reported_not_stopped() -> None:
    # R (1.5 MW) runs on a in steps 1-3; a is cut to 1 MW from step 2 on; now is step 2.
    # R overran its plan? No: it still has steps 2 and 3, 1.5 MW > 1 MW there. T ran past its
    # planned steps 0-1 and still runs: it holds 0.5 MW in step 2 on b.
    jobs = JobTable.from_jobs(
        [job("R", 3, (0, 8), ("a",), power_mw=1.5), job("T", 2, (0, 8), ("b",), power_mw=0.5)]
    )
    sig = signals([[1] * 8, [1] * 8])
    cap = reduce_site_capacity(
        {"a": 2.0, "b": 2.0}, sig, site="a", from_utc=T0 + 2 * STEP, to_mw=1.0
    )
    result = replan_jobs(
        jobs,
        plan_of([("R", "a", 1), ("R", "a", 2), ("R", "a", 3), ("T", "b", 0), ("T", "b", 1)]),
        ["running", "running"],
        now_utc=T0 + 2 * STEP,
        signals=sig,
        capacity_mw=cap,
        slot_steps=1,
    )
    assert result.overrun == [
        "site 'a': running jobs take 1.5 MW in step 2, over its capacity of 1 MW (2 step(s) "
        "over); running jobs are not stopped"
    ]
    np.testing.assert_allclose(
        result.capacity_left_mw,
        [[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1.5, 2, 2, 2, 2, 2]],
        atol=1e-12,
    )
    assert len(result.plan.job_id) == 0 and result.unplaced == {}


@settings(max_examples=40, deadline=None)
@example(  # once chose a step without room: a long prefix sum rounded its stand-in cost away
    specs=[
        ("pending", 0, 1, ("a",), 1.0),
        ("pending", 0, 1, ("a",), 1.0),
        ("pending", 0, 1, ("a",), 0.5),
        ("pending", 0, 1, ("a",), 0.5),
        ("pending", 0, 1, ("a",), 0.5),
        ("pending", 0, 1, ("a",), 0.25),
        ("pending", 0, 1, ("a",), 0.21875),
        ("pending", 0, 1, ("a",), 0.21875),
        ("pending", 0, 1, ("a", "b"), 1.0),
        ("pending", 0, 2, ("a",), 1.0),
        ("pending", 0, 2, ("a",), 0.75),
        ("pending", 1, 1, ("a", "b"), 1.5),
    ],
    now=3,
    b_after_mw=1.0,
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["pending", "running", "done", "failed"]),
            st.integers(0, 5),  # release step
            st.integers(1, 4),  # duration steps
            st.sampled_from([("a",), ("b",), ("a", "b")]),
            st.floats(0.2, 1.5),  # power
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 10),  # now, in steps
    st.floats(0.0, 3.0),  # b's capacity after the cut
)
def test_every_job_is_accounted_for_exactly_once(
    specs: list[tuple[str, int, int, tuple[str, ...], float]], now: int, b_after_mw: float
) -> None:
    # Running jobs sit where a first plan put them; the re-plan must then account for every
    # job once, keep every new step at or after now, and fit what the running jobs leave.
    jobs = JobTable.from_jobs(
        [
            job(f"j{i}", k, (r, r + k + 4), sites, power_mw=p)
            for i, (_, r, k, sites, p) in enumerate(specs)
        ]
    )
    sig = signals([[1 + (t % 5) for t in range(16)], [2 + (t % 3) for t in range(16)]])
    first = replan_jobs(
        jobs,
        None,
        ["pending"] * len(specs),
        now_utc=T0,
        signals=sig,
        capacity_mw={"a": 3.0, "b": 3.0},
        slot_steps=1,
    )
    placed = set(first.plan.job_id)
    states = [s if f"j{i}" in placed else "pending" for i, (s, *_) in enumerate(specs)]
    cap = reduce_site_capacity(
        {"a": 3.0, "b": 3.0}, sig, site="b", from_utc=T0 + now * STEP, to_mw=b_after_mw
    )
    result = replan_jobs(
        jobs,
        first.plan,
        states,
        now_utc=T0 + now * STEP,
        signals=sig,
        capacity_mw=cap,
        slot_steps=1,
    )
    assert (
        check_replan(
            jobs.ids,
            finished=result.finished,
            running=result.running,
            planned=result.plan,
            unplaced=result.unplaced,
        )
        == []
    )
    assert (np.asarray(result.plan.step) >= now).all()
    assert (
        check_plan(
            result.work,
            result.plan,
            site_capacity_mw=dict(zip(sig.sites, result.capacity_left_mw, strict=True)),
        )
        == []
    )
    # What the running jobs leave plus what is planned never exceeds the capacity, except
    # where running jobs alone already do (reported as overrun).
    if not result.overrun:
        load = capacity_grid([0.0, 0.0], sig)
        for plan, table in ((first.plan, jobs), (result.plan, result.work)):
            keep = np.isin(plan.job_id, result.running if plan is first.plan else result.work.ids)
            rows = np.flatnonzero(keep & (np.asarray(plan.step) >= result.first_step))
            row_of = pd.Index(table.ids.astype(str)).get_indexer(plan.job_id[rows].astype(str))
            site = pd.Index(sig.sites).get_indexer(plan.site[rows].astype(str))
            np.add.at(load, (site, plan.step[rows]), table.power_mw[row_of])
        assert (load <= cap + 1e-9).all()


def test_bad_input_is_refused_with_the_field() -> None:
    jobs = JobTable.from_jobs([job("A", 2, (0, 8), ("a",), interruptible=True)])
    sig = signals([[1] * 8, [1] * 8])
    kw = {"signals": sig, "capacity_mw": {"a": 1.0, "b": 1.0}, "slot_steps": 1}
    with pytest.raises(InputError, match=r"job 'A': state 'asleep' is unknown; use one of"):
        replan_jobs(jobs, None, ["asleep"], now_utc=T0, **kw)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"states: 2 value\(s\) for 1 jobs"):
        replan_jobs(jobs, None, ["pending", "done"], now_utc=T0, **kw)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"running but no current plan is given"):
        replan_jobs(jobs, None, ["running"], now_utc=T0, **kw)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"running but have no rows in the current plan"):
        replan_jobs(
            jobs,
            plan_of([("B", "a", 0)]),
            ["running"],
            now_utc=T0,
            **kw,  # type: ignore[arg-type]
        )
    with pytest.raises(InputError, match=r"job 'A': done_steps 2 ≥ its duration_steps 2"):
        replan_jobs(jobs, None, ["failed"], now_utc=T0, done_steps=[2], **kw)  # type: ignore[arg-type]
    with pytest.raises(TimeError, match="now_utc"):
        replan_jobs(jobs, None, ["pending"], now_utc=dt.datetime(2025, 6, 2), **kw)  # type: ignore[arg-type]  # noqa: DTZ001
    with pytest.raises(InputError, match=r"capacity_mw has no entry for site\(s\) \['b'\]"):
        replan_jobs(jobs, None, ["pending"], now_utc=T0, signals=sig, capacity_mw={"a": 1.0})
    with pytest.raises(InputError, match=r"capacity_mw: shape \(3,\), expected \(2,\)"):
        capacity_grid([1.0, 1.0, 1.0], sig)
    with pytest.raises(InputError, match=r"site 'z' is not among the signals' sites"):
        reduce_site_capacity([1.0, 1.0], sig, site="z", from_utc=T0, to_mw=0.0)
