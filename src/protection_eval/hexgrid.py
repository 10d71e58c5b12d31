"""H3 hexagons: the spatial unit of everything shared, and of the gap analysis.

Pure functions from points to cells and from cells to polygons, used by coverage (gaps) and by
sharing (maps, disclosure). Cells are strings; polygons are EPSG:4326 with (longitude, latitude)
vertices, so only hexagon vertices ever reach a map.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from shapely.geometry import Polygon, shape

from protection_eval.projection import to_degrees

__all__ = [
    "cell_resolution",
    "cell_centres",
    "h3_polygons",
    "hexagon_area_km2",
    "polygon_cells",
    "resolution_for_radius",
    "to_h3_cells",
    "to_hexagon_footprint",
    "to_hexagon_frame",
    "to_parent_cells",
]


def to_h3_cells(
    longitude: Iterable[float], latitude: Iterable[float], resolution: int
) -> pd.Series:
    """Return the H3 cell of each point.

    Parameters
    ----------
    longitude, latitude : array-like of float
        Coordinates in EPSG:4326 degrees, same length. A missing coordinate gives a missing cell.
    resolution : int
        H3 resolution, 0 (continents) to 15 (square metres); shared maps use 4 to 9.

    Returns
    -------
    pandas.Series
        String series of H3 cell ids, indexed like ``longitude`` when it is a Series.
    """
    if isinstance(resolution, bool) or not 0 <= int(resolution) <= 15:
        raise ValueError(f"H3 resolution must be an integer from 0 to 15, got {resolution!r}")
    index = longitude.index if isinstance(longitude, pd.Series) else None
    lon = pd.to_numeric(pd.Series(list(longitude) if index is None else longitude), errors="coerce")
    lat = pd.to_numeric(pd.Series(list(latitude)), errors="coerce").to_numpy(dtype=float)
    lon = lon.to_numpy(dtype=float)
    if len(lon) != len(lat):
        raise ValueError("longitude and latitude must have the same length")
    cells = [
        h3.latlng_to_cell(y, x, int(resolution)) if np.isfinite(x) and np.isfinite(y) else None
        for x, y in zip(lon, lat, strict=True)
    ]
    return pd.Series(cells, index=index, dtype="string", name="h3_cell")


def cell_resolution(cell: str) -> int:
    """Return the H3 resolution of a cell id."""
    return int(h3.get_resolution(str(cell)))


def to_parent_cells(cells: Iterable[str], resolution: int) -> list[str]:
    """Return the ancestor of each cell at ``resolution`` (a cell already that coarse is kept).

    Parameters
    ----------
    cells : array-like of str
        H3 cell ids, of any resolutions.
    resolution : int
        Target resolution.

    Returns
    -------
    list of str
        One cell id per input cell.
    """
    return [
        str(c) if h3.get_resolution(str(c)) <= resolution else h3.cell_to_parent(str(c), resolution)
        for c in cells
    ]


def hexagon_area_km2(resolution: int) -> float:
    """Return the average area of an H3 hexagon at ``resolution``, in square kilometres."""
    return float(h3.average_hexagon_area(int(resolution), unit="km^2"))


def h3_polygons(cells: Iterable[str]) -> gpd.GeoSeries:
    """Return the hexagon (or pentagon) of each H3 cell as a polygon in EPSG:4326.

    Parameters
    ----------
    cells : array-like of str
        H3 cell ids; a missing id gives a missing geometry.

    Returns
    -------
    geopandas.GeoSeries
        Polygons with (longitude, latitude) vertices, indexed like ``cells`` when it is a Series.
    """
    index = cells.index if isinstance(cells, pd.Series) else None
    values = list(cells)
    polygons = [
        None if pd.isna(c) else Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(str(c))])
        for c in values
    ]
    return gpd.GeoSeries(polygons, index=index, crs="EPSG:4326")


def to_hexagon_frame(table: pd.DataFrame, cell_col: str = "h3_cell") -> gpd.GeoDataFrame:
    """Attach hexagon polygons to a table keyed by H3 cell.

    Parameters
    ----------
    table : pandas.DataFrame
        A table with an H3 cell column (a shared table, or a restricted gap list).
    cell_col : str
        The cell column, ``"h3_cell"`` by default.

    Returns
    -------
    geopandas.GeoDataFrame
        The same columns (cell ids as text) plus ``geometry`` (EPSG:4326 polygons).
    """
    frame = table.copy()
    frame[cell_col] = frame[cell_col].astype(str)
    geometry = h3_polygons(frame[cell_col].reset_index(drop=True))
    geometry.index = frame.index
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def to_hexagon_footprint(footprints: gpd.GeoDataFrame, resolution: int) -> gpd.GeoDataFrame:
    """Return the union of monthly footprints as an outline of H3 cells, in EPSG:4326.

    A cell is in when its centre is within reach. The outline's vertices are hexagon vertices
    only, so a shared map never carries a circle drawn around a patrol position.
    """
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    if len(footprints) == 0:
        return empty
    reach = gpd.GeoSeries([footprints.geometry.union_all()], crs=footprints.crs)
    reach = to_degrees(reach).iloc[0]
    if reach.is_empty:
        return empty
    cells = h3.geo_to_cells(reach.__geo_interface__, resolution)
    if not cells:
        return empty
    outline = shape(h3.cells_to_h3shape(cells).__geo_interface__)
    return gpd.GeoDataFrame(geometry=[outline], crs="EPSG:4326")


def resolution_for_radius(radius_m: float, lowest: int = 4, highest: int = 9) -> int:
    """Return the H3 resolution whose average edge length is nearest ``radius_m`` (log scale).

    A hexagon's centre-to-vertex distance equals its edge, so at this resolution a cell is about
    as wide as the reach of a patrol at its centre: one ring of cells is about one radius.
    """
    if not np.isfinite(radius_m) or radius_m <= 0:
        raise ValueError(f"radius must be a positive number of metres, got {radius_m!r}")
    return min(range(lowest, highest + 1),
               key=lambda r: abs(np.log(h3.average_hexagon_edge_length(r, unit="m") / radius_m)))


def polygon_cells(polygon: object, resolution: int) -> list[str]:
    """Return the H3 cells whose centre lies in an EPSG:4326 (multi)polygon, sorted."""
    if polygon is None or polygon.is_empty:  # type: ignore[attr-defined]
        return []
    return sorted(h3.geo_to_cells(polygon.__geo_interface__, int(resolution)))  # type: ignore[attr-defined]



def cell_centres(cells: Iterable[str]) -> gpd.GeoSeries:
    """Return the centre of each H3 cell as a point in EPSG:4326."""
    lat_lng = [h3.cell_to_latlng(str(c)) for c in cells]
    return gpd.GeoSeries(gpd.points_from_xy([p[1] for p in lat_lng], [p[0] for p in lat_lng]),
                         crs="EPSG:4326")
