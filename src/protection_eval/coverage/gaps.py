"""Coverage gaps: H3 hexagons with many reported incidents and little patrol presence.

What a commander should look at first. For each month, each hexagon gets its incidents in
scope for point coverage, how many were covered, and a rank (1 = look first): most uncovered
incidents first, then the lowest covered share, then the most incidents.

A place is a *gap* (:func:`is_gap`, docs/coverage.md) only when it has many reports (at least
k) and little patrol presence (at least :data:`GAP_MIN_UNCOVERED_SHARE` of its reports had no
patrol in reach). A place whose reports mostly had a patrol near is ranked here but is not a gap.

The table holds raw counts (restricted). Its shared form is
:func:`protection_eval.sharing.forms.to_shared_gaps`.
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd

from protection_eval.hexgrid import to_h3_cells
from protection_eval.model import to_local_month

#: Smallest share of a place's reports without a patrol in reach for the place to be a gap.
GAP_MIN_UNCOVERED_SHARE = 0.5

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
    period = to_local_month(chosen["occurred_at"], timezone).dt.to_timestamp()
    rows = pd.DataFrame(
        {
            "period": period.to_numpy(),
            "h3_cell": cells.to_numpy(),
            # NA when coverage is unknown (no presence data): the sum stays NA, never 0.
            "covered": coverage.loc[scope, "covered"].astype("Float64").to_numpy(
                dtype=float, na_value=np.nan),
        }
    )
    grouped = rows.groupby(["period", "h3_cell"], sort=True)["covered"]
    gaps = pd.DataFrame(
        {"incidents": grouped.size(), "incidents_covered": grouped.sum(min_count=1)}
    ).reset_index()
    gaps["incidents"] = gaps["incidents"].astype("int64")
    known = gaps["incidents_covered"].notna().all()
    gaps["incidents_covered"] = gaps["incidents_covered"].astype("int64" if known else "Int64")
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


def is_gap(
    gaps: pd.DataFrame, k: int, *, min_uncovered_share: float = GAP_MIN_UNCOVERED_SHARE
) -> pd.Series:
    """Tell which places are gaps: many reports and little patrol presence.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Raw counts per place: ``incidents`` and ``incidents_uncovered`` (as from
        :func:`compute_gaps` or :func:`summarise_gaps`).
    k : int
        "Many reports" means at least ``k``, the mission's suppression threshold (so a gap is
        always a place whose count may be shown).
    min_uncovered_share : float
        Smallest share of the place's reports that had no patrol in reach (0.5: at least
        half). A place whose reports mostly had a patrol near is not a gap.

    Returns
    -------
    pandas.Series
        Boolean, indexed like ``gaps``.
    """
    if not 0 < min_uncovered_share <= 1:
        raise ValueError(f"min_uncovered_share must be in (0, 1], got {min_uncovered_share!r}")
    incidents = gaps["incidents"].astype("float64")
    uncovered = gaps["incidents_uncovered"].astype("float64")
    share = (uncovered / incidents.where(incidents > 0)).fillna(0.0)
    # A small tolerance so that exactly half counts as half despite floating point.
    return (incidents >= k) & (share >= min_uncovered_share - 1e-12)


def rank_gaps(gaps: pd.DataFrame) -> pd.Series:
    """Return the rank of each place (1 = look first) over the rows given.

    Most uncovered reports first, then the lowest covered share, then the most reports, then
    the cell id (so that ties break the same way every run).

    Parameters
    ----------
    gaps : pandas.DataFrame
        ``h3_cell``, ``incidents``, ``incidents_uncovered``, ``covered_share``.

    Returns
    -------
    pandas.Series
        int64 ranks, indexed like ``gaps``.
    """
    order = gaps.sort_values(
        ["incidents_uncovered", "covered_share", "incidents", "h3_cell"],
        ascending=[False, True, False, True],
        kind="stable",
    ).index
    return pd.Series(range(1, len(order) + 1), index=order, dtype="int64").reindex(gaps.index)


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
    total = gaps.groupby("h3_cell", sort=True)[["incidents", "incidents_covered"]].sum(
        min_count=1)
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
