"""Property-based requests generated from the app's own OpenAPI: no input gives a 5xx.

Every operation of the published schema is called with a bounded number of generated examples
as a park admin (the role that reaches every operation), on a service holding two simulated days
of readings, so that reads hit real data and not only empty stores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from suandian.api import create_app
from suandian.meters.importer import import_readings
from suandian.scenario.model import Park
from suandian.settings import Settings
from suandian.sim.metering import simulated_readings
from suandian.sim.park import simulate

from .conftest import grant_tokens

ADMIN: dict[str, str] = {}


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory, xining: Park) -> Iterator[Any]:
    settings_ = Settings(data_dir=Path(tmp_path_factory.mktemp("fuzz")) / "data")
    ADMIN.update(grant_tokens(settings_)["admin"])
    app = create_app(settings_, park=xining)
    series = simulate(xining, start=dt.date(2025, 7, 1), days=2)
    with TestClient(app):  # runs the lifespan: stores open, background work started
        with app.state.platform.readings() as store:
            import_readings(store, simulated_readings(xining, series))
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


EXAMPLES_PER_OPERATION = 10
"""Generated requests per operation and generation mode (valid and invalid inputs)."""


def test_no_generated_request_gives_a_server_error(fuzz_schema: Any) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) >= 50  # every capability's operations are published
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def call(case: Any) -> None:
                case.call_and_validate(headers=ADMIN, checks=[not_a_server_error])

            try:
                call()
            except Unsatisfiable:
                # No parameters or body: nothing can be made invalid.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # every operation is tried; all failures are reported
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
