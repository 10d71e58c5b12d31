import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest

from protection_eval.hexgrid import h3_polygons, to_h3_cells, to_hexagon_frame
from protection_eval.sharing.disclosure import (
    DisclosureError,
    aggregate_counts,
    check_k,
    k_from_config,
    month_floor,
    suppress_counts,
    suppress_dependent,
)

MARGINS = [("area_id",), ("month",), ()]


def make_cells(counts: dict[tuple[str, str], int]) -> pd.DataFrame:
    rows = [{"area_id": a, "month": m, "incidents": n} for (a, m), n in counts.items()]
    return pd.DataFrame(rows)


def make_incidents(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "incident_id": [f"INC-{i:05d}" for i in range(n)],
            "occurred_at": pd.to_datetime("2023-01-01", utc=True)
            + pd.to_timedelta(rng.integers(0, 60 * 24, n), unit="h"),
            "longitude": 31.5 + rng.normal(0, 0.02, n),
            "latitude": 4.8 + rng.normal(0, 0.02, n),
            "area_id": rng.choice(["a", "b", "c"], n),
        }
    )


def _solvable_by_margins(shared) -> bool:
    """Attack the table: can a hidden cell or small total be pinned down from what is shown?

    For each hidden cell, minimise and maximise it by linear programming over non-negative
    values that agree with every visible cell and every shown total; the cell is recovered
    when both bounds meet.
    """
    from scipy.optimize import linprog

    cells = shared.to_frame().reset_index(drop=True)
    hidden = np.flatnonzero(cells["suppressed"].to_numpy())
    if hidden.size == 0:
        return False
    known = cells["incidents_raw"].astype(float).to_numpy()
    rows, rhs = [], []
    for margin, totals in shared.totals.items():
        shown = totals[~totals["suppressed"]]
        for _, total in shown.iterrows():
            member = np.ones(len(cells), dtype=bool)
            for column in margin:
                member &= (cells[column] == total[column]).to_numpy()
            coef = member[hidden].astype(float)
            if coef.any():
                rows.append(coef)
                rhs.append(float(total["incidents"]) - known[member & ~cells["suppressed"]].sum())
    if not rows:
        return False
    objectives = list(np.eye(hidden.size))
    for margin, totals in shared.totals.items():
        for _, total in totals[totals["suppression"] == "primary"].iterrows():
            member = np.ones(len(cells), dtype=bool)
            for column in margin:
                member &= (cells[column] == total[column]).to_numpy()
            objectives.append(member[hidden].astype(float))
    for c in objectives:
        if not c.any():
            continue
        low = linprog(c, A_eq=np.array(rows), b_eq=np.array(rhs), bounds=(0, None))
        high = linprog(-c, A_eq=np.array(rows), b_eq=np.array(rhs), bounds=(0, None))
        if abs(low.fun + high.fun) < 1e-6:
            return True
    return False


def test_k_below_five_is_refused():
    with pytest.raises(DisclosureError, match="k >= 5"):
        check_k(3)
    with pytest.raises(DisclosureError, match="min_count"):
        k_from_config({"sharing": {"min_count": 2}})
    assert k_from_config({"sharing": {"min_count": 7}}) == 7
    assert k_from_config({}) == 5


def test_primary_suppression_hides_one_to_k_minus_one_and_shows_zero():
    table = make_cells(
        {("a", "2023-01"): 0, ("b", "2023-01"): 1, ("c", "2023-01"): 4, ("d", "2023-01"): 5}
    )
    shared = suppress_counts(table, "incidents", 5)
    cells = shared.to_frame().set_index("area_id")
    assert cells.loc["a", "incidents"] == 0
    assert pd.isna(cells.loc["b", "incidents"]) and pd.isna(cells.loc["c", "incidents"])
    assert cells.loc["d", "incidents"] == 5
    assert list(shared.primary) == [1, 2]
    assert "incidents_raw" not in shared.shared().columns
    assert "suppression" not in shared.shared().columns


