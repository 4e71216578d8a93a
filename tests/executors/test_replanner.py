"""The re-planner's loop with a fake launcher on a hand-moved clock.

The fake launcher holds every job for its planned duration of plan time (a failing one for half
of it), so running, done and failed states follow the plan the way a real cluster's would.
tests/executors/test_replan_ray.py runs the same loop on a real local Ray cluster. The last tests
keep a real (SQLite) job queue current through the loop.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suandian.compute.jobs import Job, JobTable
from suandian.compute.jobs import Plan as StepPlan
from suandian.compute.planner import SiteSignals, take_jobs
from suandian.compute.replan import reduce_site_capacity
from suandian.compute.validate import check_plan, check_replan
from suandian.core.errors import ExecutorError, InputError
from suandian.executors.plan import Plan, PlannedJob
from suandian.executors.ray_executor import JobFunction, JobState, Outcome, SimClock
from suandian.executors.replanner import JobChange, QueueRecorder, QueueWatcher, Replanner
from suandian.store.jobs import Assignment, JobQueue
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
    """Runs each job's function at launch, reports the outcome at its planned end (plan time)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.launched: list[tuple[str, str, dt.datetime]] = []
        self.stopped: list[Hashable] = []
        self._open: dict[Hashable, tuple[float, Outcome]] = {}

    def launch(self, job: PlannedJob, fn: JobFunction) -> Hashable:
        now = self.clock.wall_now()
        self.launched.append((job.job_id, job.site, self.clock.now_utc()))
        try:
            outcome = Outcome(now, job.site, result=fn(job))
            end = job.end_utc
        except Exception as exc:
            outcome = Outcome(now, job.site, error=repr(exc))
            end = job.start_utc + job.duration / 2
        handle = len(self.launched)
        self._open[handle] = (self.clock.wall_at(end), outcome)
        return handle

    def collect(
        self, handles: Sequence[Hashable], timeout_s: float
    ) -> list[tuple[Hashable, Outcome]]:
        now = self.clock.wall_now()
        ready = [h for h in handles if h in self._open and self._open[h][0] <= now]
        return [(h, self._open.pop(h)[1]) for h in ready]

    def cancel(self, handle: Hashable) -> None:
        self.stopped.append(handle)
        del self._open[handle]


def job(
    job_id: str,
    steps: int,
    window: tuple[int, int],
    sites: tuple[str, ...],
    *,
    interruptible: bool = False,
    checkpoint_steps: int = 1,
    tenant: str = "t",
) -> Job:
    return Job(
        id=job_id,
        tenant=tenant,
        power_mw=1.0,
        duration_steps=steps,
        release_utc=T0 + window[0] * STEP,
        deadline_utc=T0 + window[1] * STEP,
        interruptible=interruptible,
        checkpoint_steps=checkpoint_steps,
        allowed_sites=sites,
    )


def signals(a: float, b: float) -> SiteSignals:
    return SiteSignals(
        sites=("a", "b"),
        grid_start_utc=pd.Timestamp(T0),
        step_min=15,
        intensity_g_per_kwh=np.array([[a] * N_STEPS, [b] * N_STEPS], dtype=np.float64),
    )


def executed(rp: Replanner, table: JobTable) -> tuple[JobTable, StepPlan]:
    """The done jobs and the placement each one last ran by."""
    done = [j for j, r in rp.executor.records.items() if r.state is JobState.DONE]
    plan = rp.current_plan()
    keep = np.isin(plan.job_id.astype(str), done)
    rows = StepPlan(plan.job_id[keep], plan.site[keep], plan.step[keep], plan.grid_start_utc, 15)
    return take_jobs(table, [table.row(j) for j in done]), rows


