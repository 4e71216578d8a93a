"""The re-planner keeps a real (SQLite) job queue current, with a fake launcher.

After every step of the loop, each job's status in the queue matches its state in the executor
(pending → planned at the same site and start, running, done; a job no plan can place → queued),
and each job went through the queue's own transitions only (the queue refuses any other).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suandian.compute.jobs import Job, JobTable
from suandian.compute.planner import SiteSignals
from suandian.compute.replan import reduce_site_capacity
from suandian.core.errors import InputError
from suandian.executors.plan import Plan, PlannedJob
from suandian.executors.ray_executor import JobFunction, JobState, Outcome, SimClock
from suandian.executors.replanner import JobChange, QueueRecorder, Replanner
from suandian.store.jobs import JobQueue
from suandian.store.sql import engine_for, migrate

T0 = dt.datetime(2025, 6, 1, 16, tzinfo=dt.UTC)  # midnight in Shanghai
STEP = dt.timedelta(minutes=15)
N_STEPS = 16


class Wall:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


class HoldingLauncher:
    """As in test_replanner.py: each job ends at its planned end (a failing one halfway)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.launched: list[str] = []
        self._open: dict[Hashable, tuple[float, Outcome]] = {}

    def launch(self, job: PlannedJob, fn: JobFunction) -> Hashable:
        now = self.clock.wall_now()
        self.launched.append(job.job_id)
        try:
            outcome, end = Outcome(now, job.site, result=fn(job)), job.end_utc
        except Exception as exc:
            outcome, end = Outcome(now, job.site, error=repr(exc)), job.start_utc + job.duration / 2
        self._open[len(self.launched)] = (self.clock.wall_at(end), outcome)
        return len(self.launched)

    def collect(
        self, handles: Sequence[Hashable], timeout_s: float
    ) -> list[tuple[Hashable, Outcome]]:
        now = self.clock.wall_now()
        ready = [h for h in handles if h in self._open and self._open[h][0] <= now]
        return [(h, self._open.pop(h)[1]) for h in ready]


def job(job_id: str, steps: int, window: tuple[int, int], sites: tuple[str, ...]) -> Job:
    return Job(
        id=job_id,
        tenant="lab",
        power_mw=1.0,
        duration_steps=steps,
        release_utc=T0 + window[0] * STEP,
        deadline_utc=T0 + window[1] * STEP,
        allowed_sites=sites,
    )


def test_the_queue_follows_every_launch_failure_and_replan(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path}/jobs.sqlite")
    migrate(engine)
    queue = JobQueue(engine)
    jobs = [
        job("x", 2, (0, 16), ("a", "b")),
        job("flaky", 2, (0, 16), ("a", "b")),
        job("only-a", 2, (6, 8), ("a",)),  # a is cut in steps 6-7: placed, then unplaceable
        job("late", 2, (8, 16), ("a", "b")),
    ]
    queue.submit(jobs)
    table = JobTable.from_jobs(jobs)
    signals = SiteSignals(
        sites=("a", "b"),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.array([[1.0] * N_STEPS, [5.0] * N_STEPS]),
    )
    wall = Wall()
    clock = SimClock(T0, 1.0, wall_origin_s=wall.t, wall=wall)
    launcher = HoldingLauncher(clock)
    calls: list[str] = []

    def run_job(j: PlannedJob) -> str:
        calls.append(j.job_id)
        if j.job_id == "flaky" and calls.count("flaky") == 1:
            raise RuntimeError("crash on first launch")
        return j.job_id

    changes: list[JobChange] = []
    recorder = QueueRecorder(queue)

    def on_change(change: JobChange) -> None:
        changes.append(change)
        recorder(change)

    capacity = {"a": 2.0, "b": 2.0}
    rp = Replanner(
        table,
        signals=signals,
        capacity_mw=capacity,
        clock=clock,
        command="run",
        functions={"run": run_job},
        launcher=launcher,
        slot_steps=1,
        on_change=on_change,
    )

    def queue_matches_executor() -> None:
        records = rp.executor.records
        for q in queue.jobs():
            rec = records.get(q.job.id)
            state = None if rec is None else rec.state
            assert state is not JobState.FAILED  # every failure is re-planned in its step
            if state is JobState.PENDING:
                assert rec is not None
                assert (q.status, q.site, q.start_utc) == (
                    "planned",
                    rec.job.site,
                    rec.job.start_utc,
                ), q
            elif state in (None, JobState.CANCELLED):
                assert (q.status, q.site, q.start_utc) == ("queued", None, None), q
            else:
                assert q.status == str(state), q

    cut = {"site": "a", "from_utc": T0 + 6 * STEP, "to_mw": 0.0, "until_utc": T0 + 8 * STEP}
    is_cut = False
    queue_matches_executor()
    for _ in range(400):
        wall.t += 60.0  # a minute of plan per tick
        if clock.now_utc() >= T0 + 3 * STEP and not is_cut:
            rp.set_capacity(reduce_site_capacity(capacity, signals, **cut))  # type: ignore[arg-type]
            is_cut = True
        rp.step()
        queue_matches_executor()
        if rp.finished():
            break
    assert rp.finished(), rp.executor.records
    assert recorder.problems == []

    final = {q.job.id: (q.status, q.site, q.start_utc) for q in queue.jobs()}
    assert final["only-a"] == ("queued", None, None)
    for j in ("x", "flaky", "late"):
        p = rp.placements[j]
        assert final[j] == ("done", p.site, p.start_utc)  # where and when it last ran
    kinds = {j.id: [c.kind for c in changes if c.job_id == j.id] for j in jobs}
    assert kinds["flaky"] == ["planned", "running", "failed", "planned", "running", "done"]
    assert kinds["only-a"] == ["planned", "unplaced"]
    for j in ("x", "late"):  # planned (perhaps moved by a re-plan), then run once
        assert set(kinds[j][:-2]) == {"planned"} and kinds[j][-2:] == ["running", "done"]
    (failure,) = [c for c in changes if c.kind == "failed"]
    assert failure.tenant == "lab" and "crash on first launch" in (failure.reason or "")
    (unplaced,) = [c for c in changes if c.kind == "unplaced"]
    assert unplaced.reason == rp.unplaced["only-a"]
    assert sorted(launcher.launched) == ["flaky", "flaky", "late", "x"]
    engine.dispose()