def test_single_suppressed_cell_in_a_row_gets_a_complementary_partner():
    table = make_cells(
        {
            ("a", "2023-01"): 3,
            ("a", "2023-02"): 10,
            ("b", "2023-01"): 8,
            ("b", "2023-02"): 12,
            ("c", "2023-01"): 20,
            ("c", "2023-02"): 7,
        }
    )
    shared = suppress_counts(table, "incidents", 5, margins=MARGINS)
    cells = shared.to_frame()
    assert cells.loc[0, "suppression"] == "primary"
    # Row a alone would give 13 - 10 = 3: 10 must be hidden, then the columns need a partner.
    assert cells.loc[1, "suppression"] == "complementary"
    assert len(shared.complementary) == 3
    assert not _solvable_by_margins(shared)


def test_margins_cannot_reveal_a_suppressed_cell_brute_force():
    table = make_cells(
        {("a", "2023-01"): 2, ("a", "2023-02"): 6, ("b", "2023-01"): 9, ("b", "2023-02"): 5}
    )
    without = suppress_counts(table, "incidents", 5)
    assert len(without.complementary) == 0
    shared = suppress_counts(table, "incidents", 5, margins=MARGINS)
    assert shared.cells["suppressed"].sum() >= 2
    assert not _solvable_by_margins(shared)


def test_small_total_is_suppressed_and_cannot_be_recovered_from_grand_total():
    table = make_cells(
        {("a", "2023-01"): 3, ("a", "2023-02"): 0, ("b", "2023-01"): 6, ("b", "2023-02"): 9}
    )
    shared = suppress_counts(table, "incidents", 5, margins=[("area_id",), ()])
    totals = shared.totals[("area_id",)].set_index("area_id")
    assert totals.loc["a", "suppressed"]
    # Grand total 18 minus row b's 15 would give row a's 3.
    assert not _solvable_by_margins(shared)


@pytest.mark.parametrize("seed", range(6))
def test_random_tables_with_all_margins_resist_a_linear_programming_attack(seed):
    rng = np.random.default_rng(seed)
    counts = {
        (a, m): int(rng.choice([0, 1, 2, 3, 4, 6, 9, 15, 30]))
        for a in "abcde"
        for m in ("2023-01", "2023-02", "2023-03", "2023-04")
    }
    shared = suppress_counts(make_cells(counts), "incidents", 5, margins=MARGINS)
    cells = shared.to_frame()
    assert cells.loc[cells["incidents_raw"].between(1, 4), "suppressed"].all()
    assert not _solvable_by_margins(shared)


def test_rates_on_suppressed_counts_are_blanked():
    shared = suppress_counts(
        make_cells({("a", "2023-01"): 2, ("b", "2023-01"): 40}), "incidents", 5
    ).shared()
    shared["rate_per_10k"] = [1.5, 3.2]
    out = suppress_dependent(shared, ["rate_per_10k"], on="incidents")
    assert pd.isna(out.loc[0, "rate_per_10k"])
    assert out.loc[1, "rate_per_10k"] == pytest.approx(3.2)


def test_aggregate_counts_by_hexagon_and_month_includes_zero_cells():
    incidents = make_incidents(200)
    incidents["h3_cell"] = to_h3_cells(incidents["longitude"], incidents["latitude"], 7)
    incidents["month"] = month_floor(incidents["occurred_at"])
    index = pd.MultiIndex.from_product(
        [incidents["h3_cell"].unique(), ["2023-01", "2023-02", "2023-03"]],
        names=["h3_cell", "month"],
    ).to_frame(index=False)
    shared = aggregate_counts(incidents, ["h3_cell", "month"], k=5, index=index)
    cells = shared.to_frame()
    assert cells["incidents_raw"].sum() == 200
    assert (cells.loc[cells["month"] == "2023-03", "incidents"] == 0).all()
    small = cells["incidents_raw"].between(1, 4)
    assert cells.loc[small, "incidents"].isna().all()
    assert not cells.loc[~small, "incidents"].isna().any()


def test_aggregate_counts_refuses_timestamps():
    with pytest.raises(DisclosureError, match="month_floor"):
        aggregate_counts(make_incidents(10), ["occurred_at"], k=5)


