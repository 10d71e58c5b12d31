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
# ---

# %% [markdown]
# # 5. The commander's brief
# One page for a field commander, built only from what this run put in its shared part
# (coverage summary, effect estimates, gap list, map). Written as `shared/brief.html`.

# %% tags=["parameters"]
mission_config = "../data/missions/DEMO-A.yaml"
run_dir = None
restricted_dir = None
shared_dir = "../reports/brief-preview"
seed = 0

# %%
from IPython.display import HTML

from protection_eval.brief import BriefInputs, render_brief
from protection_eval.catalog import read_shared_outputs, write_text
from protection_eval.config import load_mission_config
from protection_eval.strategies import load_catalogue

config = load_mission_config(mission_config)
shared = read_shared_outputs(shared_dir)
names = {s.id: s.name for s in load_catalogue().strategies}

# %%
inputs = BriefInputs(
    mission=config.mission,
    name=config.name,
    period=(f"{config.period.start:%Y-%m}", f"{config.period.end:%Y-%m}"),
    synthetic=config.synthetic,
    k=config.sharing.min_count,
    coverage=shared["coverage"],
    effects=shared["effects"],
    gaps=shared["gaps"],
    strategy_names=names,
    map_file=shared["map"],
)
page = render_brief(inputs)
write_text(page, f"{shared_dir}/brief.html")
HTML(page)
