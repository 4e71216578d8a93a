"""``suandian ledger`` and the demo's certificates, end to end on the embedded SQLite ledger."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from suandian.cli import main
from suandian.settings import Settings
from suandian.store.sql import database_url, open_ledger

RunCli = Callable[[list[str]], tuple[int, str, str]]  # the run_cli fixture (conftest)

HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two days of the demo (simulate, dispatch, meter, trace, certify) in a fresh data dir."""
    root = tmp_path_factory.mktemp("ledger-cli")
    saved = {k: os.environ.get(k) for k in ("SUANDIAN_DATA_DIR", "SUANDIAN_DATABASE_URL")}
    os.environ["SUANDIAN_DATA_DIR"] = str(root / "data")
    os.environ.pop("SUANDIAN_DATABASE_URL", None)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        try:
            main(["demo", "--days", "2", "--start", "2025-07-01", "--json", "--out", "out"])
        except SystemExit as exc:
            assert not exc.code
        yield root
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def in_demo(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(demo_dir / "data"))
    monkeypatch.delenv("SUANDIAN_DATABASE_URL", raising=False)
    monkeypatch.chdir(demo_dir)
    return demo_dir


def _ledger():  # type: ignore[no-untyped-def]
    return open_ledger(database_url(Settings()))


def test_demo_certificates_respect_metering(in_demo: Path) -> None:
    ledger = _ledger()
    assert ledger.verify().ok
    assert ledger.audit() == []
    # Every claimed hour: claimed ≤ metered consumption (the ledger's own rule, re-read here).
    for consumer in ("dc-nanchuan", "silicon-a", "h2-01"):
        rows = ledger.consumption_for(consumer, *_period())
        assert rows, consumer
        assert all(0 <= r.claimed_wh <= r.wh for r in rows)
        assert sum(r.claimed_wh for r in rows) > 0
    # Issued certificates never exceed metered generation, hour by hour: add up the issued
    # bundles (no parent) wherever they are now.
    accounts = ["park-generation", "dc-nanchuan", "silicon-a", "h2-01", "svc-01"]
    issued: dict[tuple[str, object], int] = {}
    for account in accounts:
        for b in ledger.bundles_of(account):
            if b.parent_id is None:
                key = (b.device, b.production_start_utc)
                issued[key] = issued.get(key, 0) + b.wh
    assert issued
    for device in ("pv-nanchuan", "wind-nanchuan"):
        metered = {r.start_utc: r.wh for r in ledger.generation_for(device, *_period())}
        assert set(ledger.issued_starts(device, *_period())) <= set(metered)
        for (dev, hour), wh in issued.items():
            if dev == device:
                assert wh <= metered[hour], (device, hour)


def _period():  # type: ignore[no-untyped-def]
    return (
        dt.datetime(2025, 6, 30, 16, tzinfo=dt.UTC),
        dt.datetime(2025, 7, 2, 16, tzinfo=dt.UTC),
    )


def test_verify_and_show(in_demo: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli(["ledger", "verify", "--json"])
    assert code == 0
    result = json.loads(out)
    assert result["ok"] is True and result["first_bad_seq"] is None
    code, out, _ = run_cli(["ledger", "show", "--json"])
    assert code == 0
    shown = json.loads(out)
    assert shown["chain_head"]["hash"] == result["head_hash"]
    assert {m["device"] for m in shown["gec"]} == {"pv-nanchuan", "wind-nanchuan"}


def test_evidence_pack_files(in_demo: Path, run_cli: RunCli) -> None:
    argv = ["ledger", "evidence", "--consumer", "dc-nanchuan", "--from", "2025-07-01"]
    code, out, err = run_cli([*argv, "--to", "2025-07-02", "--out", "ev", "--json"])
    assert code == 0, err
    pack = json.loads(out)
    assert 0.0 < pack["hourly_match_pu"] <= 1.0
    assert pack["claimed_wh"] == sum(c["wh"] for c in pack["certificates"])
    assert pack["claimed_wh"] <= pack["consumption_wh"]
    assert len(pack["hours"]) == 48
    assert Path(pack["json_path"]).is_file()
    page = Path(pack["html_path"]).read_text(encoding="utf-8")
    assert pack["chain"]["head_hash"] in page


def test_split_transfer_cancel_claim_by_hand(in_demo: Path, run_cli: RunCli) -> None:
    ledger = _ledger()

    def room(hour):  # type: ignore[no-untyped-def]
        (row,) = ledger.consumption_for("svc-01", hour, hour + HOUR)
        return row.wh - row.claimed_wh

    # Where consumption outruns supply, the pro-rata shares are rounded down to whole Wh and a
    # few Wh stay with park-generation, while svc-01 still has unclaimed consumption.
    spare = [
        b
        for b in ledger.bundles_of("park-generation", "active")
        if b.wh >= 2 and room(b.production_start_utc) > 0
    ]
    assert spare, "rounding leaves a few Wh in an hour short of supply"
    bundle = spare[0]
    hour = bundle.production_start_utc
    before = room(hour)
    local = hour.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
    split = ["ledger", "split", "--bundle", str(bundle.id), "--sizes", f"1,{bundle.wh - 1}"]
    code, out, err = run_cli([*split, "--account", "park-generation"])
    assert code == 0, err
    child = int(out.split("into ")[1].split(",")[0])
    piece = ledger.get_bundle(child)
    assert (piece.start_id, piece.end_id, piece.wh) == (bundle.start_id, bundle.start_id, 1)
    transfer = ["ledger", "transfer", "--bundle", str(child), "--sender", "park-generation"]
    code, _, err = run_cli([*transfer, "--recipient", "svc-01"])
    assert code == 0, err
    cancel = ["ledger", "cancel", "--bundle", str(child), "--account", "svc-01"]
    code, _, err = run_cli([*cancel, "--beneficiary", "svc-01", "--hour", local])
    assert code == 0, err
    claim = ["ledger", "claim", "--bundle", str(child), "--beneficiary", "svc-01"]
    code, _, err = run_cli(claim)
    assert code == 0, err
    assert ledger.get_bundle(child).status.value == "claimed"
    assert room(hour) == before - 1
    # The same bundle twice: refused, naming it; nothing changes.
    head = ledger.head()
    code, _, err = run_cli(claim)
    assert code == 1 and str(child) in err
    assert ledger.head() == head
    assert ledger.verify().ok
    assert ledger.audit() == []


def test_bad_input_names_the_bundle_and_changes_nothing(in_demo: Path, run_cli: RunCli) -> None:
    ledger = _ledger()
    head = ledger.head()
    claimed = ledger.bundles_of("dc-nanchuan", "claimed")[0]
    code, _, err = run_cli(
        [
            "ledger",
            "transfer",
            "--bundle",
            str(claimed.id),
            "--sender",
            "dc-nanchuan",
            "--recipient",
            "svc-01",
        ]
    )
    assert code == 1
    assert str(claimed.id) in err and "claimed" in err
    cancel = ["ledger", "cancel", "--bundle", "1", "--account", "svc-01"]
    code, _, err = run_cli([*cancel, "--beneficiary", "svc-01", "--hour", "2025-07-01T10:30"])
    assert code == 1 and "on the hour" in err
    code, _, err = run_cli(["ledger", "split", "--bundle", "1", "--sizes", "a,b", "--account", "x"])
    assert code == 1 and "--sizes" in err
    assert ledger.head() == head  # nothing was appended
