"""``suandian admin``: the first token, tenant organisations, listing and revoking tokens."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from suandian.settings import Settings
from suandian.store.sql import database_url, open_platform

RunCli = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUANDIAN_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_first_token_needs_nothing_else_and_is_stored_hashed(
    run_cli: RunCli, data_dir: Path
) -> None:
    code, out, err = run_cli(["admin", "create-token", "--json"])
    assert code == 0, err
    issued = json.loads(out)
    assert issued["role"] == "park_admin" and issued["org"] == "park"
    assert issued["token"].startswith("sd_") and len(issued["token"]) > 40
    directory = open_platform(database_url(Settings()))
    principal = directory.authenticate(issued["token"])
    assert principal is not None and principal.role == "park_admin"
    # The database holds no copy of the token.
    raw = (data_dir / "suandian.sqlite").read_bytes()
    assert issued["token"].encode() not in raw


def test_tenants_from_the_scenario_and_their_tokens(run_cli: RunCli, data_dir: Path) -> None:
    code, out, _ = run_cli(["admin", "create-org", "--from-scenario", "xining"])
    assert code == 0
    assert "organisation dc-nanchuan owns dc-nanchuan" in out
    code, out, _ = run_cli(
        ["admin", "create-token", "--user", "dc", "--org", "dc-nanchuan", "--role", "tenant"]
    )
    assert code == 0
    token = out.strip()
    directory = open_platform(database_url(Settings()))
    principal = directory.authenticate(token)
    assert principal is not None and principal.assets == frozenset({"dc-nanchuan"})
    code, out, _ = run_cli(["admin", "tokens"])
    assert code == 0 and token[:10] in out and token not in out
    code, _, _ = run_cli(["admin", "revoke", token])
    assert code == 0
    assert directory.authenticate(token) is None


def test_refusals_name_the_field(run_cli: RunCli, data_dir: Path) -> None:
    code, _, err = run_cli(["admin", "create-token", "--role", "root"])
    assert code != 0 and "--role" in err
    code, _, err = run_cli(["admin", "create-token", "--org", "nowhere", "--role", "tenant"])
    assert code == 1 and "no organisation 'nowhere'" in err
    run_cli(["admin", "create-token"])
    code, _, err = run_cli(["admin", "create-token", "--role", "auditor"])
    assert code == 1 and "exists as park_admin" in err
    code, _, err = run_cli(["admin", "revoke", "sd_unknown"])
    assert code == 1 and "no such active token" in err
