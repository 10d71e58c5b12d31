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
# # 1. Data quality
# What was read, what was accepted, what was quarantined and why, month by month.
# **Restricted**: this notebook shows where quarantined rows were; it never goes to the shared
# part of a run.

# %% tags=["parameters"]
mission_config = "../data/missions/DEMO-A.yaml"
run_dir = None
restricted_dir = None
shared_dir = None
seed = 0

# %%
from protection_eval.ingest import compute_monthly_counts, plot_quarantine_map
from protection_eval.runs import check_plausibility, load_mission

mission = load_mission(mission_config)
print(mission.config.name, "- SYNTHETIC DATA" if mission.config.synthetic else "")

# %% [markdown]
# ## Rows read, accepted and quarantined, per table and reason

# %%
for line in mission.validation.summary_lines():
    print(line)

# %%
mission.validation.to_frame()

# %% [markdown]
# ## Can these data answer the questions? (plausibility, before any figure)
# Each table's dates; the months the presence data (GPS tracks, patrol routes, bases) cover:
# coverage is computed only there, and the other months are unknown, never 0 %; the incidents
# each rule leaves out; what each estimate needs and whether this mission has it (`ok`,
# `not_computed`: data missing, `not_estimable`: too little). Also in `validation.json`.

# %%
plausibility = check_plausibility(mission)
for line in plausibility.summary_lines():
    print(line)

# %% [markdown]
# ## Counts per month
# Quarantined rows whose date could not be read are counted under `unknown`.

# %%
monthly = compute_monthly_counts(mission)
monthly.pivot_table(index="month", columns="table", values=["accepted", "quarantined"],
                    fill_value=0)

# %% [markdown]
# ## Where quarantined rows were (restricted)

# %%
plot_quarantine_map(mission)

# %% [markdown]
# ## Quarantined rows, first of each reason

# %%
{table: frame.groupby("reason").head(1) for table, frame in mission.validation.rejected.items()
 if len(frame)}
