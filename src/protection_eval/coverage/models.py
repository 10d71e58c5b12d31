"""Coverage models behind one interface: GPS tracks, patrol routes, base presence.

A mission's data decide the model (:func:`choose_coverage_model`): GPS tracks when the mission
has fixes, else routes when patrols carry LineStrings, else bases. Each model answers two
questions from the same inputs:

- :meth:`CoverageModel.cover`: for each incident, was a patrol (or a base) within reach?
- :meth:`CoverageModel.presence`: where and when were patrols present, as a table of pieces
  (lines or points with a start, an end, personnel and women) that the area measures use.

All tables given to a model are already in the mission's projected CRS. New models register
with :func:`register_coverage_model`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from protection_eval.config import DEFAULT_PRECISION_UNCERTAINTY_M
from protection_eval.coverage.index import Movements, movements_from_fixes
from protection_eval.coverage.points import (
    EPOCH,
    HOUR_S,
    IncidentQueries,
    cover_incidents,
    point_xy,
    to_seconds,
)
from protection_eval.coverage.presence import PRESENCE_COLUMNS, PresencePieces
from protection_eval.ingest.tables import TRACKS_CRS
from protection_eval.model import local_midnight_to_utc, to_local_day

#: Patrol movements and the patrol ids their ``group`` codes stand for.
PatrolMovements = tuple[Movements, pd.Index]



@dataclass(frozen=True)
class CoverageParams:
    """Parameters shared by every coverage model.

    Attributes
    ----------
    radius_m, window_h, max_gap_h : float
        Coverage radius, window before the incident, longest interpolated gap between fixes.
    precision_uncertainty_m : mapping
        Nominal location uncertainty per ``location_precision``.
    timezone : str
        Mission time zone: the calendar in which base validity dates and months are read.
    nearest_within_m : float or None
        Largest distance reported in ``nearest_m`` (None: the radius).
    """

    radius_m: float = 2_000.0
    window_h: float = 72.0
    max_gap_h: float = 6.0
    precision_uncertainty_m: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_PRECISION_UNCERTAINTY_M)
    )
    timezone: str = "UTC"
    nearest_within_m: float | None = None


class CoverageModel(ABC):
    """How patrol presence is known for a mission, and how incidents are covered by it."""

    name: ClassVar[str]

    @abstractmethod
    def available(self, tables: Mapping[str, gpd.GeoDataFrame | None]) -> bool:
        """Return whether the mission's tables hold what this model needs."""

    @abstractmethod
    def cover(
        self,
        incidents: gpd.GeoDataFrame,
        tables: Mapping[str, gpd.GeoDataFrame | None],
        params: CoverageParams,
        *,
        moves: PatrolMovements | None = None,
    ) -> pd.DataFrame:
        """Return the per-incident coverage table (see ``coverage_points.COVERAGE_COLUMNS``).

        ``moves``, from :meth:`movements` on the same tables and parameters, saves building
        them again when one mission is covered several times (incidents, then control points).
        """

    @abstractmethod
    def presence(
        self,
        tables: Mapping[str, gpd.GeoDataFrame | None],
        params: CoverageParams,
        *,
        moves: PatrolMovements | None = None,
    ) -> gpd.GeoDataFrame:
        """Return presence pieces: :data:`PRESENCE_COLUMNS`, times as UTC timestamps."""

    def presence_pieces(
        self,
        tables: Mapping[str, gpd.GeoDataFrame | None],
        params: CoverageParams,
        *,
        moves: PatrolMovements | None = None,
    ) -> PresencePieces:
        """Return the same presence pieces as :meth:`presence`, as arrays.

        Models with many pieces (GPS tracks) build them from their movements without a shapely
        geometry each; the area measures build geometries a month or a block at a time.
        """
        return PresencePieces.from_frame(self.presence(tables, params, moves=moves))

    def movements(
        self, tables: Mapping[str, gpd.GeoDataFrame | None], params: CoverageParams
    ) -> PatrolMovements | None:
        """Return the patrol movements this model covers with, or None when it has none.

        Building them is the part of :meth:`cover` and :meth:`presence` that grows with the
        number of GPS fixes: a caller that covers one mission several times builds them once
        and passes them on.
        """
        return None