def test_failure_capacity_cut_and_new_forecast_each_trigger_a_replan() -> None:
    wall = Wall()
    clock = SimClock(T0, 1.0, wall_origin_s=wall.t, wall=wall)
    launcher = HoldingLauncher(clock)
    calls: dict[str, int] = {}

    def run_job(j: PlannedJob) -> str:
        calls[j.job_id] = calls.get(j.job_id, 0) + 1
        if j.job_id in ("flaky", "ckpt") and calls[j.job_id] == 1:
            raise RuntimeError(f"{j.job_id}: crash on first launch")
        return j.job_id

    table = JobTable.from_jobs(
        [
            job("x", 2, (0, 16), ("a", "b")),
            job("y", 2, (0, 16), ("a", "b")),
            job("flaky", 2, (0, 16), ("a", "b")),
            job("ckpt", 4, (0, 16), ("b",), interruptible=True, checkpoint_steps=2),
            job("only-a", 2, (6, 8), ("a",)),
            job("late", 2, (8, 16), ("a", "b")),
        ]
    )
    capacity = {"a": 2.0, "b": 2.0}
    rp = Replanner(
        table,
        signals=signals(1.0, 5.0),
        capacity_mw=capacity,
        clock=clock,
        command="run",
        functions={"run": run_job},
        launcher=launcher,
        slot_steps=1,
    )
    assert rp.history[0].reason == "start" and rp.unplaced == {}
    cut_utc, back_utc = T0 + 6 * STEP, T0 + 8 * STEP
    cut = {"site": "a", "from_utc": cut_utc, "to_mw": 0.0, "until_utc": back_utc}
    for _ in range(400):
        wall.t += 60.0  # a minute of plan per tick
        now = clock.now_utc()
        if now >= T0 + 3 * STEP and not any("capacity" in e.reason for e in rp.history):
            # a loses all its capacity in steps 6 and 7
            rp.set_capacity(reduce_site_capacity(capacity, rp._signals, **cut))  # type: ignore[arg-type]
        if now >= T0 + 4 * STEP and not any("signals" in e.reason for e in rp.history):
            rp.set_signals(signals(5.0, 1.0))  # b is now the clean site
        if rp.executor.states().get("ckpt") is JobState.RUNNING:
            rp.note_progress("ckpt", 2)  # its checkpoint after two steps, before it fails
        rp.step()
        if rp.finished():
            break
    assert rp.finished(), rp.executor.records

    states = rp.executor.states()
    assert {j for j, s in states.items() if s is JobState.DONE} == {
        "x",
        "y",
        "flaky",
        "ckpt",
        "late",
    }
    # only-a may run on a only, in steps 6-7, when a is gone: reported with its reason and taken
    # out of the executor, never dropped silently and never launched.
    assert set(rp.unplaced) == {"only-a"} and "capacity" in rp.unplaced["only-a"]
    assert states["only-a"] is JobState.CANCELLED
    launched = [j for j, *_ in launcher.launched]
    assert "only-a" not in launched
    assert launched.count("flaky") == 2 and launched.count("ckpt") == 2
    assert all(launched.count(j) == 1 for j in ("x", "y", "late"))
    reasons = [e.reason for e in rp.history]
    assert any(r.startswith("failed: flaky") for r in reasons)
    assert any("failed: ckpt" in r for r in reasons)
    assert any("capacity" in r for r in reasons) and any("signals" in r for r in reasons)
    # late stays on a (the clean site, back from step 8) through the cut; the new forecast
    # makes b the clean site and moves it there.
    (cut_event,) = [e for e in rp.history if "capacity" in e.reason]
    (fresh,) = [e for e in rp.history if "signals" in e.reason]
    assert cut_event.plan.get("late") is not None and cut_event.plan.get("late").site == "a"  # type: ignore[union-attr]
    assert fresh.plan.sites == ("b",) and "late" in fresh.plan
    assert rp.placements["late"].site == "b"
    # ckpt resumed after its checkpoint: its last run was 2 steps, not 4.
    assert rp.placements["ckpt"].steps == 2
    resumed = [e for e in rp.history if "ckpt" in e.result.resumed_steps]
    assert resumed and resumed[0].result.resumed_steps == {"ckpt": 2}
    # Every re-plan accounted for every job once; versions rise by one.
    for e in rp.history:
        assert (
            check_replan(
                table.ids,
                finished=e.result.finished,
                running=e.result.running,
                planned=e.result.plan,
                unplaced=e.result.unplaced,
            )
            == []
        )
    assert [e.version for e in rp.history] == list(range(len(rp.history)))
    # No job launched on a while it is cut, nor running into the cut.
    for job_id, site, at in launcher.launched:
        end = at + table.duration_steps[table.row(job_id)] * STEP
        assert site != "a" or end <= cut_utc or at >= back_utc, (job_id, at)
    # The executed schedule (each done job by its last placement) passes the validator with
    # the capacity as finally known; the resumed job is checked on what it ran last.
    done_table, rows = executed(rp, table)
    done_table = dataclasses.replace(
        done_table,
        duration_steps=np.array([rp.placements[j].steps for j in done_table.ids]),
        _row={},
    )
    final_cap = reduce_site_capacity(capacity, rp._signals, **cut)  # type: ignore[arg-type]
    assert (
        check_plan(done_table, rows, site_capacity_mw=dict(zip(("a", "b"), final_cap, strict=True)))
        == []
    )
    # Each launch was at its placement's start and site.
    for job_id, site, at in launcher.launched:
        if job_id in ("flaky", "ckpt"):
            continue
        p = rp.placements[job_id]
        assert site == p.site and p.start_utc <= at <= p.start_utc + dt.timedelta(
            minutes=1
        )  # one tick


