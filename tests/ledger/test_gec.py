"""The China GEC view: the 32-character code and monthly aggregation with carry-over."""

from __future__ import annotations

import datetime as dt

import pytest

from suandian.core.errors import InputError
from suandian.ledger import IssueLine, Ledger, Source, gec_code, parse_gec_code
from suandian.ledger.gec import CODE_LENGTH, aggregate_months, gec_codes, local_months

from .conftest import reading

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)


def test_code_layout() -> None:
    code = gec_code("QHXN0PV00001", "202503", 42, Source.PV)
    # 12 + 6 + 10 + 4 = 32
    assert code == "QHXN0PV00001" + "202503" + "0000000042" + "PV01"
    assert len(code) == CODE_LENGTH == 32
    parsed = parse_gec_code(code)
    assert (parsed.project_code, parsed.month, parsed.sequence) == ("QHXN0PV00001", "202503", 42)
    assert (parsed.source, parsed.certificate_type) == (Source.WIND if False else Source.PV, "01")
    assert gec_code("QHXN0WD00001", "202512", 1, Source.WIND)[-4:] == "WD01"
    assert gec_codes("QHXN0HY00001", "202501", 2, Source.HYDRO) == [
        "QHXN0HY000012025010000000001HY01",
        "QHXN0HY000012025010000000002HY01",
    ]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("qhxn0pv00001", "202503", 1, Source.PV), "project_code"),
        (("QHXN0PV0001", "202503", 1, Source.PV), "project_code"),
        (("QHXN0PV00001", "202513", 1, Source.PV), "YYYYMM"),
        (("QHXN0PV00001", "202503", 0, Source.PV), "sequence"),
        (("QHXN0PV00001", "202503", 1, Source.STORAGE), "pv, wind and hydro"),
    ],
)
def test_code_refusals(args: tuple[str, str, int, Source], match: str) -> None:
    with pytest.raises(InputError, match=match):
        gec_code(*args)


def test_parse_refuses_a_malformed_code() -> None:
    with pytest.raises(InputError, match="32-character layout"):
        parse_gec_code("QHXN0PV000012025030000000042XX01")


def test_aggregation_with_carry_by_hand() -> None:
    # 2.4 MWh → 2 GECs, carry 0.4; 0.4 + 0.7 = 1.1 → 1, carry 0.1; empty month → 0, carry 0.1;
    # 0.1 + 0.95 = 1.05 → 1, carry 0.05.
    months = aggregate_months(
        {"202501": 2_400_000, "202502": 700_000, "202504": 950_000},
        device="pv-1",
        project_code="QHXN0PV00001",
        source=Source.PV,
    )
    assert [(m.month, m.carry_in_wh, m.certificates, m.carry_out_wh) for m in months] == [
        ("202501", 0, 2, 400_000),
        ("202502", 400_000, 1, 100_000),
        ("202503", 100_000, 0, 100_000),
        ("202504", 100_000, 1, 50_000),
    ]
    assert months[0].last_code == "QHXN0PV000012025010000000002PV01"
    assert months[2].first_code is None


def test_year_boundary_carry() -> None:
    months = aggregate_months(
        {"202412": 1_500_000, "202501": 600_000},
        device="d",
        project_code="QHXN0PV00001",
        source=Source.PV,
    )
    assert [(m.month, m.certificates, m.carry_out_wh) for m in months] == [
        ("202412", 1, 500_000),
        ("202501", 1, 100_000),
    ]


def test_local_month_crosses_at_shanghai_midnight() -> None:
    # 2025-03-31T16:00Z is 1 April 00:00 in Shanghai; 15:00Z is still 31 March.
    starts = [dt.datetime(2025, 3, 31, 15, tzinfo=UTC), dt.datetime(2025, 3, 31, 16, tzinfo=UTC)]
    assert local_months(starts) == ["202503", "202504"]


def test_gec_summary_from_the_ledger(park: Ledger) -> None:
    # March (Shanghai): 1,000,000 + 600,000 = 1.6 MWh → 1 GEC, carry 600,000.
    # April: 700,000 + 600,000 = 1.3 MWh → 1 GEC, carry 300,000.
    lines = [
        (dt.datetime(2025, 3, 1, 4, tzinfo=UTC), 1_000_000),
        (dt.datetime(2025, 3, 31, 15, tzinfo=UTC), 600_000),
        (dt.datetime(2025, 3, 31, 16, tzinfo=UTC), 700_000),
    ]
    park.record_generation(device="pv-1", readings=[reading(s, w) for s, w in lines])
    park.issue_many(
        device="pv-1", lines=[IssueLine(s, s + HOUR, w) for s, w in lines], issuer="operator"
    )
    summary = park.gec_summary(device="pv-1")
    assert [(m.month, m.issued_wh, m.certificates, m.carry_out_wh) for m in summary] == [
        ("202503", 1_600_000, 1, 600_000),
        ("202504", 700_000, 1, 300_000),
    ]
    assert summary[1].first_code == "QHXN0PV000012025040000000001PV01"
    assert [m.month for m in park.gec_summary(months=["202504"])] == ["202504"]
    assert park.gec_summary(device="wind-1") == []


def test_gec_summary_leaves_out_withdrawn_certificates(park: Ledger) -> None:
    # March (Shanghai): 1,000,000 + 600,000 issued, 300,000 of them withdrawn (a split child):
    # 1,300,000 → 1 GEC, carry 300,000. April: 700,000 issued, 200,000 withdrawn (a split
    # child): 300,000 + 500,000 = 800,000 → no GEC, carry 800,000. Counting withdrawn energy
    # would give 1 GEC (carry 600,000) and 1 GEC (carry 300,000).
    lines = [
        (dt.datetime(2025, 3, 1, 4, tzinfo=UTC), 1_000_000),
        (dt.datetime(2025, 3, 31, 15, tzinfo=UTC), 600_000),
        (dt.datetime(2025, 3, 31, 16, tzinfo=UTC), 700_000),
    ]
    park.record_generation(device="pv-1", readings=[reading(s, w) for s, w in lines])
    march, _, april = park.issue_many(
        device="pv-1", lines=[IssueLine(s, s + HOUR, w) for s, w in lines], issuer="operator"
    )
    gone_march, _ = park.split(bundle_id=march, sizes_wh=[300_000, 700_000], account="gen")
    gone_april, _ = park.split(bundle_id=april, sizes_wh=[200_000, 500_000], account="gen")
    park.withdraw(bundle_ids=[gone_march, gone_april], issuer="operator", reason="meter fault")
    summary = park.gec_summary(device="pv-1")
    assert [
        (m.month, m.issued_wh, m.withdrawn_wh, m.carry_in_wh, m.certificates, m.carry_out_wh)
        for m in summary
    ] == [
        ("202503", 1_600_000, 300_000, 0, 1, 300_000),
        ("202504", 700_000, 200_000, 300_000, 0, 800_000),
    ]
    assert summary[0].last_code == "QHXN0PV000012025030000000001PV01"
    assert summary[1].first_code is None


def test_aggregation_refuses_more_withdrawn_than_issued() -> None:
    with pytest.raises(InputError, match="withdrawn Wh of 202503"):
        aggregate_months(
            {"202503": 100},
            device="d",
            project_code="QHXN0PV00001",
            source=Source.PV,
            withdrawn_wh_by_month={"202503": 101},
        )
