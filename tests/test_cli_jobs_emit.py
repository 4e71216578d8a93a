"""``suandian jobs emit``: the queue's planned jobs as Kubernetes Jobs and ``sbatch`` lines."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from suandian.compute.jobs import Job
from suandian.settings import Settings
from suandian.store.jobs import Assignment, JobQueue
from suandian.store.sql import database_url, open_job_queue

RunCli = Callable[[list[str]], tuple[int, str, str]]  # the run_cli fixture (conftest)

UTC = dt.UTC
K8S_VERSION = "1.30.0"  # as tests/executors/test_kubernetes.py, pinned with kubernetes-validate
RENDER_START = dt.datetime(2025, 7, 1, 16, tzinfo=UTC)  # 2 July 00:00 in Shanghai
TRAIN_START = dt.datetime(2025, 7, 1, 2, tzinfo=UTC)  # 1 July 10:00 in Shanghai


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobQueue:
    """render-7 (studio, xining) and train (lab, qingpu) planned; idle (lab) only queued."""
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUANDIAN_DATABASE_URL", raising=False)
    q = open_job_queue(database_url(Settings()))
    day = {"release_utc": TRAIN_START, "deadline_utc": TRAIN_START + dt.timedelta(days=1)}
    sites = ("xining", "qingpu")
    render = Job("render-7", "studio", 1.5, 8, **day, interruptible=True, allowed_sites=sites)
    train = Job("train", "lab", 6.0, 4, **day, allowed_sites=sites, priority=2)
    idle = Job("idle", "lab", 1.0, 4, **day, allowed_sites=sites)
    q.submit([render, train, idle])
    q.mark_planned(
        [
            Assignment("studio", "render-7", "xining", RENDER_START),
            Assignment("lab", "train", "qingpu", TRAIN_START),
        ]
    )
    return q


def _statuses(q: JobQueue) -> list[tuple[str, str, str | None, dt.datetime | None]]:
    return [(r.job.id, r.status, r.site, r.start_utc) for r in q.jobs()]


def test_sbatch_lines(queue: JobQueue, run_cli: RunCli) -> None:
    before = _statuses(queue)
    argv = ["jobs", "emit", "--to", "slurm", "--command", "python -m run --job {job_id} {site}"]
    code, out, err = run_cli([*argv, "--partition", "xining=gpu-a"])
    assert code == 0, err
    # Submission order; --begin in Shanghai time (render-7 starts on the next local day);
    # qingpu has no --partition, so its own id is the partition.
    assert out.splitlines() == [
        "sbatch --job-name=render-7 --partition=gpu-a --begin=2025-07-02T00:00:00 "
        "--time=0-02:00:00 --comment=tenant=studio --requeue "
        "'--wrap=python -m run --job render-7 xining'",
        "sbatch --job-name=train --partition=qingpu --begin=2025-07-01T10:00:00 "
        "--time=0-01:00:00 --comment=tenant=lab --no-requeue "
        "'--wrap=python -m run --job train qingpu'",
    ]
    code, out, err = run_cli([*argv, "--tenant", "lab", "--cluster-tz", "UTC"])
    assert code == 0, err
    assert out.splitlines() == [
        "sbatch --job-name=train --partition=qingpu --begin=2025-07-01T02:00:00 "
        "--time=0-01:00:00 --comment=tenant=lab --no-requeue "
        "'--wrap=python -m run --job train qingpu'",
    ]
    assert _statuses(queue) == before  # emitting reads the queue only


def test_kubernetes_manifests_to_a_file(queue: JobQueue, tmp_path: Path, run_cli: RunCli) -> None:
    path = tmp_path / "jobs.yaml"
    argv = ["jobs", "emit", "--to", "kubernetes", "--image", "registry.local/run:1"]
    argv += ["--namespace", "batch", "--command", "python -m run --tenant {tenant}"]
    code, out, err = run_cli([*argv, "--out", str(path)])
    assert code == 0, err
    assert " ".join(out.split()) == f"wrote 2 Kubernetes Job manifest(s) to {path}"
    manifests = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    for m in manifests:
        kubernetes_validate.validate(m, K8S_VERSION, strict=True)
    render, train = manifests
    assert render["metadata"]["name"] == "render-7"
    assert render["metadata"]["namespace"] == "batch"
    assert render["spec"]["suspend"] is True
    assert render["spec"]["template"]["spec"]["nodeSelector"] == {"suandian.io/site": "xining"}
    assert render["metadata"]["annotations"] == {
        "suandian.io/planned-start": "2025-07-01T16:00:00Z",
        "suandian.io/planned-duration-s": "7200",
        "suandian.io/power-mw": "1.5",
        "suandian.io/interruptible": "true",
        "suandian.io/priority": "0",
        "suandian.io/job-id": "render-7",
        "suandian.io/tenant": "studio",
        "suandian.io/plan-version": "0",
    }
    (container,) = render["spec"]["template"]["spec"]["containers"]
    assert container == {
        "name": "job",
        "image": "registry.local/run:1",
        "command": ["python", "-m", "run", "--tenant", "studio"],
    }
    assert train["spec"]["template"]["spec"]["nodeSelector"] == {"suandian.io/site": "qingpu"}
    assert train["metadata"]["annotations"]["suandian.io/planned-start"] == "2025-07-01T02:00:00Z"
    assert train["metadata"]["annotations"]["suandian.io/priority"] == "2"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--to", "slurm", "--partition", "xinig=gpu"],
            "no job in the queue may run at site 'xinig' (sites: qingpu, xining); check the site",
        ),
        (["--to", "slurm", "--partition", "gpu"], "write SITE=PARTITION, e.g. --partition"),
        (["--to", "kubernetes"], "--to kubernetes needs --image"),
        (["--to", "pbs"], "--to 'pbs'; use one of kubernetes, slurm"),
        (["--to", "slurm", "--cluster-tz", "Mars/Base"], "is not an IANA time zone"),
        (["--to", "slurm", "--command", "run {user}"], "cannot fill in 'user'; the placeholders"),
        (["--to", "slurm", "--command", "  "], "--command is empty"),
    ],
)
def test_refused_with_the_fix_and_nothing_written(
    queue: JobQueue,
    tmp_path: Path,
    run_cli: RunCli,
    extra: list[str],
    message: str,
) -> None:
    before = _statuses(queue)
    path = tmp_path / "out.txt"
    argv = ["jobs", "emit", "--command", "run", "--out", str(path), *extra]
    # the last --command wins, so the parametrised ones replace "run"
    code, out, err = run_cli(argv)
    assert code == 1
    assert message in " ".join(err.split())
    assert out == "" and not path.exists()
    assert _statuses(queue) == before


def test_ids_planned_for_two_tenants_are_handed_over_one_tenant_at_a_time(
    queue: JobQueue, run_cli: RunCli
) -> None:
    twin = queue.get("lab", "train").job
    queue.submit([dataclasses.replace(twin, tenant="other")])
    queue.mark_planned([Assignment("other", "train", "xining", TRAIN_START)])
    argv = ["jobs", "emit", "--to", "slurm", "--command", "run"]
    code, _, err = run_cli(argv)
    assert code == 1
    assert (
        "job id(s) planned for several tenants: train (lab, other); an executor keys jobs by id, "
        "so hand over one tenant at a time with --tenant T"
    ) in " ".join(err.split())
    code, out, _ = run_cli([*argv, "--tenant", "other"])
    assert code == 0 and out.count("sbatch ") == 1 and "--comment=tenant=other" in out


def test_no_planned_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUANDIAN_DATABASE_URL", raising=False)
    code, out, err = run_cli(["jobs", "emit", "--to", "slurm", "--command", "run"])
    assert (code, out) == (0, "")
    assert "no planned jobs to emit; plan the queue first with `suandian jobs plan`" in err