def test_month_floor_gives_year_month_labels():
    times = pd.Series(pd.to_datetime(["2023-04-30T23:59Z", "2023-05-01T00:00Z", None], utc=True))
    labels = month_floor(times)
    assert labels.iloc[:2].tolist() == ["2023-04", "2023-05"]
    assert pd.isna(labels.iloc[2])


def test_hexagons_are_polygons_around_their_cell():
    cells = to_h3_cells([31.5, 31.6], [4.8, 4.9], 8)
    polygons = h3_polygons(cells)
    assert polygons.crs == "EPSG:4326"
    lat, lng = h3.cell_to_latlng(cells.iloc[0])
    assert polygons.iloc[0].contains(gpd.points_from_xy([lng], [lat])[0])
    frame = to_hexagon_frame(pd.DataFrame({"h3_cell": cells, "incidents": [5, 6]}))
    assert isinstance(frame, gpd.GeoDataFrame) and len(frame) == 2


def test_month_floor_reads_aware_times_in_the_mission_zone():
    times = pd.Series(pd.to_datetime(["2023-04-30T23:00Z"], utc=True), index=[7])
    assert month_floor(times).loc[7] == "2023-04"
    assert month_floor(times, timezone="Africa/Juba").loc[7] == "2023-05"
    assert month_floor([pd.Timestamp("2023-01-31")]).tolist() == ["2023-01"]


def test_mission_without_incidents_gives_zero_cells_and_totals():
    empty = pd.DataFrame(
        {"area_id": pd.Series([], dtype="string"), "month": pd.Series([], dtype="string")}
    )
    index = pd.DataFrame({"area_id": ["a", "b"], "month": ["2023-01", "2023-01"]})
    shared = aggregate_counts(empty, ["area_id", "month"], k=5, margins=[()], index=index)
    assert shared.shared()["incidents"].tolist() == [0, 0]
    assert shared.shared_totals(())["incidents"].tolist() == [0]
    assert not shared.cells["suppressed"].any()


# --- adaptive aggregation: mixed resolutions ----------------------------------------------------


def make_sparse_gaps(seed: int, resolution: int = 7) -> pd.DataFrame:
    """Dense clusters and scattered reports over about 5 x 5 degrees, as a one-period gap list."""
    rng = np.random.default_rng(seed)
    lon, lat = [], []
    for _ in range(6):  # towns: a few dozen reports spread over a few kilometres
        centre = rng.uniform([20.0, 2.0], [25.0, 7.0])
        n = int(rng.integers(15, 30))
        lon += list(centre[0] + rng.normal(0, 0.03, n))
        lat += list(centre[1] + rng.normal(0, 0.03, n))
    for _ in range(4):  # villages around a market: a handful each
        centre = rng.uniform([20.0, 2.0], [25.0, 7.0])
        lon += list(centre[0] + rng.normal(0, 0.15, 5))
        lat += list(centre[1] + rng.normal(0, 0.15, 5))
    lon += list(rng.uniform(20.0, 25.0, 30))  # and single reports anywhere
    lat += list(rng.uniform(2.0, 7.0, 30))
    cells = to_h3_cells(lon, lat, resolution)
    covered = rng.random(len(cells)) < 0.4
    frame = pd.DataFrame({"h3_cell": cells.to_numpy(), "covered": covered})
    gaps = frame.groupby("h3_cell").agg(incidents=("covered", "size"),
                                        incidents_covered=("covered", "sum")).reset_index()
    gaps.insert(0, "period", pd.NaT)
    return gaps


def test_adaptive_cells_merge_sparse_places_and_keep_dense_ones():
    from protection_eval.sharing.disclosure import adaptive_cells

    dense = h3.latlng_to_cell(4.85, 31.6, 7)
    far = h3.latlng_to_cell(6.5, 24.0, 7)  # alone: needs a coarse parent
    neighbours = [c for c in h3.grid_disk(far, 1) if c != far][:2]
    cells = pd.Series([dense, far, *neighbours])
    units = adaptive_cells(cells, pd.Series([12, 2, 2, 1]), 5)
    assert units[0] == dense  # a dense place keeps its fine hexagon
    sparse = set(units[1:])
    assert units.map(lambda u: h3.get_resolution(u)).tolist()[0] == 7
    assert len(sparse) == 1  # the three sparse hexagons share one coarser unit
    unit = sparse.pop()
    assert h3.get_resolution(unit) < 7 and all(
        h3.cell_to_parent(c, h3.get_resolution(unit)) == unit for c in [far, *neighbours])


