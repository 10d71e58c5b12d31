"""A source's columns mapped onto a table model, before any cell is checked.

The source's own headers are renamed with ``sources.<table>.columns`` and the columns outside
the model dropped (and listed); the rows its ``where`` selects are kept; Point geometries become
``longitude``/``latitude`` cells. A required column that is absent, or a mapping that cannot
hold, stops the mission with a :class:`~protection_eval.ingest.errors.MissionInputError` that
names the file, the column and the closest header the file has.
"""

from __future__ import annotations

import difflib

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from protection_eval.config import SourceSpec
from protection_eval.ingest.errors import MissionInputError
from protection_eval.ingest.quarantine import cell_text
from protection_eval.ingest.table_models import TableModel
from protection_eval.model import RawTable


def _fatal(path: object, message: str) -> MissionInputError:
    return MissionInputError(f"{path}: {message}")


def _rename(raw: RawTable, spec: SourceSpec, model: TableModel) -> tuple[pd.DataFrame, list[str]]:
    frame = raw.frame.rename(columns={k: v for k, v in spec.columns.items() if k in raw.frame})
    unknown_targets = sorted(set(spec.columns.values()) - set(model.columns) - {"geometry"})
    if unknown_targets:
        raise _fatal(
            raw.path,
            f"sources.{raw.table}.columns maps onto {unknown_targets}, which the {raw.table} "
            f"table does not have; model columns are {list(model.columns)}",
        )
    keep = {"source_row", "geometry", *model.columns}
    dropped = [c for c in frame.columns if c not in keep]
    frame = frame.drop(columns=dropped)
    if frame.columns.duplicated().any():
        twice = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise _fatal(raw.path, f"columns {twice} appear twice after renaming; map only one")
    return frame, dropped


def _geometry_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill longitude/latitude from Point geometries where the file gave no such columns."""
    if "geometry" not in frame or ("longitude" in frame and "latitude" in frame):
        return frame
    if isinstance(frame["geometry"].dtype, pd.ArrowDtype):
        # Points the reader kept as (x, y) pairs: typed coordinates, NaN where none.
        pairs = frame["geometry"].array._pa_array.combine_chunks()
        frame = frame.drop(columns="geometry")
        for column, field_name in (("longitude", "x"), ("latitude", "y")):
            frame[column] = pd.Series(pairs.field(field_name).to_numpy(zero_copy_only=False),
                                      index=frame.index, dtype="float64")
        return frame
    geoms = gpd.GeoSeries(frame["geometry"].to_numpy(), index=frame.index)
    # Another shape, an empty point or a missing geometry gives no coordinates (quarantined
    # as missing); a NaN coordinate gives none either.
    is_point = ((geoms.geom_type == "Point") & ~geoms.is_empty).to_numpy()
    shapes = geoms.to_numpy()[is_point]
    frame = frame.drop(columns="geometry")
    for column, coordinate in (("longitude", shapely.get_x), ("latitude", shapely.get_y)):
        values = np.full(len(frame), np.nan)
        values[is_point] = coordinate(shapes)
        frame[column] = pd.Series(values, index=frame.index).astype(str).where(
            ~np.isnan(values), "")
    return frame


def _require_columns(frame: pd.DataFrame, raw: RawTable, model: TableModel,
                     spec: SourceSpec) -> None:
    required = list(model.required)
    if raw.table == "bases" and "year" in frame and "valid_from" not in frame:
        required.remove("valid_from")
    if raw.table == "bases" and "year" in frame and {"valid_from", "valid_to"} & set(frame):
        raise _fatal(raw.path, "bases give both a calendar year and valid_from/valid_to; map "
                     "one of them in sources.bases.columns")
    if raw.table == "incidents" and not (
        {"longitude", "latitude"} <= set(frame) or {"area_name", "area_pcode"} & set(frame)
    ):
        required += ["longitude", "latitude"]
    if raw.table == "incident_counts" and not {"area_id", "area_pcode", "area_name"} & set(frame):
        required += ["area_id"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = [c for c in raw.frame.columns if c not in {"source_row", "geometry"}]
        hints = [_expected_header(column, spec, found) for column in missing]
        place_columns = {"longitude", "latitude", "area_id", "valid_from"}
        alternative = {"incidents": " (or area_name / area_pcode instead of coordinates)",
                       "incident_counts": " (or area_pcode / area_name)",
                       "bases": " (or year instead of valid_from)"}.get(raw.table, "")
        raise _fatal(
            raw.path,
            f"required column(s) {missing}"
            f"{alternative if place_columns & set(missing) else ''} absent: "
            + "; ".join(hints) + f" (found {found}). Rename the source's own column with "
            f"sources.{raw.table}.columns in the mission YAML",
        )


def _expected_header(column: str, spec: SourceSpec, found: list[str]) -> str:
    """Say which header stands for a model column, and the closest header the file has."""
    expected = [src for src, target in spec.columns.items() if target == column]
    by = f"preset {spec.preset!r}" if spec.preset else "sources.columns"
    wanted = (f"{column} is read from {' or '.join(repr(e) for e in expected)} ({by})"
              if expected else f"{column} has no column of its own in the file")
    close = difflib.get_close_matches(expected[0] if expected else column, found, n=1,
                                      cutoff=0.5)
    return wanted + (f", closest header present: {close[0]!r}" if close else "")


def _where_mask(raw: RawTable, spec: SourceSpec) -> pd.Series:
    """Return which rows the source's ``where`` selects (source column names, values as text)."""
    frame = raw.frame
    keep = pd.Series(True, index=frame.index)
    for column, wanted in spec.where.items():
        if column not in frame:
            found = [c for c in frame.columns if c not in {"source_row", "geometry"}]
            raise _fatal(raw.path, f"sources.{raw.table}.where names the column {column!r}, "
                         f"which the file does not have (found {found}); use the file's own "
                         "column name")
        values = wanted if isinstance(wanted, list) else [wanted]
        keep &= cell_text(frame, column).isin({str(v).strip() for v in values})
    return keep


def _apply_where(raw: RawTable, spec: SourceSpec) -> RawTable:
    """Keep the rows the source's ``where`` selects."""
    if not spec.where:
        return raw
    keep = _where_mask(raw, spec)
    return RawTable(raw.table, raw.path, raw.frame.loc[keep].reset_index(drop=True))
