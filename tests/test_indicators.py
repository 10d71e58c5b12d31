"""Resolution 1325 indicators: real UN data, targets from configuration, trend, outputs, audit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from realdata import REALDATA, require_realdata
from typer.testing import CliRunner

from protection_eval.indicators import (
    INDICATOR_COLUMNS,
    PersonnelInputError,
    TargetsError,
    compute_cross_mission_indicators,
    compute_deployment_indicators,
    compute_patrol_indicators,
    estimate_participation_association,
    fit_trend,
    to_personnel,
)
from protection_eval.io.readers import read_raw_table
from protection_eval.runs.indicators import load_personnel, load_targets, write_indicators
from protection_eval.sharing.audit.folder import audit_shared_folder

UN_FILE = REALDATA / "un-gender" / "un-pk-gender-by-mission-2010-2021.csv"


def make_personnel_csv(path: Path, rows: list[tuple]) -> Path:
    """Write a canonical personnel CSV: mission, period, category, country, women, personnel."""
    lines = ["mission,period,category,country,women,personnel"]
    lines += [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_targets(path: Path, share: float, *, category: str = "all_uniformed",
                 due: int = 2030, in_force: tuple[int, int] = (2010, 2030)) -> Path:
    path.write_text(
        "version: 2\ntargets:\n"
        f"  - id: test-target\n    strategy: test strategy\n    category: {category}\n"
        f"    share: {share}\n    due_year: {due}\n    in_force: [{in_force[0]}, {in_force[1]}]\n"
        "    source: a target written by the test\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def un_report():
    require_realdata(UN_FILE)
    table = load_personnel(UN_FILE, "un-gender")
    return table, compute_cross_mission_indicators(table, load_targets())


# -- real data ------------------------------------------------------------------------------

@pytest.mark.parametrize(("mission", "year"), [("MONUSCO", 2015), ("MINUSCA", 2019),
                                               ("UNMISS", 2012)])
def test_real_un_shares_match_an_independent_pandas_computation(un_report, mission, year):
    raw = pd.read_csv(UN_FILE)
    part = raw[(raw["Mission"] == mission) & (raw["Year"] == year)]
    frame = un_report[1].to_frame()
    row = frame[(frame["indicator_id"] == "uniformed.women_share")
                & (frame["mission"] == mission) & (frame["period"] == str(year))]
    assert len(row) == 1
    assert row["numerator"].iloc[0] == part["Female"].sum()
    assert row["denominator"].iloc[0] == part["Total"].sum()
    assert row["value"].iloc[0] == pytest.approx(part["Female"].sum() / part["Total"].sum())
    biggest = part.sort_values("Total").iloc[-1]
    by_country = frame[frame["indicator_id"] == f"country.women_share:country={biggest.Country}"]
    by_country = by_country[(by_country["mission"] == mission)
                            & (by_country["period"] == str(year))]
    assert by_country["value"].iloc[0] == pytest.approx(biggest.Female / biggest.Total)


def test_real_un_file_every_row_accepted_and_every_mission_has_rows(un_report):
    table, report = un_report
    raw = pd.read_csv(UN_FILE)
    assert table.rows_read == len(raw) and len(table.rows) + len(table.rejected) == len(raw)
    frame = report.to_frame()
    assert list(frame.columns) == INDICATOR_COLUMNS
    shares = frame[frame["indicator_id"] == "uniformed.women_share"]
    deployed = raw.groupby("Mission")["Total"].sum()
    assert set(shares["mission"]) == set(deployed[deployed > 0].index) | {"ALL"}
    pooled = shares[(shares["mission"] == "ALL") & (shares["period"] == "2018")]
    year = raw[raw["Year"] == 2018]
    assert pooled["value"].iloc[0] == pytest.approx(year["Female"].sum() / year["Total"].sum())


# -- targets from configuration ----------------------------------------------------------------

def test_targets_come_from_the_configuration_file(tmp_path):
    csv = make_personnel_csv(tmp_path / "p.csv", [
        ("M1", 2015, "all_uniformed", "", 5, 100),
        ("M1", 2016, "all_uniformed", "", 6, 100),
        ("M1", 2017, "all_uniformed", "", 7, 100),
    ])
    table = load_personnel(csv)
    default = compute_cross_mission_indicators(table, load_targets()).to_frame()
    assert default["target"].isna().all()  # no pooled target in force before 2018
    low = compute_cross_mission_indicators(
        table, load_targets(make_targets(tmp_path / "low.yaml", 0.06))).to_frame()
    high = compute_cross_mission_indicators(
        table, load_targets(make_targets(tmp_path / "high.yaml", 0.5))).to_frame()
    m1 = low[low["mission"] == "M1"].set_index("period")
    assert (m1["target"] == 0.06).all()
    assert m1.loc["2017", "gap_to_target"] == pytest.approx(-0.01)
    assert bool(m1.loc["2017", "on_track"]) and bool(m1.loc["2016", "on_track"])
    # 5% then 6%: not met in 2015 and only one year of trend, so undecided.
    assert pd.isna(m1.loc["2015", "on_track"])
    h1 = high[high["mission"] == "M1"].set_index("period")
    assert not bool(h1.loc["2017", "on_track"])  # +1 point a year reaches 21% by 2030, not 50%
    assert "test-target" in h1.loc["2017", "source"]


def test_bad_targets_file_names_the_entry_and_field(tmp_path):
    path = make_targets(tmp_path / "bad.yaml", 1.5)
    expected = r"(?s)bad.yaml.*target #1 \(id test-target\), field share"
    with pytest.raises(TargetsError, match=expected):
        load_targets(path)
    with pytest.raises(TargetsError, match="not found"):
        load_targets(tmp_path / "missing.yaml")


def test_default_targets_cite_their_sources_and_flag_unconfirmed_numbers():
    targets = load_targets()
    by_id = {t.id: t for t in targets.targets}
    assert by_id["unpol-global-effort-2014"].share == 0.20
    assert by_id["unpol-global-effort-2014"].due_year == 2014
    assert by_id["dpko-dfs-military-2010"].share == 0.10
    assert by_id["ugps-2028-individual-police-officers"].share == 0.30
    assert not by_id["ugps-2021-military-contingents"].confirmed
    assert by_id["benchmark-pooled-uniformed-2028"].kind == "benchmark"
    assert targets.lookup("police", 2012).id == "unpol-global-effort-2014"
    assert targets.lookup("military_contingents", 2019).id == "ugps-2021-military-contingents"
    assert targets.lookup("military_contingents", 2024).id == "ugps-2028-military-contingents"


# -- personnel quarantine -----------------------------------------------------------------------

def test_every_personnel_row_is_accepted_or_quarantined_with_a_reason():
    raw = pd.DataFrame({
        "source_row": range(2, 10),
        "mission": ["M1", "M1", "", "M1", "M1", "M1", "M1", "M2"],
        "period": ["2020", "2020-13", "2020", "2021", "2021", "2022", "2023", "2020"],
        "category": ["police"] * 5 + ["troops", "police", "Formed police units"],
        "country": ["A", "A", "A", "A", "A", "A", "A", "B"],
        "women": ["3", "1", "1", "9", "2", "1", "x", "4"],
        "personnel": ["10", "10", "10", "5", "10", "10", "10", "40"],
    })
    table = to_personnel(raw, origin="p.csv")
    reasons = dict(zip(table.rejected["source_row"], table.rejected["reason"], strict=True))
    assert reasons == {3: "bad_period", 4: "missing_mission", 5: "women_exceed_personnel",
                       7: "unknown_category", 8: "bad_women"}
    assert list(table.rows["source_row"]) == [2, 6, 9]
    assert table.rows.loc[2, "category"] == "formed_police_units"
    assert table.rows_read == len(raw)
    dup = to_personnel(pd.concat([raw.iloc[:1], raw.iloc[:1].assign(source_row=20)]))
    assert dup.rejected["reason"].tolist() == ["duplicate_row"]
    assert "line 2" in dup.rejected["detail"].iloc[0]


def test_missing_column_names_the_file_the_column_and_the_presets():
    raw = pd.DataFrame({"source_row": [2], "Mission": ["M1"], "Year": ["2020"]})
    with pytest.raises(PersonnelInputError, match=r"p.csv.*'Female'.*un-gender"):
        to_personnel(raw, preset="un-gender", origin="p.csv")


# -- trend ------------------------------------------------------------------------------------

def _planted(seed: int, slope: float = 0.005, sd: float = 0.003) -> tuple:
    rng = np.random.default_rng(seed)
    years = np.arange(2005, 2021)
    return years, 0.02 + slope * (years - 2005) + rng.normal(0, sd, len(years))


def test_trend_recovers_a_planted_slope_and_the_year_the_target_is_reached():
    years, values = _planted(1)
    trend = fit_trend(years, values, target=0.15, due_year=2028)
    assert trend.slope_ci_low < 0.005 < trend.slope_ci_high
    assert trend.slope_per_year == pytest.approx(0.005, abs=0.0008)
    truth = 2005 + (0.15 - 0.02) / 0.005  # 2031
    assert trend.year_reached == pytest.approx(truth, abs=1.0)
    assert trend.year_reached_low < truth < trend.year_reached_high
    assert trend.status == "projected" and "Extrapolation" in trend.note


def test_trend_interval_covers_the_planted_year_about_95_percent_of_the_time():
    truth = 2005 + (0.15 - 0.02) / 0.005
    hits = []
    for seed in range(200):
        t = fit_trend(*_planted(seed), target=0.15)
        hits.append(t.year_reached_low <= truth <= t.year_reached_high)
    assert 0.88 <= np.mean(hits) <= 0.995


def test_flat_or_short_series_gives_no_year():
    years = np.arange(2010, 2020)
    flat = fit_trend(years, 0.05 - 0.001 * (years - 2010), target=0.15)
    assert flat.status == "not_reached" and np.isnan(flat.year_reached)
    assert fit_trend([2019, 2020], [0.1, 0.11], target=0.15).status == "too_few_years"
    assert fit_trend(years, np.full(10, 0.2), target=0.15).status == "met"


# -- patrol and deployment indicators -------------------------------------------------------------

def make_patrols(spec: list[tuple[str, str, float, int, int]]) -> pd.DataFrame:
    """Patrols from (unit_type, start, hours, personnel, women)."""
    start = pd.to_datetime([s[1] for s in spec], utc=True)
    return pd.DataFrame({
        "unit_type": [s[0] for s in spec], "started_at": start,
        "ended_at": start + pd.to_timedelta([s[2] for s in spec], unit="h"),
        "personnel": pd.array([s[3] for s in spec], dtype="Int64"),
        "women": pd.array([s[4] for s in spec], dtype="Int64"),
    })


def test_patrol_indicators_weight_by_hours_and_suppress_few_patrols():
    # January: ten 2-hour police patrols of 10 (women in every other one: 4) and one 4-hour
    # military patrol of 20 with 2 women. February: three military patrols.
    spec = [("police", f"2023-01-{d:02d}T08:00Z", 2.0, 10, 0 if d % 2 else 4)
            for d in range(1, 11)]
    spec += [("military", "2023-01-20T08:00Z", 4.0, 20, 2)]
    spec += [("military", "2023-02-01T08:00Z", 4.0, 20, 2)] * 3
    table = compute_patrol_indicators(make_patrols(spec), mission="M", k=5)
    rows = table.to_frame().set_index(["indicator_id", "period"])
    overall = rows.loc[("patrol.women_hours_share", "2023-01")]
    assert overall["numerator"] == pytest.approx(5 * 4 * 2 + 2 * 4)
    assert overall["denominator"] == pytest.approx(10 * 10 * 2 + 20 * 4)
    police = rows.loc[("patrol.women_hours_share:unit_type=police", "2023-01")]
    assert police["value"] == pytest.approx(0.2)
    with_women = rows.loc[("patrol.with_women_share", "2023-01")]
    assert (with_women["numerator"], with_women["denominator"]) == (6, 11)
    # One military patrol in January, three in February: below k, suppressed.
    assert pd.isna(rows.loc[("patrol.women_hours_share:unit_type=military", "2023-01"), "value"])
    feb = rows.loc[("patrol.women_hours_share", "2023-02")]
    assert pd.isna(feb["value"]) and "suppressed" in feb["source"]
    assert "effects.csv" in overall["source"]


def test_a_patrol_across_a_month_end_gives_its_hours_to_both_local_months():
    # Patrol-hours have one definition (coverage.areas): a patrol counts in every local month
    # its time overlaps, for the hours of the overlap. Five patrols of 10 (2 women) from 22:00
    # on 31 March to 04:00 on 1 April, Juba time (UTC+2): 2 hours in March, 4 in April.
    spec = [("police", "2023-03-31T20:00Z", 6.0, 10, 2)] * 5
    table = compute_patrol_indicators(make_patrols(spec), mission="M", k=5,
                                      timezone="Africa/Juba")
    rows = table.to_frame().set_index(["indicator_id", "period"])
    march = rows.loc[("patrol.women_hours_share", "2023-03")]
    april = rows.loc[("patrol.women_hours_share", "2023-04")]
    assert (march["numerator"], march["denominator"]) == (5 * 2 * 2, 5 * 10 * 2)
    assert (april["numerator"], april["denominator"]) == (5 * 2 * 4, 5 * 10 * 4)
    # Each patrol was out in both months: five patrols in each, all with a woman.
    for month in ("2023-03", "2023-04"):
        with_women = rows.loc[("patrol.with_women_share", month)]
        assert (with_women["numerator"], with_women["denominator"]) == (5, 5)


def test_gender_adviser_share_counts_covered_area_months():
    areas = pd.DataFrame({"area_id": ["A1", "A2", "A3", "A4"]})
    deployments = pd.DataFrame({
        "strategy_id": ["women-protection-advisers", "military-gender-advisers",
                        "night-patrols"],
        "area_id": ["A1", "A2", "A3"],
        "started_on": pd.to_datetime(["2023-01-15", "2023-07-01", "2023-01-01"]),
        "ended_on": pd.to_datetime(["2023-06-10", pd.NaT, pd.NaT]),
    })
    table = compute_deployment_indicators(deployments, areas, mission="M",
                                          start=pd.Timestamp("2023-01-01"),
                                          end=pd.Timestamp("2023-12-31"))
    row = table.to_frame().iloc[0]
    assert row["indicator_id"] == "deployment.gender_adviser_area_months_share"
    assert (row["numerator"], row["denominator"]) == (12, 48)
    none = compute_deployment_indicators(deployments.iloc[2:], areas, mission="M",
                                         start=pd.Timestamp("2023-01-01"),
                                         end=pd.Timestamp("2023-12-31"))
    assert none.rows.empty and "no gender-adviser" in none.notes[0]


# -- association ---------------------------------------------------------------------------

def test_association_recovers_a_planted_ratio_per_10_points():
    rng = np.random.default_rng(3)
    missions, years = 30, 10
    frame = pd.DataFrame({"mission": np.repeat([f"M{i}" for i in range(missions)], years),
                          "period": np.tile(np.arange(years), missions)})
    level = rng.normal(3.0, 0.5, missions)
    frame["women_share"] = rng.uniform(0.0, 0.3, len(frame))
    mu = np.exp(np.repeat(level, years) + 0.02 * frame["period"]
                + np.log(0.8) * frame["women_share"] / 0.1)
    frame["incidents"] = rng.poisson(mu)
    result = estimate_participation_association(frame)
    est = result.estimate
    assert est.ci_low < 0.8 < est.ci_high and est.irr == pytest.approx(0.8, abs=0.06)
    assert "association" in " ".join(est.caveats)
    assert result.to_frame()["estimand"].iloc[0] == "women_share_association"


# -- outputs, audit, command -----------------------------------------------------------------------

def test_outputs_pass_the_audit_and_formula_text_is_neutralised(tmp_path):
    from openpyxl import load_workbook

    csv = make_personnel_csv(tmp_path / "p.csv", [
        ("M1", 2018 + i, "all_uniformed", "Ghana", 5 + i, 100) for i in range(4)
    ] + [("=HYPERLINK(1)", 2018, "all_uniformed", "Ghana", 1, 10)])
    report = compute_cross_mission_indicators(load_personnel(csv), load_targets())
    out = tmp_path / "shared"
    written = write_indicators(report, out)
    assert set(written) == {"csv", "xlsx", "chart"}
    result = audit_shared_folder(out)
    assert result.ok, result.summary()
    book = load_workbook(written["xlsx"])
    assert {"uniformed", "country", "trajectory", "notes"} <= set(book.sheetnames)
    assert "'=HYPERLINK(1)" in [c.value for c in book["uniformed"]["B"]]
    assert all(c.data_type != "f" for sheet in book for row in sheet.iter_rows() for c in row)
    notes = " ".join(str(c.value) for c in book["notes"]["B"])
    assert "Uniformed Gender Parity Strategy" in notes and "Extrapolation" in notes


def test_workbook_text_starting_like_a_formula_gets_a_quote():
    from protection_eval.indicators.workbook import _cell

    assert _cell("=1+1") == "'=1+1" and _cell("-x") == "'-x" and _cell("\tx") == "'\tx"
    assert _cell("Ghana") == "Ghana" and _cell(-0.5) == -0.5


def test_audit_flags_a_workbook_formula_as_unauditable(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["total", '=WEBSERVICE("http://example.org")'])
    book.save(tmp_path / "x.xlsx")
    result = audit_shared_folder(tmp_path)
    kinds = {f.kind for f in result.findings}
    assert "unauditable_file" in kinds
    assert any("formula" in f.what for f in result.findings)


def test_audit_reads_workbook_cells_like_a_csv(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["area", "incidents"])
    book.active.append(["A1", 3])
    book.save(tmp_path / "x.xlsx")
    result = audit_shared_folder(tmp_path)
    assert [f.kind for f in result.findings] == ["small_count"]


def test_command_writes_the_documented_csv_and_refuses_bad_input(tmp_path):
    from protection_eval.cli import app

    csv = make_personnel_csv(tmp_path / "p.csv", [
        ("M1", 2018, "police", "A", 10, 100), ("M1", 2019, "police", "A", 12, 100),
        ("M1", 2020, "police", "A", 15, 100), ("M1", 2021, "police", "A", 200, 100),
    ])
    runner = CliRunner()
    done = runner.invoke(app, ["indicators", "--personnel", str(csv), "--out",
                               str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    frame = pd.read_csv(tmp_path / "out" / "indicators.csv")
    assert list(frame.columns) == INDICATOR_COLUMNS
    assert "1 quarantined" in done.output
    assert (tmp_path / "out" / "rejected" / "personnel.csv").exists()
    bad = runner.invoke(app, ["indicators", "--personnel", str(csv), "--preset", "nope"])
    assert bad.exit_code == 1 and "unknown personnel preset" in bad.output
    assert "Traceback" not in bad.output


def test_real_file_reads_through_the_catalog_reader(un_report):
    raw = read_raw_table("personnel", UN_FILE)
    assert len(raw.frame) == un_report[0].rows_read
