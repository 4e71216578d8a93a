"""Kubernetes Job manifests, validated against the official batch/v1 Job schema."""

from __future__ import annotations

import datetime as dt
import re

import kubernetes_validate
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from suandian.core.errors import InputError
from suandian.executors.kubernetes import (
    PLANNED_START_ANNOTATION,
    dns1123_name,
    job_manifest,
    label_value,
    manifests_yaml,
    plan_manifests,
)
from suandian.executors.plan import Plan, PlannedJob

# The schema version is pinned with kubernetes-validate in constraints.txt; "strict" rejects
# unknown fields, so a misspelt key fails here rather than being dropped by the API server.
K8S_VERSION = "1.30.0"

DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

T0 = dt.datetime(2025, 6, 1, 15, 30, tzinfo=dt.UTC)


def job(job_id: str = "train-1", **kw: object) -> PlannedJob:
    fields: dict[str, object] = {
        "tenant": "acme",
        "site": "xining",
        "start_utc": T0,
        "duration": dt.timedelta(hours=3),
        "power_mw": 2.0,
        "command": ("python", "-m", "train", "--epochs", "3"),
    }
    fields.update(kw)
    return PlannedJob(job_id=job_id, **fields)  # type: ignore[arg-type]


def validate(manifest: dict[str, object]) -> None:
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_manifest_fields() -> None:
    m = job_manifest(job(gpus=8), image="registry.local/train:1", namespace="jobs")
    validate(m)
    assert m["apiVersion"] == "batch/v1" and m["kind"] == "Job"
    assert m["metadata"]["name"] == "train-1"
    assert m["metadata"]["namespace"] == "jobs"
    assert m["metadata"]["annotations"][PLANNED_START_ANNOTATION] == "2025-06-01T15:30:00Z"
    assert m["metadata"]["labels"]["suandian.io/tenant"] == "acme"
    spec = m["spec"]
    assert spec["suspend"] is True
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"suandian.io/site": "xining"}
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "train", "--epochs", "3"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "8"}}


def test_planned_start_annotation_is_utc() -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    m = job_manifest(job(start_utc=dt.datetime(2025, 6, 2, 0, 30, tzinfo=beijing)), image="img")
    assert m["metadata"]["annotations"][PLANNED_START_ANNOTATION] == "2025-06-01T16:30:00Z"


def test_options_site_label_cpu_memory() -> None:
    m = job_manifest(
        job(),
        image="img",
        site_label="topology.example.com/site",
        site_values={"xining": "qh-xn-1"},
        backoff_limit=2,
        cpu="4",
        memory="16Gi",
    )
    validate(m)
    pod = m["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"topology.example.com/site": "qh-xn-1"}
    assert pod["containers"][0]["resources"] == {
        "limits": {"cpu": "4", "memory": "16Gi"},
        "requests": {"cpu": "4", "memory": "16Gi"},
    }
    assert m["spec"]["backoffLimit"] == 2
    assert (
        "resources"
        not in job_manifest(job(), image="img")["spec"]["template"]["spec"]["containers"][0]
    )


def test_awkward_ids_give_valid_names_and_labels() -> None:
    ugly = job(
        "Tenant/ACME::Train_Run #42 " + "x" * 80,
        tenant="-Acme Corp. (中国)-",
        site="Site A/1",
    )
    m = job_manifest(ugly, image="img")
    validate(m)
    name = m["metadata"]["name"]
    assert DNS1123.match(name) and len(name) <= 63
    for value in m["metadata"]["labels"].values():
        assert LABEL.match(value) and len(value) <= 63, value
    # The original texts survive in annotations.
    assert m["metadata"]["annotations"]["suandian.io/job-id"] == ugly.job_id
    assert m["metadata"]["annotations"]["suandian.io/tenant"] == ugly.tenant


def test_sanitising_is_deterministic_and_keeps_valid_text() -> None:
    assert dns1123_name("train-1") == "train-1"
    assert label_value("Acme.Corp_1") == "Acme.Corp_1"
    assert dns1123_name("Train_1") == dns1123_name("Train_1")
    # Two ids that clean to the same text keep distinct names through the hash suffix.
    assert dns1123_name("Train_1") != dns1123_name("train-1")
    assert dns1123_name("Train_1").startswith("train-1-")
    long = "a" * 100
    assert len(dns1123_name(long)) == 63
    assert dns1123_name(long) != dns1123_name("a" * 101)
    assert dns1123_name("___").startswith("job-")
    assert label_value("") == label_value("")


@given(st.text(min_size=1, max_size=120))
def test_sanitised_names_and_labels_are_always_valid(text: str) -> None:
    name = dns1123_name(text)
    assert DNS1123.match(name) and len(name) <= 63
    value = label_value(text)
    assert LABEL.match(value) and len(value) <= 63


def test_plan_manifests_and_yaml() -> None:
    plan = Plan.of([job("a", site="s1"), job("b", site="s2", gpus=1)], created_utc=T0, version=7)
    manifests = plan_manifests(plan, image="img")
    for m in manifests:
        validate(m)
        assert m["metadata"]["annotations"]["suandian.io/plan-version"] == "7"
    docs = list(yaml.safe_load_all(manifests_yaml(plan, image="img")))
    assert docs == manifests
    assert [d["spec"]["template"]["spec"]["nodeSelector"]["suandian.io/site"] for d in docs] == [
        "s1",
        "s2",
    ]


def test_schema_catches_a_broken_manifest() -> None:
    m = job_manifest(job(), image="img")
    m["spec"]["suspend"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(m)


def test_callable_command_is_refused() -> None:
    with pytest.raises(InputError, match="needs an argv"):
        job_manifest(job(command="train"), image="img")
