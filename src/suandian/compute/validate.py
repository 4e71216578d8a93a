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
   that site's capacity.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from suandian.compute.jobs import JobTable, Plan

__all__ = ["check_plan"]

_CAPACITY_TOLERANCE_MW = 1e-9


def check_plan(
    jobs: JobTable, plan: Plan, *, site_capacity_mw: Mapping[str, float] | None = None
) -> list[str]:
    """Every way ``plan`` breaks the rules above, one line each; an empty list means valid."""
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
        load = (
            rows.assign(p_mw=jobs.power_mw[row_of])
            .drop_duplicates(["job", "step"])
            .groupby(["site", "step"])["p_mw"]
            .sum()
        )
        load_sites = load.index.get_level_values("site")
        steps = load.index.get_level_values("step")
        for site, step, p_mw in zip(load_sites, steps, load.to_numpy(), strict=True):
            cap = site_capacity_mw.get(site)
            if cap is None:
                problems.append(f"site {site!r} has no entry in site_capacity_mw")
            elif p_mw > cap + _CAPACITY_TOLERANCE_MW:
                when = pd.Timestamp(origin_ns + int(step) * step_ns, tz="UTC")
                problems.append(
                    f"site {site!r} runs {p_mw:.6g} MW in step {int(step)} ({when}), "
                    f"over its capacity of {cap:.6g} MW"
                )
    return problems
