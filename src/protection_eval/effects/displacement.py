"""Did reports move next door? Ring exposure inside the stacked design (displacement, diffusion).

A commander's first question about a patrol is whether violence, or its reporting, just moved to
the next area. It also biases the headline silently: the stacked design's controls are often the
treated areas' neighbours, and if reports move to them, the controls rise and the drop in treated
areas looks larger than it is.

The ring design (Butts 2023's ring difference-in-differences, in the Poisson stacked design):

1. **Rings by contiguity.** Two areas are neighbours when their boundaries touch (within
   :data:`CONTIGUITY_TOLERANCE_M`, so slivers between digitised boundaries do not break a
   contact); the contiguity distance is the number of steps on that graph.
2. **Exposure by period.** In each period, an area without the strategy is in ring ``d`` when
   the nearest area with the strategy active is ``d`` steps away (``d = 1 .. rings``), weighted
   by that area's active share and by the share of the period the area itself was without it:
   ``ring_1 = (1 - own share) * max share 1 step away``, ``ring_2 = (1 - own share) * (1 -
   max share 1 step away) * max share 2 steps away``. An area with the strategy is the centre
   of its rings, in no one's ring: its change, spill-over from other treated areas included,
   is the direct effect.
3. **Model.** The stacked sub-panels of :func:`~protection_eval.effects.event_study.
   make_stacked_panel` (each cohort against areas not yet treated by the end of its window) are
   fitted with the cohort's own dose and the ring exposures, area-by-stack and period-by-stack
   fixed effects, errors clustered by area. Area-periods beyond the outer ring are the clean
   comparison; the ring coefficients are the spill-over ratios, and the dose coefficient is the
   direct effect with the spill-over on the controls taken out. In a small mission where the
   strategy is in many areas, few areas stay beyond the outer ring for a whole window and the
   comparison rests on when neighbouring areas started (the rows then say so).
4. **Net change.** Over every area-period with the strategy active or in a ring, the expected
   reports without the strategy are the observed reports divided by their fitted ratio; the net
   ratio is observed over expected-without, with a delta-method interval on the model's
   coefficients (the expected-without weights are taken as given; the simulation in
   ``docs/validity.md`` measures what that costs).

Reported is not occurred here too: a strategy can move reporting (a survivor reporting at the
escort's base rather than at home) as well as violence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from protection_eval.effects.count_models import (
    MIN_INCIDENTS_FOR_MODEL,
    EffectEstimate,
    NotEstimable,
    fit_count_model,
)
from protection_eval.effects.covariance import (
    compute_conf_int,
    compute_contrast_df,
    compute_p_value,
)
from protection_eval.effects.design import few_treated_caveats, upper_column
from protection_eval.effects.event_study import make_stacked_panel
from protection_eval.effects.vocabulary import CAVEATS
from protection_eval.projection import choose_working_projection, project_geometries

__all__ = [
    "CONTIGUITY_TOLERANCE_M",
    "DISPLACEMENT_DESIGN",
    "MAX_RINGS",
    "MIN_CLEAN_AREAS",
    "NET_ESTIMAND",
    "DisplacementResult",
    "compute_contiguity",
    "compute_ring_distances",
    "compute_ring_exposure",
    "compute_true_net_ratio",
    "estimate_displacement",
    "grid_contiguity",
    "make_spillover_panel",
    "ring_estimand",
    "to_net_change_table",
]

#: Boundaries closer than this count as touching (digitised boundaries leave slivers).
CONTIGUITY_TOLERANCE_M = 50.0
#: Rings around treated areas (contiguity distance 1 and 2).
MAX_RINGS = 2
#: Fewest not-yet-treated areas beyond the outer ring, for at least one period of an event
#: window, the ring design needs; with fewer beyond it for a whole window, rows say that the
#: spill-over is told apart from change over time by timing alone.
MIN_CLEAN_AREAS = 5
#: Design name of every row of the ring model in ``effects.csv``.
DISPLACEMENT_DESIGN = "stacked_rings"
#: Estimand of the net ratio over treated and ring areas.
NET_ESTIMAND = "displacement_net"


def ring_estimand(ring: int) -> str:
    """Return the ``effects.csv`` estimand of ring ``ring`` (``displacement_ring_1``...)."""
    return f"displacement_ring_{ring}"


def compute_contiguity(
    areas: gpd.GeoDataFrame,
    *,
    projected_crs: object | None = None,
    tolerance_m: float = CONTIGUITY_TOLERANCE_M,
) -> dict[str, tuple[str, ...]]:
    """Return each area's neighbours: the areas whose boundary touches its own.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Canonical areas (``area_id``, ``geometry``).
    projected_crs : object, optional
        Metric CRS for the tolerance; the areas' working projection when None
        (:func:`protection_eval.projection.choose_working_projection`).
    tolerance_m : float
        Boundaries closer than this touch (a corner counts, as in "queen" contiguity).

    Returns
    -------
    dict of str to tuple of str
        Sorted neighbour ids per area id; an area with none maps to an empty tuple.
    """
    ids = areas["area_id"].astype(str).to_numpy()
    crs = projected_crs or choose_working_projection(areas).crs
    geoms = project_geometries(areas.geometry, crs).reset_index(drop=True)
    left, right = geoms.sindex.query(geoms, predicate="dwithin", distance=tolerance_m)
    found: dict[str, set[str]] = {a: set() for a in ids}
    for i, j in zip(left, right, strict=True):
        if ids[i] != ids[j]:
            found[ids[i]].add(ids[j])
    return {a: tuple(sorted(n)) for a, n in found.items()}


def grid_contiguity(width: int, height: int, prefix: str = "S") -> dict[str, tuple[str, ...]]:
    """Return the queen contiguity of a ``width x height`` grid of areas (for simulations).

    Area ``i`` sits in column ``i % width`` and row ``i // width`` and is called
    ``f"{prefix}{i:04d}"``, as in :func:`make_spillover_panel`.
    """
    out = {}
    for i in range(width * height):
        x, y = i % width, i // width
        out[f"{prefix}{i:04d}"] = tuple(
            f"{prefix}{(y + dy) * width + x + dx:04d}"
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)
            if (dx or dy) and 0 <= x + dx < width and 0 <= y + dy < height
        )
    return out


def compute_ring_distances(
    neighbours: Mapping[str, tuple[str, ...]], rings: int = MAX_RINGS
) -> dict[str, dict[str, int]]:
    """Contiguity distance from each area to the areas at most ``rings`` steps away.

    Parameters
    ----------
    neighbours : mapping of str to tuple of str
        From :func:`compute_contiguity`.
    rings : int
        Largest distance kept.

    Returns
    -------
    dict of str to dict of str to int
        ``distances[a][b]`` for ``1 <= distance <= rings`` (the area itself is left out).
    """
    out = {}
    for start in neighbours:
        seen, queue = {start: 0}, deque([start])
        while queue:
            here = queue.popleft()
            if seen[here] == rings:
                continue
            for nxt in neighbours.get(here, ()):
                if nxt not in seen:
                    seen[nxt] = seen[here] + 1
                    queue.append(nxt)
        out[start] = {b: d for b, d in seen.items() if d > 0}
    return out


def _exposure_matrix(
    active: np.ndarray, area_ids: list[str], neighbours: Mapping[str, tuple[str, ...]],
    rings: int,
) -> list[np.ndarray]:
    """Ring exposures (areas x periods) from the active shares (areas x periods)."""
    index = {a: i for i, a in enumerate(area_ids)}
    distances = compute_ring_distances(neighbours, rings)
    nearest = [np.zeros_like(active) for _ in range(rings)]
    for a, i in index.items():
        by_ring: dict[int, list[int]] = {}
        for b, d in distances.get(a, {}).items():
            if b in index:
                by_ring.setdefault(d, []).append(index[b])
        for d, members in by_ring.items():
            nearest[d - 1][i] = active[members].max(axis=0)
    # An area with the strategy active is the centre of its own rings, not in anyone's: its
    # change is the direct effect (Butts' ring design), whatever its neighbours do.
    out, left = [], 1.0 - active
    for d in range(rings):
        # Exposure counts at the nearest ring only: an area next to an active area is not also
        # "two steps away" from another one.
        out.append(left * nearest[d])
        left = left * (1 - nearest[d])
    return out


def compute_ring_exposure(
    panel: pd.DataFrame, active: str, neighbours: Mapping[str, tuple[str, ...]],
    rings: int = MAX_RINGS, *, area_col: str = "area_id", period_col: str = "period_index",
) -> pd.DataFrame:
    """Return each area-period's exposure to the strategy in neighbouring areas.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    active : str
        The strategy's active-share column.
    neighbours : mapping of str to tuple of str
        From :func:`compute_contiguity`.
    rings : int
        Number of rings.
    area_col, period_col : str
        Area and (ordered, integer) period columns.

    Returns
    -------
    pandas.DataFrame
        ``<area_col>, <period_col>, ring_1 .. ring_<rings>``: the active share of the nearest area
        with the strategy, in the column of its distance, times the share of the period the
        area itself was without it (0 elsewhere).
    """
    wide = panel.pivot_table(index=area_col, columns=period_col, values=active,
                             aggfunc="max", fill_value=0.0)
    area_ids = [str(a) for a in wide.index]
    exposures = _exposure_matrix(wide.to_numpy(dtype=float), area_ids, neighbours, rings)
    frame = pd.DataFrame({
        area_col: np.repeat(wide.index.to_numpy(), wide.shape[1]),
        period_col: np.tile(wide.columns.to_numpy(), wide.shape[0]),
    })
    for d, values in enumerate(exposures, start=1):
        frame[f"ring_{d}"] = values.ravel()
    return frame


@dataclass
class DisplacementResult:
    """A strategy's direct, ring and net ratios from the ring design.

    Attributes
    ----------
    strategy_id : str
        Strategy.
    direct : EffectEstimate
        Estimand ``deployment``, design ``stacked_rings``: the ratio in the strategy's areas,
        against areas beyond the outer ring.
    rings : list of EffectEstimate
        One per ring with exposure (estimand ``displacement_ring_<d>``); ``n_incidents`` counts
        the reports in the area-periods exposed to that ring.
    net : EffectEstimate or None
        Estimand ``displacement_net``: reports over the strategy's and ring areas' exposed
        area-periods, against those expected there without the strategy.
    net_change, net_change_low, net_change_high : float
        Observed minus expected-without reports over those area-periods, with its 95% interval
        (restricted: a count, never shared).
    offset_share : float
        Minus the change in ring areas over the change in the strategy's areas (1/3: a third of
        the drop appears next door; negative: the neighbours fell too); NaN when the
        strategy's areas did not change.
    notes : list of str
        Rings left out and why.
    """

    strategy_id: str
    direct: EffectEstimate
    rings: list[EffectEstimate] = field(default_factory=list)
    net: EffectEstimate | None = None
    net_change: float = float("nan")
    net_change_low: float = float("nan")
    net_change_high: float = float("nan")
    offset_share: float = float("nan")
    notes: list[str] = field(default_factory=list)

    def to_estimates(self) -> list[EffectEstimate]:
        """Return the direct, ring and net estimates, in that order."""
        return [self.direct, *self.rings, *([self.net] if self.net is not None else [])]

    def to_frame(self) -> pd.DataFrame:
        """Return the estimates as rows shaped like ``effects.csv`` (not suppressed)."""
        return pd.concat([e.to_frame() for e in self.to_estimates()], ignore_index=True)


def _count_clean_areas(stacked: pd.DataFrame, rings: list[str],
                       area_col: str) -> tuple[int, int]:
    """Control areas beyond the outer ring: for some period, and for a whole event window."""
    controls = stacked.loc[~stacked["treated"]]
    exposed = controls[rings].sum(axis=1) > 0
    keys = [controls["stack"], controls[area_col]]
    some = (~exposed).groupby(keys).any()
    whole = (~exposed).groupby(keys).all()
    return (int(some[some].reset_index()[area_col].nunique()),
            int(whole[whole].reset_index()[area_col].nunique()))


def to_net_change_table(results: Mapping[str, DisplacementResult]) -> pd.DataFrame:
    """Return each strategy's net change in reports and the share offset next door (restricted).

    Parameters
    ----------
    results : mapping of str to DisplacementResult
        By strategy id (``MissionEffects.displacement``).

    Returns
    -------
    pandas.DataFrame
        ``strategy_id, net_irr, net_change, net_change_low, net_change_high, offset_share``:
        counts of reports, never for a shared folder.
    """
    columns = ["strategy_id", "net_irr", "net_change", "net_change_low", "net_change_high",
               "offset_share"]
    rows = [{"strategy_id": sid, "net_irr": r.net.irr if r.net is not None else float("nan"),
             "net_change": r.net_change, "net_change_low": r.net_change_low,
             "net_change_high": r.net_change_high, "offset_share": r.offset_share}
            for sid, r in results.items()]
    return pd.DataFrame(rows, columns=columns)


def _ring_caveats(
    est: EffectEstimate, rings: int, n_exposed: int, timing_only: bool
) -> list[str]:
    """Return a ring-design row's caveats (its incident count: the exposed reports)."""
    caveats = [CAVEATS["reported"], CAVEATS["rings"].format(rings=rings)]
    if timing_only:
        caveats.append(CAVEATS["rings_timing"].format(n=MIN_CLEAN_AREAS))
    if n_exposed < MIN_INCIDENTS_FOR_MODEL:
        caveats.append(CAVEATS["few_incidents"].format(n=n_exposed))
    caveats += [c for c in est.caveats if c == CAVEATS["not_converged"]]
    return caveats


