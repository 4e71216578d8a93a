"""An independent check of a :class:`~suandian.compute.jobs.Plan` against its jobs.

Written apart from the strategies (it shares none of their code) so that a planner bug cannot
hide itself. Rules, each reported per job (or per site and step):

1. every plan row names a known job, and every job has rows (no job lost);
2. a job runs on one site only and at most once per step (no job duplicated);
3. it runs exactly ``duration_steps`` steps;
4. every step lies inside ``[release_utc, deadline_utc)``;
5. a job that is not interruptible runs in consecutive steps; an interruptible one pauses only
   after a multiple of ``checkpoint_steps`` run steps;
6. its site is one of its ``allowed_sites``;
7. with ``site_capacity_mw``: the power of the jobs running on a site in a step stays within
   that site's capacity (one figure per site, or one per step of the plan's grid);
8. with ``network``: a job that runs away from its ``data_site`` starts no earlier than its
   release plus the time its data take to get there (:mod:`suandian.compute.transfer`).

:func:`check_replan` checks the bookkeeping across re-plans: every job of the queue is in exactly
one of finished, running, the new plan and the jobs reported unplaceable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from suandian.compute.jobs import JobTable, Plan
from suandian.compute.transfer import Network

__all__ = ["check_plan", "check_replan"]

_CAPACITY_TOLERANCE_MW = 1e-9
_TRANSFER_TOLERANCE_NS = 10**6  # 1 ms of float rounding in a transfer time


def check_plan(
    jobs: JobTable,
    plan: Plan,
    *,
    site_capacity_mw: Mapping[str, float | npt.ArrayLike] | None = None,
    network: Network | None = None,
) -> list[str]:
    """Every way ``plan`` breaks the rules above, one line each; an empty list means valid.

    Parameters
    ----------
    jobs : JobTable
        The jobs the plan should place, each exactly once.
    plan : Plan
    site_capacity_mw : mapping site → MW or array of MW per step, optional
        Capacity open to the jobs: one figure for every step, or an array indexed by the plan's
        step (a step past its end is a problem). [MW]
    network : Network, optional
        Paths between the sites; without it, rule 8 is not checked.
    """
    problems: list[str] = []
    if plan.step_min != jobs.step_min:
        return [
            f"plan uses {plan.step_min}-min steps but the jobs {jobs.step_min}-min; "
            "plan on the jobs' step"
        ]
    rows = pd.DataFrame(
        {
            "job": np.asarray(plan.job_id, dtype=object).astype(str),
            "site": np.asarray(plan.site, dtype=object).astype(str),
            "step": np.asarray(plan.step, dtype=np.int64),
        }
    )
    ids = pd.Index(np.asarray(jobs.ids, dtype=object).astype(str))
    rows["row"] = ids.get_indexer(rows["job"])

    for job in rows.loc[rows["row"] < 0, "job"].unique():
        problems.append(f"plan names job {job!r}, which is not among the jobs")
    rows = rows[rows["row"] >= 0]

    placed = np.zeros(len(ids), dtype=bool)
    placed[rows["row"].to_numpy()] = True
    for i in np.flatnonzero(~placed):
        problems.append(f"job {ids[i]!r} is not placed (lost)")

    n_sites = rows.groupby("job")["site"].nunique()
    for job, count in n_sites[n_sites > 1].items():
        sites = sorted(rows.loc[rows["job"] == job, "site"].unique())
        problems.append(f"job {job!r} is placed on {count} sites {sites} (duplicated)")
    twice = rows[rows.duplicated(["job", "step"], keep="first")]
    for job, group in twice.groupby("job"):
        repeated = sorted(int(s) for s in group["step"].unique())[:5]
        problems.append(f"job {job!r} runs more than once in step(s) {repeated} (duplicated)")

    per_job = rows.groupby("row").agg(
        count=("step", "size"), first=("step", "min"), last=("step", "max")
    )
    r = per_job.index.to_numpy()
    need = jobs.duration_steps[r]
    for i, got, want in zip(r, per_job["count"].to_numpy(), need, strict=True):
        if got != want:
            problems.append(f"job {ids[i]!r} runs {got} steps but needs {want}")

    step_ns = plan.step_min * 60 * 10**9
    origin_ns = pd.Timestamp(plan.grid_start_utc).tz_convert("UTC").value
    start_ns = origin_ns + rows["step"].to_numpy() * step_ns
    row_of = rows["row"].to_numpy()
    early = start_ns < jobs.release_ns[row_of]
    late = start_ns + step_ns > jobs.deadline_ns[row_of]
    for name, mask in (("before its release_utc", early), ("past its deadline_utc", late)):
        for i in np.unique(row_of[mask]):
            first = pd.Timestamp(int(start_ns[mask & (row_of == i)].min()), tz="UTC")
            problems.append(f"job {ids[i]!r} runs {name} (step starting {first})")

    unique = rows.drop_duplicates(["job", "step"]).sort_values(["row", "step"])
    gap_after = np.diff(unique["step"].to_numpy()) > 1
    same_job = np.diff(unique["row"].to_numpy()) == 0
    done = unique.groupby("row").cumcount().to_numpy()[:-1] + 1  # run steps before the pause
    pauses = gap_after & same_job
    pause_rows = unique["row"].to_numpy()[:-1][pauses]
    pause_done = done[pauses]
    for i in np.unique(pause_rows):
        if not jobs.interruptible[i]:
            problems.append(f"job {ids[i]!r} is not interruptible but pauses between steps")
            continue
        check = int(jobs.checkpoint_steps[i])
        off = pause_done[(pause_rows == i) & (pause_done % check != 0)]
        if len(off):
            problems.append(
                f"job {ids[i]!r} pauses after {int(off[0])} run steps, not at a checkpoint "
                f"(every {check} steps)"
            )

    site_col = pd.Index(list(jobs.sites)).get_indexer(pd.Index(rows["site"]))
    known_site = site_col >= 0
    allowed = np.zeros(len(rows), dtype=bool)
    allowed[known_site] = jobs.allowed[row_of[known_site], site_col[known_site]]
    for job, site in rows.loc[~allowed, ["job", "site"]].drop_duplicates().itertuples(index=False):
        problems.append(f"job {job!r} runs on site {site!r}, which is not in its allowed_sites")

    if site_capacity_mw is not None:
        problems += _capacity_problems(jobs, rows, row_of, site_capacity_mw, origin_ns, step_ns)
    if network is not None:
        problems += _transfer_problems(jobs, rows, network, origin_ns, step_ns)
    return problems


def _transfer_problems(
    jobs: JobTable, rows: pd.DataFrame, network: Network, origin_ns: int, step_ns: int
) -> list[str]:
    first = rows.groupby("row").agg(site=("site", "first"), step=("step", "min"))
    i = first.index.to_numpy()
    data_site = np.asarray(jobs.data_site, dtype=object)[i].astype(str)
    away = (data_site != "") & (data_site != first["site"].to_numpy().astype(str))
    away &= jobs.data_gb[i] > 0
    if not away.any():
        return []
    i, sites = i[away], first["site"].to_numpy().astype(str)[away].tolist()
    hours = network.hours(
        jobs.data_gb[i],
        network.index(list(data_site[away]), "data_site"),
        network.index(list(sites), "the plan"),
    )
    start_ns = origin_ns + first["step"].to_numpy()[away] * step_ns
    arrive_ns = jobs.release_ns[i] + np.rint(hours * 3.6e12).astype(np.int64)
    return [
        f"job {jobs.ids[j]!r} starts on {site!r} at {pd.Timestamp(int(t), tz='UTC')}, before "
        f"its {jobs.data_gb[j]:.6g} GB from {jobs.data_site[j]!r} arrive "
        f"({pd.Timestamp(int(a), tz='UTC')})"
        for j, site, t, a in zip(i, sites, start_ns, arrive_ns, strict=True)
        if t < a - _TRANSFER_TOLERANCE_NS
    ]


def _capacity_problems(
    jobs: JobTable,
    rows: pd.DataFrame,
    row_of: npt.NDArray[np.int64],
    site_capacity_mw: Mapping[str, float | npt.ArrayLike],
    origin_ns: int,
    step_ns: int,
) -> list[str]:
    """Per site and step, the jobs' power above the site's capacity (vectorised over cells)."""
    problems: list[str] = []
    load = (
        rows.assign(p_mw=jobs.power_mw[row_of])
        .drop_duplicates(["job", "step"])
        .groupby(["site", "step"])["p_mw"]
        .sum()
    )
    load_sites = load.index.get_level_values("site").to_numpy()
    steps = load.index.get_level_values("step").to_numpy().astype(np.int64)
    p_mw = load.to_numpy()
    cap = np.full(len(load), np.inf)
    for site in np.unique(load_sites):
        here = load_sites == site
        given = site_capacity_mw.get(str(site))
        if given is None:
            problems.append(f"site {site!r} has no entry in site_capacity_mw")
            continue
        per_step = np.asarray(given, dtype=np.float64)
        if per_step.ndim == 0:
            cap[here] = float(per_step)
            continue
        inside = (steps >= 0) & (steps < len(per_step))
        outside = here & ~inside
        if outside.any():
            problems.append(
                f"site {site!r}: site_capacity_mw covers steps [0, {len(per_step)}) but the "
                f"plan runs jobs in step {int(steps[outside][0])}; give a figure for every step"
            )
        cap[here & inside] = per_step[steps[here & inside]]
    over = np.flatnonzero(p_mw > cap + _CAPACITY_TOLERANCE_MW)
    for i in over:
        when = pd.Timestamp(origin_ns + int(steps[i]) * step_ns, tz="UTC")
        problems.append(
            f"site {load_sites[i]!r} runs {p_mw[i]:.6g} MW in step {int(steps[i])} ({when}), "
            f"over its capacity of {cap[i]:.6g} MW"
        )
    return problems


_GROUPS = ("finished", "running", "planned", "unplaced")


def check_replan(
    queue_ids: Iterable[str],
    *,
    finished: Iterable[str],
    running: Iterable[str],
    planned: Plan | Iterable[str],
    unplaced: Iterable[str],
) -> list[str]:
    """Every job of the queue in exactly one of finished, running, planned and unplaced.

    The bookkeeping rule of a re-plan: no job lost (in none of the four), none duplicated (in
    two, or twice in one). ``planned`` is the new plan (its job ids) or the ids; a plan's
    several rows per job count once.

    Returns
    -------
    list of str
        One line per problem; empty means every job is accounted for exactly once.
    """
    queue = [str(j) for j in queue_ids]
    problems = [f"job {j!r} is in the queue twice" for j in sorted(_repeated(queue))]
    plan_ids = (
        pd.unique(np.asarray(planned.job_id, dtype=object).astype(str)).tolist()
        if isinstance(planned, Plan)
        else [str(j) for j in planned]
    )
    members = {
        "finished": [str(j) for j in finished],
        "running": [str(j) for j in running],
        "planned": plan_ids,
        "unplaced": [str(j) for j in unplaced],
    }
    where: dict[str, list[str]] = {j: [] for j in queue}
    for group in _GROUPS:
        for j in sorted(_repeated(members[group])):
            problems.append(f"job {j!r} is listed twice as {group} (duplicated)")
        for j in dict.fromkeys(members[group]):
            if j not in where:
                problems.append(f"job {j!r} is {group} but not in the queue")
            else:
                where[j].append(group)
    for j, groups in where.items():
        if not groups:
            problems.append(
                f"job {j!r} is lost: neither finished, running, planned nor reported unplaceable"
            )
        elif len(groups) > 1:
            problems.append(f"job {j!r} is both {' and '.join(groups)} (duplicated)")
    return problems


def _repeated(ids: list[str]) -> set[str]:
    seen: set[str] = set()
    return {j for j in ids if j in seen or seen.add(j)}  # type: ignore[func-returns-value]
