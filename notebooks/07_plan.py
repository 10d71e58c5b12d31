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
# # 7. Next month's patrols, planned so that they can be evaluated
# First, the plans the mission adopted (`protection-eval plan`, stored in `plans/<month>/`) whose
# month the data now cover: did the randomised patrols change **reported** incidents? The ratio
# goes to `effects.csv` as `plan_randomised`. Then a plan for the month after the data, from the
# data before it only: expected reports per hexagon, patrol-hours per hexagon from an integer
# programme, randomised only among near-ties, the trips that carry it out, the evaluation design
# with its power, and a backtest of the last month of data against the patrols flown. Method,
# assumptions and ethics: `docs/planning.md`.
#
# **Reported is not occurred**: the risk forecasts reports, and more patrols can raise reporting
# while violence falls. **Restricted**: this notebook shows expected reports per hexagon; only
# `plan.csv`, `plan_map.html` and `evaluation_design.json` go to the shared part, audited.

# %% tags=["parameters"]
mission_config = "../data/missions/DEMO-A.yaml"
run_dir = None
restricted_dir = None
shared_dir = None
seed = 0
month = None  # the month to plan, "YYYY-MM"; None for the month after the mission's data
patrol_hours = None  # the month's patrol-hours; None for the mean of the three months before

# %%
from protection_eval.planning import PlanOptions
from protection_eval.runs import load_mission, plan_for_run, write_run_planning

mission = load_mission(mission_config)
print(mission.config.name, "- SYNTHETIC DATA" if mission.config.synthetic else "")
planning = plan_for_run(mission, run_dir, month=month,
                        options=PlanOptions(seed=seed, patrol_hours=patrol_hours))
print("\n".join(planning.summary_lines()))

# %% [markdown]
# ## The randomised patrols of past plans
# One row per stored plan's randomised comparison, all passed months together (empty when no
# stored plan has passed).

# %%
planning.evaluated.to_frame()

# %% [markdown]
# ## The plan: hexagons patrolled and randomised pairs
# `risk`: reports expected in the month (restricted); `benefit`: those brought within reach of a
# patrol; `priority`: 1 = most reports within reach per patrol-hour; `block`, `arm`: the pairs
# whose patrol the seed chose.

# %%
planning.plan_frame()

# %% [markdown]
# ## Expected reports per hexagon, with the bootstrap interval

# %%
planning.risk_frame()

# %% [markdown]
# ## The evaluation design and the backtest

# %%
planning.to_dict()

# %% [markdown]
# ## Outputs
# Shared: `plan.csv`, `plan_map.html`, `evaluation_design.json`, and the `plan_randomised` row of
# `effects.csv`. Restricted: `risk.parquet`, `backtest.json`, `plan_units.parquet`,
# `plan_assignments.parquet`.

# %%
write_run_planning(planning, mission, shared_dir=shared_dir, restricted_dir=restricted_dir)
