"""Settlement reports: hand-computed tables, reconciliation, and the CSV and xlsx files."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suandian.core.errors import InputError
from suandian.reports import vpp_settlement
from suandian.reports.vpp_settlement import write_settlement
from suandian.vpp import (
    DemandResponseEvent,
    EventAnswer,
    SettledEvent,
    answer_event,
    event_table,
    interval_table,
    monthly_table,
    settle_event,
)
from suandian.vpp.reports import EVENT_COLUMNS, INTERVAL_COLUMNS, MONTHLY_COLUMNS

UTC = dt.UTC
STEP_MIN = 15
SUMMED = [
    "committed_mwh",
    "delivered_mwh",
    "shortfall_mwh",
    "revenue_cny",
    "penalty_cny",
    "net_cny",
]


def _t(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=UTC)


def _record(
    event: DemandResponseEvent,
    answer: EventAnswer,
    baseline_mw: list[float] | None = None,
    actual_mw: list[float] | None = None,
    method: str = "average 10-of-10",
) -> SettledEvent:
    settlement = None
    if baseline_mw is not None and actual_mw is not None:
        settlement = settle_event(
            direction=event.direction,
            baseline_mw=np.array(baseline_mw),
            actual_mw=np.array(actual_mw),
            committed_mw=answer.committed_mw,
            price_cny_per_kwh=event.price_cny_per_kwh,
            penalty_cny_per_kwh=event.penalty_cny_per_kwh,
            step_h=STEP_MIN / 60,
        )
    return SettledEvent(event, answer, settlement, method, STEP_MIN)


@pytest.fixture
def records() -> list[SettledEvent]:
    """Three events in July (one partial, one rejected) and one in August (local time).

    A  reduce, 10 Jul 06:00–07:00 UTC, 10 MW at 3 CNY/kWh, penalty 1: accepted in full.
    B  increase, 20 Jul 04:00–04:30 UTC, 8 MW at 0.5 CNY/kWh, penalty 0.2: the envelope holds
       6 MW, so partly accepted at 6 MW.
    C  reduce, 10 Jul 06:30–07:30 UTC: overlaps A, rejected.
    D  reduce, 31 Jul 16:00–17:00 UTC = 1 Aug 00:00–01:00 in Shanghai: a July UTC day but an
       August local month. 5 MW at 2 CNY/kWh, penalty 0.5: accepted.
    """
    now = _t(7, 1, 0)
    a = DemandResponseEvent("A", "reduce", _t(7, 10, 6), _t(7, 10, 7), 10.0, 3.0, 1.0)
    b = DemandResponseEvent(
        "B", "increase", _t(7, 20, 4), _t(7, 20, 4, 30), 8.0, 0.5, 0.2, kind="intraday"
    )
    c = DemandResponseEvent("C", "reduce", _t(7, 10, 6, 30), _t(7, 10, 7, 30), 4.0, 3.0, 1.0)
    d = DemandResponseEvent("D", "reduce", _t(7, 31, 16), _t(7, 31, 17), 5.0, 2.0, 0.5)
    ans_a = answer_event(a, envelope_mw=np.full(4, 12.0), accepted=[], now_utc=now)
    ans_b = answer_event(b, envelope_mw=np.array([7.0, 6.0]), accepted=[a], now_utc=now)
    ans_c = answer_event(c, envelope_mw=np.full(4, 12.0), accepted=[a, b], now_utc=now)
    ans_d = answer_event(d, envelope_mw=np.full(4, 9.0), accepted=[a, b], now_utc=now)
    assert [x.answer for x in (ans_a, ans_b, ans_c, ans_d)] == [
        "accepted",
        "partial",
        "rejected",
        "accepted",
    ]
    return [
        # A: reductions 10, 15, 5, −2 → delivered 10, 10, 5, 0 (capped at 10, none when wrong way)
        _record(a, ans_a, [50.0] * 4, [40.0, 35.0, 45.0, 52.0]),
        # B: increases 6, 3 → delivered 6, 3, shortfall 0, 3
        _record(b, ans_b, [20.0, 20.0], [26.0, 23.0], method="high 5-of-10"),
        _record(c, ans_c),
        # D: reductions 5, 5, 6, 2 → delivered 5, 5, 5, 2, shortfall 0, 0, 0, 3
        _record(d, ans_d, [30.0] * 4, [25.0, 25.0, 24.0, 28.0]),
    ]


def test_event_table_by_hand(records: list[SettledEvent]) -> None:
    t = event_table(records).set_index("event_id")
    assert list(t.reset_index().columns) == list(EVENT_COLUMNS)
    assert list(t.index) == ["A", "B", "C", "D"]
    assert t.loc["A", "start_utc"] == pd.Timestamp("2025-07-10 06:00", tz="UTC")
    assert str(t["start_utc"].dtype).endswith(", UTC]")
    # 06:00 UTC is 14:00 in Shanghai, the same date; D's 16:00 UTC is 00:00 the next day.
    assert t.loc["A", "local_date"] == dt.date(2025, 7, 10)
    assert t.loc["D", "local_date"] == dt.date(2025, 8, 1)
    assert t.loc["B", "kind"] == "intraday"
    assert t.loc["B", "baseline_method"] == "high 5-of-10"

    # A: committed 10 MW × 1 h = 10 MWh; delivered (10 + 10 + 5 + 0) × 0.25 h = 6.25 MWh;
    # shortfall 3.75 MWh; revenue 6,250 kWh × 3 = 18,750 CNY; penalty 3,750 kWh × 1 = 3,750.
    a = t.loc["A"]
    assert a["answer"] == "accepted"
    assert a["reason"] == ""
    assert a["committed_mw"] == pytest.approx(10.0)
    assert a["committed_mwh"] == pytest.approx(10.0)
    assert a["delivered_mwh"] == pytest.approx(6.25)
    assert a["shortfall_mwh"] == pytest.approx(3.75)
    assert a["delivery_pu"] == pytest.approx(0.625)
    assert a["revenue_cny"] == pytest.approx(18_750.0)
    assert a["penalty_cny"] == pytest.approx(3_750.0)
    assert a["net_cny"] == pytest.approx(15_000.0)

    # B: partial at 6 MW of 8; committed 6 × 0.5 h = 3 MWh; delivered (6 + 3) × 0.25 = 2.25 MWh;
    # shortfall 0.75 MWh; revenue 2,250 × 0.5 = 1,125; penalty 750 × 0.2 = 150; net 975.
    b = t.loc["B"]
    assert b["answer"] == "partial"
    assert b["target_mw"] == pytest.approx(8.0)
    assert b["committed_mw"] == pytest.approx(6.0)
    assert "partly accepted" in b["reason"]
    assert b["price_cny_per_kwh"] == pytest.approx(0.5)
    assert b["penalty_cny_per_kwh"] == pytest.approx(0.2)
    assert b["committed_mwh"] == pytest.approx(3.0)
    assert b["delivered_mwh"] == pytest.approx(2.25)
    assert b["shortfall_mwh"] == pytest.approx(0.75)
    assert b["delivery_pu"] == pytest.approx(0.75)
    assert b["revenue_cny"] == pytest.approx(1_125.0)
    assert b["penalty_cny"] == pytest.approx(150.0)
    assert b["net_cny"] == pytest.approx(975.0)

    # C: rejected; zero energy and money, the reason kept, no delivery ratio.
    c = t.loc["C"]
    assert c["answer"] == "rejected"
    assert "overlaps accepted event A" in c["reason"]
    assert c["committed_mw"] == 0.0
    for column in SUMMED:
        assert c[column] == 0.0
    assert math.isnan(c["delivery_pu"])

    # D: committed 5 MWh; delivered 17 × 0.25 = 4.25 MWh; shortfall 0.75 MWh;
    # revenue 4,250 × 2 = 8,500; penalty 750 × 0.5 = 375; net 8,125.
    d = t.loc["D"]
    assert d["committed_mwh"] == pytest.approx(5.0)
    assert d["delivered_mwh"] == pytest.approx(4.25)
    assert d["shortfall_mwh"] == pytest.approx(0.75)
    assert d["delivery_pu"] == pytest.approx(0.85)
    assert d["revenue_cny"] == pytest.approx(8_500.0)
    assert d["penalty_cny"] == pytest.approx(375.0)
    assert d["net_cny"] == pytest.approx(8_125.0)


def test_interval_table_by_hand(records: list[SettledEvent]) -> None:
    t = interval_table(records)
    assert list(t.columns) == list(INTERVAL_COLUMNS)
    # 4 intervals of A, 2 of B, none of the rejected C, 4 of D.
    assert list(t["event_id"]) == ["A"] * 4 + ["B"] * 2 + ["D"] * 4
    d = t[t["event_id"] == "D"]
    assert list(d["start_utc"]) == list(
        pd.date_range("2025-07-31 16:00", periods=4, freq="15min", tz="UTC")
    )
    np.testing.assert_allclose(d["baseline_mw"], [30.0] * 4)
    np.testing.assert_allclose(d["actual_mw"], [25.0, 25.0, 24.0, 28.0])
    np.testing.assert_allclose(d["committed_mw"], [5.0] * 4)
    np.testing.assert_allclose(d["delivered_mw"], [5.0, 5.0, 5.0, 2.0])
    np.testing.assert_allclose(d["shortfall_mw"], [0.0, 0.0, 0.0, 3.0])
    # Interval energies add up to the event's: D delivered (5 + 5 + 5 + 2) × 0.25 = 4.25 MWh.
    assert d["delivered_mw"].sum() * 0.25 == pytest.approx(4.25)


def test_monthly_table_by_hand(records: list[SettledEvent]) -> None:
    t = monthly_table(records)
    assert list(t.columns) == list(MONTHLY_COLUMNS)
    # D falls in August: its local start is 1 Aug 00:00 although its UTC start is 31 Jul.
    assert list(zip(t["month"], t["direction"], strict=True)) == [
        ("2025-07", "reduce"),
        ("2025-07", "increase"),
        ("2025-07", "total"),
        ("2025-08", "reduce"),
        ("2025-08", "total"),
    ]
    rows = t.set_index(["month", "direction"])
    expected = {
        # July reduce: A + C (rejected, zeros).
        ("2025-07", "reduce"): (2, 1, 0, 1, 10.0, 6.25, 3.75, 18_750.0, 3_750.0, 15_000.0),
        ("2025-07", "increase"): (1, 0, 1, 0, 3.0, 2.25, 0.75, 1_125.0, 150.0, 975.0),
        # July total: 10 + 3 = 13 MWh committed, 6.25 + 2.25 = 8.5 delivered, 3.75 + 0.75 = 4.5
        # short; 18,750 + 1,125 = 19,875 CNY revenue, 3,750 + 150 = 3,900 penalty, net 15,975.
        ("2025-07", "total"): (3, 1, 1, 1, 13.0, 8.5, 4.5, 19_875.0, 3_900.0, 15_975.0),
        ("2025-08", "reduce"): (1, 1, 0, 0, 5.0, 4.25, 0.75, 8_500.0, 375.0, 8_125.0),
        ("2025-08", "total"): (1, 1, 0, 0, 5.0, 4.25, 0.75, 8_500.0, 375.0, 8_125.0),
    }
    for key, (events, accepted, partial, rejected, *money) in expected.items():
        row = rows.loc[key]
        assert (row["events"], row["accepted"], row["partial"], row["rejected"]) == (
            events,
            accepted,
            partial,
            rejected,
        ), key
        assert row["unsettled"] == 0
        assert [row[c] for c in SUMMED] == pytest.approx(money), key
    assert rows.loc[("2025-07", "reduce"), "delivery_pu"] == pytest.approx(0.625)
    assert rows.loc[("2025-07", "total"), "delivery_pu"] == pytest.approx(8.5 / 13.0)
    assert rows.loc[("2025-08", "total"), "delivery_pu"] == pytest.approx(0.85)
    # Grand totals: 18 MWh committed, 12.75 delivered, 5.25 short; net 15,975 + 8,125 = 24,100.
    totals = t[t["direction"] == "total"]
    assert totals["committed_mwh"].sum() == pytest.approx(18.0)
    assert totals["delivered_mwh"].sum() == pytest.approx(12.75)
    assert totals["shortfall_mwh"].sum() == pytest.approx(5.25)
    assert totals["net_cny"].sum() == pytest.approx(24_100.0)


def test_an_accepted_event_not_yet_settled_is_counted_but_not_summed(
    records: list[SettledEvent],
) -> None:
    e = DemandResponseEvent("E", "increase", _t(8, 5, 4), _t(8, 5, 5), 3.0, 0.4)
    pending = SettledEvent(e, EventAnswer("E", "accepted", 3.0, ""), None, "average 10-of-10", 15)
    events = event_table([*records, pending]).set_index("event_id")
    assert not events.loc["E", "settled"]
    assert events.loc["E", "committed_mw"] == pytest.approx(3.0)
    assert events.loc[["E"], SUMMED].isna().all(axis=None)
    months = monthly_table([*records, pending]).set_index(["month", "direction"])
    assert months.loc[("2025-08", "increase"), "unsettled"] == 1
    assert months.loc[("2025-08", "increase"), "accepted"] == 1
    assert months.loc[("2025-08", "increase"), "committed_mwh"] == 0.0
    assert months.loc[("2025-08", "total"), "events"] == 2
    assert months.loc[("2025-08", "total"), "committed_mwh"] == pytest.approx(5.0)
    assert math.isnan(months.loc[("2025-08", "increase"), "delivery_pu"])


def test_no_records_give_empty_tables_with_their_columns() -> None:
    assert list(event_table([]).columns) == list(EVENT_COLUMNS)
    assert list(interval_table([]).columns) == list(INTERVAL_COLUMNS)
    assert list(monthly_table([]).columns) == list(MONTHLY_COLUMNS)
    assert monthly_table([]).empty


def test_inconsistent_records_are_refused(records: list[SettledEvent]) -> None:
    a = records[0]
    with pytest.raises(InputError, match=r"answer\.event_id"):
        SettledEvent(a.event, records[1].answer, None, "x", 15)
    with pytest.raises(InputError, match="step_min"):
        SettledEvent(a.event, a.answer, None, "x", 0)
    with pytest.raises(InputError, match=r"settlement: .* intervals"):
        SettledEvent(a.event, a.answer, a.settlement, "x", 30)  # 2 intervals of 30 min, not 4
    with pytest.raises(InputError, match="rejected"):
        SettledEvent(records[2].event, records[2].answer, a.settlement, "x", 15)
    with pytest.raises(InputError, match=r"settlement\.direction"):
        SettledEvent(records[1].event, records[1].answer, a.settlement, "x", 15)
    with pytest.raises(InputError, match="more than once"):
        monthly_table([a, a])


# --- reconciliation ----------------------------------------------------------------------------


@st.composite
def settled_events(draw: st.DrawFn) -> list[SettledEvent]:
    out = []
    for k in range(draw(st.integers(0, 10))):
        direction = draw(st.sampled_from(["reduce", "increase"]))
        # Starts spread over three months, on the 15-min grid, often near a local midnight.
        minutes = draw(st.integers(0, 90 * 96 - 1)) * 15
        start = _t(6, 1, 0) + dt.timedelta(minutes=minutes)
        steps = draw(st.integers(1, 8))
        event = DemandResponseEvent(
            f"e{k}",
            direction,  # type: ignore[arg-type]
            start,
            start + dt.timedelta(minutes=STEP_MIN * steps),
            target_mw=draw(st.floats(0.5, 50.0)),
            price_cny_per_kwh=draw(st.floats(0.0, 5.0)),
            penalty_cny_per_kwh=draw(st.floats(0.0, 5.0)),
        )
        kind = draw(st.sampled_from(["accepted", "partial", "rejected", "unsettled"]))
        if kind == "rejected":
            out.append(
                SettledEvent(event, EventAnswer(f"e{k}", "rejected", 0.0, "no"), None, "", 15)
            )
            continue
        committed = event.target_mw * (draw(st.floats(0.1, 1.0)) if kind == "partial" else 1.0)
        answer = EventAnswer(f"e{k}", "partial" if kind == "partial" else "accepted", committed, "")
        values = st.lists(st.floats(0.0, 100.0), min_size=steps, max_size=steps)
        settlement = None
        if kind != "unsettled":
            settlement = settle_event(
                direction=event.direction,
                baseline_mw=np.array(draw(values)),
                actual_mw=np.array(draw(values)),
                committed_mw=committed,
                price_cny_per_kwh=event.price_cny_per_kwh,
                penalty_cny_per_kwh=event.penalty_cny_per_kwh,
                step_h=STEP_MIN / 60,
            )
        out.append(SettledEvent(event, answer, settlement, "average 10-of-10", STEP_MIN))
    return out


@settings(max_examples=60, deadline=None)
@given(settled_events())
def test_months_reconcile_with_events(records: list[SettledEvent]) -> None:
    events = event_table(records)
    months = monthly_table(records)
    totals = months[months["direction"] == "total"]
    parts = months[months["direction"] != "total"]
    for column in SUMMED:
        expected = events[column].sum()  # NaN (unsettled) skipped, as in the months
        assert totals[column].sum() == pytest.approx(expected, rel=1e-12, abs=1e-9), column
        assert parts[column].sum() == pytest.approx(expected, rel=1e-12, abs=1e-9), column
        # Each month's total is its directions' sum.
        by_month = parts.groupby("month")[column].sum()
        np.testing.assert_allclose(totals.set_index("month")[column], by_month, rtol=1e-12)
    for column in ("events", "accepted", "partial", "rejected", "unsettled"):
        assert totals[column].sum() == parts[column].sum()
    assert totals["events"].sum() == len(records)
    np.testing.assert_array_equal(
        totals["events"], totals["accepted"] + totals["partial"] + totals["rejected"]
    )
    for frame in (events.dropna(subset=["committed_mwh"]), months):
        np.testing.assert_allclose(
            frame["delivered_mwh"] + frame["shortfall_mwh"],
            frame["committed_mwh"],
            rtol=1e-12,
            atol=1e-9,
        )
        np.testing.assert_allclose(
            frame["net_cny"], frame["revenue_cny"] - frame["penalty_cny"], rtol=1e-12, atol=1e-6
        )
    # Interval energies add up to the events' energies.
    intervals = interval_table(records)
    assert intervals["delivered_mw"].sum() * STEP_MIN / 60 == pytest.approx(
        events["delivered_mwh"].sum(), rel=1e-12, abs=1e-9
    )


# --- files -------------------------------------------------------------------------------------


def test_csv_round_trip(records: list[SettledEvent], tmp_path: Path) -> None:
    paths = write_settlement(records, tmp_path / "out", formats=("csv",))
    assert [p.name for p in paths] == ["vpp-events.csv", "vpp-intervals.csv", "vpp-monthly.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    expected = {
        "vpp-events.csv": event_table(records),
        "vpp-intervals.csv": interval_table(records),
        "vpp-monthly.csv": monthly_table(records),
    }
    for path in paths:
        back = pd.read_csv(path, keep_default_na=False)
        frame = expected[path.name]
        assert list(back.columns) == list(frame.columns)
        assert len(back) == len(frame)
        for column in frame.columns:
            if column.endswith("_utc"):
                pd.testing.assert_series_equal(
                    pd.to_datetime(back[column], utc=True),
                    frame[column].reset_index(drop=True),
                    check_dtype=False,
                )
            elif pd.api.types.is_float_dtype(frame[column].dtype):
                got = pd.to_numeric(back[column].replace("", np.nan))
                np.testing.assert_allclose(got, frame[column], rtol=0, atol=0, equal_nan=True)
            else:
                assert list(back[column].astype(str)) == [str(v) for v in frame[column]], column
    events = pd.read_csv(tmp_path / "out" / "vpp-events.csv")
    assert events.loc[events["event_id"] == "D", "local_date"].item() == "2025-08-01"


def test_xlsx_reads_back(records: list[SettledEvent], tmp_path: Path) -> None:
    (path,) = write_settlement(records, tmp_path, formats=["xlsx"])
    assert path.name == "vpp-settlement.xlsx"
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["events", "intervals", "monthly"]
    for name, columns, rows in (
        ("events", EVENT_COLUMNS, 4),
        ("intervals", INTERVAL_COLUMNS, 10),
        ("monthly", MONTHLY_COLUMNS, 5),
    ):
        sheet = book[name]
        assert [c.value for c in sheet[1]] == list(columns)
        assert sheet.freeze_panes == "A2"
        assert sheet.max_row == rows + 1
    events = book["events"]
    header = [c.value for c in events[1]]
    a = events[2]  # event A
    assert a[header.index("event_id")].value == "A"
    revenue = a[header.index("revenue_cny")]
    assert revenue.value == pytest.approx(18_750.0)
    assert revenue.number_format == "#,##0.00"
    assert a[header.index("delivered_mwh")].value == pytest.approx(6.25)
    assert a[header.index("price_cny_per_kwh")].number_format == "0.0000"
    # Excel has no time zones: UTC wall-clock time.
    assert a[header.index("start_utc")].value == dt.datetime(2025, 7, 10, 6, 0)  # noqa: DTZ001
    monthly = book["monthly"]
    m_header = [c.value for c in monthly[1]]
    assert monthly[4][m_header.index("month")].value == "2025-07"
    assert monthly[4][m_header.index("direction")].value == "total"
    assert monthly[4][m_header.index("net_cny")].value == pytest.approx(15_975.0)
    assert monthly[4][m_header.index("events")].value == 3


def test_bad_arguments_name_the_field(records: list[SettledEvent], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"formats: 'pdf'.*use any of csv, xlsx"):
        write_settlement(records, tmp_path, formats=("csv", "pdf"))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="formats: 'csv' is a string"):
        write_settlement(records, tmp_path, formats="csv")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="formats: empty"):
        write_settlement(records, tmp_path, formats=())
    a_file = tmp_path / "report.txt"
    a_file.write_text("not a directory")
    with pytest.raises(InputError, match=r"out_dir: .* is a file"):
        write_settlement(records, a_file)
    assert list(tmp_path.iterdir()) == [a_file]


def test_a_failed_write_leaves_the_previous_reports(
    records: list[SettledEvent], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_settlement(records[:1], tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == [
        "vpp-events.csv",
        "vpp-intervals.csv",
        "vpp-monthly.csv",
        "vpp-settlement.xlsx",
    ]

    def broken(path: Path, sheets: object) -> None:
        path.write_bytes(b"half a workbook")
        raise OSError("disk full")

    monkeypatch.setattr(vpp_settlement, "_write_xlsx", broken)
    with pytest.raises(OSError, match="disk full"):
        write_settlement(records, tmp_path)
    # The CSVs were staged before the workbook failed, yet none replaced the old files and no
    # temporary file is left behind.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
