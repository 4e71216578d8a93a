"""The Ray executor on a real local Ray cluster: 24 jobs on 3 sites at accelerated planned times.

The cluster is one local node that advertises a custom resource per site (``site:a`` …); on a
real cluster each node advertises its own site. The plan clock runs 3600× (an hour of plan per
wall second). Each job leaves a marker file per launch, so launches are counted independently of
the executor's own bookkeeping.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import uuid
from pathlib import Path

import pytest

from suandian.executors.plan import Plan, PlannedJob
from suandian.executors.ray_executor import JobState, RayExecutor, SimClock, site_resource

SITES = ("a", "b", "c")
SPEEDUP = 3600.0
LATE_TOLERANCE_S = 1.5  # wall seconds a launch may trail its planned instant on a busy CI box
T0 = dt.datetime(2025, 6, 1, 16, 0, tzinfo=dt.UTC)  # midnight in Shanghai
RAY_CPUS = 2  # workers of the local cluster (tests/executors/conftest.py)


def nap(job: PlannedJob) -> None:
    time.sleep(0.2)


def probe(markers: Path, job: PlannedJob) -> dict[str, object]:
    """A small job: leave a marker for this launch, report when and where it ran."""
    import ray

    (markers / f"{job.job_id}.{uuid.uuid4().hex}").touch()
    return {"t": time.time(), "resources": ray.get_runtime_context().get_assigned_resources()}


def fails_first(markers: Path, job: PlannedJob) -> dict[str, object]:
    """Fails on its first launch, succeeds after."""
    result = probe(markers, job)
    if len(list(markers.glob(f"{job.job_id}.*"))) == 1:
        raise RuntimeError(f"{job.job_id}: simulated crash on first launch")
    return result


def launches(markers: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in markers.iterdir():
        job_id = p.name.split(".")[0]
        out[job_id] = out.get(job_id, 0) + 1
    return out


def planned(job_id: str, site: str, start_utc: dt.datetime, command: str = "probe") -> PlannedJob:
    return PlannedJob(
        job_id=job_id,
        tenant="tenant-1",
        site=site,
        start_utc=start_utc,
        duration=dt.timedelta(minutes=30),
        power_mw=0.5,
        command=command,
    )


def test_jobs_run_once_on_their_site_at_their_planned_time(
    ray_cluster: None, tmp_path: Path
) -> None:
    clock = SimClock(T0, SPEEDUP)
    # 24 jobs, two at each instant on different sites, from 1 h to 6.5 h of plan (1 to 6.5 s).
    jobs = [
        planned(f"job{i:02d}", SITES[i % 3], T0 + dt.timedelta(minutes=60 + 30 * (i // 2)))
        for i in range(24)
    ]
    plan = Plan.of(jobs, created_utc=T0)
    ex = RayExecutor(plan, clock=clock, functions={"probe": functools.partial(probe, tmp_path)})
    states = ex.run(timeout_s=30)

    assert states == {j.job_id: JobState.DONE for j in jobs}, ex.records
    assert launches(tmp_path) == {j.job_id: 1 for j in jobs}
    for j in jobs:
        rec = ex.records[j.job_id]
        assert rec.launches == 1
        assert rec.site_seen == j.site
        assert isinstance(rec.result, dict)
        assert rec.result["resources"].get(site_resource(j.site)) == pytest.approx(1.0)
        started_s = rec.result["t"]
        assert isinstance(started_s, float)
        planned_s = clock.wall_at(j.start_utc)
        assert started_s >= planned_s - 1e-3, f"{j.job_id} started {planned_s - started_s} s early"
        assert started_s - planned_s <= LATE_TOLERANCE_S, (
            f"{j.job_id} late by {started_s - planned_s} s"
        )
        assert (
            rec.actual_start_utc is not None
            and rec.actual_start_utc >= j.start_utc - dt.timedelta(seconds=SPEEDUP * 1e-3)
        )


def test_failed_job_is_reported_and_relaunched_once_by_a_replan(
    ray_cluster: None, tmp_path: Path
) -> None:
    clock = SimClock(T0, SPEEDUP)
    functions = {
        "probe": functools.partial(probe, tmp_path),
        "fails_first": functools.partial(fails_first, tmp_path),
    }
    first = Plan.of(
        [
            planned("ok-a", "a", T0 + dt.timedelta(minutes=30)),
            planned("ok-b", "b", T0 + dt.timedelta(minutes=30)),
            planned("flaky", "c", T0 + dt.timedelta(minutes=45), command="fails_first"),
            planned("later", "a", T0 + dt.timedelta(hours=100)),
        ],
        created_utc=T0,
        version=1,
    )
    ex = RayExecutor(first, clock=clock, functions=functions)
    deadline = time.time() + 20
    while ex.states()["flaky"] is not JobState.FAILED:
        assert time.time() < deadline, ex.records
        ex.poll()
        time.sleep(0.02)
    assert "simulated crash" in (ex.records["flaky"].error or "")

    # Re-plan: the failed job again, on another site, half an hour of plan from now; the far
    # job is brought forward; the finished jobs are left out (they keep their launch).
    now = clock.now_utc()
    second = Plan.of(
        [
            planned("flaky", "b", now + dt.timedelta(minutes=30), command="fails_first"),
            planned("later", "c", now + dt.timedelta(minutes=15)),
        ],
        created_utc=now,
        version=2,
    )
    ex.replan(second)
    states = ex.run(timeout_s=20)

    assert states == dict.fromkeys(["ok-a", "ok-b", "flaky", "later"], JobState.DONE)
    assert launches(tmp_path) == {"ok-a": 1, "ok-b": 1, "flaky": 2, "later": 1}
    assert ex.records["flaky"].launches == 2
    assert ex.records["flaky"].site_seen == "b"
    assert ex.records["later"].site_seen == "c"
    flaky_start = ex.records["flaky"].actual_start_utc
    assert flaky_start is not None and flaky_start >= second.jobs[0].start_utc - dt.timedelta(
        seconds=SPEEDUP * 1e-3
    )