def _patrol_crew(patrols: gpd.GeoDataFrame, ids: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Return personnel and women (float, NaN unknown) of the patrols ``ids``."""
    crew = patrols.drop_duplicates("patrol_id").set_index("patrol_id")
    crew = crew.reindex(ids)
    personnel = pd.to_numeric(crew["personnel"]).astype("Float64").to_numpy(float, na_value=np.nan)
    women = pd.to_numeric(crew["women"]).astype("Float64").to_numpy(float, na_value=np.nan)
    return personnel, women


def _pieces_from_moves(
    moves: Movements, ids: pd.Index, patrols: gpd.GeoDataFrame, crs: object
) -> PresencePieces:
    """Turn patrol movements into presence pieces (a line, or a point when stationary)."""
    group = moves.group if moves.group is not None else np.zeros(len(moves), dtype=np.int64)
    personnel, women = _patrol_crew(patrols, ids)
    return PresencePieces.from_segments(
        (moves.x0, moves.y0, moves.x1, moves.y1),
        start=pd.Series(EPOCH + pd.to_timedelta(moves.t0, unit="s")),
        end=pd.Series(EPOCH + pd.to_timedelta(moves.t1, unit="s")),
        unit_id=pd.array(np.asarray(ids)[group], dtype="string"),
        personnel=personnel[group],
        women=women[group],
        crs=crs,
    )


def _cover_with(
    incidents: gpd.GeoDataFrame, moves: Movements, params: CoverageParams
) -> pd.DataFrame:
    return cover_incidents(
        incidents, moves, params.radius_m, params.window_h,
        precision_uncertainty_m=params.precision_uncertainty_m,
        nearest_within_m=params.nearest_within_m,
    )


@dataclass(frozen=True)
class TrackFixes:
    """GPS fixes as arrays: what the tracks model needs of them, without a shapely point each.

    A GeoDataFrame of fixes holds a shapely point per fix (about 200 bytes each) and its
    projected copy another; at millions of fixes that was most of a notebook kernel's memory.
    A mission's accepted fixes are coordinates (``longitude``/``latitude``, EPSG:4326), and
    :func:`protection_eval.coverage.mission.prepare_coverage` projects them as arrays
    (:meth:`from_tracks`), with the transformation ``GeoDataFrame.to_crs`` would apply to
    their points, so the coordinates are bit-identical to those of projected points.

    Attributes
    ----------
    x, y : numpy.ndarray
        Coordinates in ``crs`` (NaN for a missing or empty geometry).
    t : numpy.ndarray
        ``recorded_at`` in seconds since the epoch (NaN when missing).
    codes : numpy.ndarray
        Patrol code of each fix (-1 when the patrol id is missing).
    ids : pandas.Index
        The patrol ids the codes stand for.
    crs : object
        The coordinates' CRS.
    """

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    t: np.ndarray = field(repr=False)
    codes: np.ndarray = field(repr=False)
    ids: pd.Index = field(repr=False)
    crs: object = None

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def from_tracks(cls, tracks: pd.DataFrame, crs: object | None = None) -> TrackFixes:
        """Return the fixes of a GPS track table, projected to ``crs`` when given.

        Parameters
        ----------
        tracks : pandas.DataFrame or geopandas.GeoDataFrame
            GPS fixes with ``patrol_id`` and ``recorded_at`` (UTC), placed either by
            ``longitude``/``latitude`` columns in EPSG:4326 (a mission's accepted fixes,
            :attr:`protection_eval.ingest.tables.MissionData.patrol_tracks`) or, in a
            GeoDataFrame, by Point geometries in its CRS.
        crs : object, optional
            Target CRS (anything ``pyproj.CRS.from_user_input`` takes); the table's own when
            None.

        Returns
        -------
        TrackFixes
            The fixes' coordinates, times and patrol codes.

        Raises
        ------
        ValueError
            When ``crs`` is given and a GeoDataFrame of fixes has no CRS.
        """
        if isinstance(tracks, gpd.GeoDataFrame):
            x, y = point_xy(tracks.geometry)
            source = tracks.crs
        else:
            # Copies: the projection below writes into them, never into the mission's table.
            x = tracks["longitude"].to_numpy(dtype="float64", na_value=np.nan, copy=True)
            y = tracks["latitude"].to_numpy(dtype="float64", na_value=np.nan, copy=True)
            source = pyproj.CRS.from_user_input(TRACKS_CRS)
        target = source
        if crs is not None:
            target = pyproj.CRS.from_user_input(crs)
            if source is None:
                raise ValueError(
                    "the GPS tracks have no CRS, so they cannot be projected; the mission's "
                    "tables are read in EPSG:4326"
                )
            if not source.is_exact_same(target):
                # The transformer GeoDataFrame.to_crs builds, applied to the same coordinates:
                # the projected positions are the ones a projected GeoDataFrame would hold.
                transformer = pyproj.Transformer.from_crs(source, target, always_xy=True)
                ok = np.isfinite(x) & np.isfinite(y)
                px, py = transformer.transform(x[ok], y[ok])
                x[ok] = px
                y[ok] = py
        t = to_seconds(tracks["recorded_at"], "recorded_at")
        codes, ids = pd.factorize(tracks["patrol_id"])
        return cls(x, y, t, codes, pd.Index(ids), target)


def tracks_to_movements(
    tracks: pd.DataFrame | TrackFixes, max_gap_h: float
) -> tuple[Movements, pd.Index]:
    """Return the movements of GPS tracks and the patrol ids their ``group`` codes stand for."""
    fixes = tracks if isinstance(tracks, TrackFixes) else TrackFixes.from_tracks(tracks)
    x, y, t = fixes.x, fixes.y, fixes.t
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(t)
    moves = movements_from_fixes(fixes.codes[ok], x[ok], y[ok], t[ok], max_gap_h * HOUR_S)
    return moves, fixes.ids


def routes_to_movements(patrols: gpd.GeoDataFrame) -> tuple[Movements, pd.Index]:
    """Return movements along patrol routes, travelled at uniform speed from start to end.

    A patrol whose route is missing or empty, or whose times are missing, is not used; a route
    of zero length is a stationary presence from start to end. The parts of a MultiLineString
    are travelled in order, the jump between them included.
    """
    usable = patrols[
        patrols.geometry.notna()
        & ~patrols.geometry.is_empty
        & patrols["started_at"].notna()
        & patrols["ended_at"].notna()
    ]
    if len(usable) == 0:
        return Movements.empty(), pd.Index([])
    ids = pd.Index(usable["patrol_id"].to_numpy())
    coords, which = shapely.get_coordinates(usable.geometry.to_numpy(), return_index=True)
    start = to_seconds(usable["started_at"], "started_at")
    end = np.maximum(to_seconds(usable["ended_at"], "ended_at"), start)
    step = np.hypot(*np.diff(coords, axis=0, prepend=coords[:1]).T)
    first = np.r_[True, which[1:] != which[:-1]]
    step[first] = 0.0
    first_idx = np.flatnonzero(first)
    along = np.cumsum(step)
    along -= along[first_idx][np.cumsum(first) - 1]
    length = np.bincount(which, weights=step, minlength=len(usable))
    safe = np.where(length > 0, length, 1.0)
    frac = np.where(length[which] > 0, along / safe[which], 0.0)
    t = start[which] + frac * (end - start)[which]
    pair = np.flatnonzero(~first[1:])
    first_vertex = np.zeros(len(usable), dtype=np.int64)
    first_vertex[which[first_idx]] = first_idx
    zero = np.flatnonzero((length == 0) & np.isin(np.arange(len(usable)), which))
    zero_at = first_vertex[zero]
    a = np.r_[pair, zero_at]
    b = np.r_[pair + 1, zero_at]
    t1 = np.r_[t[pair + 1], end[zero]]
    moves = Movements(
        coords[a, 0], coords[a, 1], coords[b, 0], coords[b, 1], t[a], t1, which[a]
    )
    return moves, ids


class TracksModel(CoverageModel):
    """GPS tracks, interpolated between fixes unless they are more than ``max_gap_h`` apart."""

    name = "tracks"

    def available(self, tables: Mapping[str, gpd.GeoDataFrame | None]) -> bool:
        """Return True when the mission has GPS fixes."""
        tracks = tables.get("patrol_tracks")
        return tracks is not None and len(tracks) > 0

    def movements(self, tables, params):  # noqa: D102 (documented on the base class)
        return tracks_to_movements(tables["patrol_tracks"], params.max_gap_h)

    def cover(self, incidents, tables, params, *, moves=None):  # noqa: D102
        found, _ = moves if moves is not None else self.movements(tables, params)
        return _cover_with(incidents, found, params)

    def presence(self, tables, params, *, moves=None):  # noqa: D102
        return self.presence_pieces(tables, params, moves=moves).to_frame()

    def presence_pieces(self, tables, params, *, moves=None):  # noqa: D102
        found, ids = moves if moves is not None else self.movements(tables, params)
        return _pieces_from_moves(found, ids, tables["patrols"], tables["patrol_tracks"].crs)


class RoutesModel(CoverageModel):
    """Patrol routes (LineStrings) travelled at uniform speed between start and end."""

    name = "routes"

    def available(self, tables: Mapping[str, gpd.GeoDataFrame | None]) -> bool:
        """Return True when some patrol has a route."""
        patrols = tables.get("patrols")
        return patrols is not None and bool(patrols.geometry.notna().any())

    def movements(self, tables, params):  # noqa: D102
        return routes_to_movements(tables["patrols"])

    def cover(self, incidents, tables, params, *, moves=None):  # noqa: D102
        found, _ = moves if moves is not None else self.movements(tables, params)
        return _cover_with(incidents, found, params)

    def presence(self, tables, params, *, moves=None):  # noqa: D102
        return self.presence_pieces(tables, params, moves=moves).to_frame()

    def presence_pieces(self, tables, params, *, moves=None):  # noqa: D102
        patrols = tables["patrols"]
        found, ids = moves if moves is not None else self.movements(tables, params)
        return _pieces_from_moves(found, ids, patrols, patrols.crs)


class BasesModel(CoverageModel):
    """Base presence: covered when within the radius of a base valid on the incident's day.

    Days are the mission's local calendar days; a base's ``valid_to`` day is included and NaT
    means still open. There is no time window: a base is present all day, so a covered
    incident has ``since_patrol_h`` 0.
    """

    name = "bases"

    def available(self, tables: Mapping[str, gpd.GeoDataFrame | None]) -> bool:
        """Return True when the mission has bases."""
        bases = tables.get("bases")
        return bases is not None and len(bases) > 0

    def cover(self, incidents, tables, params, *, moves=None):  # noqa: D102
        queries = IncidentQueries(
            incidents, params.radius_m, params.window_h, params.precision_uncertainty_m
        )
        bases = tables.get("bases")
        scope = np.flatnonzero(queries.in_scope)
        n = len(incidents)
        nearest = np.full(n, np.inf)
        if bases is not None and len(bases) and len(scope):
            search = max(params.nearest_within_m or params.radius_m, params.radius_m)
            bx, by = point_xy(bases.geometry)
            bxy = np.column_stack([bx, by])
            qxy = np.column_stack([queries.x[scope], queries.y[scope]])
            found = cKDTree(qxy).sparse_distance_matrix(
                cKDTree(bxy), search * (1 + 1e-9) + 1e-6, output_type="ndarray"
            )
            qi, bi = scope[found["i"]], found["j"]
            dist = np.hypot(queries.x[qi] - bx[bi], queries.y[qi] - by[bi])
            day = to_local_day(incidents["occurred_at"], params.timezone).to_numpy()[qi]
            valid_from = pd.to_datetime(bases["valid_from"]).to_numpy()[bi]
            valid_to = pd.to_datetime(bases["valid_to"]).to_numpy()[bi]
            valid = (np.isnat(valid_from) | (valid_from <= day)) & (
                np.isnat(valid_to) | (day <= valid_to)
            )
            keep = valid & (dist <= search)
            np.minimum.at(nearest, qi[keep], dist[keep])
        found_any = np.isfinite(nearest)
        covered = found_any & (nearest <= params.radius_m)
        frame = queries.to_frame(incidents.index, None)
        frame.loc[queries.in_scope, "covered"] = covered[queries.in_scope]
        frame["nearest_m"] = np.where(found_any, nearest, np.nan)
        frame["since_patrol_h"] = np.where(covered, 0.0, np.nan)
        return frame

    def presence(self, tables, params, *, moves=None):  # noqa: D102
        bases = tables["bases"]
        start = local_midnight_to_utc(pd.to_datetime(bases["valid_from"]), params.timezone)
        last = pd.to_datetime(bases["valid_to"]) + pd.Timedelta(days=1)
        end = local_midnight_to_utc(last, params.timezone)
        return gpd.GeoDataFrame(
            {
                "kind": "base",
                "unit_id": bases["base_id"].astype("string").to_numpy(),
                "start": start.array,
                "end": end.array,
                "personnel": pd.to_numeric(bases["personnel"]).astype("Float64")
                .to_numpy(float, na_value=np.nan),
                "women": pd.to_numeric(bases["women"]).astype("Float64")
                .to_numpy(float, na_value=np.nan),
            },
            geometry=bases.geometry.to_numpy(),
            crs=bases.crs,
        )


class NoPresenceModel(CoverageModel):
    """No patrol presence is known: coverage cannot be computed, and says so.

    The model of a mission with no GPS tracks, no patrol routes and no bases. Incidents keep
    their scope (so the gap list ranks hexagons by reports), but ``covered`` is NA for every
    incident: unknown, never "not covered". Presence is empty.
    """

    name = "none"

    def available(self, tables: Mapping[str, gpd.GeoDataFrame | None]) -> bool:
        """Return True: the last resort, when no other model is available."""
        return True

    def cover(self, incidents, tables, params, *, moves=None):  # noqa: D102
        queries = IncidentQueries(
            incidents, params.radius_m, params.window_h, params.precision_uncertainty_m
        )
        frame = queries.to_frame(incidents.index, None)
        frame["covered"] = pd.array([pd.NA] * len(frame), dtype="boolean")
        return frame

    def presence(self, tables, params, *, moves=None):  # noqa: D102
        crs = next((t.crs for t in tables.values() if t is not None), None)
        columns = {c: pd.Series(dtype="float64") for c in PRESENCE_COLUMNS if c != "geometry"}
        columns["kind"] = pd.Series(dtype="object")
        columns["unit_id"] = pd.Series(dtype="string")
        columns["start"] = pd.Series(dtype="datetime64[ns, UTC]")
        columns["end"] = pd.Series(dtype="datetime64[ns, UTC]")
        return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


COVERAGE_MODELS: dict[str, CoverageModel] = {}


def register_coverage_model(model: CoverageModel) -> CoverageModel:
    """Add a model to the registry under its ``name`` (replacing one of the same name)."""
    COVERAGE_MODELS[model.name] = model
    return model


for _model in (TracksModel(), RoutesModel(), BasesModel(), NoPresenceModel()):
    register_coverage_model(_model)

#: The order in which models are tried: the most precise knowledge of presence first, and
#: ``none`` (coverage unknown) when the mission has no presence data at all.
MODEL_PREFERENCE: tuple[str, ...] = ("tracks", "routes", "bases", "none")


def choose_coverage_model(tables: Mapping[str, gpd.GeoDataFrame | None]) -> CoverageModel:
    """Return the most precise model the tables allow; ``none`` when they hold no presence.

    Raises
    ------
    ValueError
        When no registered model is available (not with the built-in ``none``).
    """
    for name in MODEL_PREFERENCE:
        model = COVERAGE_MODELS.get(name)
        if model is not None and model.available(tables):
            return model
    raise ValueError(
        "no patrol presence to measure coverage with: the mission has no GPS tracks "
        "(patrol_tracks), no patrol routes (LineStrings in patrols) and no bases; add one of "
        "them to the mission configuration's sources"
    )
