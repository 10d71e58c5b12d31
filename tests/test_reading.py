"""What an evaluator reads in notebook 03: few columns, p-values as read, each caveat once."""

from __future__ import annotations

import math
import re
import textwrap

import matplotlib
import nbformat
import pytest
from nbclient import NotebookClient

from protection_eval.effects import (
    EffectEstimate,
    MissionEffects,
    plot_headline_forest,
    to_reading_table,
)
from protection_eval.effects.reading import READING_COLUMNS, format_p_value
from protection_eval.effects.vocabulary import CAVEATS

matplotlib.use("Agg")

REPORTED = CAVEATS["reported"]
FEW = "Only 6 areas had the strategy: the interval rests on few areas and may be too narrow."


def make_estimate(strategy: str, design: str, irr: float, p: float, caveats: list[str],
                  *, headline: bool = False, estimand: str = "deployment") -> EffectEstimate:
    return EffectEstimate(
        strategy_id=strategy, estimand=estimand, model="poisson_fe", design=design, irr=irr,
        ci_low=irr / 1.5, ci_high=irr * 1.5, p_value=p, n_areas=40, n_periods=24,
        n_incidents=1200, caveats=caveats, headline=headline,
    )


def make_effects() -> MissionEffects:
    return MissionEffects("DEMO-X", [
        make_estimate("night-patrols", "stacked_not_yet_treated", 0.62, 0.00002,
                      [REPORTED, FEW], headline=True),
        make_estimate("night-patrols", "twfe", 0.60, 0.0421, [REPORTED, FEW]),
        make_estimate("escorts", "stacked_not_yet_treated", 1.10, math.nan, [REPORTED],
                      headline=True),
        make_estimate("escorts", "stacked_rings", 0.9, 0.5, [REPORTED],
                      estimand="displacement_ring_1"),
    ])


@pytest.fixture
def effects():
    return make_effects()


