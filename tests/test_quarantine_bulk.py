"""Label mapping and reference look-ups, done in bulk, quarantine exactly as cell by cell.

``map_labels`` spreads each distinct cell's answer by its code, and ``check_reference`` looks
values up with Arrow (issue 18, section 1: pandas' ``isin`` on Arrow text converted the known
ids in Python at every block of a GPS table). These tests compare both, on cells that trip
each step (white space, decomposed accents, a byte-order mark, multi-valued and unmapped
labels, empty cells, known ids that are not text), with the former cell-by-cell forms:
the same values, the same rows refused, with the same reason, column and detail.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from protection_eval.config import SourceSpec
from protection_eval.ingest.quarantine import Quarantine, cell_text, check_reference, map_labels
from protection_eval.labels import LabelMapper

CELLS = ["Rape", " Rape ", "rape", "Viol", "Vio\u0301l", "\ufeffRape", "Rape; Sexual Assault",
         "Rape;Unknown thing", "Unknown thing", "", "  ", "\u00a0Rape\u00a0", "SEXUAL ASSAULT",
         "Rape", "Unknown thing", "Sexual Assault|Rape"]
LABELS = {"gbv_type": {"Rape": "rape", "Viol": "rape", "Sexual Assault": "sexual_assault"},
          "location_type": {"Rape": "home", "Viol": "market"}}


def _former_map_labels(frame, column, spec, q, *, default):
    """``map_labels`` as it was: one dictionary look-up per cell, twice."""
    mapper = LabelMapper(column, spec.labels.get(column), multi_valued=column == "gbv_type")
    cells = cell_text(frame, column)
    labels, details = {"": default}, {"": None}
    for cell in cells.unique():
        if cell == "":
            continue
        outcome = mapper.map(cell)
        labels[cell] = outcome.label
        details[cell] = None if outcome.label is not None else (
            f"{column} label(s) {list(outcome.unmapped)} are not model labels "
            f"{list(mapper.vocabulary)}; map them under sources.<table>.labels.{column}"
        )
    out = pd.Series([labels[c] for c in cells], index=frame.index, dtype=object)
    refused = pd.Series([details[c] for c in cells], index=frame.index, dtype=object)
    q.reject(refused.notna(), "label_unmapped", column, refused)
    return out


def _assert_same_quarantine(new: Quarantine, old: Quarantine) -> None:
    for part in ("reason", "column", "detail"):
        pd.testing.assert_series_equal(getattr(new, part), getattr(old, part))


@pytest.mark.parametrize("column", ["gbv_type", "location_type"])
@pytest.mark.parametrize("default", [None, "other"])
@pytest.mark.parametrize("dtype", ["str", object])
def test_labels_map_and_quarantine_as_cell_by_cell(column, default, dtype):
    index = pd.RangeIndex(10, 10 + len(CELLS))
    frame = pd.DataFrame({column: pd.Series(CELLS, dtype=dtype, index=index)})
    spec = SourceSpec(path=Path("x.csv"), labels=LABELS)
    new, old = Quarantine(frame.index), Quarantine(frame.index)
    mapped = map_labels(frame, column, spec, new, default=default)
    pd.testing.assert_series_equal(mapped, _former_map_labels(frame, column, spec, old,
                                                              default=default))
    _assert_same_quarantine(new, old)
    assert new.reason.notna().any() and mapped.notna().any()
    assert mapped.loc[19] == default  # an empty cell takes the default


def test_labels_of_an_empty_table_and_a_missing_column():
    spec = SourceSpec(path=Path("x.csv"), labels=LABELS)
    empty = pd.DataFrame({"gbv_type": pd.Series([], dtype="str")})
    assert map_labels(empty, "gbv_type", spec, Quarantine(empty.index), default=None).empty
    frame = pd.DataFrame({"other": ["a", "b"]})
    q = Quarantine(frame.index)
    assert map_labels(frame, "gbv_type", spec, q, default="x").tolist() == ["x", "x"]
    assert q.reason.isna().all()


# Readers give an empty cell as "", never as missing.
IDS = ["P1", " P1 ", "p1", "P2", "", "P\u0301", "\ufeffP2", "nan", "P99", "1", "P1"]


@pytest.mark.parametrize("dtype", ["str", object])
@pytest.mark.parametrize("known", [
    frozenset({"P1", "P2", "P\u0301"}),
    {"P1", 1, None, "P2"},            # known ids that are not text match no cell
    [],
    ["P" + str(i) for i in range(50_000)],
])
def test_references_quarantine_as_pandas_isin(dtype, known):
    index = pd.RangeIndex(5, 5 + len(IDS))
    frame = pd.DataFrame({"patrol_id": pd.Series(IDS, dtype=dtype, index=index)})
    new, old = Quarantine(frame.index), Quarantine(frame.index)
    values = check_reference(frame, "patrol_id", known, "unknown_patrol", "a known patrol", new)
    former = cell_text(frame, "patrol_id")
    unknown = (former != "") & ~former.isin(set(known))
    old.reject(unknown, "unknown_patrol", "patrol_id",
               lambda rows: former[rows] + " is not a known patrol")
    pd.testing.assert_series_equal(values, former)
    _assert_same_quarantine(new, old)
