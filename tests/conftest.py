"""Shared fixtures: a simulated year of the bundled park, the external services tests use, and
the command line run in-process."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from suandian.cli import main
from suandian.scenario import Park, load_scenario
from suandian.sim.park import ParkSeries, simulate_year


@pytest.fixture(scope="session")
def xining() -> Park:
    return load_scenario("xining")


@pytest.fixture(scope="session")
def xining_year(xining: Park) -> ParkSeries:
    """A whole simulated year (2025) of the bundled park at 15 min."""
    return simulate_year(xining, 2025)


# --- external services ------------------------------------------------------------------------
# Tests that need a service skip when it is absent, except under SUANDIAN_REQUIRE_SERVICES=1
# (set by .ci/run), where its absence fails them.

POSTGRES_URL = os.environ.get(
    "SUANDIAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _service_missing(what: str, why: str) -> None:
    message = f"{what} is not reachable ({why})"
    if os.environ.get("SUANDIAN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}; SUANDIAN_REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the test PostgreSQL (trust auth, database ``test``); skips when it is down."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as con:
            con.execute("SELECT 1")
    except psycopg.Error as exc:
        _service_missing(f"PostgreSQL at {POSTGRES_URL}", str(exc).strip().splitlines()[0])
    return POSTGRES_URL


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], tuple[int, str, str]]:
    """Run ``suandian ARGV`` in-process: (exit code, standard output, standard error)."""

    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = 0 if exc.code is None else (exc.code if isinstance(exc.code, int) else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
