"""``suandian meters import`` and ``list`` through Typer's runner, on a data dir in tmp_path.

The sub-app is mounted on a bare Typer app here, exactly as ``suandian.cli`` mounts it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from suandian.cli_meters import meters_app
from suandian.core.errors import InputError
from suandian.store.readings import ReadingsStore

app = typer.Typer()
app.add_typer(meters_app, name="meters")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANDIAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")  # keep table cells on one line


def _flat(text: str) -> str:
    """Output as one line of words, table borders removed."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", text).split())


@pytest.fixture
def readings(tmp_path: Path) -> Path:
    path = tmp_path / "readings.csv"
    path.write_text(
        "meter_id,start_utc,kwh\n"
        "m-pv-nanchuan,2025-06-01T04:00:00Z,20000\n"
        "m-pv-nanchuan,2025-06-01T12:15:00+08:00,20500.5\n"
        "m-dc-nanchuan,2025-06-01T04:00:00Z,9000\n"
        "m-dc-nanchuan,2025-06-01T04:00:00,9000\n"
        "m-unknown,2025-06-01T04:00:00Z,1\n",
        encoding="utf-8",
    )
    return path


def test_import_prints_counts_and_rejection_file(readings: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["meters", "import", str(readings)])
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    assert "accepted (new) 3" in text
    assert "rejected 2" in text
    assert "total 5" in text
    assert "readings.rejected.csv" in text
    assert (tmp_path / "readings.rejected.csv").is_file()
    with ReadingsStore(tmp_path / "data") as store:
        assert store.counts() == {"meters": 28, "readings": 3, "versions": 3}

    again = runner.invoke(app, ["meters", "import", str(readings)])
    assert again.exit_code == 0, again.output
    assert "duplicate (unchanged) 3" in _flat(again.output)
    with ReadingsStore(tmp_path / "data") as store:
        assert store.counts() == {"meters": 28, "readings": 3, "versions": 3}


def test_import_json_with_rejections_path(readings: Path, tmp_path: Path) -> None:
    target = tmp_path / "bad.csv"
    result = runner.invoke(
        app, ["meters", "import", str(readings), "--rejections", str(target), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["rows"] == 5
    assert payload["accepted"] == 3
    assert payload["rejected"] == 2
    assert payload["rejection_file"] == str(target)
    assert payload["store_counts"] == {"meters": 28, "readings": 3, "versions": 3}
    assert target.is_file()


def test_import_with_missing_columns_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("meter_id,kwh\nm-dc-nanchuan,1\n")
    result = runner.invoke(app, ["meters", "import", str(bad)])
    assert result.exit_code == 1
    assert isinstance(result.exception, InputError)
    assert "missing column(s) start_utc" in str(result.exception)


def test_list_shows_registered_meters(readings: Path) -> None:
    empty = runner.invoke(app, ["meters", "list"])
    assert empty.exit_code == 0, empty.output
    assert "no meters registered" in _flat(empty.output)

    assert runner.invoke(app, ["meters", "import", str(readings)]).exit_code == 0
    result = runner.invoke(app, ["meters", "list"])
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    assert "Meters (28)" in text
    assert "m-pv-nanchuan generation nanchuan pv-nanchuan pv 125,000" in text
    assert "m-bess-nanchuan-discharge storage_discharge" in text
    assert "m-nanchuan-import grid_import nanchuan — — —" in text
    assert "3 readings" in text
