"""`suandian report daily` and `suandian factors` end to end through the console entry point."""

import json

import openpyxl
import pandas as pd
import pytest
import yaml

from suandian.cli import main
from suandian.meters.importer import import_readings
from suandian.meters.registry import meters_for_park
from suandian.scenario import parse_scenario
from suandian.store.readings import ReadingsStore

from .test_daily_report import TINY


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(TINY), encoding="utf-8")
    park = parse_scenario(TINY)
    idx = pd.date_range("2025-06-30T16:00Z", periods=96, freq="15min")
    with ReadingsStore(tmp_path / "data") as s:
        s.register_meters(meters_for_park(park))
        for meter, kwh in (("m-a", 30.0), ("m-b", 20.0), ("m-pv", 10.0)):
            import_readings(s, pd.DataFrame({"meter_id": meter, "start_utc": idx, "kwh": kwh}))
    return tmp_path, scenario


def test_json_to_stdout(data, capsys) -> None:
    _, scenario = data
    code = _run(
        [
            "report",
            "daily",
            "--date",
            "2025-07-01",
            "--scenario",
            str(scenario),
            "--format",
            "json",
            "--factor",
            "cn-northwest-2023",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["reference_factor"] == {"name": "cn-northwest-2023", "ef_kgco2_per_kwh": 0.5543}
    park = payload["park"]
    assert park["load_kwh"] == pytest.approx(96 * 50.0, abs=1e-6)
    # 10 kWh of PV a quarter against 50 kWh of load: all of it is used on site.
    assert park["green_share_pct"] == pytest.approx(20.0, abs=1e-9)
    assert park["avoided_kgco2"] == pytest.approx(96 * 10.0 * 0.5543, rel=1e-9)


def test_xlsx_and_table(data, capsys) -> None:
    tmp, scenario = data
    out = tmp / "day.xlsx"
    assert (
        _run(
            [
                "report",
                "daily",
                "--date",
                "2025-07-01",
                "--scenario",
                str(scenario),
                "--format",
                "xlsx",
                "--out",
                str(out),
                "--lang",
                "en",
            ]
        )
        == 0
    )
    assert openpyxl.load_workbook(out).sheetnames == ["park", "a", "b"]
    capsys.readouterr()
    assert (
        _run(
            [
                "report",
                "daily",
                "--date",
                "2025-07-01",
                "--scenario",
                str(scenario),
                "--consumer",
                "a",
                "--lang",
                "en",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "Daily green-power report" in text and "cn-national-2023" in text


def test_bad_input_is_one_clear_message(data, capsys) -> None:
    _, scenario = data
    base = ["report", "daily", "--scenario", str(scenario)]
    assert _run([*base, "--date", "2025-07-01", "--factor", "cn-nat-2023"]) == 1
    assert "cn-national-2023" in capsys.readouterr().err  # suggested
    assert _run([*base, "--date", "2025-07-01", "--consumer", "zz"]) == 1
    assert "known: a, b" in capsys.readouterr().err
    assert _run([*base, "--date", "1 July"]) == 1
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert _run([*base, "--date", "2025-07-01", "--format", "pdf"]) != 0


def test_factors_lists_the_table(capsys) -> None:
    assert _run(["factors"]) == 0
    text = capsys.readouterr().out
    assert "cn-qinghai-2022" in text and "0.1567" in text
