"""Coverage gaps: H3 hexagons with many reported incidents and little patrol presence.

What a commander should look at first. For each month, each hexagon gets its incidents in
scope for point coverage, how many were covered, and a rank (1 = look first): most uncovered
incidents first, then the lowest covered share, then the most incidents.

The restricted table holds raw counts. :func:`to_shared_gaps` is the only form meant for the shared
part of a run: it goes through :mod:`protection_eval.sharing.disclosure` (counts from 1 to k-1
suppressed, shares built on them blanked, months as ``"YYYY-MM"`` labels).
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd

from protection_eval.coverage.areas import local_naive
from protection_eval.sharing.disclosure import h3_polygons, suppress_counts, to_h3_cells

GAP_COLUMNS: tuple[str, ...] = (
    "period",
    "h3_cell",
    "incidents",
    "incidents_covered",
    "incidents_uncovered",
    "covered_share",
    "rank",
)


def compute_gaps(
    incidents: pd.DataFrame,
    coverage: pd.DataFrame,
    *,
    resolution: int = 7,
    timezone: str = "UTC",
) -> pd.DataFrame:
    """Rank H3 hexagons by reported incidents left without patrol coverage, per month.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Canonical incidents: ``longitude``, ``latitude`` (EPSG:4326), ``occurred_at`` (UTC).
    coverage : pandas.DataFrame
        The per-incident coverage table (``in_scope``, ``covered``), same index.
    resolution : int
        H3 resolution (7: about 5 km2 per hexagon).
    timezone : str
        Mission time zone, for local months.

    Returns
    -------
    pandas.DataFrame
        :data:`GAP_COLUMNS`: ``period`` (naive first day of the month), ``h3_cell``,
        ``incidents``, ``incidents_covered``, ``incidents_uncovered`` (int64),
        ``covered_share`` (float), ``rank`` (int64, 1 = look first, per month). Restricted:
        raw counts.
    """
    scope = coverage["in_scope"].to_numpy(dtype=bool)
    chosen = incidents.loc[scope]
    if len(chosen) == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in GAP_COLUMNS}).astype(
            {"period": "datetime64[ns]", "h3_cell": "string", "covered_share": "float64"}
        )
    cells = to_h3_cells(chosen["longitude"], chosen["latitude"], resolution)
    period = local_naive(chosen["occurred_at"], timezone).dt.to_period("M").dt.to_timestamp()
    rows = pd.DataFrame(
        {
            "period": period.to_numpy(),
            "h3_cell": cells.to_numpy(),
            "covered": coverage.loc[scope, "covered"].to_numpy(dtype=bool),
        }
    )
    grouped = rows.groupby(["period", "h3_cell"], sort=True)["covered"]
    gaps = pd.DataFrame(
        {"incidents": grouped.size(), "incidents_covered": grouped.sum()}
    ).reset_index()
    gaps["incidents"] = gaps["incidents"].astype("int64")
    gaps["incidents_covered"] = gaps["incidents_covered"].astype("int64")
    return _rank(gaps)


def _rank(gaps: pd.DataFrame) -> pd.DataFrame:
    """Add ``incidents_uncovered``, ``covered_share`` and the per-period ``rank``."""
    gaps["incidents_uncovered"] = gaps["incidents"] - gaps["incidents_covered"]
    gaps["covered_share"] = gaps["incidents_covered"] / gaps["incidents"]
    gaps = gaps.sort_values(
        ["period", "incidents_uncovered", "covered_share", "incidents", "h3_cell"],
        ascending=[True, False, True, False, True],
        kind="stable",
        na_position="first",
    )
    gaps["rank"] = gaps.groupby("period", dropna=False).cumcount().astype("int64") + 1
    return gaps.reset_index(drop=True)[list(GAP_COLUMNS)]


def summarise_gaps(gaps: pd.DataFrame) -> pd.DataFrame:
    """Return the gap list over the whole period (``period`` NaT), ranked the same way.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Monthly gaps from :func:`compute_gaps`.

    Returns
    -------
    pandas.DataFrame
        :data:`GAP_COLUMNS`, one row per hexagon.
    """
    total = gaps.groupby("h3_cell", sort=True)[["incidents", "incidents_covered"]].sum()
    total = total.reset_index()
    total.insert(0, "period", pd.Series(pd.NaT, index=total.index, dtype="datetime64[ns]"))
    return _rank(total)


def place_names(cells: pd.Series, areas: gpd.GeoDataFrame) -> pd.Series:
    """Return the name of the area holding each hexagon's centre (NA outside every area).

    Parameters
    ----------
    cells : pandas.Series
        H3 cell ids.
    areas : geopandas.GeoDataFrame
        Areas with ``name``, any CRS.
    """
    lat_lng = [h3.cell_to_latlng(str(c)) for c in cells]
    centres = gpd.points_from_xy([p[1] for p in lat_lng], [p[0] for p in lat_lng])
    points = gpd.GeoDataFrame(geometry=centres, crs="EPSG:4326").to_crs(areas.crs)
    hits = gpd.sjoin(points, areas[["name", "geometry"]], predicate="within", how="left")
    names = hits[~hits.index.duplicated()]["name"].astype("string")
    return pd.Series(names.to_numpy(), index=cells.index, dtype="string", name="place")


def to_shared_gaps(
    gaps: pd.DataFrame,
    k: int,
    *,
    top: int | None = 20,
    areas: gpd.GeoDataFrame | None = None,
    label: str = "",
) -> pd.DataFrame:
    """Return a one-period gap list in its shared form.

    The shared part of a run also shows the mission's totals (incidents in scope, covered), so each
    of the three hexagon counts (incidents, covered, uncovered) is suppressed with the grand total
    as a margin: counts from 1 to k-1 are hidden, and enough others that no hidden count can be
    solved for from the total (:func:`protection_eval.sharing.disclosure.suppress_counts`). Only
    hexagons whose incident count is visible are listed; ``covered_share`` is shown only when the
    covered and the uncovered counts are visible too. Raw covered and uncovered counts are never
    shown. Monthly lists are not shared: with the whole-period list beside them, a hidden month
    could be solved for from the hexagon's total.

    Parameters
    ----------
    gaps : pandas.DataFrame
        One period of :func:`compute_gaps` output, every hexagon of it (e.g. from
        :func:`summarise_gaps`), so that the margins are right.
    k : int
        Suppression threshold (at least 5; see :func:`protection_eval.sharing.disclosure.check_k`).
    top : int or None
        Rows kept (None: all).
    areas : geopandas.GeoDataFrame, optional
        Areas with ``name``: adds ``place``, the area holding the hexagon's centre.
    label : str
        Text for the ``period`` column, e.g. ``"2022-01 to 2023-12"``.

    Returns
    -------
    pandas.DataFrame
        ``period`` (``label``), ``h3_cell``, ``place`` (with ``areas``), ``incidents`` (Int64),
        ``covered_share`` (Float64, NA where it could disclose a small count), ``rank`` (1 =
        look first).

    Raises
    ------
    ValueError
        When ``gaps`` holds more than one period.
    """
    columns = ["period", "h3_cell", *(["place"] if areas is not None else []), "incidents",
               "covered_share", "rank"]
    if gaps["period"].nunique(dropna=False) > 1:
        raise ValueError("to_shared_gaps takes one period: pass summarise_gaps(gaps)")
    if len(gaps) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    gaps = gaps.reset_index(drop=True)
    shown = {}
    for column in ("incidents", "incidents_covered", "incidents_uncovered"):
        cells = gaps[["h3_cell", column]]
        shown[column] = suppress_counts(cells, column, k, margins=[()]).shared()[column]
    table = pd.DataFrame({"period": label, "h3_cell": gaps["h3_cell"].to_numpy()})
    table["incidents"] = pd.array(shown["incidents"].to_numpy(), dtype="Int64")
    share = pd.array(gaps["covered_share"].to_numpy(), dtype="Float64")
    hidden = (shown["incidents_covered"].isna() | shown["incidents_uncovered"].isna()).to_numpy()
    share[hidden] = pd.NA
    table["covered_share"] = share
    visible = table["incidents"].notna().to_numpy()
    table = table.assign(_u=gaps["incidents_uncovered"].to_numpy(),
                         _s=gaps["covered_share"].to_numpy()).loc[visible]
    table = table.sort_values(["_u", "_s", "incidents", "h3_cell"],
                              ascending=[False, True, False, True], kind="stable")
    table["rank"] = np.arange(1, len(table) + 1, dtype=np.int64)
    if top is not None:
        table = table[table["rank"] <= top]
    table = table.reset_index(drop=True)
    if areas is not None:
        table["place"] = place_names(table["h3_cell"], areas).to_numpy()
    return table[columns]


def to_gap_layer(gaps: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the restricted gap table with hexagon polygons (EPSG:4326) for a GeoPackage."""
    frame = gaps.copy()
    frame["h3_cell"] = frame["h3_cell"].astype(str)
    geometry = h3_polygons(frame["h3_cell"].reset_index(drop=True))
    geometry.index = frame.index
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
