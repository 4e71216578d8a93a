"""A local Ray cluster for the executor tests that launch real Ray tasks.

A test module asks for the ``ray_cluster`` fixture and defines ``SITES``, ``RAY_CPUS``, ``T0``,
``SPEEDUP`` and a job function ``nap`` (the warm-up task).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from suandian.executors.plan import Plan, PlannedJob
from suandian.executors.ray_executor import (
    JobFunction,
    JobState,
    RayExecutor,
    SimClock,
    site_resource,
)


@contextmanager
def local_ray_cluster(
    module: str,
    *,
    sites: tuple[str, ...],
    num_cpus: int,
    t0_utc: dt.datetime,
    speedup: float,
    nap: JobFunction,
) -> Iterator[None]:
    """One local node advertising ``site:<id>`` for every site, with ``num_cpus`` workers warm.

    ``module`` is the test module whose job functions the workers must run: Ray workers cannot
    import a test module, so it is pickled by value. Before yielding, ``num_cpus`` tasks running
    ``nap`` start every worker and have it import suandian through the executor's own task, so
    that cold start-up does not count against launch times measured afterwards.
    """
    import ray
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[module])
    ray.init(
        num_cpus=num_cpus,
        resources={site_resource(s): 100 for s in sites},
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 1024 * 1024,
    )
    try:
        step = dt.timedelta(minutes=15)
        warm = Plan.of(
            [
                PlannedJob(f"warm-{i}", "t", sites[i % len(sites)], t0_utc, step, 0.0, "nap")
                for i in range(num_cpus)
            ],
            created_utc=t0_utc,
        )
        clock = SimClock(t0_utc, speedup)
        states = RayExecutor(warm, clock=clock, functions={"nap": nap}).run(timeout_s=60)
        assert set(states.values()) == {JobState.DONE}, states
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def ray_cluster(request: pytest.FixtureRequest) -> Iterator[None]:
    """The cluster of :func:`local_ray_cluster`, shaped by the requesting module's constants."""
    m = request.module
    with local_ray_cluster(
        m.__name__, sites=m.SITES, num_cpus=m.RAY_CPUS, t0_utc=m.T0, speedup=m.SPEEDUP, nap=m.nap
    ):
        yield