def test_a_job_that_cannot_be_placed_is_reported_and_placed_later_if_room_returns() -> None:
    wall = Wall()
    clock = SimClock(T0, 1.0, wall_origin_s=wall.t, wall=wall)
    table = JobTable.from_jobs([job("p", 2, (0, 16), ("a",)), job("q", 2, (0, 16), ("a",))])
    rp = Replanner(
        table,
        signals=signals(1.0, 1.0),
        capacity_mw={"a": 0.0, "b": 1.0},
        clock=clock,
        command="run",
        functions={"run": lambda j: None},
        launcher=HoldingLauncher(clock),
        slot_steps=1,
    )
    assert set(rp.unplaced) == {"p", "q"} and len(rp.executor.plan) == 0
    assert rp.finished()  # nothing can run: every job is accounted for by its report
    rp.set_capacity({"a": 1.0, "b": 1.0})
    assert not rp.finished()
    for _ in range(200):
        wall.t += 60.0
        rp.step()
        if rp.finished():
            break
    assert rp.executor.states() == {"p": JobState.DONE, "q": JobState.DONE}
    assert rp.unplaced == {}
    p, q = rp.placements["p"], rp.placements["q"]
    assert p.end_utc <= q.start_utc or q.end_utc <= p.start_utc  # 1 MW: one after the other


def test_bad_commands_and_progress_are_refused() -> None:
    clock = SimClock(T0, 1.0)
    table = JobTable.from_jobs([job("p", 2, (0, 16), ("a",))])
    kw = {"signals": signals(1.0, 1.0), "capacity_mw": [1.0, 1.0], "clock": clock}
    with pytest.raises(InputError, match=r"command: no command for job\(s\) \['p'\]"):
        Replanner(table, command={"other": "run"}, functions={"run": print}, **kw)  # type: ignore[arg-type]
    rp = Replanner(table, command="run", functions={"run": print}, **kw)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="job 'zz' is not in the queue"):
        rp.note_progress("zz", 1)
    with pytest.raises(InputError, match="pass capacity_mw for them too"):
        rp.set_signals(SiteSignals(("a",), pd.Timestamp(T0), 15, np.ones((1, N_STEPS))))


def test_run_steps_until_every_job_is_done_or_times_out() -> None:
    # Real wall time at 36,000×: a 15-min step is 25 ms.
    clock = SimClock(T0, 36_000.0)
    table = JobTable.from_jobs([job(f"r{i}", 2, (0, 8), ("a", "b")) for i in range(4)])
    rp = Replanner(
        table,
        signals=signals(1.0, 2.0),
        capacity_mw={"a": 1.0, "b": 1.0},
        clock=clock,
        command="run",
        functions={"run": lambda j: j.job_id},
        launcher=HoldingLauncher(clock),
        slot_steps=1,
        poll_s=0.005,
    )
    states = rp.run(timeout_s=10)
    assert states == dict.fromkeys(table.ids, JobState.DONE)
    late = JobTable.from_jobs([job("far", 2, (14, 16), ("a",))])
    real_time = SimClock(T0, 1.0)  # "far" starts 3.5 h of wall time from now
    rp = Replanner(
        late,
        signals=signals(1.0, 2.0),
        capacity_mw={"a": 1.0, "b": 1.0},
        clock=real_time,
        command="run",
        functions={"run": lambda j: None},
        launcher=HoldingLauncher(real_time),
        slot_steps=1,
    )
    with pytest.raises(ExecutorError, match=r"jobs \['far'\] did not finish within 0.05 s"):
        rp.run(timeout_s=0.05)


# --- the job queue kept current (a real SQLite queue) ---------------------------------------------
#
# After every step of the loop, each job's status in the queue matches its state in the executor
# (pending → planned at the same site and start, running, done; a job no plan can place →
# queued), and each job went through the queue's own transitions only (the queue refuses any
# other).


def lab_job(job_id: str, steps: int, window: tuple[int, int], sites: tuple[str, ...]) -> Job:
    return job(job_id, steps, window, sites, tenant="lab")


