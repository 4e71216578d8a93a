"""Re-planning on a real local Ray cluster: 24 jobs on 3 sites through a failure, a site's
capacity cut and a new forecast.

The cluster is one local node that advertises a custom resource per site, as in
tests/executors/test_ray.py; the plan clock runs 3600× (an hour of plan per wall second). Each job
holds its worker until its planned end, so running and done mean what they would on a real
cluster, and leaves a marker file per launch, so launches are counted apart from the executor's
own bookkeeping.

Timeline (plan time, 15-min steps from T0 = 16:00 UTC, midnight in Shanghai):

* step 0: the first plan. Site c is the cleanest, so many jobs go there.
* ``j03`` crashes halfway through its first run; the failure triggers a re-plan that places it
  again from scratch.
* step 3: site c will have no capacity from step 8 on (announced ahead): its jobs that would run
  then move to a or b, or earlier.
* step 5: a new forecast makes a the cleanest site from step 6 on.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suandian.compute.jobs import Job, JobTable
from suandian.compute.jobs import Plan as StepPlan
from suandian.compute.planner import SiteSignals
from suandian.compute.replan import reduce_site_capacity
from suandian.compute.validate import check_plan, check_replan
from suandian.executors.plan import PlannedJob
from suandian.executors.ray_executor import (
    JobState,
    RayLauncher,
    SimClock,
    site_resource,
)
from suandian.executors.replanner import QueueRecorder, QueueWatcher, Replanner
from suandian.store.jobs import JobQueue
from suandian.store.sql import engine_for, migrate

SITES = ("a", "b", "c")
SPEEDUP = 3600.0
LATE_TOLERANCE_S = 1.5  # wall seconds a launch may trail its planned instant (as test_ray.py)
END_MARGIN_S = 0.02  # wall seconds a job stops before its planned end
T0 = dt.datetime(2025, 6, 1, 16, 0, tzinfo=dt.UTC)  # midnight in Shanghai
STEP = dt.timedelta(minutes=15)
N_STEPS = 24  # 6 h of plan, 6 s of wall time
CUT_STEP = 8
FAILS = "j03"
RAY_CPUS = 8  # workers of the local cluster: more than the 6 jobs the sites can hold at once


def nap(job: PlannedJob) -> None:
    time.sleep(1.0)  # long enough that every warm-up task needs its own worker


def work(markers: Path, clock: SimClock, job: PlannedJob) -> dict[str, object]:
    """Leave a marker, hold the worker until the planned end; ``FAILS`` crashes halfway once."""
    import ray

    started = time.time()
    (markers / f"{job.job_id}.{uuid.uuid4().hex}").touch()
    if job.job_id == FAILS and len(list(markers.glob(f"{job.job_id}.*"))) == 1:
        time.sleep(max(clock.wall_at(job.start_utc + job.duration / 2) - time.time(), 0.0))
        raise RuntimeError(f"{job.job_id}: simulated crash halfway through its first run")
    time.sleep(max(clock.wall_at(job.end_utc) - END_MARGIN_S - time.time(), 0.0))
    return {"t": started, "resources": ray.get_runtime_context().get_assigned_resources()}


def launches(markers: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in markers.iterdir():
        job_id = p.name.split(".")[0]
        out[job_id] = out.get(job_id, 0) + 1
    return out


def queue() -> JobTable:
    """24 jobs of 1 MW and 2 steps; windows of 8 to 12 steps released over the first 12 steps;
    every job may run on two or three sites, so c's cut leaves each somewhere to go."""
    site_sets = [("a", "b", "c"), ("a", "c"), ("b", "c"), ("a", "b")]
    jobs = []
    for i in range(24):
        release = (i // 2) % 12
        jobs.append(
            Job(
                id=f"j{i:02d}",
                tenant=f"tenant-{i % 3}",
                power_mw=1.0,
                duration_steps=2,
                release_utc=T0 + release * STEP,
                deadline_utc=T0 + min(release + 8 + i % 5, N_STEPS) * STEP,
                allowed_sites=site_sets[i % 4],
            )
        )
    return JobTable.from_jobs(jobs, sites=SITES)


def signals(intensity: list[list[float]]) -> SiteSignals:
    return SiteSignals(
        sites=SITES,
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.array(intensity, dtype=np.float64),
    )


def executed(rp: Replanner, table: JobTable) -> StepPlan:
    """The placement each job was last launched by, as plan rows."""
    plan = rp.current_plan()
    assert set(plan.job_id.astype(str)) == set(table.ids.astype(str))
    return plan


def test_replans_keep_every_job_once_through_failure_capacity_cut_and_new_forecast(
    ray_cluster: None, tmp_path: Path
) -> None:
    t = np.arange(N_STEPS)
    first = signals([400 + 0 * t, 300 + 0 * t, 100 + 5 * t])  # c the cleanest
    # From step 6 on a is the cleanest; before that the old order holds.
    new = signals([np.where(t >= 6, 50, 400), 300 + 0 * t, 100 + 5 * t])
    capacity = {"a": 2.0, "b": 2.0, "c": 2.0}
    cut = reduce_site_capacity(capacity, first, site="c", from_utc=T0 + CUT_STEP * STEP, to_mw=0)
    table = queue()
    clock = SimClock(T0, SPEEDUP)
    rp = Replanner(
        table,
        signals=first,
        capacity_mw=capacity,
        clock=clock,
        command="work",
        functions={"work": functools.partial(work, tmp_path, clock)},
        launcher=RayLauncher(num_cpus=1),
        lead=dt.timedelta(minutes=5),
    )
    start = rp.history[0]
    assert start.result.unplaced == {} and len(start.plan) == 24
    on_c_late = {
        j.job_id for j in start.plan.jobs if j.site == "c" and j.end_utc > T0 + CUT_STEP * STEP
    }
    assert on_c_late, "the first plan should put jobs on c after the cut, or the cut tests nothing"

    events = {"capacity": T0 + 3 * STEP, "signals": T0 + 5 * STEP}
    deadline = time.monotonic() + 30
    while not rp.finished():
        now = clock.now_utc()
        if "capacity" in events and now >= events["capacity"]:
            del events["capacity"]
            rp.set_capacity(cut)
        if "signals" in events and now >= events["signals"]:
            del events["signals"]
            rp.set_signals(new)
        rp.step()
        assert time.monotonic() < deadline, rp.executor.records
        time.sleep(0.01)

    # Every job ran to completion exactly once, the crashing one twice in all.
    records = rp.executor.records
    assert {j: r.state for j, r in records.items()} == dict.fromkeys(table.ids, JobState.DONE)
    expected = {str(j): 1 for j in table.ids} | {FAILS: 2}
    assert launches(tmp_path) == expected
    assert {j: r.launches for j, r in records.items()} == expected
    assert rp.unplaced == {}

    # Each re-plan was triggered as the timeline says and accounted for every job once.
    reasons = [e.reason for e in rp.history]
    assert reasons[0] == "start"
    assert any(f"failed: {FAILS}" in r for r in reasons)
    assert any("capacity" in r for r in reasons) and any("signals" in r for r in reasons)
    assert [e.version for e in rp.history] == list(range(len(rp.history)))
    for e in rp.history:
        assert not check_replan(
            table.ids,
            finished=e.result.finished,
            running=e.result.running,
            planned=e.result.plan,
            unplaced=e.result.unplaced,
        ), e.reason

    # Each job ran where and when the last plan that covered it said.
    for job_id, rec in records.items():
        last = [e.plan.get(job_id) for e in rp.history if job_id in e.plan][-1]
        assert rec.job == last
        p = rp.placements[job_id]
        assert (p.site, p.start_utc, p.end_utc) == (last.site, last.start_utc, last.end_utc)
        assert rec.site_seen == last.site
        assert isinstance(rec.result, dict)
        assert rec.result["resources"].get(site_resource(last.site)) == pytest.approx(1.0)
        started_s = rec.result["t"]
        assert isinstance(started_s, float)
        planned_s = clock.wall_at(last.start_utc)
        assert started_s >= planned_s - 1e-3, f"{job_id} started {planned_s - started_s} s early"
        assert started_s - planned_s <= LATE_TOLERANCE_S, (
            f"{job_id} late by {started_s - planned_s}"
        )

    # The crashed job ran again from scratch, after the re-plan that followed its failure.
    (failure,) = [e for e in rp.history if f"failed: {FAILS}" in e.reason]
    rerun = failure.plan.get(FAILS)
    assert rerun is not None and rerun.duration == 2 * STEP
    assert rerun.start_utc >= failure.now_utc

    # The executed schedule — each job by its last placement — meets deadlines, residency and
    # the capacity as it was (c empty from the cut on), every job once (the validator).
    rows = executed(rp, table)
    assert check_plan(table, rows, site_capacity_mw=dict(zip(SITES, cut, strict=True))) == []
    assert not ((rows.site == "c") & (rows.step >= CUT_STEP)).any()
    moved = {j for j in on_c_late if rp.placements[j].site != "c"}
    assert moved, "jobs planned on c after the cut should have moved"

    # The new forecast moved pending jobs: the plan after it differs from the one before.
    i = next(k for k, e in enumerate(rp.history) if "signals" in e.reason)
    before, after = rp.history[i - 1].plan, rp.history[i].plan
    changed = [
        j.job_id
        for j in after.jobs
        if (old := before.get(j.job_id)) is not None
        and (old.site, old.start_utc) != (j.site, j.start_utc)
    ]
    assert changed
    assert any(after.get(j).site == "a" for j in changed)  # type: ignore[union-attr]


# --- the queue changed while the run is under way (a real SQLite queue) ---------------------------


def hold(markers: Path, clock: SimClock, job: PlannedJob) -> float:
    """Leave a start marker, hold the worker until the planned end, then an end marker."""
    started = time.time()
    (markers / f"{job.job_id}.start").touch()
    time.sleep(max(clock.wall_at(job.end_utc) - END_MARGIN_S - time.time(), 0.0))
    (markers / f"{job.job_id}.end").touch()
    return started


def queue_run(
    tmp_path: Path, jobs: list[Job]
) -> tuple[JobQueue, SimClock, Replanner, QueueRecorder, Path]:
    engine = engine_for(f"sqlite:///{tmp_path}/jobs.sqlite")
    migrate(engine)
    q = JobQueue(engine)
    q.submit(jobs)
    markers = tmp_path / "markers"
    markers.mkdir()
    clock = SimClock(T0, SPEEDUP)
    recorder = QueueRecorder(q)
    rp = Replanner(
        JobTable.from_jobs(jobs, sites=SITES),
        signals=signals([[100.0] * N_STEPS] * 3),
        capacity_mw={"a": 2.0, "b": 2.0, "c": 2.0},
        clock=clock,
        command="hold",
        functions={"hold": functools.partial(hold, markers, clock)},
        launcher=RayLauncher(num_cpus=1),
        lead=dt.timedelta(minutes=5),
        on_change=recorder,
        watch=QueueWatcher(q, command=lambda _: "hold", every_s=0.0),
    )
    return q, clock, rp, recorder, markers


def ran_on_time(rp: Replanner, clock: SimClock, job_id: str) -> None:
    rec = rp.executor.records[job_id]
    assert rec.state is JobState.DONE and rec.launches == 1 and isinstance(rec.result, float)
    planned_s = clock.wall_at(rp.placements[job_id].start_utc)
    assert -1e-3 <= rec.result - planned_s <= LATE_TOLERANCE_S, job_id


def test_a_cancel_in_the_queue_drops_a_planned_job_and_stops_a_running_one(
    ray_cluster: None, tmp_path: Path
) -> None:
    def lab(job_id: str, steps: int, window: tuple[int, int], site: str) -> Job:
        w = {"release_utc": T0 + window[0] * STEP, "deadline_utc": T0 + window[1] * STEP}
        return Job(job_id, "lab", 1.0, steps, **w, allowed_sites=(site,))  # type: ignore[arg-type]

    jobs = [
        lab("keep-a", 2, (0, 4), "a"),
        lab("keep-b", 2, (1, 5), "b"),
        lab("stop", 8, (0, 10), "c"),  # steps 1-8 (after the lead), cancelled in step 3
        lab("drop", 2, (6, 8), "a"),  # planned from step 6, cancelled in step 3
    ]
    q, clock, rp, recorder, markers = queue_run(tmp_path, jobs)
    cancelled = False
    deadline = time.monotonic() + 15
    while not rp.finished():
        if not cancelled and clock.now_utc() >= T0 + 3 * STEP:
            cancelled = True
            assert rp.executor.records["stop"].state is JobState.RUNNING
            q.cancel("lab", "stop")
            q.cancel("lab", "drop")
        rp.step()
        assert time.monotonic() < deadline, rp.executor.records
        time.sleep(0.01)
    assert rp.cancelled == {"stop": "while running", "drop": "before launch"}
    assert clock.now_utc() < T0 + 8 * STEP  # the run did not wait for the stopped job's end
    time.sleep(max(clock.wall_at(T0 + 9 * STEP) - time.time(), 0.0))  # past stop's planned end
    assert sorted(p.name for p in markers.iterdir()) == [
        "keep-a.end",
        "keep-a.start",
        "keep-b.end",
        "keep-b.start",
        "stop.start",  # stopped: it never reached its end
    ]
    for j in ("keep-a", "keep-b"):
        ran_on_time(rp, clock, j)
    assert q.statuses() == {
        ("lab", "keep-a"): "done",
        ("lab", "keep-b"): "done",
        ("lab", "stop"): "cancelled",
        ("lab", "drop"): "cancelled",
    }
    assert recorder.problems == []


def test_jobs_submitted_during_the_run_are_planned_and_run_once(
    ray_cluster: None, tmp_path: Path
) -> None:
    def lab(job_id: str, window: tuple[int, int], sites: tuple[str, ...]) -> Job:
        w = {"release_utc": T0 + window[0] * STEP, "deadline_utc": T0 + window[1] * STEP}
        return Job(job_id, "lab", 1.0, 2, **w, allowed_sites=sites)  # type: ignore[arg-type]

    q, clock, rp, recorder, markers = queue_run(tmp_path, [lab("first", (0, 4), ("a",))])
    submitted = False
    deadline = time.monotonic() + 15
    while not rp.finished() or not submitted:
        if not submitted and clock.now_utc() >= T0 + STEP:
            submitted = True
            q.submit([lab("new-1", (2, 8), ("b", "c")), lab("new-2", (3, 8), ("c",))])
        rp.step()
        assert time.monotonic() < deadline, rp.executor.records
        time.sleep(0.01)
    assert rp.submitted == ["new-1", "new-2"]
    assert any(e.reason == "new submission" for e in rp.history)
    for j in ("first", "new-1", "new-2"):
        ran_on_time(rp, clock, j)
        assert (markers / f"{j}.start").exists() and (markers / f"{j}.end").exists()
    assert rp.placements["new-2"].site == "c" and rp.placements["new-1"].site in ("b", "c")
    assert rp.placements["new-2"].start_utc >= T0 + 3 * STEP
    assert {j: s for (_, j), s in q.statuses().items()} == dict.fromkeys(
        ("first", "new-1", "new-2"), "done"
    )
    assert recorder.problems == []
