"""The Central African Republic, end to end from real public files through a mission YAML alone.

Incidents are UCDP GED 23.1 one-sided violence against civilians (``type_of_violence`` 3),
bases are MINUSCA's Geo-PKO 2.3 deployment locations by calendar year, and the one area is the
country's Natural Earth 1:110m outline. UCDP records **lethal** violence, not sexual or
gender-based violence: its events are mapped to the GBVIMS label ``physical_assault`` so that
they can be carried at all. This test is about the **shape** of real data (date ranges, location
precision codes, bases by year, a shapefile, a world file filtered to one country), never about
conclusions: no figure it produces says anything about SGBV or about MINUSCA.

Sources (read from ``../shared/realdata``, never copied into the repository): UCDP GED 23.1
(CC BY 4.0; Davies, Pettersson & Oberg 2023; Sundberg & Melander 2013); Geo-PKO v2.3 (Cil,
Fjelde, Hultman & Nilsson 2020); Natural Earth (public domain).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from realdata import REALDATA, require_realdata

from protection_eval.runs.missions import load_mission
from protection_eval.runs.runner import run_mission

pytestmark = pytest.mark.slow


#: UCDP's ``where_prec``: 1 exact place, 2 within 25 km, 3 second-order administrative area,
#: 4 first-order area, 5 a linear feature or an area between places (no better than a
#: province), 6 the country, 7 international waters or air space.
WHERE_PREC = {"1": "exact", "2": "settlement", "3": "admin2", "4": "admin1", "5": "admin1",
              "6": "country", "7": "country"}


def car_mission(folder: Path) -> Path:
    """Write the CAR mission YAML into ``folder``; its sources stay in ``../shared/realdata``."""
    require_realdata(REALDATA / "car", REALDATA / "boundaries")
    config = {
        "mission": "CAR-UCDP",
        "name": "Central African Republic, UCDP one-sided violence (shape test, not SGBV)",
        "timezone": "Africa/Bangui",
        # Geo-PKO starts in 2014; UCDP GED 23.1 ends in 2022.
        "period": {"start": "2014-01-01", "end": "2022-12-31"},
        "allowed_source_dirs": [str(REALDATA)],
        "coverage": {"radius_m": 20000, "window_h": 72},
        "sources": {
            "incidents": {
                "path": str(REALDATA / "car" / "ucdp-ged-23.1-car.csv"),
                "where": {"type_of_violence": "3"},
                "columns": {"id": "incident_id", "date_start": "occurred_at",
                            "date_end": "occurred_until", "type_of_violence": "gbv_type",
                            "where_prec": "location_precision"},
                # UCDP writes dates as midnight date-times: the literal time says "a day".
                "date_format": "%Y-%m-%dT00:00:00",
                "labels": {"gbv_type": {"3": "physical_assault"},
                           "location_precision": WHERE_PREC},
            },
            "bases": {
                "path": str(REALDATA / "car" / "geopko-2.3-frontmap-minusca.csv"),
                # Geo-PKO's front map counts troop deployments: every location is military.
                "columns": {"location": "base_id", "mission": "unit_type"},
                "labels": {"unit_type": {"MINUSCA": "military"}},
            },
            "areas": {
                "path": str(REALDATA / "boundaries" / "naturalearth_lowres.shp"),
                "where": {"iso_a3": "CAF"},
                "columns": {"iso_a3": "area_id", "pop_est": "population"},
            },
        },
    }
    path = folder / "CAR-UCDP.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_car_validates_with_every_row_accounted_for(tmp_path):
    mission = load_mission(car_mission(tmp_path))
    tables = mission.validation.tables
    for name, table in tables.items():
        assert table.rows_read == table.rows_accepted + table.rows_rejected, name
    # Only one-sided violence is read; the other two types are left out by `where`, counted.
    assert tables["incidents"].rows_read == 1076
    assert tables["incidents"].rows_excluded == 1848 - 1076
    assert tables["areas"].rows_accepted == 1 and tables["areas"].rows_excluded == 176
    assert tables["bases"].rows_read == 239
    assert mission.coverage_source == "bases"
    assert len(mission.patrols) == 0
    # Date ranges are kept; UCDP's identifying and free-text columns never enter the table.
    assert (mission.incidents["time_precision"] == "range").any()
    assert {"source_article", "where_description", "source_headline"} <= set(
        tables["incidents"].dropped_columns)
    bases = mission.bases.set_index(["base_id", "valid_from"]).sort_index()
    assert str(bases.index.get_level_values("valid_from").min().date()) == "2014-01-01"


def test_car_runs_end_to_end_through_the_audit_gate(tmp_path):
    result = run_mission(car_mission(tmp_path), reports_dir=tmp_path / "reports")
    assert result.status == "ok", result.error
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest.get("audit", {}).get("passed", True) is True
    shared = {p.name for p in (result.run_dir / "shared").iterdir()}
    assert {"brief.html", "coverage_map.html"} <= shared
    validation = json.loads((result.run_dir / "restricted" / "validation.json").read_text())
    for name, table in validation["tables"].items():
        assert table["rows_read"] == table["rows_accepted"] + table["rows_rejected"], name
    summary = json.loads((result.run_dir / "shared" / "coverage_summary.json").read_text())
    assert summary["model"] == "bases"