def test_the_queue_follows_every_launch_failure_and_replan(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path}/jobs.sqlite")
    migrate(engine)
    queue = JobQueue(engine)
    jobs = [
        lab_job("x", 2, (0, 16), ("a", "b")),
        lab_job("flaky", 2, (0, 16), ("a", "b")),
        lab_job("only-a", 2, (6, 8), ("a",)),  # a is cut in steps 6-7: placed, then unplaceable
        lab_job("late", 2, (8, 16), ("a", "b")),
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
    assert sorted(j for j, *_ in launcher.launched) == ["flaky", "flaky", "late", "x"]
    engine.dispose()


def test_a_write_the_queue_refuses_is_kept_and_the_run_goes_on(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path}/jobs.sqlite")
    migrate(engine)
    queue = JobQueue(engine)
    recorder = QueueRecorder(queue)
    queue.submit([lab_job("x", 2, (0, 16), ("a",))])
    recorder(JobChange("x", "lab", "running"))  # queued, never planned
    recorder(JobChange("ghost", "lab", "done"))
    assert recorder.problems == [
        "lab/x running: job 'x' of tenant 'lab' is queued; it cannot become running (it stays so)",
        "lab/ghost done: job 'ghost' of tenant 'lab' is not in the queue",
    ]
    assert queue.get("lab", "x").status == "queued"
    engine.dispose()


def test_a_given_first_plan_must_cover_the_queue_on_the_grid() -> None:
    jobs = [lab_job("x", 2, (0, 16), ("a",)), lab_job("y", 2, (0, 16), ("a", "b"))]
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


# --- following the queue while the run is under way -----------------------------------------------


def test_cancels_and_new_submissions_in_the_queue_are_followed_during_the_run(
    tmp_path: Path,
) -> None:
    engine = engine_for(f"sqlite:///{tmp_path}/jobs.sqlite")
    migrate(engine)
    queue = JobQueue(engine)
    jobs = [
        lab_job("done", 2, (0, 2), ("a",)),  # steps 0-1
        lab_job("stop", 4, (0, 4), ("b",)),  # steps 0-3: running when cancelled at step 2
        lab_job("drop", 2, (6, 10), ("a", "b")),  # planned from step 6: cancelled before
    ]
    queue.submit(jobs)
    queue.submit([lab_job("old", 2, (0, 16), ("a",))])  # queued before the run: not taken in
    wall = Wall()
    clock = SimClock(T0, 1.0, wall_origin_s=wall.t, wall=wall)
    launcher = HoldingLauncher(clock)
    changes: list[JobChange] = []
    recorder = QueueRecorder(queue)

    def on_change(change: JobChange) -> None:
        changes.append(change)
        recorder(change)

    watcher = QueueWatcher(queue, command=lambda q: "run", tenant="lab", every_s=0.0)
    rp = Replanner(
        JobTable.from_jobs(jobs, sites=("a", "b")),
        signals=signals(1.0, 2.0),
        capacity_mw={"a": 1.0, "b": 1.0},
        clock=clock,
        command="run",
        functions={"run": lambda j: j.job_id},
        launcher=launcher,
        slot_steps=1,
        on_change=on_change,
        watch=watcher,
    )
    assert rp.placements["drop"].start_utc >= T0 + 6 * STEP
    acted = False
    for _ in range(400):
        wall.t += 60.0
        if not acted and clock.now_utc() >= T0 + 2 * STEP + dt.timedelta(minutes=5):
            acted = True
            assert rp.executor.records["done"].state is JobState.DONE
            assert rp.executor.records["stop"].state is JobState.RUNNING
            queue.cancel("lab", "stop")
            queue.cancel("lab", "drop")
            with pytest.raises(InputError, match="is done"):
                queue.cancel("lab", "done")  # done stays done
            queue.submit(
                [lab_job("new1", 2, (4, 12), ("a", "b")), lab_job("new2", 2, (4, 12), ("b",))]
            )
        rp.step()
        if rp.finished():
            break
    assert acted and rp.finished(), rp.executor.records
    assert recorder.problems == [] and watcher.skipped == {}
    assert rp.cancelled == {"stop": "while running", "drop": "before launch"}
    assert rp.submitted == ["new1", "new2"]
    launched = [j for j, *_ in launcher.launched]
    assert sorted(launched) == ["done", "new1", "new2", "stop"]  # each once; drop never
    assert len(launcher.stopped) == 1
    states = {j: r.state for j, r in rp.executor.records.items()}
    assert states == {
        "done": JobState.DONE,
        "stop": JobState.CANCELLED,
        "drop": JobState.CANCELLED,
        "new1": JobState.DONE,
        "new2": JobState.DONE,
    }
    status = {j: s for (_, j), s in queue.statuses().items()}
    assert status == {
        "done": "done",
        "stop": "cancelled",
        "drop": "cancelled",
        "old": "queued",
        "new1": "done",
        "new2": "done",
    }
    for j in ("new1", "new2"):  # launched at their planned start, inside their window
        (at,) = [t for k, _, t in launcher.launched if k == j]
        p = rp.placements[j]
        assert at - p.start_utc < dt.timedelta(minutes=1) and p.start_utc >= T0 + 4 * STEP
        assert queue.get("lab", j).start_utc == p.start_utc
    reasons = [e.reason for e in rp.history]
    assert "cancelled: drop, stop" in reasons[1] and "new submission" in reasons[1]
    everyone = {"done", "stop", "drop", "new1", "new2"}
    for e in rp.history[1:]:  # every job once: held by the re-plan, or withdrawn
        r = e.result
        assert r is not None
        held = set(r.finished) | set(r.running) | set(r.plan.job_id) | set(r.unplaced)
        assert held | set(rp.cancelled) == everyone and not held & set(rp.cancelled)
        assert not check_replan(
            sorted(held),
            finished=r.finished,
            running=r.running,
            planned=r.plan,
            unplaced=r.unplaced,
        )
        assert not set(e.plan.job_ids) & set(rp.cancelled)
    kinds = {j: [c.kind for c in changes if c.job_id == j] for j in ("stop", "drop")}
    assert kinds == {"stop": ["planned", "running", "cancelled"], "drop": ["planned", "cancelled"]}
    engine.dispose()


def test_cancel_and_submit_without_a_queue() -> None:
    wall = Wall()
    clock = SimClock(T0, 1.0, wall_origin_s=wall.t, wall=wall)
    table = JobTable.from_jobs([job("x", 2, (0, 16), ("a",)), job("y", 2, (4, 16), ("a",))])
    rp = Replanner(
        table,
        signals=signals(1.0, 2.0),
        capacity_mw={"a": 1.0, "b": 1.0},
        clock=clock,
        command="run",
        functions={"run": str, "run-a": str, "run-b": str},
        launcher=HoldingLauncher(clock),
        slot_steps=1,
    )
    with pytest.raises(InputError, match=r"cannot cancel jobs \['ghost'\]"):
        rp.cancel(["ghost"])
    with pytest.raises(InputError, match=r"jobs \['x'\] are already in the re-planner"):
        rp.submit([job("x", 2, (0, 16), ("a",))], command="run")
    with pytest.raises(InputError, match="may run at none of the sites"):
        rp.submit([job("far", 2, (0, 16), ("c",))], command="run")
    assert rp.cancel(["y", "y"]) == ["y"] and rp.cancel(["y"]) == []
    assert rp.job_ids == ("x",)
    with pytest.raises(InputError, match=r"jobs \['y'\] are already in the re-planner"):
        rp.submit([job("y", 2, (0, 16), ("a",))], command="run")  # ids stay unique in a run
    # a command per site: the job runs the command of the site its plan gives it
    rp.submit([job("z", 2, (0, 16), ("a", "b"), tenant="u")], command=lambda s: f"run-{s}")
    assert rp.tenant("z") == "u"
    rp.step()
    assert rp.history[-1].reason == "cancelled: y; new submission"
    assert "z" in rp.executor.plan and "y" not in rp.executor.plan
    z = rp.executor.plan.get("z")
    assert z is not None and z.command == f"run-{z.site}"
    for _ in range(100):
        wall.t += 60.0
        rp.step()
    assert rp.finished() and rp.executor.states() == {
        "x": JobState.DONE,
        "y": JobState.CANCELLED,
        "z": JobState.DONE,
    }
    assert rp.cancel(["x"]) == []  # done stays done
    assert rp.executor.states()["x"] is JobState.DONE


def test_a_write_refused_because_the_job_was_cancelled_meanwhile_is_no_problem(
    tmp_path: Path,
) -> None:
    engine = engine_for(f"sqlite:///{tmp_path}/jobs.sqlite")
    migrate(engine)
    queue = JobQueue(engine)
    recorder = QueueRecorder(queue)
    queue.submit([lab_job("x", 2, (0, 16), ("a",)), lab_job("y", 2, (0, 16), ("a",))])
    for j in ("x", "y"):
        queue.mark_planned([Assignment("lab", j, "a", T0)])
    recorder(JobChange("x", "lab", "running"))
    queue.cancel("lab", "x")  # between the watcher's read and the executor's outcome
    recorder(JobChange("x", "lab", "done"))
    recorder(JobChange("y", "lab", "cancelled"))  # a cancel made on the re-planner itself
    recorder(JobChange("y", "lab", "cancelled"))
    assert recorder.problems == []
    assert queue.statuses() == {("lab", "x"): "cancelled", ("lab", "y"): "cancelled"}
    engine.dispose()
