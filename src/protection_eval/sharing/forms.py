"""The shared form of every table and layer: the one place a privacy reviewer reads.

Each function here takes a restricted result (raw counts) and returns what may leave the
evaluation team: aggregated places (H3 hexagons, areas), months, counts from 1 to k-1 suppressed
through :mod:`protection_eval.sharing.disclosure` (one :func:`check_k`), and complementary
suppression wherever totals are shown beside cells. Writers (:mod:`protection_eval.runs.outputs`)
write only what these functions return, and a run publishes only after the audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from protection_eval.config import MIN_K
from protection_eval.coverage.gaps import is_gap, place_names, rank_gaps
from protection_eval.effects.vocabulary import CAVEATS
from protection_eval.hexgrid import (
    cell_resolution,
    hexagon_area_km2,
    to_hexagon_footprint,
    to_hexagon_frame,
)
from protection_eval.labels import NOT_COMPUTED, NOT_SHOWN, OK, SHOWN_REASON
from protection_eval.projection import total_area_km2
from protection_eval.sharing.context import MapContext, prepare_context_layers
from protection_eval.sharing.disclosure import (
    MIN_ADAPTIVE_RESOLUTION,
    DisclosureError,
    adaptive_cells,
    check_k,
    suppress_counts,
)
from protection_eval.sharing.map_text import CoverageNote, MapText
from protection_eval.sharing.maps import (
    CoverageMap,
    CoverageSubject,
    MapStyle,
    make_coverage_map,
)
from protection_eval.sharing.svgmap import to_svg_map

if TYPE_CHECKING:
    from protection_eval.config import MissionConfig
    from protection_eval.coverage.mission import CoverageResult
    from protection_eval.effects.mission import MissionEffects
    from protection_eval.planning import MonthPlan

__all__ = [
    "coarsest_resolution",
    "PLAN_CSV_COLUMNS",
    "to_coverage_map_layers",
    "to_effects_table",
    "to_shared_coverage_gaps",
    "to_shared_coverage_map",
    "to_shared_coverage_summary",
    "to_shared_gaps",
    "to_shared_plan",
    "to_shared_plan_map",
    "to_shared_svg_map",
    "to_shared_units",
]

#: Counts of the summary that are suppressed in the shared form when from 1 to k-1.
_SUMMARY_COUNTS: tuple[str, ...] = (
    "incidents_total",
    "incidents_in_scope",
    "incidents_covered",
    "incidents_left_out_by_precision",
    "incidents_left_out_presence_unknown",
    "incidents_left_out_other",
    "incidents_date_only",
    "incidents_range_across_window",
)


def to_shared_coverage_summary(summary: Mapping[str, Any], k: int) -> dict[str, Any]:
    """Return a coverage summary (``CoverageResult.summary``) as it may be shared.

    The summary is :attr:`protection_eval.coverage.CoverageResult.summary`.

    A count from 1 to k-1 becomes None, and so does anything that would let it be solved
    for: the in-scope and left-out counts (which add up to the total) are hidden together,
    the covered count when the uncovered count is small, and the covered share with either.
    """
    k = check_k(k)
    out = dict(summary)

    def small(value: Any) -> bool:
        return value is not None and 1 <= int(value) < k

    hide = {key for key in _SUMMARY_COUNTS if small(out.get(key))}
    parts = {"incidents_in_scope", "incidents_left_out_by_precision",
             "incidents_left_out_presence_unknown", "incidents_left_out_other"}
    if hide & parts:
        hide |= parts
    unknown = out.get("incidents_covered") is None or out.get("incidents_in_scope") is None
    uncovered = None if unknown else int(out["incidents_in_scope"]) - int(out["incidents_covered"])
    if small(uncovered):
        hide.add("incidents_covered")
    if hide & {"incidents_covered", "incidents_in_scope"}:
        if out.get("covered_share") is not None:
            # Hidden, not missing: the share was computed and is withheld for safety.
            out["covered_share_status"] = NOT_SHOWN
            out["covered_share_reason"] = SHOWN_REASON.format(k=k)
        out["covered_share"] = None
    for key in hide:
        out[key] = None
    out["suppression_k"] = k
    return out


def to_shared_units(
    gaps: pd.DataFrame,
    k: int,
    *,
    adaptive: bool = True,
    min_resolution: int = MIN_ADAPTIVE_RESOLUTION,
) -> pd.DataFrame:
    """Return the places of a one-period gap list as shared units, with raw counts (restricted).

    With ``adaptive``, hexagons holding from 1 to k-1 reports merge into coarser H3 parents,
    place by place (:func:`protection_eval.sharing.disclosure.adaptive_cells`); the counts are
    summed per unit. A coarse unit counts only the reports outside the finer units drawn on
    it, so the units split the reports into disjoint sets. Every shared layer and table of a
    run uses these same units, so that no hidden count is a difference of shown ones.

    Parameters
    ----------
    gaps : pandas.DataFrame
        One period of :func:`protection_eval.coverage.gaps.compute_gaps` output, every hexagon.
    k : int
        Suppression threshold (at least 5).
    adaptive : bool
        Merge sparse hexagons upward (True) or keep the gap resolution everywhere.
    min_resolution : int
        Coarsest H3 resolution of a merged unit.

    Returns
    -------
    pandas.DataFrame
        ``h3_cell`` (the unit), ``resolution``, ``incidents``, ``incidents_covered``,
        ``incidents_uncovered`` (Int64; covered NA where coverage is unknown) and
        ``covered_share``: raw, for the shared forms to
        suppress.
    """
    k = check_k(k)
    columns = ["h3_cell", "resolution", "incidents", "incidents_covered",
               "incidents_uncovered", "covered_share"]
    if len(gaps) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    gaps = gaps.reset_index(drop=True)
    units = (adaptive_cells(gaps["h3_cell"], gaps["incidents"], k,
                            min_resolution=min_resolution)
             if adaptive else gaps["h3_cell"].astype(str))
    # Covered counts are unknown (NA) for a mission without presence data: they stay unknown.
    summed = (gaps[["incidents", "incidents_covered"]].astype("Int64")
              .groupby(units.to_numpy(), sort=True).sum(min_count=1))
    table = summed.rename_axis("h3_cell").reset_index()
    table["resolution"] = [cell_resolution(c) for c in table["h3_cell"]]
    table["incidents_uncovered"] = table["incidents"] - table["incidents_covered"]
    table["covered_share"] = table["incidents_covered"] / table["incidents"].where(
        table["incidents"] > 0)
    return table[columns]


def to_shared_gaps(
    gaps: pd.DataFrame,
    k: int,
    *,
    top: int | None = 20,
    areas: gpd.GeoDataFrame | None = None,
    label: str = "",
    adaptive: bool = True,
    min_resolution: int = MIN_ADAPTIVE_RESOLUTION,
) -> pd.DataFrame:
    """Return a one-period gap list in its shared form: gaps only, ranked.

    The places are the shared units of :func:`to_shared_units` (hexagons, merged into coarser
    parents where sparse). The shared part of a run also shows the mission's totals (incidents
    in scope, covered), so each of the three unit counts (incidents, covered, uncovered) is
    suppressed with the grand total as a margin: counts from 1 to k-1 are hidden, and enough
    others that no hidden count can be solved for from the total
    (:func:`protection_eval.sharing.disclosure.suppress_counts`). A unit is listed only when it
    is a gap (:func:`protection_eval.coverage.gaps.is_gap`: at least k reports and at least half
    of them without a patrol in reach) and its incident count is visible; ``covered_share`` is
    shown only when the covered and the uncovered counts are visible too. Raw covered and
    uncovered counts are never shown. Monthly lists are not shared: with the whole-period list
    beside them, a hidden month could be solved for from the unit's total.

    Parameters
    ----------
    gaps : pandas.DataFrame
        One period of :func:`~protection_eval.coverage.compute_gaps` output, every hexagon of
        it (e.g. from :func:`~protection_eval.coverage.summarise_gaps`), so that the margins are
        right.
    k : int
        Suppression threshold (at least 5; see :func:`protection_eval.sharing.disclosure.check_k`).
    top : int or None
        Rows kept (None: all).
    areas : geopandas.GeoDataFrame, optional
        Areas with ``name``: adds ``place``, the area holding the unit's centre.
    label : str
        Text for the ``period`` column, e.g. ``"2022-01 to 2023-12"``.
    adaptive, min_resolution
        See :func:`to_shared_units`.

    Returns
    -------
    pandas.DataFrame
        ``period`` (``label``), ``h3_cell``, ``resolution`` (the unit's H3 resolution),
        ``place`` (with ``areas``), ``incidents`` (Int64), ``covered_share`` (Float64, NA where
        it could disclose a small count), ``rank`` (1 = look first: most reports without a
        patrol in reach, then the lowest covered share), ``status`` (``ok``, or ``not_shown``
        where the share is hidden) and ``reason``, sorted by rank.

    Raises
    ------
    ValueError
        When ``gaps`` holds more than one period.
    """
    columns = ["period", "h3_cell", "resolution", *(["place"] if areas is not None else []),
               "incidents", "covered_share", "rank", "status", "reason"]
    if len(gaps) and gaps["period"].nunique(dropna=False) > 1:
        raise ValueError("to_shared_gaps takes one period: pass summarise_gaps(gaps)")
    units = to_shared_units(gaps, k, adaptive=adaptive, min_resolution=min_resolution)
    if len(units) == 0:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    shown = {}
    for column in ("incidents", "incidents_covered", "incidents_uncovered"):
        if units[column].isna().any():
            # Coverage unknown (no presence data): nothing to show, nothing to suppress.
            shown[column] = pd.Series(pd.NA, index=units.index, dtype="Int64")
            continue
        cells = units[["h3_cell", column]]
        shown[column] = suppress_counts(cells, column, k, margins=[()]).shared()[column]
    table = pd.DataFrame({"period": label, "h3_cell": units["h3_cell"].to_numpy(),
                          "resolution": units["resolution"].to_numpy(dtype=np.int64)})
    table["incidents"] = pd.array(shown["incidents"].to_numpy(), dtype="Int64")
    share = pd.array(units["covered_share"].to_numpy(), dtype="Float64")
    hidden = (shown["incidents_covered"].isna() | shown["incidents_uncovered"].isna()).to_numpy()
    share[hidden] = pd.NA
    table["covered_share"] = share
    # A hidden share is "not shown" (safety), never "not computed".
    table["status"] = np.where(hidden, NOT_SHOWN, OK)
    table["reason"] = pd.Series(np.where(hidden, SHOWN_REASON.format(k=k), None),
                                dtype="object")
    listed = (table["incidents"].notna() & is_gap(units, k)).to_numpy()
    table = table.loc[listed]
    table["rank"] = rank_gaps(units.loc[listed]).to_numpy()
    table = table.sort_values("rank", kind="stable")
    if top is not None:
        table = table[table["rank"] <= top]
    table = table.reset_index(drop=True)
    if areas is not None:
        table["place"] = place_names(table["h3_cell"], areas).to_numpy()
    return table[columns]


def to_shared_coverage_gaps(
    result: CoverageResult, k: int, *, top: int | None = 20
) -> pd.DataFrame:
    """Return a mission's gap list over the whole period in its shared form.

    ``place`` names the area holding each unit's centre. Monthly gap lists stay in the
    restricted part (:attr:`~protection_eval.coverage.CoverageResult.gaps`); see
    :func:`to_shared_gaps` for the rules. When the gaps could not be ranked
    (``summary["gaps_status"]`` is not ``ok``: no presence data for the incidents' months, no
    incident located precisely enough), the table is one row with no place, that ``status``
    and its ``reason``.
    """
    label = str(result.summary.get("period", ""))
    status = result.summary.get("gaps_status", OK)
    if status != OK:
        # No gap list, and one row that says why: a header alone would read "no gap".
        row = {c: pd.NA for c in ("h3_cell", "resolution", "place", "incidents",
                                  "covered_share", "rank")}
        row.update(period=label, status=status, reason=result.summary.get("gaps_reason"))
        return pd.DataFrame([row])[["period", "h3_cell", "resolution", "place", "incidents",
                                    "covered_share", "rank", "status", "reason"]]
    return to_shared_gaps(result.gaps_overall, k, top=top, areas=result.area_shapes,
                          label=label, min_resolution=coarsest_resolution(result.area_shapes))


def coarsest_resolution(areas: gpd.GeoDataFrame) -> int:
    """Return the coarsest H3 resolution shared units of a mission may merge up to.

    A unit larger than a quarter of the mission's whole area no longer says where to look, so
    the coarsest resolution is the one whose hexagons are at most that large, and never
    coarser than :data:`protection_eval.sharing.disclosure.MIN_ADAPTIVE_RESOLUTION` (3).

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        The mission's areas (any CRS).

    Returns
    -------
    int
        An H3 resolution from 3 to 9.
    """
    if areas is None or len(areas) == 0 or areas.crs is None:
        return MIN_ADAPTIVE_RESOLUTION
    # The geodesic area of the mission in square kilometres (at any extent).
    total_km2 = total_area_km2(areas.geometry)
    for resolution in range(MIN_ADAPTIVE_RESOLUTION, 9):
        if hexagon_area_km2(resolution) <= total_km2 / 4:
            return resolution
    return 9


def to_coverage_map_layers(
    result: CoverageResult, k: int, *, top: int = 20, resolution: int = 8
) -> dict[str, gpd.GeoDataFrame]:
    """Return the shared layers of the coverage map, aggregated and suppressed.

    Parameters
    ----------
    result : CoverageResult
        A mission's coverage.
    k : int
        Suppression threshold (at least 5).
    top : int
        Gap units kept.
    resolution : int
        H3 resolution of the footprint outline (8: hexagons of about 0.7 km2).

    Returns
    -------
    dict
        ``areas`` (name, mean monthly footprint and population shares, patrol-hours,
        women's share; no incident count), ``hexagons`` (incidents in scope per shared unit:
        hexagons at the gap resolution, merged into coarser parents where sparse
        (:func:`to_shared_units`), with ``resolution``; suppressed with the grand total as
        margin), ``footprint`` (the H3 cells whose centre was within reach at some time in the
        period, as one outline: only hexagon vertices, never a point derived from a patrol
        position) and ``gaps`` (``gap_rank``, ``resolution``, incidents, covered share; gaps
        only): keyword arguments of :func:`protection_eval.sharing.maps.make_coverage_map`, all
        in EPSG:4326.
    """
    # No incident count on areas: with unit counts beside them, an area's count minus
    # its visible units could give back a suppressed unit.
    measures = result.areas.groupby("area_id", sort=False)
    hours = result.areas["patrol_hours"].fillna(0.0)
    weighted = (result.areas["women_share"] * hours).groupby(result.areas["area_id"]).sum()
    total_hours = hours.groupby(result.areas["area_id"]).sum()
    per_area = pd.DataFrame(
        {
            "footprint_share": measures["footprint_share"].mean(),
            "population_footprint_share": measures["population_share"].mean(),
            "patrol_hours": measures["patrol_hours"].sum(min_count=1),
            # Hour-weighted over patrols; a plain monthly mean for bases (no patrol-hours).
            "women_share": (weighted / total_hours.where(total_hours > 0)).fillna(
                measures["women_share"].mean()
            ),
        }
    ).reset_index()
    shapes = result.area_shapes[["area_id", "name", "geometry"]].copy()
    shapes["area_id"] = shapes["area_id"].astype(str)
    areas = shapes.merge(per_area, on="area_id", how="left")

    coarsest = coarsest_resolution(result.area_shapes)
    every = to_shared_gaps(result.gaps_overall, k, top=None, min_resolution=coarsest)
    units = to_shared_units(result.gaps_overall, k, min_resolution=coarsest)
    counts = suppress_counts(units[["h3_cell", "resolution", "incidents"]], "incidents", k,
                             margins=[()]).shared()
    # Coarse units first, so that the finer units they surround are drawn on top of them.
    counts = counts.sort_values(["resolution", "h3_cell"], kind="stable").reset_index(drop=True)
    hexagons = to_hexagon_frame(counts[["h3_cell", "resolution", "incidents"]])
    gaps = every[every["rank"] <= top].rename(columns={"rank": "gap_rank"})
    gaps = to_hexagon_frame(
        gaps[["gap_rank", "h3_cell", "resolution", "incidents", "covered_share"]])

    footprint = to_hexagon_footprint(result.footprints, resolution)
    return {"areas": areas, "hexagons": hexagons, "footprint": footprint, "gaps": gaps}


def to_shared_coverage_map(
    result: CoverageResult, config: MissionConfig, context: MapContext | None = None
) -> CoverageMap:
    """Build the shared coverage map of a mission with :mod:`protection_eval.sharing.maps`.

    Parameters
    ----------
    result : CoverageResult
        The mission's coverage.
    config : MissionConfig
        For the mission code, period, SYNTHETIC flag, ``k``, the tile server (if any) and the
        language of the map's words (``sharing.language``).
    context : MapContext, optional
        The mission's context layers and basemap as read
        (:func:`protection_eval.runs.missions.load_map_context`), drawn under the data.

    Returns
    -------
    protection_eval.sharing.maps.CoverageMap
        Call ``to_html()`` for the offline page.
    """
    k = config.sharing.min_count
    text = MapText.of(config.sharing.language)
    subject = CoverageSubject(
        mission=config.mission,
        period=text.period(config.period.start, config.period.end),
        synthetic=config.synthetic,
        radius_m=result.params.radius_m,
        presence="bases" if result.model == "bases" else "patrols",
        note=_map_note(result.summary),
    )
    return make_coverage_map(**to_coverage_map_layers(result, k), subject=subject, k=k,
                             style=_map_style(config), context=context)


def _map_style(config: MissionConfig) -> MapStyle:
    """Return the mission's map style: its language and its tile server, if it names one."""
    tiles = config.sharing.tile_server
    return MapStyle(
        language=config.sharing.language,
        tile_url=None if tiles is None else tiles.url,
        tile_attribution=None if tiles is None else tiles.attribution,
    )


def _map_note(summary: Mapping[str, Any]) -> CoverageNote | None:
    """Return the legend's notes: coverage not computed, months without data, imprecise reports."""
    imprecise = summary.get("incidents_left_out_by_precision") or 0
    radius_m = summary.get("radius_m")
    presence = summary.get("presence") or {}
    note = CoverageNote(
        not_computed=summary.get("covered_share_status") == NOT_COMPUTED,
        months_without_data=tuple((str(a), str(b))
                                  for a, b in presence.get("spans_without_data") or []),
        imprecise_radius_km=float(radius_m) / 1000 if imprecise > 0 and radius_m else None,
    )
    return note or None


def to_shared_svg_map(
    result: CoverageResult, config: MissionConfig, context: MapContext | None = None
) -> str:
    """Draw the shared coverage map as the printable SVG of the brief (same layers, no words).

    Parameters
    ----------
    result : CoverageResult
        The mission's coverage.
    config : MissionConfig
        For ``k``.
    context : MapContext, optional
        The mission's context layers: its main places and roads are drawn too.

    Returns
    -------
    str
        An SVG document (:func:`protection_eval.sharing.svgmap.to_svg_map`).
    """
    k = config.sharing.min_count
    layers = to_coverage_map_layers(result, k)
    drawn = ([] if context is None or not context.sources else
             prepare_context_layers(context.sources, layers["areas"].to_crs(4326).total_bounds,
                                    budget_bytes=None, max_places=None))
    return to_svg_map(**layers, k=k, context=drawn)


#: Numbers blanked in ``effects.csv`` for a model on fewer than ``k`` incidents.
_SUPPRESSED_NUMBERS = ["irr", "ci_low", "ci_high", "p_value", "alpha", "theta", "alpha_se",
                       "boot_p_value", "boot_ci_low", "boot_ci_high", "se_log_irr",
                       "breakdown_m"]
#: Decimals kept in ``effects.csv``: ratios to 4; ``se_log_irr`` to 6 so that pooling across
#: missions does not inherit the interval's rounding; ``breakdown_m`` to 2.
_DECIMALS = {"irr": 4, "ci_low": 4, "ci_high": 4, "boot_ci_low": 4, "boot_ci_high": 4,
             "se_log_irr": 6, "breakdown_m": 2}
#: Numbers kept to 3 significant digits.
_SIGNIFICANT = ("p_value", "boot_p_value", "alpha", "theta", "alpha_se")


def to_effects_table(effects: MissionEffects, *, min_count: int = MIN_K) -> pd.DataFrame:
    """Return the shareable ``effects.csv`` table.

    An estimate whose model holds fewer than ``min_count`` incidents is suppressed: its ratio,
    interval, p-value, dispersion, bootstrap p-value and interval, standard error, breakdown
    value and incident total are blanked, the caveat says why and ``status`` is ``not_shown``.
    A headline estimate that could not be made (a strategy never active, too few areas for
    the within-reach ratio...) is a row without numbers whose ``status`` is ``not_computed``
    or ``not_estimable`` and whose ``reason`` says what is missing
    (:attr:`~protection_eval.effects.mission.MissionEffects.not_estimated`). Ratios and
    intervals are rounded to 4 decimals, ``se_log_irr`` to 6, ``breakdown_m`` to 2, p-values
    and dispersion to 3 significant digits: the precision the estimates have, and the same
    digits on any machine or thread count.

    Parameters
    ----------
    effects : MissionEffects
        A mission's estimates.
    min_count : int
        Disclosure threshold ``k`` (checked by :func:`check_k`: 5 or more).

    Returns
    -------
    pandas.DataFrame
        :data:`~protection_eval.effects.mission.EFFECTS_CSV_COLUMNS`, one row per strategy and
        estimand.
    """
    # Imported here: the estimators it comes with (statsmodels) are not needed to show a map.
    from protection_eval.effects.mission import EFFECTS_CSV_COLUMNS

    k = check_k(min_count)
    table = effects.to_frame()
    small = table["n_incidents"] < k
    if small.any():
        table["n_incidents"] = table["n_incidents"].astype("Int64")
        table.loc[small, _SUPPRESSED_NUMBERS] = np.nan
        table.loc[small, "boot_weights"] = ""
        table.loc[small, "n_incidents"] = pd.NA
        table.loc[small, "caveats"] = CAVEATS["suppressed"].format(k=k)
        table.loc[small, "status"] = NOT_SHOWN
        table.loc[small, "reason"] = SHOWN_REASON.format(k=k)
    table[list(_DECIMALS)] = table[list(_DECIMALS)].astype(float).round(_DECIMALS)
    for column in _SIGNIFICANT:
        table[column] = table[column].map(
            lambda p: p if pd.isna(p) or np.isinf(p) else float(f"{p:.3g}")
        )
    missing = pd.DataFrame(
        [{"mission": effects.mission, "strategy_id": m.strategy_id, "estimand": m.estimand,
          "headline": m.estimand == "deployment", "status": m.status, "reason": m.reason}
         for m in effects.not_estimated],
        columns=["mission", "strategy_id", "estimand", "headline", "status", "reason"])
    if len(missing):
        table = pd.concat([table, missing.reindex(columns=table.columns)], ignore_index=True)
    return table[EFFECTS_CSV_COLUMNS]


# --- the patrol plan (issue 30) -----------------------------------------------------------------

#: Columns of the shared ``plan.csv``.
PLAN_CSV_COLUMNS = ["month", "h3_cell", "planned_hours", "priority", "randomised", "block"]


def _plan_rows(plan: MonthPlan) -> pd.DataFrame:
    if plan.k is None:
        raise DisclosureError(
            "this plan was made from unmerged hexagon counts: only a plan whose risk was built "
            "from the shared units (plan_month(..., coarsen=adaptive_cells)) may be shared")
    check_k(plan.k)
    units = plan.plan.units
    chosen = units[units["planned"] | units["randomised"]].sort_values(["priority", "h3_cell"])
    return chosen.reset_index(drop=True)


def to_shared_plan(plan: MonthPlan) -> pd.DataFrame:
    """Return a month's plan as ``plan.csv`` may show it: hexagons, hours, priority, pairs.

    Only the hexagons the plan patrols and both units of each randomised pair are listed; no
    count or expected number of reports is. The plan's risk was built from the shared units of
    the mission's maps (hexagons holding from 1 to k-1 reports merged into coarser ones,
    :func:`protection_eval.sharing.disclosure.adaptive_cells`), so neither hours nor priority
    depend on any count from 1 to k-1 (``docs/planning.md``). Priority is the order of the
    listed hexagons (1 = most reports within reach per patrol-hour); hours are rounded to a
    tenth.

    Parameters
    ----------
    plan : MonthPlan
        From :func:`protection_eval.planning.plan_month` with ``coarsen``.

    Returns
    -------
    pandas.DataFrame
        :data:`PLAN_CSV_COLUMNS`.

    Raises
    ------
    DisclosureError
        When the plan was made without the shared units.
    """
    rows = _plan_rows(plan)
    return pd.DataFrame({
        "month": str(plan.month),
        "h3_cell": rows["h3_cell"].astype(str),
        "planned_hours": rows["planned_hours"].astype(float).round(1),
        "priority": np.arange(1, len(rows) + 1),
        "randomised": rows["randomised"].astype(bool),
        "block": rows["block"].astype(str),
    }, columns=PLAN_CSV_COLUMNS)


def to_shared_plan_map(plan: MonthPlan, config: MissionConfig,
                       areas: gpd.GeoDataFrame) -> CoverageMap:
    """Return the shared map of a month's plan, in the mission's language.

    Parameters
    ----------
    plan : MonthPlan
        As :func:`to_shared_plan`.
    config : MissionConfig
        Mission code, language, tile server, synthetic flag.
    areas : geopandas.GeoDataFrame
        The mission's areas (outlines only).

    Returns
    -------
    CoverageMap
        The map (``to_html()`` for the page).
    """
    from protection_eval.planning import EQUIPOISE, RISK_CAVEAT
    from protection_eval.sharing.maps import make_plan_map

    table = to_shared_plan(plan)
    arms = _plan_rows(plan)["arm"].astype(str).to_numpy()
    layer = to_hexagon_frame(table.assign(arm=arms)[["h3_cell", "planned_hours", "priority",
                                                     "arm", "block"]])
    return make_plan_map(
        areas, layer,
        mission=config.mission, month=str(plan.month), synthetic=bool(config.synthetic),
        equipoise=EQUIPOISE, caveat=RISK_CAVEAT,
        style=_map_style(config),
    )
