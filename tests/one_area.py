"""A one-area mission written as a user would: an area, bases by year, incidents (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

#: One base at the centre of the area; 0.05 degree of longitude at 5.5 N is about 5.5 km.
BASE = (30.5, 5.5)


def write_mission(
    folder: Path,
    *,
    incidents: list[tuple[str, float, float, str]],
    bases: list[tuple[str, str, str]],
    period: tuple[str, str],
    radius_m: float = 10_000.0,
    language: str = "en",
    base_sites: dict[str, tuple[float, float]] | None = None,
) -> Path:
    """Write a one-area mission into ``folder`` and return its YAML.

    ``incidents`` are (date, longitude, latitude, precision); ``bases`` (base id, valid_from,
    valid_to), at :data:`BASE` unless ``base_sites`` places a base id elsewhere.
    """
    folder.mkdir(parents=True, exist_ok=True)
    area = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"area_id": "A1", "name": "Square", "population": 1000},
        "geometry": {"type": "Polygon", "coordinates": [[[30.0, 5.0], [31.0, 5.0], [31.0, 6.0],
                                                         [30.0, 6.0], [30.0, 5.0]]]}}]}
    (folder / "areas.geojson").write_text(json.dumps(area), encoding="utf-8")
    pd.DataFrame(
        [{"incident_id": f"I{i:03d}", "occurred_at": when, "longitude": lon, "latitude": lat,
          "gbv_type": "rape", "location_precision": precision}
         for i, (when, lon, lat, precision) in enumerate(incidents)]
    ).to_csv(folder / "incidents.csv", index=False)
    pd.DataFrame(
        [{"base_id": base, "longitude": (base_sites or {}).get(base, BASE)[0],
          "latitude": (base_sites or {}).get(base, BASE)[1], "valid_from": start,
          "valid_to": end, "unit_type": "military", "personnel": 100, "women": 10}
         for base, start, end in bases]
    ).to_csv(folder / "bases.csv", index=False)
    config = {
        "mission": "TRUTH-1", "name": "Truth test mission", "synthetic": True,
        "timezone": "UTC", "period": {"start": period[0], "end": period[1]},
        "coverage": {"radius_m": radius_m, "window_h": 72},
        "sharing": {"language": language},
        "sources": {"incidents": {"path": "incidents.csv"}, "bases": {"path": "bases.csv"},
                    "areas": {"path": "areas.geojson"}},
    }
    path = folder / "mission.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def near(i: int) -> tuple[float, float]:
    """A point about 1-4 km from the base (within a 10 km radius)."""
    return BASE[0] + 0.01 * (1 + i % 3), BASE[1] + 0.01 * (i % 2)


def far(i: int) -> tuple[float, float]:
    """A point about 33-44 km from the base (beyond a 10 km radius), inside the area."""
    return BASE[0] - 0.3 - 0.02 * (i % 5), BASE[1] + 0.1


def month_days(year: int, months: range, per_month: int) -> list[str]:
    return [f"{year}-{m:02d}-{1 + d * 3:02d}T10:00:00" for m in months for d in range(per_month)]