def _cells(html: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", html)


def test_p_values_are_written_as_a_reader_reads_them():
    assert format_p_value(0.00002) == "<0.001"
    assert format_p_value(0.0421) == "0.042"
    assert format_p_value(1.0) == "1.000"
    assert format_p_value(math.nan) == ""
    assert format_p_value(None) == ""


def test_the_reading_table_has_the_readers_columns_and_each_caveat_once(effects):
    reading = to_reading_table(effects, "deployment")
    assert list(reading.table.columns) == list(READING_COLUMNS)
    assert reading.table["strategy_id"].tolist() == ["night-patrols"] * 2 + ["escorts"]
    assert reading.caveats == [REPORTED, FEW]
    assert reading.table["notes"].tolist() == ["1, 2", "1, 2", "1"]
    shown = reading.to_html().split("<details>")[0]
    assert shown.count("Reported is not occurred") == 1 and shown.count("Only 6 areas") == 1
    assert "<li>Reported is not occurred" in shown  # under the table, not in a row
    # The first row as written: ratio and interval to two decimals, p below 0.001.
    assert _cells(shown)[:12] == ["night-patrols", "deployment", "stacked_not_yet_treated",
                                  "poisson_fe", "yes", "0.62", "0.41", "0.93", "&lt;0.001",
                                  "40", "1200", "1, 2"]
    assert _cells(shown)[12 + 8] == "0.042"
    assert _cells(shown)[24 + 8] == ""  # NaN p-value: blank, not "nan"
    assert not re.search(r"\d[eE][-+]?\d", reading.to_html())  # no scientific notation anywhere


def test_every_column_with_a_value_is_one_click_away_and_empty_ones_are_not(effects):
    reading = to_reading_table(effects, "deployment")
    # Unset on these estimates: the bootstrap, the dispersion, the breakdown value.
    for empty in ("boot_p_value", "boot_ci_low", "boot_weights", "alpha", "theta",
                  "breakdown_m", "se_log_irr"):
        assert empty not in reading.full
    # n_clusters 0 says something (errors not clustered): a value.
    assert {"n_periods", "n_clusters", "notes"} <= set(reading.full.columns)
    assert "caveats" not in reading.full  # they are the notes
    html = reading.to_html()
    hidden = html.split("<details><summary>All columns</summary>")[1]
    assert "<th>n_periods</th>" in hidden and "<th>alpha</th>" not in hidden
    assert hidden.count("<tr") == 1 + 3  # header and one row per estimate
    assert "<td>24</td>" in hidden  # n_periods, a count, written as one


def test_columns_asked_for_are_shown_when_they_have_a_value(effects):
    effects.estimates[0].n_clusters = 40
    reading = to_reading_table(effects, "deployment", columns=["n_clusters", "boot_p_value"])
    assert list(reading.table.columns) == [*READING_COLUMNS[:-1], "n_clusters", "notes"]
    assert _cells(reading.to_html())[11] == "40"  # not 40.0: a count
    with pytest.raises(ValueError, match="boot_pvalue"):
        to_reading_table(effects, "deployment", columns=["boot_pvalue"])


def test_designs_and_estimands_select_rows(effects):
    reading = to_reading_table(effects, "deployment", "displacement", designs=["stacked_rings"])
    assert reading.table["estimand"].tolist() == ["displacement_ring_1"]
    assert len(to_reading_table(effects).table) == 4
    empty = to_reading_table(effects, "dose")
    assert empty.table.empty and empty.caveats == []
    assert "<table" in empty.to_html()


def test_values_from_data_are_escaped_in_the_html():
    hostile = "<img src=x onerror=alert(1)>"
    effects = MissionEffects("DEMO-X", [
        make_estimate(hostile, "stacked_not_yet_treated", 0.8, 0.2, [REPORTED], headline=True),
    ])
    html = to_reading_table(effects, "deployment").to_html()
    assert "<img" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 2  # the table and all columns


def test_the_forest_plot_draws_each_finite_headline_once(effects):
    figure = plot_headline_forest(effects)
    ax = figure.axes[0]
    labels = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()),
                      strict=True))
    assert [labels[y] for y in sorted(labels, reverse=True)] == [  # top down: estimates' order
        "night-patrols\ndeployment, stacked_not_yet_treated",
        "escorts\ndeployment, stacked_not_yet_treated"]
    (bars,) = ax.containers
    assert bars.lines[0].get_xdata().tolist() == pytest.approx([0.62, 1.10])
    # The whiskers span each interval: irr / 1.5 to irr * 1.5.
    (segments,) = [c.get_segments() for c in bars.lines[2]]
    ends = sorted((float(s[0][0]), float(s[1][0])) for s in segments)
    assert ends == [pytest.approx((0.62 / 1.5, 0.62 * 1.5)), pytest.approx((1.1 / 1.5, 1.65))]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.3", "0.5", "0.7", "1", "2"]
    assert ax.get_xlim()[0] < 0.3 and ax.get_xlim()[1] > 2  # the ticks frame the intervals
    assert plot_headline_forest(MissionEffects("DEMO-X", [])) is None


#: Cells as an evaluator writes them, in a kernel started as Jupyter starts one (no
#: ``--matplotlib`` option; pyplot not imported before). The last cell is the control: an open
#: pyplot figure a cell returns is drawn twice, so counting images does catch it.
KERNEL_CELLS = [
    textwrap.dedent("""
        from protection_eval.effects import (EffectEstimate, MissionEffects, estimate_event_study,
                                             make_synthetic_panel, plot_event_studies,
                                             plot_headline_forest, to_reading_table)
        estimates = [EffectEstimate("night-patrols", "deployment", "poisson_fe",
                                    "stacked_not_yet_treated", 0.62, 0.41, 0.93, 0.002, 40, 24,
                                    1200, ["Reported is not occurred."], headline=True)]
        effects = MissionEffects("DEMO-X", estimates)
        panel = make_synthetic_panel(30, 24, irr=0.7, seed=7)
        study = estimate_event_study(panel, "night-patrols", "active_test_strategy")
    """),
    "plot_headline_forest(effects)",
    "plot_event_studies([study])",
    "to_reading_table(effects, 'deployment')",
    textwrap.dedent("""
        import matplotlib.pyplot as plt
        figure, axes = plt.subplots()
        axes.plot([1, 2])
        figure
    """),
]


@pytest.mark.slow
def test_a_notebook_shows_each_figure_once():
    from protection_eval.runs.runner import _kernel_name

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in KERNEL_CELLS]
    NotebookClient(notebook, kernel_name=_kernel_name(), timeout=300).execute()
    images = [sum("image/png" in o.get("data", {}) for o in c.outputs) for c in notebook.cells]
    assert images == [0, 1, 1, 0, 2]
    (table,) = notebook.cells[3].outputs
    assert "<details><summary>All columns</summary>" in table["data"]["text/html"]
