"""sbatch lines, parsed back the way a shell and sbatch would read them."""

from __future__ import annotations

import argparse
import datetime as dt
import shlex

import pytest

from suandian.core.errors import InputError, TimeError
from suandian.executors.plan import Plan, PlannedJob
from suandian.executors.slurm import sbatch_line, sbatch_lines, slurm_begin, slurm_time

PARTITIONS = {"xining": "qh-green", "beijing": "bj-gpu", "ulanqab": "nm-cpu"}


def job(job_id: str = "train-1", **kw: object) -> PlannedJob:
    fields: dict[str, object] = {
        "tenant": "acme corp",
        "site": "xining",
        "start_utc": dt.datetime(2025, 6, 1, 4, 0, tzinfo=dt.UTC),
        "duration": dt.timedelta(hours=3, minutes=30),
        "power_mw": 2.0,
        "command": ("python", "train.py", "--name", "it's a run; rm -rf /"),
    }
    fields.update(kw)
    return PlannedJob(job_id=job_id, **fields)  # type: ignore[arg-type]


def parse(line: str) -> argparse.Namespace:
    argv = shlex.split(line)
    assert argv[0] == "sbatch"
    p = argparse.ArgumentParser(exit_on_error=False)
    for opt in ("job-name", "partition", "begin", "time", "gres", "comment", "account", "wrap"):
        p.add_argument(f"--{opt}")
    p.add_argument("--requeue", action="store_true")
    p.add_argument("--no-requeue", action="store_true")
    ns, rest = p.parse_known_args(argv[1:])
    assert rest == [], rest
    return ns


def test_fields() -> None:
    ns = parse(sbatch_line(job(gpus=4), partitions=PARTITIONS))
    assert ns.job_name == "train-1"
    assert ns.partition == "qh-green"
    assert ns.begin == "2025-06-01T12:00:00"  # 04:00 UTC is noon in Shanghai
    assert ns.time == "0-03:30:00"
    assert ns.gres == "gpu:4"
    assert ns.comment == "tenant=acme corp"
    assert ns.no_requeue and not ns.requeue
    # The wrapped command survives two rounds of quoting intact.
    assert shlex.split(ns.wrap) == ["python", "train.py", "--name", "it's a run; rm -rf /"]


def test_no_gres_without_gpus_and_requeue_when_interruptible() -> None:
    ns = parse(sbatch_line(job(interruptible=True), partitions=PARTITIONS, account="lab"))
    assert ns.gres is None
    assert ns.requeue and not ns.no_requeue
    assert ns.account == "lab"


def test_utc_midnight_is_shanghai_morning_same_day() -> None:
    ns = parse(
        sbatch_line(
            job(start_utc=dt.datetime(2025, 6, 2, 0, 0, tzinfo=dt.UTC)), partitions=PARTITIONS
        )
    )
    assert ns.begin == "2025-06-02T08:00:00"


def test_shanghai_day_starts_at_16_utc_of_the_previous_utc_day() -> None:
    # 15:59:59 UTC on 1 June is still 1 June in Shanghai; 16:00 UTC is already 2 June.
    before = job(start_utc=dt.datetime(2025, 6, 1, 15, 59, 59, tzinfo=dt.UTC))
    after = job(start_utc=dt.datetime(2025, 6, 1, 16, 0, tzinfo=dt.UTC))
    assert parse(sbatch_line(before, partitions=PARTITIONS)).begin == "2025-06-01T23:59:59"
    assert parse(sbatch_line(after, partitions=PARTITIONS)).begin == "2025-06-02T00:00:00"
    # The same instant on a cluster kept in UTC.
    assert parse(sbatch_line(after, partitions=PARTITIONS, cluster_tz="UTC")).begin == (
        "2025-06-01T16:00:00"
    )


def test_begin_rounds_up_and_refuses_naive() -> None:
    t = dt.datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC)
    assert slurm_begin(t, "UTC") == "2025-01-01T00:00:01"
    with pytest.raises(TimeError):
        slurm_begin(dt.datetime(2025, 1, 1), "UTC")  # noqa: DTZ001
    with pytest.raises(InputError, match="IANA"):
        slurm_begin(t, "Mars/Olympus")


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (dt.timedelta(minutes=15), "0-00:15:00"),
        (dt.timedelta(days=2, hours=1, seconds=1), "2-01:00:01"),
        (dt.timedelta(seconds=0.2), "0-00:00:01"),
    ],
)
def test_time_limit(duration: dt.timedelta, text: str) -> None:
    assert slurm_time(duration) == text


def test_site_without_partition_is_refused_with_the_fix() -> None:
    with pytest.raises(InputError, match=r"site 'shanghai' has no Slurm partition.*beijing"):
        sbatch_line(job(site="shanghai"), partitions=PARTITIONS)


def test_callable_command_is_refused() -> None:
    with pytest.raises(InputError, match="needs an argv"):
        sbatch_line(job(command="train"), partitions=PARTITIONS)


def test_plan_lines_in_order() -> None:
    t0 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    plan = Plan.of([job("a", site="beijing"), job("b", site="ulanqab", gpus=1)], created_utc=t0)
    lines = sbatch_lines(plan, partitions=PARTITIONS)
    assert [parse(x).job_name for x in lines] == ["a", "b"]
    assert [parse(x).partition for x in lines] == ["bj-gpu", "nm-cpu"]
