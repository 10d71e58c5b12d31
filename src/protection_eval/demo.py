"""Synthetic demo missions with known, planted effects and a sprinkling of bad rows.

Three missions of different shapes, all generated from one seed:

- ``DEMO-A``: GPS tracks; GBVIMS-style CSV export with English labels, day-first dates and
  identifying columns that ingestion must drop; report dates, place types, survivor groups and
  source channels, with a planted reporting change where firewood escorts run (faster reports,
  and the drop only away from home).
- ``DEMO-B``: patrol routes as LineStrings in a GeoPackage, no tracks; French labels; market-day
  patrols whose reports partly move to the areas next door (a planted displacement).
- ``DEMO-C``: bases only (presence by radius); GeoParquet incidents; a mission-wide strategy.

What is planted is written to ``ground_truth.json`` beside each mission's data: each strategy's
incidence-rate ratio where deployed, the ratio near recent patrols, and how many bad rows of each
quarantine reason were added. Every place and name is invented.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml

from protection_eval.coverage.index import Movements, evaluate_coverage
from protection_eval.io.writers import write_json, write_table, write_text

PERIOD = ("2022-01-01", "2023-12-31")
WGS84 = "EPSG:4326"
RADIUS_M = 2_000.0
WINDOW_H = 72.0
IRR_COVERED = 0.5
SPEED_M_PER_H = 15_000.0

SOURCE_GBV_LABELS = {
    "en": {
        "rape": "Rape",
        "sexual_assault": "Sexual Assault",
        "physical_assault": "Physical Assault",
        "forced_marriage": "Forced Marriage",
        "denial_of_resources": "Denial of Resources, Opportunities or Services",
        "psychological_abuse": "Psychological / Emotional Abuse",
    },
    "fr": {
        "rape": "Viol",
        "sexual_assault": "Agression sexuelle",
        "physical_assault": "Agression physique",
        "forced_marriage": "Mariage forcé",
        "denial_of_resources": "Déni de ressources",
        "psychological_abuse": "Violence psychologique",
    },
}
GBV_SHARES = [0.35, 0.25, 0.15, 0.08, 0.07, 0.10]


@dataclass(frozen=True)
class PlantedEffect:
    """A strategy deployed to some areas, multiplying their incident rate by ``irr``."""

    strategy_id: str
    irr: float
    share_of_areas: float = 0.4
    rollout: str = "staggered"  # or "mission_wide"
    first_month: int = 6
    last_month: int = 18


@dataclass(frozen=True)
class PlantedReporting:
    """Reporting columns and a planted change in reporting where one strategy is active.

    Where ``strategy_id`` is active, the share of incidents reported within 7 days is
    ``prompt_after`` instead of ``prompt_before`` (its ratio is the planted
    ``reporting_within_7d``), and incidents at home keep their rate: the strategy's whole drop
    falls on the other place types (planted ``placebo_home`` 1). The source mix is unchanged
    (planted ``source_mission_share`` 1).
    """

    strategy_id: str
    prompt_before: float = 0.5
    prompt_after: float = 0.75
    place_shares: tuple[tuple[str, float], ...] = (
        ("home", 0.3), ("field_bush", 0.25), ("water_point", 0.15), ("market", 0.1),
        ("road", 0.1), ("school", 0.05), ("other", 0.05),
    )
    group_shares: tuple[tuple[str, float], ...] = (
        ("woman", 0.55), ("girl", 0.3), ("man", 0.05), ("boy", 0.05), ("unknown", 0.05),
    )
    channels: tuple[tuple[str, str], ...] = (
        ("mission_hr", "mission"), ("police", "mission"), ("gbv_partner", "partner"),
        ("another_partner", "partner"),
    )


@dataclass(frozen=True)
class PlantedDisplacement:
    """A strategy whose reports partly move next door (drawn from a random stream of its own).

    Where it is active, incidents are kept with probability ``irr``; in areas touching one
    where it is active (edge or corner, not having it themselves) extra incidents are drawn at
    ``ring_irr - 1`` times the area-month's rate, so the mission's other draws do not change.
    """

    strategy_id: str
    irr: float
    ring_irr: float
    n_areas: int
    first_month: int
    last_month: int


@dataclass(frozen=True)
class DemoSpec:
    """The shape of one demo mission."""

    mission: str
    name: str
    timezone: str
    crs: str
    centre: tuple[float, float]
    coverage_model: str  # tracks | routes | bases
    language: str
    effects: tuple[PlantedEffect, ...]
    grid: tuple[int, int] = (8, 6)
    cell_m: float = 8_000.0
    patrols_per_day: float = 3.0
    base_rate: float = 5.0
    bases: int = 6
    radius_m: float = RADIUS_M
    formats: dict[str, str] = field(default_factory=dict)
    reporting: PlantedReporting | None = None
    displacement: PlantedDisplacement | None = None


DEMO_SPECS: tuple[DemoSpec, ...] = (
    DemoSpec(
        "DEMO-A", "Demo mission A (synthetic, GPS tracks)", "Africa/Juba", "EPSG:32636",
        (31.60, 4.85), "tracks", "en",
        (PlantedEffect("firewood-escorts", 0.6), PlantedEffect("night-patrols", 0.8, 0.3)),
        formats={"incidents": "csv", "patrols": "csv", "patrol_tracks": "parquet",
                 "areas": "geojson", "deployments": "csv", "bases": "csv"},
        reporting=PlantedReporting("firewood-escorts"),
    ),
    DemoSpec(
        "DEMO-B", "Demo mission B (synthetic, patrol routes)", "Africa/Lubumbashi",
        "EPSG:32735", (29.25, -1.60), "routes", "fr",
        (PlantedEffect("firewood-escorts", 0.7), PlantedEffect("community-alert-networks", 1.0)),
        formats={"incidents": "geojson", "patrols": "gpkg", "areas": "gpkg",
                 "deployments": "csv"},
        displacement=PlantedDisplacement("market-day-patrols", 0.7, 1.4, 8, 8, 14),
    ),
    DemoSpec(
        "DEMO-C", "Demo mission C (synthetic, bases only)", "Africa/Khartoum", "EPSG:32635",
        (25.35, 13.60), "bases", "en",
        (
            PlantedEffect("firewood-escorts", 0.65),
            PlantedEffect("night-patrols", 0.8, 0.3),
            PlantedEffect("specialised-police-units", 0.85, 1.0, "mission_wide", 12, 12),
        ),
        grid=(8, 7),
        bases=12,
        radius_m=5_000.0,  # presence around a base, for a mission without patrol tracks
        formats={"incidents": "parquet", "patrols": "csv", "bases": "csv", "areas": "gpkg",
                 "deployments": "csv"},
    ),
)


@dataclass
class _World:
    spec: DemoSpec
    rng: np.random.Generator
    areas: gpd.GeoDataFrame  # projected
    months: pd.DatetimeIndex
    bases: pd.DataFrame  # projected x, y
    positions: np.ndarray | None = None  # x, y, t_hours (dense patrol positions)
    rates: np.ndarray | None = None  # expected incident candidates per area x month
    spill_rng: np.random.Generator | None = None  # the planted displacement's own stream
    truth_bad: dict[str, dict[str, int]] = field(default_factory=dict)


def _t0() -> pd.Timestamp:
    return pd.Timestamp(PERIOD[0])


def _make_areas(spec: DemoSpec, rng: np.random.Generator) -> gpd.GeoDataFrame:
    centre = gpd.GeoSeries(gpd.points_from_xy([spec.centre[0]], [spec.centre[1]]), crs=WGS84)
    cx, cy = centre.to_crs(spec.crs).iloc[0].coords[0]
    nx, ny = spec.grid
    x0, y0 = cx - nx * spec.cell_m / 2, cy - ny * spec.cell_m / 2
    rows = []
    for j in range(ny):
        for i in range(nx):
            box = shapely.box(x0 + i * spec.cell_m, y0 + j * spec.cell_m,
                              x0 + (i + 1) * spec.cell_m, y0 + (j + 1) * spec.cell_m)
            number = j * nx + i + 1
            # Some names decomposed (NFD) on purpose: ingestion must normalise them to NFC.
            name = f"Secteur Évian-{number:02d}" if number % 5 == 0 else f"Area {number:02d}"
            if number % 10 == 0:
                name = unicodedata.normalize("NFD", name)
            rows.append({
                "area_id": f"{spec.mission[-1]}{number:02d}",
                "name": name,
                "population": int(rng.integers(2_000, 60_000)),
                "geometry": box,
            })
    return gpd.GeoDataFrame(rows, crs=spec.crs)


def _make_bases(world: _World) -> pd.DataFrame:
    rng, areas = world.rng, world.areas
    minx, miny, maxx, maxy = areas.total_bounds
    n = world.spec.bases
    xs = rng.uniform(minx + 5_000, maxx - 5_000, n)
    ys = rng.uniform(miny + 5_000, maxy - 5_000, n)
    opened = [0] * 3 + list(rng.integers(3, 15, n - 3))
    closed = [None] * 3 + [int(o + rng.integers(3, 9)) for o in opened[3:]]
    return pd.DataFrame({
        "base_id": [f"{world.spec.mission}-BASE-{i + 1}" for i in range(n)],
        "x": xs, "y": ys,
        "unit_type": rng.choice(["military", "police", "joint"], n),
        "personnel": rng.integers(40, 200, n),
        "open_month": opened, "close_month": closed,
    })


def _make_patrols(world: _World) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Patrols leaving a base, visiting 2-4 waypoints and returning; positions every 2 min."""
    spec, rng, bases = world.spec, world.rng, world.bases
    days = (pd.Timestamp(PERIOD[1]) - _t0()).days + 1
    counts = rng.poisson(spec.patrols_per_day, days)
    minx, miny, maxx, maxy = world.areas.total_bounds
    records, paths = [], []
    for day, n in enumerate(counts):
        for _ in range(n):
            base = bases.iloc[rng.integers(0, 3)]
            kind = rng.choice(["routine", "night", "escort", "market_day", "long_range"],
                              p=[0.45, 0.2, 0.15, 0.1, 0.1])
            hour = rng.uniform(19, 22) if kind == "night" else rng.uniform(6, 15)
            k = int(rng.integers(2, 5))
            reach = 30_000 if kind == "long_range" else 15_000
            wx = np.clip(base.x + rng.uniform(-reach, reach, k), minx, maxx)
            wy = np.clip(base.y + rng.uniform(-reach, reach, k), miny, maxy)
            xs = np.concatenate([[base.x], wx, [base.x]])
            ys = np.concatenate([[base.y], wy, [base.y]])
            seg = np.hypot(np.diff(xs), np.diff(ys))
            hours = seg.sum() / SPEED_M_PER_H
            start_h = day * 24 + hour
            if start_h + hours >= days * 24:
                continue  # a patrol still out after the period ends is not part of it
            steps = max(int(hours * 30), 2)
            along = np.linspace(0, seg.sum(), steps + 1)
            cum = np.concatenate([[0], np.cumsum(seg)])
            px, py = np.interp(along, cum, xs), np.interp(along, cum, ys)
            pt = start_h + along / SPEED_M_PER_H
            personnel = int(rng.integers(8, 40))
            women = int(rng.binomial(personnel, rng.uniform(0.0, 0.35)))
            unit = rng.choice(["military", "police", "joint"], p=[0.6, 0.25, 0.15])
            records.append({
                "patrol_id": f"{spec.mission}-P{len(records) + 1:05d}",
                "unit_type": unit, "patrol_type": kind,
                "start_h": start_h, "end_h": start_h + hours,
                "personnel": personnel, "women": women,
                "route": shapely.LineString(np.column_stack([xs, ys])),
            })
            paths.append(np.column_stack([px, py, pt]))
    return pd.DataFrame(records), paths


