"""``suandian jobs``: the job queue on the command line.

:mod:`~suandian.cli_jobs.app` submits, shows, cancels and plans jobs;
:mod:`~suandian.cli_jobs.launch` hands the queue's plan to Kubernetes, Slurm or Ray. Importing
this package registers every command on :data:`jobs_app`.
"""

from suandian.cli_jobs import launch as _launch  # noqa: F401  (registers emit and run)
from suandian.cli_jobs.app import jobs_app, parse_jobs

__all__ = ["jobs_app", "parse_jobs"]
