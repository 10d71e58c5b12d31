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
#     needs: [02_coverage, 03_effectiveness]
# ---

# %% [markdown]
# # 5. The commander's brief
# One printable A4 page for a field commander, in the mission's language (`sharing.language`),
# built only from what this run put in its shared part (coverage summary, effect estimates, gap
# list, the drawing of the shared map). Written as `shared/brief.html`; the interactive map stays
# beside it as `coverage_map.html`.
# Opened in JupyterLab without a run (`shared_dir = None`), it previews the brief from the
# mission's latest run and writes nothing.

# %% tags=["parameters"]
mission_config = "../data/missions/DEMO-A.yaml"
run_dir = None
restricted_dir = None
shared_dir = None
seed = 0

# %%
from IPython.display import HTML

from protection_eval.config import load_mission_config
from protection_eval.inventory import load_catalogue
from protection_eval.io import write_text
from protection_eval.runs import SHARED_FILES, latest_shared_dir, read_shared_outputs, reports_root
from protection_eval.sharing import BriefInputs, render_brief

config = load_mission_config(mission_config)
source = shared_dir or latest_shared_dir(reports_root(), config.mission)
shared = read_shared_outputs(source)
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
    map_svg=shared["map_svg"],
    language=config.sharing.language,
)
page = render_brief(inputs)
if shared_dir:
    write_text(page, f"{shared_dir}/{SHARED_FILES['brief']}")
HTML(page)