def test_a_write_the_queue_refuses_is_kept_and_the_run_goes_on(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path}/jobs.sqlite")
    migrate(engine)
    queue = JobQueue(engine)
    recorder = QueueRecorder(queue)
    queue.submit([job("x", 2, (0, 16), ("a",))])
    recorder(JobChange("x", "lab", "running"))  # queued, never planned
    recorder(JobChange("ghost", "lab", "done"))
    assert recorder.problems == [
        "lab/x running: job 'x' of tenant 'lab' is queued; it cannot become running (it stays so)",
        "lab/ghost done: job 'ghost' of tenant 'lab' is not in the queue",
    ]
    assert queue.get("lab", "x").status == "queued"
    engine.dispose()


def test_a_given_first_plan_must_cover_the_queue_on_the_grid() -> None:
    jobs = [job("x", 2, (0, 16), ("a",)), job("y", 2, (0, 16), ("a", "b"))]
    table = JobTable.from_jobs(jobs)
    signals = SiteSignals(
        sites=("a", "b"),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.ones((2, N_STEPS)),
    )
    clock = SimClock(T0, 1.0, wall_origin_s=0.0, wall=lambda: 0.0)

    def given(**y: object) -> Plan:
        fields: dict[str, object] = {"site": "b", "start_utc": T0 + STEP, "duration": 2 * STEP}
        fields.update(y)
        x = PlannedJob("x", "lab", "a", T0, 2 * STEP, 1.0, "run")
        y_job = PlannedJob("y", "lab", power_mw=1.0, command="run", **fields)  # type: ignore[arg-type]
        return Plan.of([x, y_job], created_utc=T0)

    def replanner(plan: Plan) -> Replanner:
        capacity = {"a": 2.0, "b": 2.0}
        functions = {"run": str}
        return Replanner(
            table,
            signals=signals,
            capacity_mw=capacity,
            clock=clock,
            command="run",
            functions=functions,
            plan=plan,
        )

    rp = replanner(given())
    assert rp.placements["y"].site == "b" and rp.placements["y"].start_utc == T0 + STEP
    assert rp.history[0].result is None and rp.executor.plan.version == 0
    cases = [
        (given(start_utc=T0 + dt.timedelta(minutes=5)), "are not one block of its 2 steps"),
        (given(duration=3 * STEP), "are not one block of its 2 steps"),
        (given(start_utc=T0 + 15 * STEP), "outside the signals' horizon"),
        (given(site="c"), "site 'c' is not among its allowed sites"),
        (Plan.of([], created_utc=T0), r"jobs \['x', 'y'\] of the queue are not in it"),
    ]
    for plan, message in cases:
        with pytest.raises(InputError, match=message):
            replanner(plan)
