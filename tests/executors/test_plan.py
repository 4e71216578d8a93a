"""Plan types: validation on construction."""

from __future__ import annotations

import datetime as dt

import pytest

from suandian.core.errors import InputError, TimeError
from suandian.executors.plan import Plan, PlannedJob

T0 = dt.datetime(2025, 6, 1, 4, 0, tzinfo=dt.UTC)


def job(job_id: str = "j1", **kw: object) -> PlannedJob:
    fields: dict[str, object] = {
        "tenant": "acme",
        "site": "xining",
        "start_utc": T0,
        "duration": dt.timedelta(hours=2),
        "power_mw": 1.5,
        "command": ("python", "-c", "pass"),
    }
    fields.update(kw)
    return PlannedJob(job_id=job_id, **fields)  # type: ignore[arg-type]


def test_start_is_converted_to_utc() -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    j = job(start_utc=dt.datetime(2025, 6, 1, 12, 0, tzinfo=beijing))
    assert j.start_utc == T0
    assert j.start_utc.utcoffset() == dt.timedelta(0)
    assert j.end_utc == T0 + dt.timedelta(hours=2)


def test_naive_start_is_a_time_error() -> None:
    with pytest.raises(TimeError, match="naive"):
        job(start_utc=dt.datetime(2025, 6, 1, 4, 0))  # noqa: DTZ001


def test_naive_plan_creation_time_is_a_time_error() -> None:
    with pytest.raises(TimeError, match="created_utc"):
        Plan((job(),), dt.datetime(2025, 6, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("duration", dt.timedelta(0), "duration"),
        ("power_mw", -1.0, "power_mw"),
        ("power_mw", float("nan"), "power_mw"),
        ("gpus", 0, "gpus"),
        ("command", (), "command"),
        ("command", " ", "command"),
        ("site", "", "site"),
    ],
)
def test_bad_fields_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        job(**{field: value})


def test_duplicate_job_ids_are_named() -> None:
    with pytest.raises(InputError, match=r"duplicate job ids \['a', 'b'\]"):
        Plan.of([job("a"), job("b"), job("a"), job("c"), job("b")], created_utc=T0)


def test_plan_lookup() -> None:
    plan = Plan.of([job("a", site="s2"), job("b", site="s1")], created_utc=T0, version=3)
    assert plan.job_ids == ("a", "b")
    assert plan.sites == ("s1", "s2")
    assert "a" in plan and "z" not in plan
    assert plan.get("b") is plan.jobs[1]
    assert len(plan) == 2
    with pytest.raises(InputError, match="version"):
        Plan.of([], created_utc=T0, version=-1)
