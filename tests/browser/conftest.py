"""The real service for browser tests: a short demo's data directory, tokens from the command
line, ``suandian serve`` on a free port, and the system's Chromium driven by Playwright.

Chromium is the Debian package (``make browser`` installs it); the tests skip without it, except
under SUANDIAN_REQUIRE_SERVICES=1, where its absence fails them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SUANDIAN_CHROMIUM", "/usr/bin/chromium")
DEMO_START = "2025-06-01"
DEMO_DAYS = 2
TENANT = ("silicon", "silicon-a")
"""Tenant organisation and the one consumer it owns."""


def _suandian() -> str:
    exe = Path(sys.executable).with_name("suandian")
    return str(exe) if exe.exists() else shutil.which("suandian") or "suandian"


@dataclass(frozen=True)
class Service:
    url: str
    data_dir: Path
    tokens: dict[str, str]
    """``admin`` and the tenant's organisation → API token."""


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (run `make browser`)"
        if os.environ.get("SUANDIAN_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message}; SUANDIAN_REQUIRE_SERVICES=1 requires it", pytrace=False)
        pytest.skip(message)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [_suandian(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"suandian {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def _plan_jobs(data_dir: Path) -> None:
    """A planned job of the tenant and one of another organisation on the demo's last day."""
    from suandian.compute.jobs import Job
    from suandian.settings import Settings
    from suandian.store.jobs import Assignment, JobQueue
    from suandian.store.sql import database_url, engine_for, migrate

    engine = engine_for(database_url(Settings(data_dir=data_dir)))
    try:
        migrate(engine)
        queue = JobQueue(engine)
        day = dt.date.fromisoformat(DEMO_START) + dt.timedelta(days=DEMO_DAYS - 1)
        start = dt.datetime(day.year, day.month, day.day, 2, tzinfo=dt.UTC)  # 10:00 Beijing
        jobs = [
            Job(
                id=job_id,
                tenant=tenant,
                power_mw=power,
                duration_steps=16,
                release_utc=start,
                deadline_utc=start + dt.timedelta(hours=8),
                allowed_sites=("nanchuan",),
            )
            for job_id, tenant, power in (("fab-sim", TENANT[0], 1.5), ("llm-train", "dc", 6.0))
        ]
        queue.submit(jobs)
        queue.mark_planned(
            [
                Assignment(j.tenant, j.id, "nanchuan", start + dt.timedelta(hours=2 * k))
                for k, j in enumerate(jobs)
            ]
        )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``suandian demo --days 2`` into a fresh data directory, then ``suandian serve``."""
    root = tmp_path_factory.mktemp("dashboard-service")
    data_dir = root / "data"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SUANDIAN_") or k == "SUANDIAN_REQUIRE_SERVICES"
    }
    env["SUANDIAN_DATA_DIR"] = str(data_dir)
    _run(
        ["demo", "--days", str(DEMO_DAYS), "--start", DEMO_START, "--out", str(root / "out")],
        env,
        root,
    )
    _run(["admin", "create-org", TENANT[0], "--asset", TENANT[1]], env, root)
    _run(["admin", "create-org", "dc", "--asset", "dc-nanchuan"], env, root)
    tokens = {
        "admin": json.loads(_run(["admin", "create-token", "--json"], env, root))["token"],
        TENANT[0]: json.loads(
            _run(
                [
                    "admin",
                    "create-token",
                    "--user",
                    "si-user",
                    "--org",
                    TENANT[0],
                    "--role",
                    "tenant",
                    "--json",
                ],
                env,
                root,
            )
        )["token"],
    }
    _plan_jobs(data_dir)
    port = _free_port()
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        [_suandian(), "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"suandian serve did not start: {(root / 'serve.log').read_text()}"
                    ) from None
                time.sleep(0.2)
        yield Service(url=url, data_dir=data_dir, tokens=tokens)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