def _covered(world: _World, x: np.ndarray, y: np.ndarray, t_h: np.ndarray) -> np.ndarray:
    """Whether a patrol (or, without patrol positions, a valid base) was within the radius."""
    if world.spec.coverage_model == "bases":
        month = ((_t0() + pd.to_timedelta(t_h, unit="h")).to_period("M")
                 - _t0().to_period("M")).map(lambda d: d.n)
        covered = np.zeros(len(x), dtype=bool)
        for base in world.bases.itertuples():
            valid = (month >= base.open_month) & (
                True if base.close_month is None or pd.isna(base.close_month)
                else month < base.close_month
            )
            covered |= valid & (np.hypot(x - base.x, y - base.y) <= world.spec.radius_m)
        return covered
    pos = world.positions
    # The coverage index, with each dense position as a movement standing still for an instant:
    # a position counts when within the radius and 0 to WINDOW_H hours before (times in
    # hours). A neighbour list per candidate grew with the square of the scale.
    moves = Movements(pos[:, 0], pos[:, 1], pos[:, 0], pos[:, 1], pos[:, 2], pos[:, 2])
    return evaluate_coverage(x, y, t_h - WINDOW_H, t_h, moves, world.spec.radius_m).covered


def _deployments(world: _World) -> tuple[pd.DataFrame, np.ndarray]:
    """Deployment rows and the rate multiplier per (area, month)."""
    rng, areas = world.rng, world.areas
    n_areas, n_months = len(areas), len(world.months)
    multiplier = np.ones((n_areas, n_months))
    rows = []
    for effect in world.spec.effects:
        if effect.rollout == "mission_wide":
            chosen = np.arange(n_areas)
            starts = np.full(n_areas, effect.first_month)
        else:
            chosen = rng.choice(n_areas, int(round(effect.share_of_areas * n_areas)),
                                replace=False)
            starts = rng.integers(effect.first_month, effect.last_month + 1, len(chosen))
        for a, s in zip(chosen, starts, strict=True):
            multiplier[a, s:] *= effect.irr
            rows.append({"strategy_id": effect.strategy_id,
                         "area_id": areas.area_id.iloc[a],
                         "started_on": world.months[s].strftime("%Y-%m-%d"),
                         "ended_on": ""})
    return pd.DataFrame(rows), multiplier