def _mixed_attack_bounds(gaps: pd.DataFrame, k: int) -> list[tuple[str, float, float, int]]:
    """Bounds an attacker gets on hidden values, knowing every populated fine hexagon.

    Unknowns are the fine hexagons' counts (non-negative). Equations: every shown unit's count
    is the sum of its fine hexagons, and the grand total (shown in the coverage summary) is the
    sum of all. Targets: every suppressed unit and every fine hexagon holding 1 to k-1 reports.
    """
    from scipy.optimize import linprog

    from protection_eval.sharing.disclosure import adaptive_cells

    unit_of = adaptive_cells(gaps["h3_cell"], gaps["incidents"], k).to_numpy()
    units = pd.DataFrame({"h3_cell": unit_of, "incidents": gaps["incidents"].to_numpy()})
    units = units.groupby("h3_cell", as_index=False)["incidents"].sum()
    shown = suppress_counts(units, "incidents", k, margins=[()]).shared()
    raw = gaps["incidents"].to_numpy(dtype=float)
    rows, rhs = [np.ones(len(gaps))], [raw.sum()]
    for unit, count in zip(shown["h3_cell"], shown["incidents"], strict=True):
        if pd.notna(count):
            rows.append((unit_of == unit).astype(float))
            rhs.append(float(count))
    targets = [(f"unit {u}", (unit_of == u).astype(float), int(raw[unit_of == u].sum()))
               for u, c in zip(shown["h3_cell"], shown["incidents"], strict=True) if pd.isna(c)]
    targets += [(f"hexagon {c}", (np.arange(len(gaps)) == i).astype(float), int(raw[i]))
                for i, c in enumerate(gaps["h3_cell"]) if 1 <= raw[i] < k]
    out = []
    for name, c, truth in targets:
        low = linprog(c, A_eq=np.array(rows), b_eq=np.array(rhs), bounds=(0, None))
        high = linprog(-c, A_eq=np.array(rows), b_eq=np.array(rhs), bounds=(0, None))
        out.append((name, low.fun, -high.fun, truth))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_mixed_resolution_units_resist_a_linear_programming_attack(seed):
    from protection_eval.sharing.disclosure import adaptive_cells
    from protection_eval.sharing.forms import to_shared_units

    gaps = make_sparse_gaps(seed)
    units = to_shared_units(gaps, 5)
    assert units["resolution"].nunique() > 1  # mixed resolutions
    # Every report in exactly one unit: its own hexagon or one of its ancestors.
    unit_of = adaptive_cells(gaps["h3_cell"], gaps["incidents"], 5)
    for cell, unit in zip(gaps["h3_cell"], unit_of, strict=True):
        assert h3.cell_to_parent(cell, h3.get_resolution(unit)) == unit
    assert units["incidents"].sum() == gaps["incidents"].sum()
    bounds = _mixed_attack_bounds(gaps, 5)
    assert bounds  # there are hidden values to attack
    for name, low, high, truth in bounds:
        assert low - 1e-6 <= truth <= high + 1e-6
        assert high - low > 0.5, f"{name} is pinned to {low:g} (true {truth})"


@pytest.mark.parametrize("seed", range(4))
def test_sparse_reports_are_shown_in_some_unit_after_merging(seed):
    from protection_eval.sharing.forms import to_shared_units

    gaps = make_sparse_gaps(seed)
    total = gaps["incidents"].sum()
    fixed = suppress_counts(gaps[["h3_cell", "incidents"]], "incidents", 5, margins=[()])
    shown_fixed = fixed.shared()["incidents"].sum()
    units = to_shared_units(gaps, 5)
    adaptive = suppress_counts(units[["h3_cell", "incidents"]], "incidents", 5, margins=[()])
    shown_adaptive = adaptive.shared()["incidents"].sum()
    assert shown_fixed < 0.5 * total  # fixed hexagons hide most reports here...
    assert shown_adaptive >= 0.75 * total  # ...merging shows most of them
