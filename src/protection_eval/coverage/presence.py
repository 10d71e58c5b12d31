"""Presence pieces as arrays: where and when patrols (or bases) were, without a shapely object each.

A mission logging GPS every 30 seconds has millions of straight movements. The area measures
need each one's time span, crew and unit for every piece, but its geometry only a month (or a
block of pieces) at a time: :class:`PresencePieces` holds the coordinates and builds the
lines and points of the pieces asked for, when asked. A GeoDataFrame of every piece
(:meth:`PresencePieces.to_frame`) is the same table, for callers that want one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["PRESENCE_COLUMNS", "PresencePieces"]

PRESENCE_COLUMNS: tuple[str, ...] = (
    "kind",
    "unit_id",
    "start",
    "end",
    "personnel",
    "women",
    "geometry",
)


@dataclass(frozen=True)
class PresencePieces:
    """Presence pieces (:data:`PRESENCE_COLUMNS`) with geometries built on demand.

    Attributes
    ----------
    kind : numpy.ndarray
        ``patrol`` or ``base`` per piece.
    unit_id : pandas.arrays.StringArray
        The patrol or base of each piece.
    start, end : pandas.Series
        UTC timestamps of each piece's span (NaT: open).
    personnel, women : numpy.ndarray
        Crew of each piece (float, NaN unknown).
    crs : object
        The projected CRS of the coordinates.
    coords : tuple of numpy.ndarray or None
        Start and end coordinates (x0, y0, x1, y1) of movements (the movements' own arrays,
        not copies): a piece is a line, or a point where both ends are equal. None when
        ``geoms`` holds the geometries.
    geoms : numpy.ndarray or None
        Shapely geometries of every piece, when the pieces came as a GeoDataFrame.
    """

    kind: np.ndarray
    unit_id: pd.api.extensions.ExtensionArray
    start: pd.Series
    end: pd.Series
    personnel: np.ndarray
    women: np.ndarray
    crs: object = field(repr=False)
    coords: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = field(
        default=None, repr=False
    )
    geoms: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        """Return the number of pieces."""
        return len(self.kind)

    @classmethod
    def from_frame(cls, presence: gpd.GeoDataFrame) -> PresencePieces:
        """Return the pieces of a presence GeoDataFrame (:data:`PRESENCE_COLUMNS`)."""
        return cls(
            kind=presence["kind"].to_numpy(),
            unit_id=presence["unit_id"].array,
            start=presence["start"].reset_index(drop=True),
            end=presence["end"].reset_index(drop=True),
            personnel=presence["personnel"].to_numpy(dtype=float),
            women=presence["women"].to_numpy(dtype=float),
            crs=presence.crs,
            geoms=presence.geometry.to_numpy(),
        )

    @classmethod
    def from_segments(
        cls,
        coords: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        start: pd.Series,
        end: pd.Series,
        unit_id: pd.api.extensions.ExtensionArray,
        personnel: np.ndarray,
        women: np.ndarray,
        crs: object,
    ) -> PresencePieces:
        """Return patrol pieces moving straight from (x0, y0) to (x1, y1), one per row."""
        return cls(
            kind=np.full(len(coords[0]), "patrol", dtype=object),
            unit_id=unit_id,
            start=start,
            end=end,
            personnel=personnel,
            women=women,
            crs=crs,
            coords=coords,
        )

    def geometries(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """Return the shapely geometries of the pieces ``rows`` (all when None).

        Parameters
        ----------
        rows : numpy.ndarray or slice, optional
            Positions of the pieces.

        Returns
        -------
        numpy.ndarray
            A LineString per moving piece, a Point per stationary one (or the given geometries).
        """
        pick = slice(None) if rows is None else rows
        if self.geoms is not None:
            return self.geoms[pick]
        x0, y0, x1, y1 = (values[pick] for values in self.coords)
        still = (x0 == x1) & (y0 == y1)
        geoms = shapely.linestrings(np.stack([x0, y0, x1, y1], axis=1).reshape(-1, 2, 2))
        if still.any():
            geoms[still] = shapely.points(x0[still], y0[still])
        return geoms

    def is_line(self) -> np.ndarray:
        """Return, per piece, whether its geometry is a LineString."""
        if self.geoms is not None:
            return shapely.get_type_id(self.geoms) == 1
        x0, y0, x1, y1 = self.coords
        return ~((x0 == x1) & (y0 == y1))

    def unit_codes(self) -> np.ndarray:
        """Return each piece's unit as an integer code, numbered by first appearance."""
        codes, _ = pd.factorize(self.unit_id)
        return codes

    def to_frame(self) -> gpd.GeoDataFrame:
        """Return the pieces as a GeoDataFrame (:data:`PRESENCE_COLUMNS`, one shapely each)."""
        return gpd.GeoDataFrame(
            {
                "kind": self.kind,
                "unit_id": self.unit_id,
                "start": self.start,
                "end": self.end,
                "personnel": self.personnel,
                "women": self.women,
            },
            geometry=self.geometries(),
            crs=self.crs,
        )
