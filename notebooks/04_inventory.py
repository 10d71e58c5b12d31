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
#     needs: [03_effectiveness]
# ---

# %% [markdown]
# # 4. Strategy inventory and the evidence about it
# Which protection strategies exist, where and when this mission deployed them, and what the
# mission runs so far say about whether they change reported incidents.
# The inventory is public material (`data/strategies/`); this notebook shows no incident row.

# %% tags=["parameters"]
mission_config = "../data/missions/DEMO-A.yaml"
run_dir = None
restricted_dir = None
shared_dir = None
seed = 0
# Filters of the inventory (None = all): "military", "police", "civilian" or "joint"; a
# category such as "patrolling"; a mission acronym such as "MONUSCO"; an evidence level; text.
actor = None
category = None
catalogue_mission = None
evidence_level = None
text = None
# Folder holding every mission's runs (None: the folder above this run, else reports/).
reports_dir = None

# %%
# %matplotlib inline
from protection_eval.inventory import (
    load_catalogue,
    make_catalogue_chart,
    make_deployment_timeline,
    make_forest_panel,
    to_deployment_summary,
)
from protection_eval.runs import compute_run_evidence, load_mission

mission = load_mission(mission_config)
catalogue = load_catalogue()
selected = catalogue.filter(actor, category, catalogue_mission, evidence_level, text)
print(mission.config.name, "- SYNTHETIC DATA" if mission.config.synthetic else "")
print(f"{len(selected)} of {len(catalogue)} strategies match the filters")

# %% [markdown]
# ## What the inventory holds
# Each bar counts strategies of one kind; colours say who carries them out.

# %%
make_catalogue_chart(selected)

# %%
selected.to_frame()[["id", "name", "actor", "category", "evidence_level", "missions"]]

# %% [markdown]
# ## When and where this mission deployed its strategies
# One row per area; a bar runs from the start to the end of a deployment.

# %%
period = mission.config.period
make_deployment_timeline(mission.deployments, catalogue, period.start, period.end)

# %%
to_deployment_summary(mission.deployments, catalogue)

# %% [markdown]
# ## What the evidence says
# A ratio below 1 means fewer *reported* incidents where the strategy was deployed than where it
# was not; reported is not occurred. A strategy estimated in two or more missions is pooled
# (row `ALL`); one estimated in a single mission is shown as that mission's estimate only.

# %%
synthesis = compute_run_evidence(
    mission.config.mission,
    catalogue,
    shared_dir=shared_dir,
    run_dir=run_dir,
    reports_dir=reports_dir,
)
print("\n".join(f"left out: {p}" for p in synthesis.problems))
synthesis.to_frame()[
    ["strategy_id", "mission", "irr", "ci_low", "ci_high", "n_missions", "tau2", "i2", "note"]
]

# %% [markdown]
# ### Forest plots
# Squares are missions (bigger square: more weight in the pool), lines their 95% intervals; the
# diamond is the pooled estimate. Left of the dashed line: fewer reports.

# %%
make_forest_panel(synthesis)
