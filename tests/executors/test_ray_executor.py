"""The executor's bookkeeping (launch times, states, re-plan rules) with a fake launcher.

The launcher runs each job in-process when it is launched; the clock is a hand-moved wall time.
tests/executors/test_ray.py runs the same executor on a real local Ray cluster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Sequence

import pytest

from suandian.core.errors import ExecutorError, InputError, TimeError
from suandian.executors.plan import Plan, PlannedJob
from suandian.executors.ray_executor import (
    JobFunction,
    JobState,
    Outcome,
    RayExecutor,
    SimClock,
    site_resource,
)

T0 = dt.datetime(2025, 6, 1, 16, 0, tzinfo=dt.UTC)


class Wall:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


class FakeLauncher:
    def __init__(self, wall: Wall) -> None:
        self.wall = wall
        self.launched: list[tuple[str, str]] = []
        self._done: dict[Hashable, Outcome] = {}

    def launch(self, job: PlannedJob, fn: JobFunction) -> Hashable:
        self.launched.append((job.job_id, job.site))
        try:
            outcome = Outcome(self.wall(), job.site, result=fn(job))
        except Exception as exc:
            outcome = Outcome(self.wall(), job.site, error=repr(exc))
        handle = len(self.launched)
        self._done[handle] = outcome
        return handle

    def collect(
        self, handles: Sequence[Hashable], timeout_s: float
    ) -> list[tuple[Hashable, Outcome]]:
        out = [(h, self._done.pop(h)) for h in handles if h in self._done]
        if not out:
            self.wall.t += timeout_s
        return out


def job(job_id: str, hours: float, site: str = "a", command: str = "ok") -> PlannedJob:
    return PlannedJob(
        job_id=job_id,
        tenant="t",
        site=site,
        start_utc=T0 + dt.timedelta(hours=hours),
        duration=dt.timedelta(minutes=15),
        power_mw=1.0,
        command=command,
    )


def boom(job: PlannedJob) -> object:
    raise RuntimeError(f"{job.job_id} broke")


FUNCTIONS: dict[str, JobFunction] = {"ok": lambda j: j.job_id, "boom": boom}


def setup(jobs: list[PlannedJob]) -> tuple[RayExecutor, FakeLauncher, Wall, SimClock]:
    wall = Wall()
    clock = SimClock(T0, 3600.0, wall=wall)
    launcher = FakeLauncher(wall)
    ex = RayExecutor(
        Plan.of(jobs, created_utc=T0), clock=clock, functions=FUNCTIONS, launcher=launcher
    )
    return ex, launcher, wall, clock


def test_sim_clock_maps_plan_time_to_wall_time() -> None:
    clock = SimClock(T0, 3600.0, wall_origin_s=50.0, wall=lambda: 52.5)
    assert clock.now_utc() == T0 + dt.timedelta(hours=2.5)
    assert clock.wall_at(T0 + dt.timedelta(hours=1)) == pytest.approx(51.0, abs=1e-9)
    assert clock.utc_at(50.25) == T0 + dt.timedelta(minutes=15)
    with pytest.raises(InputError, match="speedup"):
        SimClock(T0, 0.0)
    with pytest.raises(TimeError):
        SimClock(dt.datetime(2025, 1, 1), 1.0)  # noqa: DTZ001
    real = SimClock.real_time()
    assert abs((real.now_utc() - dt.datetime.now(dt.UTC)).total_seconds()) < 1.0


def test_jobs_launch_at_their_planned_time_in_order() -> None:
    ex, launcher, wall, _ = setup([job("late", 2), job("early", 1), job("now", 0)])
    assert ex.poll() == {"late": "pending", "early": "pending", "now": "done"}
    wall.t += 0.999  # 59:56.4 of plan: "early" is not due yet
    ex.poll()
    assert ex.states()["early"] is JobState.PENDING
    wall.t += 0.001
    ex.poll()
    assert ex.states()["early"] is JobState.DONE
    assert ex.records["early"].actual_start_utc == T0 + dt.timedelta(hours=1)
    assert ex.run(timeout_s=10) == dict.fromkeys(["late", "early", "now"], JobState.DONE)
    assert [j for j, _ in launcher.launched] == ["now", "early", "late"]
    assert ex.records["late"].result == "late"
    assert ex.records["late"].site_seen == "a"


def test_failed_job_is_relaunched_once_by_a_replan() -> None:
    ex, launcher, _, clock = setup([job("x", 0), job("y", 0.5, command="boom")])
    states = ex.run(timeout_s=10)
    assert states == {"x": JobState.DONE, "y": JobState.FAILED}
    assert "y broke" in (ex.records["y"].error or "")
    # Leaving out the failed job would lose it.
    with pytest.raises(InputError, match=r"leaves out jobs \['y'\]"):
        ex.replan(Plan.of([job("x", 0)], created_utc=T0, version=1))
    retry = job("y", 1.0, site="b")
    ex.replan(Plan.of([retry], created_utc=clock.now_utc(), version=1))  # x is done: may go
    assert ex.states()["y"] is JobState.PENDING
    assert ex.run(timeout_s=10) == {"x": JobState.DONE, "y": JobState.DONE}
    assert launcher.launched == [("x", "a"), ("y", "a"), ("y", "b")]
    assert ex.records["y"].launches == 2 and ex.records["x"].launches == 1
    assert ex.records["y"].error is None


def test_replan_moves_pending_jobs_and_keeps_launched_ones() -> None:
    ex, launcher, _, clock = setup([job("a1", 0), job("a2", 1), job("a3", 2)])
    ex.poll()  # a1 runs
    moved = [job("a1", 5, site="c"), job("a2", 3, site="b"), job("new", 1, site="c")]
    ex.replan(Plan.of(moved, created_utc=clock.now_utc(), version=1), cancel=["a3"])
    ex.run(timeout_s=10)
    assert ex.states() == {
        "a1": JobState.DONE,
        "a2": JobState.DONE,
        "a3": JobState.CANCELLED,
        "new": JobState.DONE,
    }
    # a1 kept its first launch (site a); a2 moved to b at hour 3; a3 never ran.
    assert launcher.launched == [("a1", "a"), ("new", "c"), ("a2", "b")]
    assert ex.records["a2"].actual_start_utc == T0 + dt.timedelta(hours=3)
    assert ex.records["a1"].job.site == "a"


def test_replan_refusals() -> None:
    ex, _, _, _ = setup([job("a1", 0), job("a2", 1)])
    ex.poll()
    same = Plan.of([job("a1", 0), job("a2", 1)], created_utc=T0, version=0)
    with pytest.raises(InputError, match="not newer"):
        ex.replan(same)
    with pytest.raises(InputError, match=r"already running or done"):
        ex.replan(Plan.of([job("a2", 1)], created_utc=T0, version=1), cancel=["a1"])
    with pytest.raises(InputError, match="unknown"):
        ex.replan(Plan.of([job("a2", 1)], created_utc=T0, version=1), cancel=["zz"])
    with pytest.raises(InputError, match="both cancelled and in the new plan"):
        ex.replan(Plan.of([job("a2", 1)], created_utc=T0, version=1), cancel=["a2"])
    with pytest.raises(InputError, match="does not know"):
        ex.replan(Plan.of([job("a2", 1, command="nope")], created_utc=T0, version=1))
    # A refused re-plan changes nothing.
    assert ex.plan.version == 0
    assert ex.states() == {"a1": JobState.DONE, "a2": JobState.PENDING}


def test_unknown_callable_and_timeout() -> None:
    with pytest.raises(InputError, match=r"callables \['nope'\]"):
        setup([job("a", 0, command="nope")])
    ex, _, _, _ = setup([job("far", 100)])
    with pytest.raises(ExecutorError, match=r"jobs \['far'\] did not finish"):
        ex.run(timeout_s=1.0)


def test_site_resource_name() -> None:
    assert site_resource("xining") == "site:xining"
