"""Kubernetes adapter: one suspended ``batch/v1`` Job manifest per planned job.

Each Job is created suspended (``spec.suspend: true``); a controller un-suspends it at the planned
start, which the manifest carries in the ``suandian.io/planned-start`` annotation (ISO-8601 UTC).
The site becomes a ``nodeSelector`` on a node label (default ``suandian.io/site``). Names and label
values are sanitised to what the API server accepts; when that changes the text, a short hash of
the original is appended so that different jobs never share a name. The original texts are kept
in annotations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from suandian.core.errors import InputError
from suandian.executors.plan import Plan, PlannedJob

__all__ = [
    "ANNOTATION_PREFIX",
    "DEFAULT_SITE_LABEL",
    "PLANNED_START_ANNOTATION",
    "dns1123_name",
    "job_manifest",
    "label_value",
    "manifests_yaml",
    "plan_manifests",
]

ANNOTATION_PREFIX = "suandian.io/"
DEFAULT_SITE_LABEL = "suandian.io/site"
PLANNED_START_ANNOTATION = "suandian.io/planned-start"
GPU_RESOURCE = "nvidia.com/gpu"

_MAX = 63
_HASH_LEN = 8


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_LEN]


def _fit(original: str, cleaned: str, strip: str, *, empty: str) -> str:
    """Keep ``cleaned`` if lossless and short; else truncate and append a hash of ``original``."""
    if cleaned == original and 0 < len(cleaned) <= _MAX:
        return cleaned
    head = cleaned[: _MAX - _HASH_LEN - 1].strip(strip)
    return f"{head}-{_digest(original)}" if head else f"{empty}-{_digest(original)}"


def dns1123_name(text: str) -> str:
    """A valid DNS-1123 label for ``text``: ``[a-z0-9-]``, at most 63, alphanumeric ends.

    Lossless when ``text`` already is one; otherwise deterministic, with a hash suffix.
    """
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")
    return _fit(text, cleaned, "-", empty="job")


def label_value(text: str) -> str:
    """A valid label value for ``text``: ``[A-Za-z0-9._-]``, at most 63, alphanumeric ends.

    Lossless when ``text`` already is one; otherwise deterministic, with a hash suffix.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text).strip("._-")
    return _fit(text, cleaned, "._-", empty="x")


def job_manifest(
    job: PlannedJob,
    *,
    image: str,
    namespace: str | None = None,
    site_label: str = DEFAULT_SITE_LABEL,
    site_values: Mapping[str, str] | None = None,
    backoff_limit: int = 0,
    cpu: str | None = None,
    memory: str | None = None,
    plan_version: int | None = None,
) -> dict[str, Any]:
    """The suspended Kubernetes Job for one planned job, as a dict.

    Parameters
    ----------
    job : PlannedJob
        Its ``command`` must be an argv; a callable name has no meaning in a container.
    image : str
        Container image that runs the command.
    namespace : str, optional
        ``metadata.namespace``; omitted when None.
    site_label : str
        Node label key that carries the site. Default ``suandian.io/site``.
    site_values : mapping, optional
        Site id → node label value, for clusters whose labels differ from the site ids; by
        default the sanitised site id.
    backoff_limit : int
        Pod retries before the Job fails. Default 0: a failure goes back to the planner, which
        decides on a re-plan (a retry would start it off-plan).
    cpu, memory : str, optional
        Requests and limits in Kubernetes quantity syntax (``"4"``, ``"16Gi"``).
    plan_version : int, optional
        Recorded in the ``suandian.io/plan-version`` annotation.
    """
    if isinstance(job.command, str):
        raise InputError(
            f"job {job.job_id!r}: command names the callable {job.command!r}; a Kubernetes Job "
            "needs an argv, e.g. command=('python', '-m', 'train')"
        )
    if backoff_limit < 0:
        raise InputError(f"backoff_limit must be >= 0 (got {backoff_limit})")
    site_value = (site_values or {}).get(job.site, label_value(job.site))
    name = dns1123_name(job.job_id)
    labels = {
        "app.kubernetes.io/managed-by": "suandian",
        f"{ANNOTATION_PREFIX}job-id": label_value(job.job_id),
        f"{ANNOTATION_PREFIX}tenant": label_value(job.tenant),
        f"{ANNOTATION_PREFIX}site": label_value(job.site),
    }
    annotations = {
        PLANNED_START_ANNOTATION: job.start_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"{ANNOTATION_PREFIX}planned-duration-s": str(int(job.duration.total_seconds())),
        f"{ANNOTATION_PREFIX}power-mw": repr(float(job.power_mw)),
        f"{ANNOTATION_PREFIX}interruptible": str(job.interruptible).lower(),
        f"{ANNOTATION_PREFIX}priority": str(job.priority),
        f"{ANNOTATION_PREFIX}job-id": job.job_id,
        f"{ANNOTATION_PREFIX}tenant": job.tenant,
    }
    if plan_version is not None:
        annotations[f"{ANNOTATION_PREFIX}plan-version"] = str(plan_version)
    quantities: dict[str, str] = {}
    if cpu is not None:
        quantities["cpu"] = cpu
    if memory is not None:
        quantities["memory"] = memory
    limits = dict(quantities)
    if job.gpus is not None:
        # Extended resources are set as limits; the request defaults to the limit.
        limits[GPU_RESOURCE] = str(job.gpus)
    container: dict[str, Any] = {"name": "job", "image": image, "command": list(job.command)}
    if limits:
        container["resources"] = {"limits": limits}
        if quantities:
            container["resources"]["requests"] = quantities
    metadata: dict[str, Any] = {"name": name, "labels": labels, "annotations": annotations}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "suspend": True,
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {site_label: site_value},
                    "containers": [container],
                },
            },
        },
    }


def plan_manifests(plan: Plan, *, image: str, **options: Any) -> list[dict[str, Any]]:
    """One Job manifest per planned job, in plan order (options as for :func:`job_manifest`)."""
    options.setdefault("plan_version", plan.version)
    manifests = [job_manifest(job, image=image, **options) for job in plan.jobs]
    seen: dict[str, str] = {}
    for job, manifest in zip(plan.jobs, manifests, strict=True):
        name = manifest["metadata"]["name"]
        if name in seen:
            raise InputError(
                f"jobs {seen[name]!r} and {job.job_id!r} map to the same Job name {name!r}; "
                "rename one of them"
            )
        seen[name] = job.job_id
    return manifests


def manifests_yaml(plan: Plan, *, image: str, **options: Any) -> str:
    """The plan's Job manifests as one multi-document YAML text (``kubectl apply -f``)."""
    return yaml.safe_dump_all(plan_manifests(plan, image=image, **options), sort_keys=False)
