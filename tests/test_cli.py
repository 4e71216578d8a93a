"""The command line: scenario show/validate and the demo, through Typer's runner and ``main``.

``CliRunner`` drives the Typer ``app`` directly, so a ScenarioError surfaces there as
``result.exception``; ``main`` is the console entry point that turns it into a message and exit 1.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from suandian.cli import app, main
from suandian.core.errors import NotFound, ScenarioError
from suandian.store.readings import ReadingsStore

XINING_TEXT = (
    resources.files("suandian.scenario.data").joinpath("xining.yaml").read_text(encoding="utf-8")
)

runner = CliRunner()


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich reads COLUMNS on every print; a wide console keeps table cells on one line.
    monkeypatch.setenv("COLUMNS", "200")


def _run_main(argv: list[str]) -> int:
    """Exit status of the console entry point."""
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(XINING_TEXT, encoding="utf-8")
    return path


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    data = yaml.safe_load(XINING_TEXT)
    data["pv_plants"][0]["p_dc_mwp"] = -5
    data["wind_farms"][0]["capacity_mw"] = "lots"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# --- scenario show ------------------------------------------------------------------------------


def test_show_xining() -> None:
    result = runner.invoke(app, ["scenario", "show", "xining"])
    assert result.exit_code == 0, result.output
    text = result.output
    for figure in (
        "36.62",
        "101.78",
        "2,260",
        "0.1567",
        "150 MWp",
        "1,550",
        "80 MW",
        "1,600",
        "50 MW / 200 MWh",
        "η 90%",
        "25% within 24 h",
        "Enterprises (21)",
        "0.1900",
        "0.5700",
        "0.3800",
        "20%",
    ):
        assert figure in text, figure


def test_show_national() -> None:
    result = runner.invoke(app, ["scenario", "show", "national"])
    assert result.exit_code == 0, result.output
    text = result.output
    for site in ("zhangjiakou", "qingpu", "tianfu", "zhongwei"):
        assert site in text
    for figure in ("0.7250", "0.1400", "20/28/27", "2/17/28", "25/16/4"):
        assert figure in text, figure


@pytest.mark.parametrize("name", ["xining", "national"])
def test_show_through_main_exits_0(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_main(["scenario", "show", name]) == 0
    assert name in capsys.readouterr().out


def test_list() -> None:
    result = runner.invoke(app, ["scenario", "list"])
    assert result.exit_code == 0, result.output
    assert "xining" in result.output
    assert "national" in result.output


# --- scenario validate --------------------------------------------------------------------------


def test_validate_good_file(good_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = runner.invoke(app, ["scenario", "validate", str(good_file)])
    assert result.exit_code == 0, result.output
    assert "is valid" in _flat(result.output)
    assert "21 enterprise(s)" in _flat(result.output)

    assert _run_main(["scenario", "validate", str(good_file)]) == 0
    assert "is valid" in _flat(capsys.readouterr().out)


def test_validate_bad_file_with_runner(bad_file: Path) -> None:
    result = runner.invoke(app, ["scenario", "validate", str(bad_file)])
    assert result.exit_code == 1
    assert isinstance(result.exception, ScenarioError)
    assert "pv_plants[0].p_dc_mwp" in str(result.exception)


def test_validate_bad_file_through_main(bad_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_main(["scenario", "validate", str(bad_file)]) == 1
    captured = capsys.readouterr()
    text = _flat(captured.err)
    assert "error:" in text
    assert "2 problem(s)" in text
    assert "pv_plants[0].p_dc_mwp" in text
    assert "MWp" in text
    assert "(got -5)" in text
    assert "wind_farms[0].capacity_mw" in text
    assert "'lots'" in text
    assert "Traceback" not in captured.err + captured.out
    assert "errors.pydantic.dev" not in captured.err


def test_validate_prints_every_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Messages are plain text: rich markup would swallow lowercase "[hours]" and "[degrees]".
    data = yaml.safe_load(XINING_TEXT)
    del data["pv_plants"][0]["target_full_load_h"]
    data["sites"][0]["lat_deg"] = 136.6
    path = tmp_path / "units.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert _run_main(["scenario", "validate", str(path)]) == 1
    text = _flat(capsys.readouterr().err)
    assert "[hours]" in text
    assert "[degrees]" in text


def test_validate_with_markup_like_value_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A value that looks like a closing rich tag must not turn into a MarkupError traceback.
    path = tmp_path / "markup.yaml"
    path.write_text('name: "[/x]"\nsites: []\n', encoding="utf-8")
    assert _run_main(["scenario", "validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert "[/x]" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_validate_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["scenario", "validate", str(missing)])
    assert result.exit_code == 1
    assert isinstance(result.exception, NotFound)

    assert _run_main(["scenario", "validate", str(missing)]) == 1
    captured = capsys.readouterr()
    text = _flat(captured.err)
    assert "error:" in text
    assert "nope.yaml" in text
    assert "nor a readable file" in text
    assert "xining" in text
    assert "Traceback" not in captured.err + captured.out


# --- demo ---------------------------------------------------------------------------------------


def test_demo_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    out_dir = tmp_path / "out"
    argv = ["demo", "--days", "2", "--start", "2025-01-01", "--json", "--out", str(out_dir)]
    assert _run_main([*argv, "--network"]) == 0
    stdout = capsys.readouterr().out
    assert len(stdout.strip().splitlines()) == 1  # one JSON object
    summary = json.loads(stdout)

    for key in (
        "scenario",
        "days",
        "generation_mwh",
        "load_mwh",
        "renewable_fraction",
        "hourly_match_no_storage",
    ):
        assert key in summary
    assert summary["scenario"] == "xining"
    assert summary["days"] == 2
    gen = summary["generation_mwh"]
    assert gen["pv"] > 0.0
    assert gen["wind"] > 0.0
    assert gen["total"] == pytest.approx(gen["pv"] + gen["wind"] + gen["hydro"], rel=1e-9)
    load = summary["load_mwh"]
    # 2 days of ≥ 30 MW mean IT load alone is ≥ 1,440 MWh of IT energy.
    assert load > 1440.0
    assert summary["renewable_fraction"] == pytest.approx(gen["total"] / load, rel=1e-9)
    assert 0.0 <= summary["hourly_match_no_storage"] <= 1.0
    assert summary["hourly_match_no_storage"] <= summary["renewable_fraction"] + 1e-9

    # Two days are one solve; the optimised plan and the rule-based baseline side by side.
    plan = summary["dispatch"]["nanchuan"]
    assert plan["horizon"] == "one solve"
    assert plan["resolution_min"] == 15
    assert plan["optimised"]["method"] == "lp"
    assert plan["rules"]["method"] == "rules"
    assert plan["optimised"]["cost_cny"] <= plan["rules"]["cost_cny"]
    assert plan["optimised"]["battery_cycles"] > 0.0
    # The closed loop, side by side: the same load settled the same way.
    unc, coo = summary["uncoordinated"], summary["coordinated"]
    for side in (unc, coo):
        assert side["site"] == "nanchuan"
        for key in (
            "green_share_pu",
            "cfe_pu",
            "cost_cny",
            "emissions_tco2",
            "curtailment_mwh",
            "curtailment_absorbed_mwh",
            "deadline_misses_mwh",
            "unserved_mwh",
        ):
            assert isinstance(side[key], float), key
        assert isinstance(side["deadline_missed_classes"], int)
        assert 0.0 <= side["green_share_pu"] <= side["cfe_pu"] <= 1.0
        assert side["deadline_misses_mwh"] >= 0.0
    assert unc["curtailment_absorbed_mwh"] == 0.0
    assert coo["curtailment_absorbed_mwh"] == pytest.approx(
        unc["curtailment_mwh"] - coo["curtailment_mwh"], abs=1e-6
    )
    assert coo["flexible_mwh"] == pytest.approx(unc["flexible_mwh"], rel=1e-9)
    assert summary["closed_loop"]["objective"] == "green"
    assert summary["closed_loop"]["resolution_min"] == 60
    # --network: the national sites beside the park, the same jobs in both runs
    net_unc, net_coo = unc["network"], coo["network"]
    assert len(net_unc["sites"]) == 11 and net_unc["jobs"] == net_coo["jobs"] > 0
    assert net_coo["energy_mwh"] + net_coo["deadline_misses_mwh"] == pytest.approx(
        net_unc["energy_mwh"], rel=1e-9
    )
    assert net_coo["emissions_tco2"] < net_unc["emissions_tco2"]
    assert net_coo["capacity_overrun_mwh"] == 0.0
    assert summary["closed_loop"]["network"]["objective"] == "weighted"
    # The meters read the plan: the battery is no longer idle.
    assert summary["readings"]["accepted"] == 28 * 2 * 96
    with ReadingsStore(tmp_path / "data") as store:
        charge_kwh = store.dense(
            ["m-bess-nanchuan-charge"],
            pd.Timestamp("2024-12-31 16:00", tz="UTC"),
            pd.Timestamp("2025-01-02 16:00", tz="UTC"),
        )
    assert charge_kwh.sum() > 0.0

    report = Path(summary["report"])
    assert report.is_file()
    assert report.parent == out_dir
    html = report.read_text(encoding="utf-8")
    assert "<html" in html
    assert "plotly" in html
    assert (tmp_path / "data").is_dir()


def test_demo_prints_the_network_beside_the_park(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    argv = ["demo", "--days", "1", "--start", "2025-04-07", "--network", "--lang", "en"]
    assert _run_main([*argv, "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "Closed loop · nanchuan · uncoordinated vs coordinated" in text
    assert "Computing network · 11 sites · uncoordinated vs coordinated" in text
    for row in ("CFE (hourly carbon-free)", "jobs run away from their data", "data moved [GB]"):
        assert row in text
    assert "jobs over 1 day on 11 sites" in " ".join(text.split())


def test_demo_rejects_unknown_language(capsys: pytest.CaptureFixture[str]) -> None:
    result = runner.invoke(app, ["demo", "--lang", "fr"])
    assert result.exit_code != 0
    assert "--lang" in result.output
    assert "'fr'" in result.output
    assert "zh or en" in result.output

    assert _run_main(["demo", "--lang", "fr"]) != 0
    captured = capsys.readouterr()
    assert "zh or en" in captured.err
    assert "Traceback" not in captured.err + captured.out