def _make_incidents(world: _World, multiplier: np.ndarray) -> pd.DataFrame:
    """Draw candidate incidents per area-month, then thin those near recent patrols."""
    rng, areas, spec = world.rng, world.areas, world.spec
    area_level = rng.lognormal(0.0, 0.5, len(areas))
    season = 1 + 0.25 * np.sin(2 * np.pi * np.arange(len(world.months)) / 12)
    # Candidates are drawn at 1 / IRR_COVERED of the target so thinning keeps the mean near it.
    lam = spec.base_rate * area_level[:, None] * season[None, :] * multiplier
    world.rates = lam
    counts = rng.poisson(lam)
    rows = []
    for a, m in zip(*np.nonzero(counts), strict=True):
        n = counts[a, m]
        minx, miny, maxx, maxy = areas.geometry.iloc[a].bounds
        start = world.months[m]
        hours = (start + pd.offsets.MonthBegin(1) - start) / pd.Timedelta(hours=1)
        t_h = (start - _t0()) / pd.Timedelta(hours=1) + rng.uniform(0, hours, n)
        rows.append(pd.DataFrame({
            "area": a, "x": rng.uniform(minx, maxx, n), "y": rng.uniform(miny, maxy, n),
            "t_h": t_h,
        }))
    cand = pd.concat(rows, ignore_index=True)
    covered = _covered(world, cand.x.to_numpy(), cand.y.to_numpy(), cand.t_h.to_numpy())
    keep = ~covered | (rng.random(len(cand)) < IRR_COVERED)
    inc = cand.loc[keep].sort_values("t_h").reset_index(drop=True)
    inc["gbv_type"] = rng.choice(list(SOURCE_GBV_LABELS["en"]), len(inc), p=GBV_SHARES)
    inc["location_precision"] = rng.choice(
        ["exact", "settlement", "admin2"], len(inc), p=[0.8, 0.15, 0.05]
    )
    inc["source"] = rng.choice(["mission_hr", "gbv_partner", "police"], len(inc))
    inc["victims"] = 1 + rng.binomial(2, 0.1, len(inc))
    return inc


