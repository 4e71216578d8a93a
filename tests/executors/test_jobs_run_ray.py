"""``suandian jobs run`` on a real local Ray cluster, which the command starts and shuts down.

Its own module: tests/executors' ``ray_cluster`` fixture holds a cluster per module, and Ray
allows one per process.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from suandian.compute.jobs import Job
from suandian.settings import Settings
from suandian.store.jobs import Assignment, JobQueue
from suandian.store.sql import database_url, open_job_queue

RunCli = Callable[[list[str]], tuple[int, str, str]]  # the run_cli fixture (conftest)

UTC = dt.UTC
NOON = dt.datetime(2025, 7, 1, 4, tzinfo=UTC)  # 12:00 in Shanghai
STEP = dt.timedelta(minutes=15)

# Appends "<job> <site>" to the log; flaky fails on its first run.
SCRIPT = """\
import pathlib, sys
job, site, log = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
first = not log.exists() or f"{job} " not in log.read_text()
with log.open("a") as f:
    f.write(f"{job} {site}\\n")
sys.exit(1 if job == "flaky" and first else 0)
"""


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobQueue:
    """Four 30-min jobs of 1 MW at Nanchuan, planned from 12:00 local, due by 15:00."""
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUANDIAN_DATABASE_URL", raising=False)
    q = open_job_queue(database_url(Settings()))
    window = {"release_utc": NOON, "deadline_utc": NOON + 12 * STEP}
    ids = ["a1", "a2", "a3", "flaky"]
    q.submit([Job(i, "lab", 1.0, 2, **window, allowed_sites=("nanchuan",)) for i in ids])
    starts = [NOON, NOON + STEP, NOON + 2 * STEP, NOON]
    q.mark_planned([Assignment("lab", i, "nanchuan", s) for i, s in zip(ids, starts, strict=True)])
    return q


def test_run_launches_the_plan_keeps_the_queue_and_replans_a_failure(
    queue: JobQueue, tmp_path: Path, run_cli: RunCli
) -> None:
    script, log = tmp_path / "job.py", tmp_path / "ran.log"
    script.write_text(SCRIPT, encoding="utf-8")
    command = f"{sys.executable} {script} {{job_id}} {{site}} {log}"
    argv = ["jobs", "run", "--command", command, "--speedup", "1200", "--timeout", "60"]
    code, out, err = run_cli(argv)
    assert code == 0, err
    lines = log.read_text(encoding="utf-8").splitlines()
    assert sorted(lines) == ["a1 nanchuan", "a2 nanchuan", "a3 nanchuan"] + ["flaky nanchuan"] * 2
    text = " ".join(out.split())
    assert (
        "lab/flaky failed" in text
        and "4 of 4 job(s) ran, 1 re-plan(s); 4 done in the queue" in text
    )
    rows = {q.job.id: q for q in queue.jobs()}
    assert {k: q.status for k, q in rows.items()} == dict.fromkeys(rows, "done")
    for q in rows.values():  # inside its window, at the site it ran at
        assert q.site == "nanchuan" and q.start_utc is not None
        assert NOON <= q.start_utc <= NOON + 10 * STEP
    # flaky ran again after its failure at 12:00, no earlier than one step (the lead) later.
    assert rows["flaky"].start_utc is not None and rows["flaky"].start_utc >= NOON + STEP
    assert rows["a1"].start_utc == NOON  # launched before the failure: kept


def test_real_time_refuses_a_plan_already_past(queue: JobQueue, run_cli: RunCli) -> None:
    before = [(q.job.id, q.status, q.site, q.start_utc) for q in queue.jobs()]
    code, _, err = run_cli(["jobs", "run", "--command", "true"])
    assert code == 1
    assert "job(s) planned to start in the past: lab/a1 (2025-07-01 04:00Z)" in " ".join(
        err.split()
    )
    assert "or replay the plan with --speedup" in " ".join(err.split())
    assert [(q.job.id, q.status, q.site, q.start_utc) for q in queue.jobs()] == before


def test_run_follows_a_cancel_and_a_submission_made_while_it_runs(
    queue: JobQueue, tmp_path: Path, run_cli: RunCli
) -> None:
    import threading
    import time

    # a3 is planned for 14:00 local (6 s of wall time after the run starts at 1,200×)
    queue.mark_planned([Assignment("lab", "a3", "nanchuan", NOON + 8 * STEP)])
    script, log = tmp_path / "job.py", tmp_path / "ran.log"
    script.write_text(SCRIPT, encoding="utf-8")
    command = f"{sys.executable} {script} {{job_id}} {{site}} {log}"
    late = Job(
        "late",
        "lab",
        1.0,
        2,
        release_utc=NOON + 4 * STEP,
        deadline_utc=NOON + 12 * STEP,
        allowed_sites=("nanchuan",),
    )
    acted = threading.Event()

    def act() -> None:  # once the first job has run: cancel a3, submit a new job
        for _ in range(600):
            if log.exists() and "a1 " in log.read_text(encoding="utf-8"):
                other = open_job_queue(database_url(Settings()))
                other.cancel("lab", "a3")
                other.submit([late])
                acted.set()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=act)
    thread.start()
    argv = ["jobs", "run", "--command", command, "--speedup", "1200", "--timeout", "60"]
    code, out, err = run_cli(argv)
    thread.join()
    assert code == 0, err
    assert acted.is_set()
    lines = log.read_text(encoding="utf-8").splitlines()
    # a3 never ran; the job submitted mid-run ran once, with its planned site filled in
    assert sorted(lines) == ["a1 nanchuan", "a2 nanchuan"] + ["flaky nanchuan"] * 2 + [
        "late nanchuan"
    ]
    statuses = {q.job.id: q.status for q in queue.jobs()}
    assert statuses == {"a1": "done", "a2": "done", "a3": "cancelled", "flaky": "done"} | {
        "late": "done"
    }
    assert "lab/a3 cancelled" in " ".join(out.split())


def test_a_job_submitted_during_the_run_and_due_after_its_period_extends_the_signals(
    queue: JobQueue, tmp_path: Path, run_cli: RunCli
) -> None:
    import threading
    import time

    # The run's period is 1 July (local): its signals end at midnight, 12 h after noon. The job
    # submitted during the run is due at 02:00 on 2 July.
    script, log = tmp_path / "job.py", tmp_path / "ran.log"
    script.write_text(SCRIPT, encoding="utf-8")
    command = f"{sys.executable} {script} {{job_id}} {{site}} {log}"
    midnight = NOON + 48 * STEP
    night = Job(
        "night",
        "lab",
        1.0,
        2,
        release_utc=midnight,
        deadline_utc=midnight + 8 * STEP,
        allowed_sites=("nanchuan",),
    )

    def submit() -> None:
        for _ in range(600):
            if log.exists() and "a1 " in log.read_text(encoding="utf-8"):
                open_job_queue(database_url(Settings())).submit([night])
                return
            time.sleep(0.05)

    thread = threading.Thread(target=submit)
    thread.start()
    argv = ["jobs", "run", "--command", command, "--speedup", "3600", "--timeout", "90"]
    code, out, err = run_cli(argv)
    thread.join()
    assert code == 0, err
    assert "signals extended to 2 local days from 2025-07-01" in " ".join(out.split())
    assert "night nanchuan" in log.read_text(encoding="utf-8").splitlines()
    night_row = queue.get("lab", "night")
    assert night_row.status == "done" and night_row.start_utc is not None
    assert midnight <= night_row.start_utc <= midnight + 6 * STEP
