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
# # 6. Women's participation: resolution 1325 indicators
# How many women patrolled, month by month and by unit type; how many patrols had at least one
# woman; how much of the mission's area-months gender or women-protection advisers covered; and,
# with a personnel file, the mission's share of women among uniformed personnel against the
# targets. The format of `indicators.csv` is in `docs/indicators.md`.
#
# Patrol counts below k are suppressed. **Shared**: `indicators.csv` and `indicators.xlsx`.
# What went with women's participation in reported incidents is the women's-share estimate of
# notebook 3, shown below next to the indicators: an association, and reported is not occurred.

# %% tags=["parameters"]
mission_config = "../data/missions/DEMO-A.yaml"
run_dir = None
restricted_dir = None
shared_dir = None
seed = 0
personnel = None  # a personnel file (women and all uniformed personnel by mission and period)
preset = "canonical"  # its column preset: "canonical" or "un-gender"
targets = None  # a targets YAML; None: data/targets/wps-participation-targets.yaml

# %%
from protection_eval.indicators import compute_mission_indicators, to_women_share_evidence
from protection_eval.runs import (
    latest_shared_dir,
    load_mission,
    load_personnel,
    load_targets,
    read_shared_outputs,
    reports_root,
    write_indicators,
)

mission = load_mission(mission_config)
print(mission.config.name, "- SYNTHETIC DATA" if mission.config.synthetic else "")
report = compute_mission_indicators(
    mission,
    targets=load_targets(targets),
    personnel=load_personnel(personnel, preset) if personnel else None,
)
print("\n".join(report.summary_lines()))

# %% [markdown]
# ## The indicators
# `value` = `numerator` / `denominator`. Patrol rows are per month; a blank value was
# suppressed (fewer than k patrols behind it).

# %%
report.to_frame()

# %% [markdown]
# ## The evidence beside them
# From this run's `effects.csv`: `women_share` is the ratio of next month's reported incidents
# per 10 points more women among patrol personnel; `women_share_modification` how the
# patrol-hours ratio changes per 10 points more women.

# %%
source = shared_dir or latest_shared_dir(reports_root(), mission.config.mission)
to_women_share_evidence(read_shared_outputs(source)["effects"])

# %% [markdown]
# ## Outputs

# %%
if shared_dir:
    for role, path in write_indicators(report, shared_dir, restricted_dir=restricted_dir).items():
        print(role, path.name)