def _net_estimate(
    panel: pd.DataFrame, exposure: pd.DataFrame, active: str, outcome: str, fit: object,
    terms: list[str], template: EffectEstimate, df: float, keys: list[str],
) -> tuple[EffectEstimate, dict[str, float]] | None:
    """Net ratio over exposed area-periods, by the delta method on the model's coefficients."""
    rows = panel[[*keys, active, outcome]].merge(exposure, on=keys, how="left")
    x = np.column_stack([rows[active].to_numpy(float),
                         *[rows[t].fillna(0.0).to_numpy(float) for t in terms[1:]]])
    exposed = (x > 0).any(axis=1)
    if not exposed.any():
        return None
    x, y = x[exposed], rows.loc[exposed, outcome].to_numpy(float)
    beta = fit.params[terms].to_numpy()
    cov = fit.cov_params().loc[terms, terms].to_numpy()
    without = y * np.exp(-x @ beta)
    s1, s0 = float(y.sum()), float(without.sum())
    if s1 <= 0 or s0 <= 0:
        return None
    log_net = np.log(s1 / s0)
    grad = (without[:, None] * x).sum(axis=0) / s0
    se = float(np.sqrt(grad @ cov @ grad))
    low, high = compute_conf_int(log_net, se, df)
    grad_count = (without[:, None] * x).sum(axis=0)  # d(s1 - s0)/d beta
    se_count = float(np.sqrt(grad_count @ cov @ grad_count))
    count_low, count_high = compute_conf_int(s1 - s0, se_count, df)
    treated = x[:, 0] > 0
    change_treated = float((y - without)[treated].sum())
    change_rings = float((y - without)[~treated].sum())
    n_exposed = int(y.sum())
    net = EffectEstimate(
        strategy_id=template.strategy_id, estimand=NET_ESTIMAND, model="poisson_fe",
        design=DISPLACEMENT_DESIGN, irr=float(np.exp(log_net)),
        ci_low=float(np.exp(low)), ci_high=float(np.exp(high)),
        p_value=compute_p_value(log_net, se, df),
        n_areas=int(rows.loc[exposed, keys[0]].nunique()),
        n_periods=int(rows.loc[exposed, keys[1]].nunique()),
        n_incidents=n_exposed, fit=fit, term="", n_clusters=template.n_clusters,
        unit="strategy's and ring areas together", se_log_irr=se,
    )
    net.caveats = [CAVEATS["reported"], CAVEATS["displacement_net"].format(rings=len(terms) - 1)]
    if n_exposed < MIN_INCIDENTS_FOR_MODEL:
        net.caveats.append(CAVEATS["few_incidents"].format(n=n_exposed))
    numbers = {
        "net_change": s1 - s0, "net_change_low": count_low, "net_change_high": count_high,
        "offset_share": -change_rings / change_treated if change_treated else float("nan"),
    }
    return net, numbers