def _to_lonlat(world: _World, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=world.spec.crs).to_crs(WGS84)
    return pts.x.to_numpy().round(6), pts.y.to_numpy().round(6)


def _local(world: _World, t_h: np.ndarray) -> pd.Series:
    return pd.Series(_t0() + pd.to_timedelta(np.asarray(t_h), unit="h")).dt.floor("min")


def _count(world: _World, table: str, reason: str, n: int = 1) -> None:
    world.truth_bad.setdefault(table, {})
    world.truth_bad[table][reason] = world.truth_bad[table].get(reason, 0) + n


def _plant_displacement(world: _World, inc: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Thin incidents where the displacement strategy is active, add some next door."""
    plant, rng = world.spec.displacement, world.spill_rng
    if plant is None:
        return inc, pd.DataFrame()
    n_areas, n_months = world.rates.shape
    chosen = rng.choice(n_areas, plant.n_areas, replace=False)
    starts = rng.integers(plant.first_month, plant.last_month + 1, plant.n_areas)
    active = np.zeros((n_areas, n_months), dtype=bool)
    for a, s in zip(chosen, starts, strict=True):
        active[a, s:] = True
    col, row = np.arange(n_areas) % world.spec.grid[0], np.arange(n_areas) // world.spec.grid[0]
    touching = ((np.abs(col[:, None] - col[None, :]) <= 1)
                & (np.abs(row[:, None] - row[None, :]) <= 1) & ~np.eye(n_areas, dtype=bool))
    ring = ((touching.astype(int) @ active.astype(int)) > 0) & ~active
    starts_h = ((world.months - _t0()) / pd.Timedelta(hours=1)).to_numpy()
    month = np.searchsorted(starts_h, inc.t_h.to_numpy(), side="right") - 1
    keep = ~active[inc.area.to_numpy(), month] | (rng.random(len(inc)) < plant.irr)
    counts = rng.poisson(world.rates * (plant.ring_irr - 1) * ring)
    extra = []
    for a, m in zip(*np.nonzero(counts), strict=True):
        n = counts[a, m]
        minx, miny, maxx, maxy = world.areas.geometry.iloc[a].bounds
        hours = starts_h[m + 1] - starts_h[m] if m + 1 < n_months else 24 * 31
        # Other attributes are those of a random incident of the mission.
        rows = inc.iloc[rng.integers(0, len(inc), n)].copy()
        rows["area"] = a
        rows["x"], rows["y"] = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
        rows["t_h"] = starts_h[m] + rng.uniform(0, hours, n)
        extra.append(rows)
    added = pd.concat(extra, ignore_index=True)
    covered = _covered(world, added.x.to_numpy(), added.y.to_numpy(), added.t_h.to_numpy())
    added = added[~covered | (rng.random(len(added)) < IRR_COVERED)]
    out = pd.concat([inc[keep], added], ignore_index=True).sort_values("t_h", kind="stable")
    deployments = pd.DataFrame({
        "strategy_id": plant.strategy_id, "area_id": world.areas.area_id.iloc[chosen].to_numpy(),
        "started_on": [world.months[s].strftime("%Y-%m-%d") for s in starts], "ended_on": "",
    })
    return out.reset_index(drop=True), deployments


def _incident_table(world: _World, inc: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Incidents in the mission's source format, with the YAML source entry that reads them."""
    spec = world.spec
    lon, lat = _to_lonlat(world, inc.x.to_numpy(), inc.y.to_numpy())
    local = _local(world, inc.t_h.to_numpy())
    labels = SOURCE_GBV_LABELS[spec.language]
    ids = [f"{spec.mission}-I{i + 1:06d}" for i in range(len(inc))]
    rng = world.rng
    if spec.mission == "DEMO-A":
        precision_labels = {"exact": "(1) Exact", "settlement": "(2) 25 km Precision",
                            "admin2": "(3) District"}
        table = pd.DataFrame({
            "Incident ID": ids,
            "Incident Date": local.dt.strftime("%d/%m/%Y %H:%M"),
            "Longitude": lon.astype(str), "Latitude": lat.astype(str),
            "Type of SV": inc.gbv_type.map(labels).to_numpy(),
            "Location Precision": inc.location_precision.map(precision_labels).to_numpy(),
            "Source": inc.source.to_numpy(), "Victims": inc.victims.astype(str).to_numpy(),
            # Identifying columns as GBVIMS-style exports carry them; all values invented.
            "Survivor Name": [f"SYNTHETIC NAME {i}" for i in range(len(inc))],
            "Survivor Age": rng.integers(12, 60, len(inc)).astype(str),
            "Narrative": "synthetic narrative text",
            "Caseworker Code": [f"CW-{i % 17:03d}" for i in range(len(inc))],
        })
        source = {
            "columns": {"Incident ID": "incident_id", "Incident Date": "occurred_at",
                        "Longitude": "longitude", "Latitude": "latitude",
                        "Type of SV": "gbv_type", "Location Precision": "location_precision",
                        "Source": "source", "Victims": "victims"},
            "labels": {"gbv_type": {v: k for k, v in labels.items()},
                       "location_precision": {v: k for k, v in precision_labels.items()}},
            "date_format": "%d/%m/%Y %H:%M",
        }
    else:
        day_only = spec.mission == "DEMO-B"
        occurred = local.dt.strftime("%Y-%m-%d" if day_only else "%Y-%m-%dT%H:%M:00")
        table = pd.DataFrame({
            "incident_id": ids, "occurred_at": occurred,
            "gbv_type": inc.gbv_type.map(labels).to_numpy() if spec.language == "fr"
            else inc.gbv_type.to_numpy(),
            "location_precision": inc.location_precision.to_numpy(),
            "source": inc.source.to_numpy(), "victims": inc.victims.astype(str).to_numpy(),
            "longitude": lon, "latitude": lat,
        })
        source = {"labels": {"gbv_type": {v: k for k, v in labels.items()}}} \
            if spec.language == "fr" else {}
    return table, source


_PLACE_LABELS = {"home": "Home", "field_bush": "Field / Bush", "water_point": "Water Point",
                 "market": "Market", "road": "Road", "school": "School", "other": "Other"}
_GROUP_LABELS = {"woman": "Adult woman", "girl": "Girl", "man": "Adult man", "boy": "Boy",
                 "unknown": "Unknown"}


def _plant_reporting(
    world: _World, inc: pd.DataFrame, deployments: pd.DataFrame, table: pd.DataFrame,
    source: dict, seed: int,
) -> tuple[pd.DataFrame, dict, dict]:
    """Add report dates, place types and survivor groups, with the planted reporting change.

    Drawn from a generator of their own, so the incidents and every other mission stay as they
    were without these columns.
    """
    plant = world.spec.reporting
    rng = np.random.default_rng([seed, 17])
    starts = deployments.loc[deployments["strategy_id"] == plant.strategy_id]
    start_h = pd.Series(
        ((pd.to_datetime(starts["started_on"]) - _t0()) / pd.Timedelta(hours=1)).to_numpy(),
        index=starts["area_id"].to_numpy())
    area_ids = world.areas.area_id.to_numpy()[inc.area.to_numpy()]
    active = (inc.t_h.to_numpy() >= start_h.reindex(area_ids).to_numpy()) & np.isin(
        area_ids, start_h.index)
    # Home keeps its rate where the strategy runs: its share rises by 1 / irr, and the other
    # place types share the rest in their usual proportions.
    irr = next(e.irr for e in world.spec.effects if e.strategy_id == plant.strategy_id)
    places, shares = zip(*plant.place_shares, strict=True)
    base = np.asarray(shares)
    home_after = base[0] / irr
    after = np.concatenate([[home_after], base[1:] * (1 - home_after) / base[1:].sum()])
    draw = rng.random(len(inc))
    place = np.where(active, np.searchsorted(np.cumsum(after), draw * after.sum()),
                     np.searchsorted(np.cumsum(base), draw * base.sum()))
    prompt = rng.random(len(inc)) < np.where(active, plant.prompt_after, plant.prompt_before)
    lag_h = np.where(prompt, rng.uniform(0, 7 * 24, len(inc)),
                     (7 * 24 + 1) + rng.exponential(30 * 24, len(inc)))
    groups, group_p = zip(*plant.group_shares, strict=True)
    group = rng.choice(list(groups), len(inc), p=list(group_p))
    table = table.copy()
    table.insert(2, "Date of Report",
                 _local(world, inc.t_h.to_numpy() + lag_h).dt.strftime("%d/%m/%Y %H:%M"))
    table["Type of Place"] = [_PLACE_LABELS[places[i]] for i in place]
    table["Survivor Group"] = [_GROUP_LABELS[g] for g in group]
    source = {
        **source,
        "columns": {**source["columns"], "Date of Report": "reported_at",
                    "Type of Place": "location_type", "Survivor Group": "survivor_group"},
        "labels": {**source["labels"],
                   "location_type": {v: k for k, v in _PLACE_LABELS.items()},
                   "survivor_group": {v: k for k, v in _GROUP_LABELS.items()}},
        "channels": dict(plant.channels),
    }
    truth = {
        "strategy_id": plant.strategy_id,
        "reporting_within_7d": plant.prompt_after / plant.prompt_before,
        "source_mission_share": 1.0,
        "placebo_home": 1.0,
        "target_locations": float((1 - home_after) * irr / (1 - base[0])),
        "prompt_share_before": plant.prompt_before, "prompt_share_after": plant.prompt_after,
    }
    return table, source, truth


def _sprinkle_incidents(world: _World, table: pd.DataFrame) -> pd.DataFrame:
    """Append realistic bad rows, each counted under the reason ingestion must give."""
    spec = world.spec
    a_mode = spec.mission == "DEMO-A"
    lon_c, lat_c = ("Longitude", "Latitude") if a_mode else ("longitude", "latitude")
    id_c = "Incident ID" if a_mode else "incident_id"
    date_c = "Incident Date" if a_mode else "occurred_at"
    type_c = "Type of SV" if a_mode else "gbv_type"
    src_c = "Source" if a_mode else "source"
    good = table.iloc[10:40].astype(object)
    bad: list[pd.Series] = []

    def variant(i: int, reason: str, **changes: object) -> None:
        row = good.iloc[i].copy()
        row[id_c] = f"{spec.mission}-BAD-{len(bad) + 1:03d}"
        for key, value in changes.items():
            row[key] = value
        bad.append(row)
        _count(world, "incidents", reason)

    lon0, lat0 = float(good.iloc[0][lon_c]), float(good.iloc[0][lat_c])
    fmt = (lambda d: d.strftime("%d/%m/%Y %H:%M")) if a_mode else (
        lambda d: d.strftime("%Y-%m-%d"))
    variant(0, "coordinates_zero_placeholder", **{lon_c: 0.0, lat_c: 0.0})
    variant(1, "coordinates_swapped", **{lon_c: lat0, lat_c: lon0})
    variant(2, "coordinates_sign_flipped", **{lat_c: -lat0})
    variant(3, "coordinates_projected", **{lon_c: 356_712.4, lat_c: 536_004.9})
    variant(4, "coordinates_out_of_range", **{lon_c: 250.0, lat_c: 95.0})
    variant(5, "outside_areas", **{lon_c: lon0 + 2.0})
    variant(6, "date_in_future", **{date_c: fmt(pd.Timestamp("2031-05-04 10:00"))})
    variant(7, "date_outside_period", **{date_c: fmt(pd.Timestamp("2019-05-04 10:00"))})
    variant(8, "date_unparseable", **{date_c: "31/02/2022 25:00" if a_mode else "2022-02-31"})
    variant(9, "label_unmapped", **{type_c: "Harassment" if spec.language == "en"
                                    else "Harcèlement"})
    variant(10, "missing_value", **{date_c: ""})
    if not a_mode:
        variant(11, "date_ambiguous", **{date_c: "03/09/2022"})
    if a_mode:
        variant(12, "invalid_number", **{lat_c: str(lat0).replace(".", ",")})
    dup = good.iloc[13].copy()
    bad.append(dup)
    _count(world, "incidents", "duplicate_id")
    twin = good.iloc[14].copy()
    twin[id_c] = f"{spec.mission}-TWIN-001"
    twin[src_c] = "another_partner"
    bad.append(twin)
    _count(world, "incidents", "likely_duplicate")
    if spec.mission == "DEMO-B":
        multi = good.iloc[15].copy()
        multi[id_c] = f"{spec.mission}-MULTI-001"
        multi[type_c] = "Violence psychologique, Viol"
        bad.append(multi)  # accepted as rape: the most severe mapped type
    return pd.concat([table, pd.DataFrame(bad)], ignore_index=True)


def _patrol_table(world: _World, patrols: pd.DataFrame) -> pd.DataFrame:
    local_start = _local(world, patrols.start_h.to_numpy())
    local_end = _local(world, patrols.end_h.to_numpy())
    table = pd.DataFrame({
        "patrol_id": patrols.patrol_id, "unit_type": patrols.unit_type,
        "patrol_type": patrols.patrol_type,
        "started_at": local_start.dt.strftime("%Y-%m-%dT%H:%M:00").to_numpy(),
        "ended_at": local_end.dt.strftime("%Y-%m-%dT%H:%M:00").to_numpy(),
        "personnel": patrols.personnel.astype(str), "women": patrols.women.astype(str),
    })
    extra = table.iloc[:3].copy()
    extra["patrol_id"] = [f"{world.spec.mission}-PBAD-{i}" for i in range(1, 4)]
    extra.iloc[0, extra.columns.get_loc("ended_at")] = "2022-01-01T00:10:00"
    extra.iloc[0, extra.columns.get_loc("started_at")] = "2022-01-01T05:00:00"
    extra.iloc[1, extra.columns.get_loc("women")] = "99"
    extra.iloc[1, extra.columns.get_loc("personnel")] = "12"
    extra = pd.concat([extra.iloc[:2], table.iloc[[5]]], ignore_index=True)  # + a duplicate id
    for reason in ("ended_before_started", "women_exceed_personnel", "duplicate_id"):
        _count(world, "patrols", reason)
    return pd.concat([table, extra], ignore_index=True)


def _write_source(frame: pd.DataFrame, path: Path, layer: str | None = None) -> Path:
    # A source file carries its cells as a field export would, planted oddities included; only
    # outputs are neutralised for spreadsheets.
    return write_table(frame, path, layer=layer, raw_cells=True)


def _write_mission(world: _World, folder: Path, seed: int) -> Path:
    spec = world.spec
    fmt = spec.formats
    folder.mkdir(parents=True, exist_ok=True)
    sources: dict[str, dict] = {}

    def path(table: str) -> str:
        ext = fmt[table]
        return f"{table}.{ext}"

    areas = world.areas.to_crs(WGS84)
    extra_area = None
    if spec.mission == "DEMO-C":
        extra_area = areas.iloc[[0]].copy()  # a second row with an id already used
        _count(world, "areas", "duplicate_id")
    areas_out = pd.concat([areas, extra_area]) if extra_area is not None else areas
    _write_source(gpd.GeoDataFrame(areas_out, crs=WGS84), folder / path("areas"),
                  layer="areas" if fmt["areas"] == "gpkg" else None)
    sources["areas"] = {"path": path("areas")}

    deployments, multiplier = _deployments(world)
    if spec.coverage_model != "bases":
        patrols, paths = _make_patrols(world)
        world.positions = np.concatenate(paths)
    else:
        patrols, paths = _make_patrols(world)
    incidents = _make_incidents(world, multiplier)
    incidents, displaced = _plant_displacement(world, incidents)
    deployments = pd.concat([deployments, displaced], ignore_index=True)

    table, source = _incident_table(world, incidents)
    planted_reporting = None
    if spec.reporting is not None:
        table, source, planted_reporting = _plant_reporting(world, incidents, deployments,
                                                            table, source, seed)
    table = _sprinkle_incidents(world, table)
    if fmt["incidents"] == "csv":
        _write_source(table, folder / path("incidents"))
    else:
        lon_c, lat_c = "longitude", "latitude"
        lon = pd.to_numeric(table[lon_c])
        lat = pd.to_numeric(table[lat_c])
        gdf = gpd.GeoDataFrame(table.drop(columns=[lon_c, lat_c]),
                               geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
        _write_source(gdf, folder / path("incidents"))
    sources["incidents"] = {"path": path("incidents"), **source}

    ptable = _patrol_table(world, patrols)
    if spec.coverage_model == "routes":
        routes = gpd.GeoSeries(list(patrols.route), crs=spec.crs).to_crs(WGS84)
        geoms = list(routes) + [None] * (len(ptable) - len(routes))
        _write_source(gpd.GeoDataFrame(ptable, geometry=geoms, crs=WGS84),
                      folder / path("patrols"), layer="patrols")
    else:
        _write_source(ptable, folder / path("patrols"))
    sources["patrols"] = {"path": path("patrols")}

    if spec.coverage_model == "tracks":
        fixes = []
        for pid, pos in zip(patrols.patrol_id, paths, strict=True):
            sample = pos[::5] if len(pos) > 5 else pos
            fixes.append(pd.DataFrame({"patrol_id": pid, "x": sample[:, 0], "y": sample[:, 1],
                                       "t_h": sample[:, 2]}))
        fx = pd.concat(fixes, ignore_index=True)
        lon, lat = _to_lonlat(world, fx.x.to_numpy(), fx.y.to_numpy())
        recorded = _local(world, fx.t_h.to_numpy()).dt.tz_localize(spec.timezone)
        tracks = gpd.GeoDataFrame({"patrol_id": fx.patrol_id, "recorded_at": recorded},
                                  geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
        ghost = tracks.iloc[:2].copy()
        ghost["patrol_id"] = f"{spec.mission}-P99999"
        _count(world, "patrol_tracks", "unknown_patrol", 2)
        _write_source(pd.concat([tracks, ghost], ignore_index=True), folder / path("patrol_tracks"))
        sources["patrol_tracks"] = {"path": path("patrol_tracks")}

    if "bases" in fmt:
        b = world.bases
        lon, lat = _to_lonlat(world, b.x.to_numpy(), b.y.to_numpy())
        months = world.months
        btable = pd.DataFrame({
            "base_id": b.base_id, "longitude": lon, "latitude": lat,
            "valid_from": [months[m].strftime("%Y-%m-%d") for m in b.open_month],
            "valid_to": ["" if c is None or pd.isna(c) else
                         (months[int(c)] - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
                         for c in b.close_month],
            "unit_type": b.unit_type, "personnel": b.personnel.astype(str),
            "women": (b.personnel // 6).astype(str),
        })
        wrong = btable.iloc[[0]].copy()
        wrong["base_id"], wrong["valid_to"] = f"{spec.mission}-BASE-X", "2021-06-30"
        _count(world, "bases", "ended_before_started")
        _write_source(pd.concat([btable, wrong], ignore_index=True), folder / path("bases"))
        sources["bases"] = {"path": path("bases")}

    bad_dep = pd.DataFrame([
        {"strategy_id": "teleportation-units", "area_id": world.areas.area_id.iloc[0],
         "started_on": "2022-06-01", "ended_on": ""},
        {"strategy_id": spec.effects[0].strategy_id, "area_id": "Z99",
         "started_on": "2022-06-01", "ended_on": ""},
    ])
    _count(world, "deployments", "unknown_strategy")
    _count(world, "deployments", "unknown_area")
    all_deployments = pd.concat([deployments, bad_dep], ignore_index=True)
    _write_source(all_deployments, folder / path("deployments"))
    sources["deployments"] = {"path": path("deployments")}

    truth = {
        "mission": spec.mission, "seed": seed, "synthetic": True,
        "effects": [{"strategy_id": e.strategy_id, "estimand": "deployment", "irr": e.irr,
                     "rollout": e.rollout} for e in spec.effects],
        "patrol_presence": {"radius_m": spec.radius_m, "window_h": WINDOW_H,
                            "irr_covered": IRR_COVERED, "model": spec.coverage_model},
        "displacement": [] if spec.displacement is None else [{
            "strategy_id": spec.displacement.strategy_id, "estimand": "deployment",
            "design": "stacked_rings", "irr": spec.displacement.irr,
            "ring_irrs": [spec.displacement.ring_irr, 1.0],
            "contiguity": "areas sharing an edge or a corner",
            "note": "Spill-over onto neighbouring areas biases this strategy's headline "
                    "(stacked, no rings); the stacked_rings rows recover the planted ratios.",
        }],
        "bad_rows": world.truth_bad,
        **({"reporting": planted_reporting} if planted_reporting else {}),
        "notes": "Incident candidates are thinned with probability 1 - irr_covered when a "
                 "patrol (or a valid base) was within radius_m during the window_h before.",
    }
    write_json(truth, folder / "ground_truth.json")
    config = {
        "mission": spec.mission, "name": spec.name, "synthetic": True,
        "timezone": spec.timezone, "crs": spec.crs,
        "period": {"start": PERIOD[0], "end": PERIOD[1]}, "seed": seed,
        "sources": {k: {**v, "path": f"{folder.name}/{v['path']}"} for k, v in sources.items()},
        "coverage": {"radius_m": spec.radius_m, "window_h": WINDOW_H},
        "sharing": {"min_count": 5, "h3_resolution": 7},
    }
    for table_name in ("areas", "patrols"):
        if fmt.get(table_name) == "gpkg":
            config["sources"][table_name]["layer"] = table_name
    config_path = folder.parent / f"{spec.mission}.yaml"
    header = "# Generated by `protection-eval demo`: synthetic data, every place invented.\n"
    write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), config_path)
    return config_path


def make_demo_missions(
    out_dir: str | Path, *, seed: int = 11, scale: float = 1.0, missions: tuple[str, ...] = ()
) -> list[Path]:
    """Generate the demo missions and return their configuration files.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``<MISSION>.yaml`` files and ``demo-x/`` data folders (``data/missions``).
    seed : int, default 11
        Seed of everything random; the same seed writes the same files.
    scale : float, default 1.0
        Multiplies patrols per day and incident rates (tests use a small scale).
    missions : tuple of str, optional
        Subset of mission codes; all when empty.

    Returns
    -------
    list of Path
        The mission configuration files written.
    """
    out_dir = Path(out_dir)
    paths = []
    for number, spec in enumerate(DEMO_SPECS):
        if missions and spec.mission not in missions:
            continue
        if scale != 1.0:
            spec = DemoSpec(**{**spec.__dict__, "patrols_per_day": spec.patrols_per_day * scale,
                               "base_rate": spec.base_rate * scale})
        rng = np.random.default_rng([seed, number])
        areas = _make_areas(spec, rng)
        months = pd.date_range(PERIOD[0], PERIOD[1], freq="MS")
        world = _World(spec, rng, areas, months, pd.DataFrame(),
                       spill_rng=np.random.default_rng([seed, number, 1]))
        world.bases = _make_bases(world)
        folder = out_dir / f"demo-{spec.mission[-1].lower()}"
        paths.append(_write_mission(world, folder, seed))
    return paths
