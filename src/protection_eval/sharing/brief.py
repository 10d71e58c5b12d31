"""The one-page brief for a field commander: what changed, where the gaps are, the map.

The brief is built only from a run's shared part (coverage summary, effect estimates, shared gap
list, shared map), so it can hold nothing the audit has not seen elsewhere. It is written for a
reader who is not an analyst, on a laptop at a team site: plain words, no code, no jargon, one
self-contained file that opens offline. Time is never finer than a month.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from protection_eval.effects.count_models import CAVEATS
from protection_eval.effects.event_study import describe_breakdown

CAVEAT_REPORTING = (
    "These are reported incidents, not all incidents. More patrols and more trust can raise "
    "reporting while violence falls, so a rise is not always bad news."
)


@dataclass
class BriefInputs:
    """What a brief is made of; every part comes from the run's shared folder.

    Attributes
    ----------
    mission, name : str
        Mission code and name.
    period : tuple of str
        First and last month of the analysed period (``YYYY-MM``).
    synthetic : bool
        Whether the data are synthetic (the brief then says so at the top).
    k : int
        Suppression threshold: smaller counts are shown as "fewer than k".
    coverage : dict or None
        ``coverage_summary.json``.
    effects : pandas.DataFrame or None
        ``effects.csv``.
    gaps : pandas.DataFrame or None
        The shared gap list (place label, reported incidents or NA when suppressed, coverage).
    strategy_names : dict
        Strategy id -> name from the inventory.
    map_file : str or None
        File name of the shared map beside the brief.
    """

    mission: str
    name: str
    period: tuple[str, str]
    synthetic: bool
    k: int
    coverage: dict[str, Any] | None = None
    effects: pd.DataFrame | None = None
    gaps: pd.DataFrame | None = None
    strategy_names: dict[str, str] = field(default_factory=dict)
    map_file: str | None = None


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f}%"


def describe_effect(irr: float, low: float, high: float) -> str:
    """Say an incidence-rate ratio and its interval in plain words.

    Parameters
    ----------
    irr, low, high : float
        Estimate and 95% interval.

    Returns
    -------
    str
        E.g. "about 38% fewer reported incidents (between 25% and 48% fewer)".
    """
    if any(not math.isfinite(v) for v in (irr, low, high)):
        return "no estimate could be made"
    if low <= 1 <= high:
        return (f"no clear change in reported incidents (the data fit anything from "
                f"{_pct(1 - low)} fewer to {_pct(high - 1)} more)")
    if high < 1:
        return (f"about {_pct(1 - irr)} fewer reported incidents "
                f"(between {_pct(1 - high)} and {_pct(1 - low)} fewer)")
    return (f"about {_pct(irr - 1)} more reported incidents "
            f"(between {_pct(low - 1)} and {_pct(high - 1)} more)")


def headline_effects(effects: pd.DataFrame | None) -> pd.DataFrame:
    """Return one row per strategy: its headline deployment estimate.

    Parameters
    ----------
    effects : pandas.DataFrame or None
        The run's ``effects.csv`` (several designs and event-time rows per strategy).

    Returns
    -------
    pandas.DataFrame
        The rows marked ``headline`` for estimand ``deployment`` (the first deployment row per
        strategy where no row is marked).
    """
    if effects is None or effects.empty or "estimand" not in effects:
        return pd.DataFrame(columns=["strategy_id", "irr", "ci_low", "ci_high", "caveats"])
    rows = effects[effects["estimand"] == "deployment"]
    if "headline" in rows:
        marked = rows[rows["headline"].astype(str).str.lower() == "true"]
        rows = marked if not marked.empty else rows
    return rows.drop_duplicates("strategy_id", keep="first")


def describe_trend_caution(breakdown_m: float) -> str:
    """Say in plain words how far a result survives areas that were already diverging.

    Parameters
    ----------
    breakdown_m : float
        The ``breakdown_m`` of ``effects.csv`` (Rambachan-Roth relative magnitudes; set only
        when the pre-trend test failed).

    Returns
    -------
    str
        One sentence; empty when ``breakdown_m`` is missing.
    """
    if breakdown_m is None or not math.isfinite(breakdown_m):
        return ""
    if breakdown_m <= 0:
        return ("Areas that got it were already changing differently before it started, and "
                "that alone could explain this result: do not rely on it.")
    size = ("less than the difference already seen, so a trend that simply went on could "
            "explain it" if breakdown_m < 1 else "more than the difference already seen")
    return (f"Areas that got it were already changing differently before it started. The "
            f"result holds unless trends differed by more than {breakdown_m:.2f} times the "
            f"largest month-to-month difference seen before the start ({size}).")


def _specific_caveats(text: str, breakdown_m: float = math.nan) -> str:
    """Drop the caveats the brief words itself: reporting (once for all), sensitivity."""
    text = "" if text.lower() in {"nan", "none"} else text
    text = text.replace(CAVEATS["reported"], "")
    if math.isfinite(breakdown_m):
        sentence = describe_breakdown(breakdown_m)
        text = text.replace(f" {sentence}", "").replace(sentence, "")
    return text.strip()


def _breakdown(row: object) -> float:
    value = pd.to_numeric(pd.Series([getattr(row, "breakdown_m", None)]), errors="coerce").iloc[0]
    return float(value) if pd.notna(value) else math.nan


def _effects_section(inputs: BriefInputs) -> str:
    rows = headline_effects(inputs.effects)
    if rows.empty:
        return "<p>No strategy could be assessed in this period.</p>"
    items = []
    for r in rows.itertuples(index=False):
        sid = str(getattr(r, "strategy_id", "") or "")
        name = inputs.strategy_names.get(sid, sid.replace("-", " ")) or "patrol presence"
        text = describe_effect(float(r.irr), float(r.ci_low), float(r.ci_high))
        m = _breakdown(r)
        caveats = " ".join(
            c for c in (describe_trend_caution(m),
                        _specific_caveats(str(getattr(r, "caveats", "") or ""), m)) if c
        )
        warn = (f"<div class='caveat'>Treat with care: {html.escape(caveats)}</div>"
                if caveats else "")
        items.append(f"<li><b>{html.escape(name.capitalize())}</b>: where it was in place, "
                     f"{html.escape(text)}.{warn}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _coverage_section(inputs: BriefInputs) -> str:
    cov = inputs.coverage
    if not cov:
        return "<p>Patrol coverage was not computed in this run.</p>"
    total = cov.get("incidents_total")
    share = cov.get("covered_share")
    radius_km = float(cov.get("radius_m", 0)) / 1000
    window_h = float(cov.get("window_h", 0))
    if not isinstance(total, (int, float)):
        total_text = "an unknown number of"
    elif total < inputs.k:
        total_text = f"fewer than {inputs.k}"
    else:
        total_text = f"{int(total):,}"
    if cov.get("model") == "none":
        return (f"<p><b>{total_text}</b> incidents were reported. Patrol coverage could not be "
                "computed: the mission has no patrol tracks, patrol routes or base locations.</p>")
    share_text = "unknown" if share is None else f"{float(share) * 100:.0f}%"
    model = {"tracks": "GPS tracks", "routes": "patrol routes",
             "bases": "base locations (no patrol tracks)"}.get(str(cov.get("model")), "patrols")
    return (
        f"<p><b>{total_text}</b> incidents were reported. For <b>{share_text}</b> of those "
        f"located precisely enough, a patrol had been within {radius_km:g} km in the "
        f"{window_h:g} hours before (from {html.escape(model)}).</p>"
    )


def _gaps_section(inputs: BriefInputs) -> str:
    gaps = inputs.gaps
    if gaps is None or gaps.empty:
        return "<p>No gap list was produced.</p>"
    head = gaps.head(5)
    place_col = next((c for c in ("place", "area_name", "name", "h3_cell", "area_id")
                      if c in head), head.columns[0])
    count_col = next((c for c in head.columns if "incident" in c), None)
    cov_col = next((c for c in head.columns if "cover" in c or "footprint" in c), None)
    rows = []
    for number, (_, r) in enumerate(head.iterrows(), start=1):
        count = r[count_col] if count_col else None
        count_text = (f"fewer than {inputs.k}" if count is None or pd.isna(count)
                      else f"{int(count)}")
        cov = r[cov_col] if cov_col else None
        cov_text = "not shown" if cov is None or pd.isna(cov) else f"{float(cov) * 100:.0f}%"
        rank = r["rank"] if "rank" in head and pd.notna(r["rank"]) else number
        rows.append(f"<tr><td>{int(rank)}</td><td>{html.escape(str(r[place_col]))}</td>"
                    f"<td>{count_text}</td><td>{cov_text}</td></tr>")
    return ("<table><tr><th>rank on the map</th><th>in area</th>"
            "<th>reported incidents</th><th>share of reports with a patrol near</th></tr>"
            + "".join(rows) + "</table>")


def render_brief(inputs: BriefInputs, *, generated: dt.date | None = None) -> str:
    """Return the brief as one self-contained HTML page.

    Parameters
    ----------
    inputs : BriefInputs
        The shared artefacts of the run.
    generated : datetime.date, optional
        When the brief was made; only its month is shown.

    Returns
    -------
    str
        HTML with inline style, no script and no external request.
    """
    generated = generated or dt.datetime.now(dt.UTC).date()
    banner = ("<div class='synthetic'>SYNTHETIC DATA: a demonstration, not a real mission"
              "</div>" if inputs.synthetic else "")
    map_part = (
        f"<p><a href='{html.escape(inputs.map_file)}'>Open the map</a> (same folder, works "
        "offline): areas, patrol footprint, reported incidents by hexagon, gaps.</p>"
        if inputs.map_file else "<p>No map in this run.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Protection brief: {html.escape(inputs.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 1.5rem auto; color: #222;
       line-height: 1.4; padding: 0 1rem; }}
h1 {{ font-size: 1.4rem; margin-bottom: .2rem; }} h2 {{ font-size: 1.1rem; margin-top: 1.2rem; }}
.sub {{ color: #555; }} .synthetic {{ background: #ffd166; padding: .4rem; font-weight: bold; }}
.caveat {{ color: #8a4b00; font-size: .9rem; }} table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; }}
.foot {{ color: #666; font-size: .8rem; margin-top: 1.5rem; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
{banner}
<h1>Protection brief: {html.escape(inputs.name)}</h1>
<div class="sub">{html.escape(inputs.mission)} · {inputs.period[0]} to {inputs.period[1]}</div>
<h2>Where patrols were</h2>
{_coverage_section(inputs)}
<h2>What changed</h2>
{_effects_section(inputs)}
<p class="caveat">{CAVEAT_REPORTING}</p>
<h2>Where to look first</h2>
<p>Places with many reported incidents and little patrol presence:</p>
{_gaps_section(inputs)}
<h2>Map</h2>
{map_part}
<div class="foot">Counts below {inputs.k}, and shares built on them, are not shown, to protect
survivors. No incident is
shown individually. Made by protection-eval, {generated:%B %Y}.</div>
</body></html>
"""
