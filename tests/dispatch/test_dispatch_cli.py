"""``suandian dispatch run``: both plans side by side, schedules as CSV, clear option errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from suandian.cli import app, main

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def _flat(text: str) -> str:
    """Text without the box drawing and line breaks of rich's panels."""
    for ch in "│╭╮╰╯─":
        text = text.replace(ch, " ")
    return " ".join(text.split())


def _balance(frame: pd.DataFrame) -> pd.Series:
    supply = (
        frame.filter(regex=r"_p_mw$").sum(axis=1)
        + frame["grid_import_mw"]
        + frame.filter(regex=r"_discharge_mw$").sum(axis=1)
        + frame["unserved_mw"]
    )
    demand = (
        frame["load_mw"]
        + frame["flex_load_mw"]
        + frame.filter(regex=r"_charge_mw$").sum(axis=1)
        + frame["grid_export_mw"]
    )
    return supply - demand


def test_run_two_days_prints_both_plans_and_writes_balanced_schedules(tmp_path: Path) -> None:
    args = ["dispatch", "run", "--days", "2", "--start", "2025-07-01", "--lang", "en"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = result.output
    for words in (
        "optimised (lp)",
        "rule-based",
        "cost [CNY]",
        "grid import [MWh]",
        "grid emissions (import × location factor) [tCO₂]",
        "green share",
        "curtailment [MWh]",
        "battery cycles",
        "one solve",
    ):
        assert words in text
    optimised = tmp_path / "dispatch-xining-nanchuan-2025-07-01-2d-cost-optimised.csv"
    rules = tmp_path / "dispatch-xining-nanchuan-2025-07-01-2d-cost-rules.csv"
    assert optimised.name in _flat(text).replace(" ", "")
    for path in (optimised, rules):
        frame = pd.read_csv(path)
        assert len(frame) == 48  # one row per hour
        assert frame["start_utc"].iloc[0] == "2025-06-30T16:00:00Z"
        assert frame["local_time"].iloc[0] == "2025-07-01 00:00"
        for column in (
            "pv-nanchuan_p_mw",
            "pv-nanchuan_curtailment_mw",
            "wind-nanchuan_available_mw",
            "bess-nanchuan_charge_mw",
            "bess-nanchuan_discharge_mw",
            "bess-nanchuan_soe_mwh",
            "flex_dc-nanchuan_mw",  # one per asset; one per class only up to 24 classes
            "flex_svc-12_mw",
            "flex_h2-01_mw",
        ):
            assert column in frame.columns
        assert _balance(frame).abs().max() <= 1e-6
        assert (
            frame["pv-nanchuan_p_mw"]
            + frame["pv-nanchuan_curtailment_mw"]
            - frame["pv-nanchuan_available_mw"]
        ).abs().max() <= 1e-9
    plan = pd.read_csv(optimised)
    assert plan["flex_load_mw"].sum() == pytest.approx(
        plan[["flex_dc-nanchuan_mw", "flex_svc-12_mw", "flex_h2-01_mw"]].sum(axis=1).sum(),
        rel=1e-9,
    )
    assert plan["unserved_mw"].max() == 0.0


def test_run_rolling_as_json(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    argv = [
        "dispatch",
        "run",
        "--days",
        "3",
        "--start",
        "2025-07-01",
        "--rolling",
        "48/24",
        "--objective",
        "carbon",
        "--resolution",
        "15",
        "--json",
        "--out",
        str(tmp_path),
    ]
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = capfd.readouterr().out
    assert len(out.strip().splitlines()) == 1  # one JSON object, nothing else on stdout
    payload = json.loads(out)
    assert payload["horizon"] == "rolling 48/24 h"
    assert payload["objective"] == "carbon"
    assert payload["intervals"] == 288
    assert payload["optimised"]["method"] == "lp-rolling"
    assert payload["rules"]["method"] == "rules"
    for side in ("optimised", "rules"):
        for key in ("cost_cny", "import_mwh", "emissions_tco2", "green_share_pu"):
            assert isinstance(payload[side][key], float)
    # The carbon objective emits no more than the rules, once the rules are charged for the
    # stored energy they drained: the plan must end where it began (cyclic), the rules need not,
    # and refilling the difference takes imports at the charge efficiency √0.9.
    rules = pd.read_csv(payload["schedules"]["rules"])
    drained_mwh = 0.5 * 200.0 - float(rules["bess-nanchuan_soe_mwh"].iloc[-1])
    refill_tco2 = max(drained_mwh, 0.0) / 0.9**0.5 * 0.1567
    assert payload["optimised"]["emissions_tco2"] <= (
        payload["rules"]["emissions_tco2"] + refill_tco2 + 1e-6
    )
    assert Path(payload["schedules"]["optimised"]).is_file()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("48-24", "is not WINDOW/COMMIT in hours; write e.g. 48/24"),
        ("24/48", "the committed hours (48) must be > 0 and at most the window (24 h)"),
        ("48/0", "must be > 0"),
        ("1.5/1", "whole multiples of the 60-min interval"),
    ],
)
def test_bad_rolling_text_says_how_to_write_it(tmp_path: Path, text: str, reason: str) -> None:
    result = runner.invoke(
        app, ["dispatch", "run", "--days", "2", "--rolling", text, "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert reason in _flat(result.output)
    assert "--rolling" in result.output
    assert not list(tmp_path.iterdir())  # nothing was planned or written


def test_bad_objective_and_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = runner.invoke(app, ["dispatch", "run", "--days", "1", "--objective", "cheap"])
    assert result.exit_code != 0
    assert "cost, carbon, cost+carbon, green" in _flat(result.output)
    # A domain error: one message, exit 1, no traceback.
    argv = ["dispatch", "run", "--days", "1", "--site", "nowhere", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert "not a site of xining" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_highs_prints_no_banner_on_stdout() -> None:
    # The banner appears once per process, at the first Highs(): check a fresh process.
    code = (
        "from suandian.dispatch.problem import build_problem;"
        "from suandian.dispatch import DispatchInputs, GridConnection;"
        "import numpy as np;"
        "p = build_problem(DispatchInputs(interval_h=1.0, load_mw=np.ones(2),"
        " grid=GridConnection(import_price_cny_per_kwh=0.3)));"
        "p.run(); print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout == "ok\n"


def test_run_rolling_with_a_daily_green_target(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    argv = ["dispatch", "run", "--days", "3", "--start", "2025-07-01", "--rolling", "48/24"]
    argv += ["--green-target", "0.3", "--json", "--out", str(tmp_path)]
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, None)
    payload = json.loads(capfd.readouterr().out)
    assert payload["optimised"]["method"] == "lp-rolling"
    assert payload["optimised"]["diagnosis"] is None
    plan = pd.read_csv(payload["schedules"]["optimised"])
    day = pd.to_datetime(plan["local_time"]).dt.date
    consumed = (plan["load_mw"] + plan["flex_load_mw"]).groupby(day).sum()
    imported = plan["grid_import_mw"].groupby(day).sum()
    share = 1.0 - imported / consumed
    assert len(share) == 3
    assert (share >= 0.3 - 1e-6).all(), share.to_dict()
