# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: protection-eval
#     language: python
#     name: protection-eval
#   protection_eval:
#     needs: []
# ---

# %% [markdown]
# # 2. Patrol coverage
# Were patrols there, and when, where sexual violence was reported? And where are the places
# with many reports and little presence? The rules (interpolation between GPS fixes, the gap
# limit, location precision, date-only incidents, what a base radius means) are in
# `docs/coverage.md`. **Restricted**: this notebook shows raw counts; only the suppressed
# summary, gap list and map go to the shared part.
#
# Reported is not occurred: more patrols can raise reporting while lowering violence.

# %% tags=["parameters"]
mission_config = "../data/missions/DEMO-A.yaml"
run_dir = None
restricted_dir = None
shared_dir = None
seed = 0
radius_m = None  # None: the mission configuration's coverage.radius_m
window_h = None  # None: the mission configuration's coverage.window_h
period = None  # e.g. "2023-01..2023-06"; None: the mission's period
scheduler = None  # a Dask scheduler (tcp://host:8786) for the heavy steps; None: here
scheduler_timeout = 30.0

# %%
from protection_eval.config import parse_period
from protection_eval.coverage import (
    compute_mission_coverage,
    monthly_coverage,
    plot_coverage_overview,
)
from protection_eval.distributed import heavy_steps_on
from protection_eval.runs import load_mission, shared_coverage_map, write_coverage
from protection_eval.sharing import to_shared_coverage_gaps

mission = load_mission(mission_config)
print(mission.config.name, "- SYNTHETIC DATA" if mission.config.synthetic else "")
window = parse_period(period) if period else None
with heavy_steps_on(scheduler, timeout=scheduler_timeout):
    result = compute_mission_coverage(mission, radius_m=radius_m, window_h=window_h,
                                      period=window)

# %% [markdown]
# ## Summary
# `covered_share` is covered / in scope; incidents located less precisely than the radius are
# left out of point coverage and counted. Coverage is computed only in the months the presence
# data cover (`presence`): the others are unknown, never 0 %, and their incidents are counted in
# `incidents_left_out_presence_unknown`. `covered_share_status` says `ok`, or `not_computed`
# with the reason (which data are missing, for which months).

# %%
print(result.presence_months.describe())
result.summary

# %% [markdown]
# ## Month by month

# %%
plot_coverage_overview(result)

# %%
monthly_coverage(result)

# %% [markdown]
# ## Gaps: hexagons with many reports and little coverage (restricted, raw counts)

# %%
result.gaps_overall.head(20)

# %% [markdown]
# ## The gap list as shared (suppressed)

# %%
to_shared_coverage_gaps(result, mission.config.sharing.min_count).head(20)

# %% [markdown]
# ## Area x month measures (joined into the effectiveness panel)

# %%
result.areas.describe()

# %% [markdown]
# ## Outputs
# Shared: `coverage_summary.json`, `gaps.csv`, `coverage_map.html`. Restricted: the per-incident
# table, the area measures and `coverage.gpkg` (layers `hexagons`, `areas`, `footprint`) for QGIS
# or ArcGIS.

# %%
written = write_coverage(
    result,
    restricted_dir=restricted_dir,
    shared_dir=shared_dir,
    k=mission.config.sharing.min_count,
    config=mission.config,
    period=period,
)
written

# %% [markdown]
# ## The shared map, as a field commander will open it

# %%
shared_coverage_map(result, mission.config)