def estimate_displacement(
    panel: pd.DataFrame,
    strategy_id: str,
    active: str,
    neighbours: Mapping[str, tuple[str, ...]],
    *,
    rings: int = MAX_RINGS,
    outcome: str = "incidents",
    pre: int = 6,
    post: int = 6,
    area_col: str = "area_id",
    period_col: str = "period_index",
) -> DisplacementResult | None:
    """Estimate a strategy's direct effect, its spill-over per ring and the net change.

    Parameters
    ----------
    panel : pandas.DataFrame
        The area x period panel.
    strategy_id : str
        Strategy id.
    active : str
        Its active-share column.
    neighbours : mapping of str to tuple of str
        Area contiguity (:func:`compute_contiguity`; ``panel.attrs["contiguity"]`` of a
        mission's panel).
    rings : int
        Rings around the strategy's areas (1 or 2).
    outcome : str
        Count column.
    pre, post : int
        Event window of the stacked design.
    area_col, period_col : str
        Area (also the clusters) and (ordered, integer) period columns.

    Returns
    -------
    DisplacementResult or None
        None when no cohort has a not-yet-treated comparison.

    Raises
    ------
    NotEstimable
        When no area is ever in a ring (every area has the strategy, or no area touches one),
        or fewer than :data:`MIN_CLEAN_AREAS` not-yet-treated areas are ever beyond the outer
        ring (the strategy is everywhere or next to everywhere).
    """
    if rings < 1:
        raise ValueError(f"rings must be 1 or more, not {rings}")
    columns = {"area_col": area_col, "period_col": period_col}
    keys = [area_col, period_col]
    stacked = make_stacked_panel(panel, active, pre=pre, post=post, **columns)
    if stacked.empty:
        return None
    exposure = compute_ring_exposure(panel, active, neighbours, rings, **columns)
    stacked = stacked.merge(exposure, on=keys, how="left")
    terms, notes = ["dose"], []
    for d in range(1, rings + 1):
        column = f"ring_{d}"
        if stacked[column].nunique() > 1:
            terms.append(column)
        else:
            notes.append(f"{strategy_id}: no area was {d} step(s) from it in any event "
                         "window; that ring is not estimated")
    if len(terms) == 1:
        raise NotEstimable("no area is ever next to or near an area with the strategy, so "
                           "there is no spill-over to estimate")
    n_treated = stacked.loc[stacked["treated"], area_col].nunique()
    n_clean, n_clean_window = _count_clean_areas(stacked, terms[1:], area_col)
    if n_clean < MIN_CLEAN_AREAS:
        raise NotEstimable(
            f"only {n_clean} areas are ever beyond the outer ring (more than {rings} steps from "
            f"every area with the strategy) while not yet treated; at least {MIN_CLEAN_AREAS} "
            "are needed to tell spill-over from change over time"
        )
    fit = fit_count_model(stacked, outcome, terms, fixed_effects=("stack_area", "stack_period"),
                          cluster=area_col, upper=upper_column(stacked, outcome))
    # Every contrast of the ring model rests on the clean comparison areas as much as on the
    # treated ones: t on the smaller group's areas minus one (compute_contrast_df).
    df = compute_contrast_df(n_treated, n_clean)
    direct = EffectEstimate.from_fit(
        fit, "dose", strategy_id=strategy_id, estimand="deployment", model="poisson_fe",
        design=DISPLACEMENT_DESIGN, unit="strategy active (whole period), spill-over removed",
        df=df, **columns,
    )
    timing_only = n_clean_window < MIN_CLEAN_AREAS
    direct.caveats = _ring_caveats(direct, rings, direct.n_incidents, timing_only)
    direct.caveats += few_treated_caveats(panel, active, **columns)
    ring_rows = []
    used = stacked.drop_duplicates(keys)
    for term in terms[1:]:
        est = EffectEstimate.from_fit(
            fit, term, strategy_id=strategy_id, estimand=ring_estimand(int(term.split("_")[1])),
            model="poisson_fe", design=DISPLACEMENT_DESIGN,
            unit=f"strategy active {term.split('_')[1]} step(s) away", df=df, **columns,
        )
        est.n_incidents = int(used.loc[used[term] > 0, outcome].sum())
        est.caveats = _ring_caveats(est, rings, est.n_incidents, timing_only)
        ring_rows.append(est)
    result = DisplacementResult(strategy_id, direct, ring_rows, notes=notes)
    found = _net_estimate(panel, exposure, active, outcome, fit, terms, direct, df, keys)
    if found is not None:
        result.net, numbers = found
        for name, value in numbers.items():
            setattr(result, name, value)
    return result


