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
#     needs: [02_coverage]
# ---

# %% [markdown]
# # 3. Effectiveness
# What did each protection strategy, and patrol presence, change in **reported** incidents?
# Incidence-rate ratios (IRR) from count models on the area x month panel: below 1 means fewer
# reports where and when the strategy was active. The methods, and how well they recover planted
# effects, are in `docs/validity.md`.
#
# **Reported is not occurred**: patrols and new services can raise reporting while violence
# falls. Every number carries its caveats next to it. **Restricted**: this notebook shows the
# panel; only the suppressed `effects.csv` goes to the shared part.

# %% tags=["parameters"]
mission_config = "../data/missions/DEMO-A.yaml"
run_dir = None
restricted_dir = None
shared_dir = None
seed = 0
strategy = None  # one strategy id, or None for every strategy deployed in the mission
freq = "month"  # panel period: "month" or "week"
period = None  # analysis window, e.g. "2022-07..2023-06"; None for the whole mission period
model = "stacked"  # headline design for staggered roll-out: "stacked" or "twfe"
pre = 6  # periods before a start in the event window
post = 6  # periods after a start in the event window
scheduler = None  # a Dask scheduler (tcp://host:8786) for the control points; None: here
scheduler_timeout = 30.0

# %%
from protection_eval.config import parse_period
from protection_eval.distributed import heavy_steps_on
from protection_eval.effects import (
    DIAGNOSTIC_ESTIMANDS,
    compute_mission_median_lags,
    estimate_mission,
    estimate_under_reporting,
    plot_event_studies,
    plot_headline_forest,
    to_breakdown_table,
    to_net_change_table,
    to_reading_table,
)
from protection_eval.inventory import load_catalogue, to_target_location_types
from protection_eval.runs import (
    load_mission,
    read_coverage_areas,
    read_incident_coverage,
    write_effects,
)
from protection_eval.sharing import describe_reporting, to_effects_table

mission = load_mission(mission_config)
print(mission.config.name, "- SYNTHETIC DATA" if mission.config.synthetic else "")
# Coverage is computed once per run: notebook 02's area measures and per-incident coverage
# for the whole mission period, when it used the configured radius and window.
reach = {"radius_m": mission.config.coverage.radius_m,
         "window_h": mission.config.coverage.window_h}
with heavy_steps_on(scheduler, timeout=scheduler_timeout):
    effects = estimate_mission(mission, freq=freq, strategies=strategy, design=model, pre=pre,
                               post=post, period=parse_period(period) if period else None,
                               area_measures=read_coverage_areas(restricted_dir, **reach),
                               incident_coverage=read_incident_coverage(restricted_dir, **reach),
                               target_location_types=to_target_location_types(
                                   load_catalogue()))

# %% [markdown]
# ## Headline per strategy, with its caveats
# A strategy rolled out to some areas at different times: the stacked design (each roll-out
# cohort against areas not yet treated). A strategy started everywhere at once: an interrupted
# time series (no area left to compare with).

# %%
print("\n".join(effects.summary_lines()))

# %% [markdown]
# ## The headline estimates at a glance
# Each strategy's headline ratio of reported incidents with its 95% interval (log scale; below
# 1: fewer reports where and when the strategy ran).

# %%
plot_headline_forest(effects)

# %% [markdown]
# ## Deployment estimates: headline, two-way fixed effects and negative binomial
# Each caveat is listed once under the table; a row's `notes` give the numbers of its caveats.
# Every column with a value is one click away, under "All columns" (columns empty in every row
# are left out); `effects.table("deployment")` gives the whole frame, unrounded.

# %%
to_reading_table(effects, "deployment")

# %% [markdown]
# ## Few areas and heavy tails: the bootstrap and the dispersion
# `boot_*`: when the model has fewer than 30 areas or fewer than 10 treated areas, the headline
# also gets a wild cluster bootstrap p-value and interval (`boot_weights`: Rademacher, or Webb
# below 12 areas); where it differs from the analytic interval, trust the wider one. `alpha`
# (and `theta = 1 / alpha`, `alpha_se`) on the negative binomial row: how much more the counts
# vary than a Poisson model assumes (0 = not at all). See `docs/validity.md`.

# %%
to_reading_table(effects, "deployment",
                 columns=["n_clusters", "boot_p_value", "boot_ci_low", "boot_ci_high",
                          "boot_weights", "alpha", "theta", "alpha_se"])

# %% [markdown]
# ## Event study around roll-out
# Ratios by months since the strategy started in an area (reference: the month before). Months
# before the start should sit near 1; the joint pre-trend test says whether they do.

# %%
effects.pre_trends()

# %%
plot_event_studies(effects.event_studies.values())

