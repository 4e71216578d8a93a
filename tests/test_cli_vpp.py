"""``suandian vpp week``: totals from the events, delivery, deadlines, files, refused options."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

RunCli = Callable[[list[str]], tuple[int, str, str]]

SHORT = ["vpp", "week", "--start", "2025-07-07", "--days", "2", "--history-days", "12"]


def test_json_totals_are_the_sums_of_the_events(run_cli: RunCli) -> None:
    code, out, err = run_cli([*SHORT, "--json"])
    assert code == 0, err
    week = json.loads(out)
    events, totals = week["events"], week["totals"]
    assert [e["local_date"] for e in events] == ["2025-07-07"] * 2 + ["2025-07-08"] * 2
    assert {e["window_local"] for e in events} == {"12:00–14:00", "19:00–21:00"}
    for key in ("revenue_cny", "penalty_cny", "net_cny", "committed_mwh", "delivered_mwh"):
        assert totals[key] == pytest.approx(sum(e[key] for e in events), abs=1e-6), key
    assert totals["delay_mwh_h"] == pytest.approx(sum(e["delay_mwh_h"] for e in events))
    assert totals["net_cny"] == pytest.approx(totals["revenue_cny"] - totals["penalty_cny"])
    assert totals["deadline_misses"] == 0
    assert all(d["unserved_flex_mwh"] == pytest.approx(0.0, abs=1e-6) for d in week["week_days"])
    committed = [e for e in events if e["answer"] in ("accepted", "partial")]
    assert committed, "no event committed on a summer weekday at nanchuan"
    for e in committed:
        # Committed against the settlement baseline, so delivered in full within 5 %.
        assert e["delivered_mwh"] >= 0.95 * e["committed_mwh"] - 1e-6, e["event_id"]
        assert e["committed_mwh"] == pytest.approx(e["committed_mw"] * 2.0, rel=1e-9)
        assert len(e["intervals"]) == 8
        assert e["delivered_mean_mw"] == pytest.approx(
            sum(i["delivered_mw"] for i in e["intervals"]) / 8
        )
    for e in events:
        if e["answer"] == "rejected":
            assert e["reason"] and e["committed_mw"] == 0 and e["revenue_cny"] == 0


def test_table_and_files(run_cli: RunCli, tmp_path: Path) -> None:
    out_dir = tmp_path / "vpp"
    code, out, err = run_cli([*SHORT, "--out", str(out_dir)])
    assert code == 0, err
    assert "no deadline missed" in out
    assert "total" in out and "valley" in out and "peak" in out
    names = {p.name for p in out_dir.iterdir()}
    assert {
        "vpp-events.csv",
        "vpp-intervals.csv",
        "vpp-monthly.csv",
        "vpp-settlement.xlsx",
        "vpp-week.html",
    } <= names
    html = (out_dir / "vpp-week.html").read_text(encoding="utf-8")
    assert "settlement baseline" in html and "metered" in html
    assert (out_dir / "vpp-events.csv").read_text(encoding="utf-8").count("\n") == 1 + 4


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--start", "2024-07-07"], "--start"),
        (["--start", "2025-01-05"], "--start"),  # its history would start in 2024
        (["--start", "7 July"], "--start"),
        (["--site", "lhasa"], "--site"),
        (["--days", "0"], "--days"),
        (["--history-days", "0"], "--history-days"),
    ],
)
def test_bad_input_names_the_option_and_exits_2(
    run_cli: RunCli, args: list[str], option: str
) -> None:
    code, out, err = run_cli(["vpp", "week", *args])
    assert code == 2, (out, err)
    assert option in err
    assert "Traceback" not in err and "Traceback" not in out