def make_spillover_panel(
    width: int = 10,
    height: int = 8,
    n_periods: int = 24,
    *,
    irr: float = 0.7,
    ring_irrs: tuple[float, ...] = (1.3, 1.0),
    n_treated: int = 12,
    first_start: int = 6,
    last_start: int = 18,
    base_rate: float = 4.0,
    dispersion: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Make a synthetic panel on a grid of areas with a planted direct and spill-over effect.

    Areas form a ``width x height`` grid with queen contiguity (:func:`grid_contiguity`);
    ``n_treated`` areas start strategy ``"test-strategy"`` in a month drawn in
    ``[first_start, last_start]``. Their rate is multiplied by ``irr``; an area whose nearest
    area with the strategy active is ``d`` steps away, and which does not have it itself, is
    multiplied by ``ring_irrs[d - 1]`` (the exposure of :func:`compute_ring_exposure`).

    Parameters
    ----------
    width, height, n_periods : int
        Grid and panel size (monthly periods from January 2022).
    irr : float
        Direct incidence-rate ratio.
    ring_irrs : tuple of float
        Ratio per ring (1.3: reports 30% higher next door while the neighbour is active).
    n_treated : int
        Areas that get the strategy.
    first_start, last_start : int
        Range of start periods.
    base_rate : float
        Mean incidents per area-period before area and period effects.
    dispersion : float
        NB2 ``alpha`` of a gamma frailty per area-period (0 = Poisson).
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        Columns as :func:`protection_eval.effects.panel.make_synthetic_panel` (patrol measures
        empty) plus ``expected`` and ``expected_without`` (the true means with and without the
        strategy), ``attrs["contiguity"]`` and ``attrs["ring_irrs"]``.
    """
    rng = np.random.default_rng(seed)
    n_areas = width * height
    neighbours = grid_contiguity(width, height)
    area_ids = list(neighbours)
    area_level = rng.lognormal(0.0, 0.5, n_areas)
    t = np.arange(n_periods)
    period_level = np.exp(0.2 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.05, n_periods))
    starts = np.full(n_areas, np.nan)
    chosen = rng.choice(n_areas, n_treated, replace=False)
    starts[chosen] = rng.integers(first_start, last_start + 1, n_treated)
    active = np.where(t[None, :] - starts[:, None] >= 0, 1.0, 0.0)
    exposure = _exposure_matrix(active, area_ids, neighbours, len(ring_irrs))
    log_effect = np.log(irr) * active
    for ring_irr, ring in zip(ring_irrs, exposure, strict=True):
        log_effect = log_effect + np.log(ring_irr) * ring
    without = base_rate * area_level[:, None] * period_level[None, :]
    mu = without * np.exp(log_effect)
    if dispersion > 0:
        mu = mu * rng.gamma(1 / dispersion, dispersion, mu.shape)
    counts = rng.poisson(mu)
    panel = pd.DataFrame({
        "area_id": np.repeat(area_ids, n_periods),
        "period": np.tile(pd.period_range("2022-01", periods=n_periods, freq="M"), n_areas),
        "period_index": np.tile(t, n_areas),
        "incidents": counts.ravel(),
        "exposure": 1.0,
        "expected": (without * np.exp(log_effect)).ravel(),
        "expected_without": without.ravel(),
        # No patrol data: the dose-response models say so and are left out.
        "patrol_hours": np.nan,
        "women_share": np.nan,
        "footprint_share": np.nan,
        "active_test_strategy": active.ravel(),
    })
    panel.attrs.update({
        "freq": "month", "exposure_unit": "population", "notes": [], "mission": "SIM",
        "strategies": {"test-strategy": "active_test_strategy"}, "contiguity": neighbours,
        "ring_irrs": tuple(ring_irrs),
    })
    return panel


def compute_true_net_ratio(panel: pd.DataFrame, active: str = "active_test_strategy") -> float:
    """Return the planted net ratio of a :func:`make_spillover_panel` panel.

    Over the area-periods with the strategy active or in a ring, expected reports with the
    strategy over expected reports without it (the estimand of the net row).
    """
    exposure = compute_ring_exposure(panel, active, panel.attrs["contiguity"],
                                     len(panel.attrs["ring_irrs"]))
    rows = panel.merge(exposure, on=["area_id", "period_index"])
    rings = [c for c in rows if c.startswith("ring_")]
    exposed = (rows[[active, *rings]] > 0).any(axis=1)
    return float(rows.loc[exposed, "expected"].sum() / rows.loc[exposed, "expected_without"].sum())