# %% [markdown]
# ## When the pre-trend test fails: how large a trend would explain the result away
# `breakdown_m` (Rambachan and Roth's relative magnitudes): the result holds unless trends after
# roll-out differed by more than M times the largest period-to-period difference seen before it.
# M below 1: a trend like the one already seen could explain it; 0: it could be explained even
# without any further divergence. It goes next to the estimate in `effects.csv` only when the
# test failed. Method and limits: `docs/validity.md`.

# %%
to_breakdown_table(effects.event_studies)

# %% [markdown]
# ## Did reports move next door? Spill-over rings
# Design `stacked_rings`: areas one and two steps from an area with the strategy (a step is a
# shared boundary) against areas further away. `displacement_ring_1` above 1: reports rose next
# door while the neighbour had the strategy (displacement); below 1: the change reached them
# too. `deployment` here is the direct ratio with that spill-over taken out of the comparison;
# `displacement_net` the ratio over the strategy's and ring areas together. Restricted: the net
# change as a count of reports and the share of the change offset next door. Method:
# `docs/validity.md`.

# %%
to_reading_table(effects, "deployment", "displacement", designs=["stacked_rings"])

# %%
to_net_change_table(effects.displacement).round(2)

# %% [markdown]
# ## Patrol presence: dose-response on next month's reports
# IRR per doubling of patrol-hours and per 10 points more of the area within reach of a patrol
# or base (footprint).

# %%
to_reading_table(effects, "dose")

# %% [markdown]
# ## Patrol presence: reports within reach of a patrol versus not
# Ratio of the rate of reported incidents at places and moments within reach of a patrol (the
# coverage radius, in the window before) to the rate elsewhere in the same area and month,
# measured against random control points in space and time (method in `docs/validity.md`).
# Below 1: fewer reports where patrols had just been. An association, not the effect of sending
# a patrol: patrols go where incidents are expected, and a patrol nearby can raise reporting.

# %%
to_reading_table(effects, "patrol_presence")

# %% [markdown]
# Estimates that could not be made, and why: `not_computed` (the data they need are missing) or
# `not_estimable` (too few for the method). With fewer than 10 areas the within-reach ratio is
# made within H3 cells instead (design `space_time_controls_h3`, `docs/validity.md`).

# %%
[vars(m) for m in effects.not_estimated]

# %% [markdown]
# ## Women in patrols
# `women_share`: ratio per 10 points more women among patrol personnel, at average patrol-hours.
# `women_share_modification`: how the patrol-hours ratio changes per 10 points more women
# (below 1: more women, stronger association of patrols with fewer reports).

# %%
to_reading_table(effects, "women_share")

# %% [markdown]
# ## Less violence, or less reporting?
# Each strategy's reporting diagnostics, fitted like its headline (stacked design around
# roll-out): `reporting_within_7d`, the ratio of the share of reports made within 7 days (below
# 1: slower reporting); `source_mission_share`, the ratio of the share that came through the
# mission's own channels (`sources.incidents.channels`); `target_locations`, reported incidents
# at the places the strategy acts on (the inventory's `target_location_types`); `placebo_home`,
# reported incidents at home, which the strategy does not reach. A drop at the targets and none
# at home is what an effect on violence looks like. Methods: `docs/validity.md`.

# %%
to_reading_table(effects, *DIAGNOSTIC_ESTIMANDS)

# %% [markdown]
# Read together, as the brief says them (from the suppressed table):

# %%
shared_effects = to_effects_table(effects, min_count=mission.config.sharing.min_count)
{sid: describe_reporting(shared_effects, sid) for sid in effects.diagnostics}

# %% [markdown]
# Median delay between incident and report, before and after roll-out, in treated and
# comparison areas (descriptive; restricted, counts may be small).

# %%
compute_mission_median_lags(mission.incidents, effects.panel, timezone=mission.config.timezone,
                            pre=pre, post=post)

# %% [markdown]
# ## Under-reporting: capture-recapture from incidents two sources both reported
# Ingestion keeps, for each incident, the other sources that reported it (`matched_sources`).
# The overlap estimates how many incidents no source reported, per area and quarter: Chapman for
# two sources, model-averaged log-linear models for three or more, with 95% intervals and the
# assumptions each rests on (closed population, correct matching, ...). Strata without a match
# cannot be estimated. Restricted: small counts.

# %%
under = estimate_under_reporting(mission.incidents, mission.config.timezone)
under.to_frame(), under.notes

# %%
estimate_under_reporting(mission.incidents, mission.config.timezone, by=("quarter",)).to_frame()

# %% [markdown]
# ## Overdispersion tests and notes

# %%
effects.overdispersion, effects.notes

# %% [markdown]
# ## Outputs
# Shared: `effects.csv` (estimates on fewer than k incidents suppressed). Restricted:
# `effects_full.csv` and the panel.

# %%
write_effects(effects, shared_dir=shared_dir, restricted_dir=restricted_dir,
              min_count=mission.config.sharing.min_count)

# %%
to_effects_table(effects, min_count=mission.config.sharing.min_count)
