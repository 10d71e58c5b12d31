"""The one-page brief for a field commander: what changed, where the gaps are, the map.

The brief is built only from a run's shared part (coverage summary, effect estimates, shared gap
list, the printable drawing of the shared map), so it can hold nothing the audit has not seen
elsewhere. It is written for a reader who is not an analyst, on a laptop at a team site: plain
words, no code, no jargon, one self-contained file that opens offline and prints on one A4 page,
in the mission's language (``sharing.language``: every sentence is a gettext message of
:mod:`protection_eval.sharing.i18n`; numbers, shares and months follow the locale; Arabic is
right-to-left with the page mirrored, the map itself is not). Time is never finer than a month.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from protection_eval.coverage.gaps import GAP_MIN_UNCOVERED_SHARE
from protection_eval.effects.cell_design import CELL_CAVEAT, CELL_DESIGN, CELL_REASONS
from protection_eval.effects.vocabulary import (
    CAVEATS,
    PATROL_PRESENCE,
    PRESENCE_ESTIMAND,
    describe_breakdown,
)
from protection_eval.hexgrid import hexagon_area_km2
from protection_eval.labels import NOT_COMPUTED, NOT_ESTIMABLE, NOT_SHOWN, OK, RESULT_STATUSES
from protection_eval.sharing.i18n import Language, get_language

__all__ = [
    "BriefInputs",
    "describe_displacement",
    "describe_effect",
    "describe_reporting",
    "describe_trend_caution",
    "headline_effects",
    "render_brief",
]


def N_(message: str) -> str:
    """Mark a message for extraction without translating it here."""
    return message


CAVEAT_REPORTING = N_(
    "These are reported incidents, not all incidents. More patrols and more trust can raise "
    "reporting while violence falls, so a rise is not always bad news."
)
_MODELS = {
    "tracks": N_("GPS tracks"),
    "routes": N_("patrol routes"),
    "bases": N_("base locations (no patrol tracks)"),
}
# Caveats arrive in English inside effects.csv; each template is a message of its own.
_ANY_PATROLS = N_("patrols")
_HEADINGS = (N_("Where patrols were"), N_("What changed"), N_("Where to look first"), N_("Map"))
_BASES_HEADING = N_("Where bases were")
_CAVEAT_TEMPLATES = [text for key, text in CAVEATS.items() if key != "reported"]
# When the pre-trend test failed: the breakdown value of effects.csv, said for a reader.
_TREND_NONE = N_(
    "Areas that got it were already changing differently before it started, and that alone "
    "could explain this result: do not rely on it."
)
_TREND_HOLDS = N_(
    "Areas that got it were already changing differently before it started. The result holds "
    "unless trends differed by more than {m} times the largest month-to-month difference seen "
    "before the start ({size})."
)
_TREND_BELOW = N_(
    "less than the difference already seen, so a trend that simply went on could explain it"
)
_TREND_ABOVE = N_("more than the difference already seen")
# The reporting diagnostics of effects.csv (effects.reporting), read together in plain words.
_REPORTING = N_("How reporting changed there: {findings}.")
_REPORTING_SEPARATOR = N_("; ")
_SPEED = {
    "faster": N_("reports came sooner after the incident"),
    "slower": N_("reports came later after the incident, so part of the drop may be delay"),
    "same": N_("no slower reporting"),
}
_WHERE = {
    "targets": N_("the drop is where the strategy acts, not at home"),
    "everywhere": N_("reports fell at home too, which points to less reporting rather than "
                     "less violence"),
    "none": N_("no clear drop at the places the strategy acts on"),
}
_MIX = {
    "more": N_("more reports came through the mission's own channels"),
    "fewer": N_("fewer reports came through the mission's own channels"),
}
_NO_COVERAGE = N_(
    "Patrol coverage could not be computed: the mission has no patrol tracks, patrol routes or "
    "base locations."
)
# How much of the reports had presence near, by what the presence data are (bases have no
# time window: a base is there all day).
_SHARE = {
    "patrols": N_("For {share} of those located precisely enough, a patrol had been within "
                  "{radius} km in the {hours} hours before (source: {source})."),
    "bases": N_("For {share} of those located precisely enough, an open base was within "
                "{radius} km (source: {source})."),
}
_SHARE_NOT_SHOWN = {
    "patrols": N_("The share of them with a patrol within {radius} km in the {hours} hours "
                  "before is not shown, to protect survivors (source: {source})."),
    "bases": N_("The share of them within {radius} km of an open base is not shown, to protect "
                "survivors (source: {source})."),
}
# Not computed: the data it needs are missing, said with which data and which months.
_NOT_COMPUTED = {
    "no_presence_in_period": N_(
        "Coverage was not computed: the {source} cover {spans}, and no month of this period. "
        "No share is given and no gap is ranked."),
    "all_imprecise": N_(
        "Coverage was not computed: every incident is located less precisely than the {radius} "
        "km radius (for instance only to its district or province), so none could be tested "
        "against the {source}. No share is given and no gap is ranked."),
    "no_incidents": N_("No incident was reported in the period, so coverage was not computed."),
    "none_testable": N_(
        "Coverage was not computed: no incident was both located within {radius} km and in a "
        "month the {source} cover ({spans}). No share is given and no gap is ranked."),
}
_PARTLY_KNOWN = N_("The {source} cover only {spans} of this period: reports from the other "
                   "months were not tested.")
_PARTLY_KNOWN_COUNT = N_("The {source} cover only {spans} of this period: {count} reports from "
                         "the other months were not tested.")
_SOURCE_WORDS = {"GPS tracks": N_("GPS tracks"), "patrol routes": N_("patrol routes"),
                 "base locations": N_("base locations")}
_SPAN = {"both": N_("{start} to {end}"), "until": N_("up to {end}"),
         "from": N_("from {start}")}
# The patrol-presence question, always answered: the association, or why it is missing.
_PRESENCE_QUESTION = {"patrols": N_("Fewer reports near patrols?"),
                      "bases": N_("Fewer reports near bases?")}
_PRESENCE_OK = {
    "patrols": N_("Where and when a patrol had been within {radius} km in the {hours} hours "
                  "before: {effect}, compared with nearby places and moments without one."),
    "bases": N_("Within {radius} km of an open base: {effect}, compared with nearby places "
                "without one."),
}
_PRESENCE_CELLS = N_("Nearby means the same hexagon of {size} and month: the mission has {n} "
                     "area(s), too few to compare within areas.")
_PRESENCE_ASSOCIATION = {
    "patrols": N_("This is an association, not the effect of sending patrols: patrols go where "
                  "incidents are expected, and a patrol nearby can raise reporting."),
    "bases": N_("This is an association, not the effect of the bases: bases are where "
                "incidents are expected, and a base nearby can raise reporting."),
}
_PRESENCE_NOT_SHOWN = N_("Not shown, to protect survivors: the comparison rests on fewer than "
                         "{k} incidents.")
_PRESENCE_NOT_COMPUTED = N_("Not computed: no report could be tested against patrol or base "
                            "presence (see above).")
_PRESENCE_CLUSTERS = N_("Not estimable: it needs reports in at least {needed} groups of "
                        "hexagons ({size} each); the reports that could be tested here lie in "
                        "{found}.")
_PRESENCE_NOT_ESTIMABLE = N_("Not estimable with this data: too few reports could be tested to "
                             "compare places within and out of reach.")
_PRESENCE_NOT_RUN = N_("Not assessed in this run.")
# A strategy without a headline number: the three words kept apart.
_STRATEGY_NOT_SHOWN = N_("{name}: not shown, to protect survivors (the estimate rests on fewer "
                         "than {k} incidents).")
_STRATEGY_NEVER_ACTIVE = N_("{name}: not assessed, the strategy was not active in any area "
                            "during this period.")
_STRATEGY_NOT_ESTIMABLE = N_("{name}: not estimable with this data: too few areas or reports "
                             "to compare.")
_GAPS_NOT_COMPUTED = N_("No gap was ranked: coverage was not computed (see above).")
_NO_GAP = {
    "patrols": N_("No place is a gap: wherever reports were many, most had a patrol near."),
    "bases": N_("No place is a gap: wherever reports were many, most were within reach of an "
                "open base."),
}
_GAP_DEFINITION = {
    "patrols": N_("A gap is a place with at least {k} reported incidents where at least {share} "
                  "of them had no patrol near."),
    "bases": N_("A gap is a place with at least {k} reported incidents where at least {share} "
                "of them had no open base within {radius} km."),
}
_GAP_SHARE_HEADER = {"patrols": N_("share of reports with a patrol near"),
                     "bases": N_("share of reports near an open base")}
_REACH_LEGEND = {
    "patrols": N_("Patrol footprint (within {radius} km of a patrol)"),
    "bases": N_("Within {radius} km of an open base"),
}
_GAP_LEGEND = {
    "patrols": N_("Gap: many reports, little patrol presence; the number is its rank"),
    "bases": N_("Gap: many reports, few near a base; the number is its rank"),
}
_IMPRECISE = N_("Reports located less precisely than {radius} km are not on this map.")
_NO_FOOTPRINT = N_("No presence is drawn: coverage was not computed for this period.")
# The ring design (effects.displacement), said for a reader: one sentence per strategy.
_DISPLACEMENT_NONE = N_("No sign that reports moved to neighbouring areas.")
_DISPLACEMENT_MOVED = N_(
    "Some reports seem to have moved next door: in neighbouring areas there were {effect}, so "
    "the change above may look larger than it is; counting those areas too, {net}."
)
_DISPLACEMENT_MOVED_NO_NET = N_(
    "Some reports seem to have moved next door: in neighbouring areas there were {effect}, so "
    "the change above may look larger than it is."
)
_DISPLACEMENT_SPREAD = N_(
    "The change seems to reach next door too: in neighbouring areas there were {effect}."
)
_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


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
        The shared gap list (place label, reported incidents or NA when suppressed, coverage,
        rank, unit resolution).
    strategy_names : dict
        Strategy id -> name from the inventory.
    map_file : str or None
        File name of the interactive shared map beside the brief.
    map_svg : str or None
        The printable drawing of the shared map (``coverage_map.svg``), drawn into the page.
    language : str
        The mission's ``sharing.language``.
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
    map_svg: str | None = None
    language: str = "en"


def _t(lang: Language, message: str, **values: Any) -> str:
    """Translate ``message`` and fill its placeholders (values are escaped for HTML)."""
    text = html.escape(lang.gettext(message), quote=False)
    return text.format(**{key: html.escape(str(v)) for key, v in values.items()})


def _p(lang: Language, message: str, *, tag: str = "p", cls: str = "", **values: Any) -> str:
    """Return a translated message as one element (``<p>`` unless ``tag`` says otherwise)."""
    attr = f" class='{cls}'" if cls else ""
    return f"<{tag}{attr}>{_t(lang, message, **values)}</{tag}>"


def describe_effect(
    irr: float, low: float, high: float, *, language: Language | None = None
) -> str:
    """Say an incidence-rate ratio and its interval in plain words.

    Parameters
    ----------
    irr, low, high : float
        Estimate and 95% interval.
    language : Language, optional
        The brief's language (English by default).

    Returns
    -------
    str
        E.g. "about 38% fewer reported incidents (between 25% and 48% fewer)".
    """
    lang = language or get_language("en")
    if any(not math.isfinite(v) for v in (irr, low, high)):
        return _t(lang, "no estimate could be made")
    if low <= 1 <= high:
        return _t(lang, "no clear change in reported incidents (the data fit anything from "
                  "{low} fewer to {high} more)",
                  low=lang.percent(1 - low), high=lang.percent(high - 1))
    if high < 1:
        return _t(lang, "about {value} fewer reported incidents (between {low} and {high} fewer)",
                  value=lang.percent(1 - irr), low=lang.percent(1 - high),
                  high=lang.percent(1 - low))
    if low >= 2:
        # "1 163 % more" is hard to read: a ratio of at least 2 throughout is said as times.
        def times(value: float) -> str:
            return lang.number(value, decimals=1 if value < 10 else 0)

        return _t(lang, "about {value} times as many reported incidents (between {low} and "
                  "{high} times as many)", value=times(irr), low=times(low), high=times(high))
    return _t(lang, "about {value} more reported incidents (between {low} and {high} more)",
              value=lang.percent(irr - 1), low=lang.percent(low - 1), high=lang.percent(high - 1))


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


def _caveat_pattern(template: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[last:match.start()]))
        parts.append(rf"(?P<{match.group(1)}>-?[\d.,eE+-]+)")
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts))


def _translate_caveats(text: str, lang: Language) -> str:
    """Translate the known caveat sentences of an estimate; the reporting caveat is said once."""
    text = "" if text.lower() in {"nan", "none"} else text
    text = text.replace(CAVEATS["reported"], " ")
    sentences = []
    for template in _CAVEAT_TEMPLATES:
        match = _caveat_pattern(template).search(text)
        if match is None:
            continue
        values = match.groupdict()
        translated = _PLACEHOLDER.sub(lambda m, v=values: v.get(m.group(1), m.group(0)),
                                      lang.gettext(template))
        sentences.append((match.start(), translated))
        text = text[:match.start()] + " " * (match.end() - match.start()) + text[match.end():]
    # Anything no template knows is kept as written rather than dropped.
    rest = " ".join(text.split())
    if rest:
        sentences.append((len(text), rest))
    return " ".join(s for _, s in sorted(sentences))


def describe_trend_caution(breakdown_m: float, lang: Language | None = None) -> str:
    """Say in plain words how far a result survives areas that were already diverging.

    Parameters
    ----------
    breakdown_m : float
        The ``breakdown_m`` of ``effects.csv`` (Rambachan-Roth relative magnitudes; set only
        when the pre-trend test failed).
    lang : Language, optional
        The page's language (English when None).

    Returns
    -------
    str
        One sentence (plain text); empty when ``breakdown_m`` is missing.
    """
    lang = lang or get_language("en")
    if breakdown_m is None or not math.isfinite(breakdown_m):
        return ""
    if breakdown_m <= 0:
        return lang.gettext(_TREND_NONE)
    size = lang.gettext(_TREND_BELOW if breakdown_m < 1 else _TREND_ABOVE)
    return lang.gettext(_TREND_HOLDS).format(m=lang.number(breakdown_m, decimals=2), size=size)


def _direction(row: pd.Series | None) -> str | None:
    """``up``, ``down`` or ``flat`` from a diagnostic row's interval; None when not shown."""
    if row is None:
        return None
    low, high = (pd.to_numeric(pd.Series([row.get("ci_low"), row.get("ci_high")]),
                               errors="coerce"))
    if pd.isna(low) or pd.isna(high):
        return None  # suppressed (too few incidents) or not estimable: say nothing
    return "down" if high < 1 else "up" if low > 1 else "flat"


def describe_reporting(
    effects: pd.DataFrame | None, strategy_id: str, lang: Language | None = None
) -> str:
    """Say what a strategy's reporting diagnostics show, in plain words.

    Reads the diagnostic rows of ``effects.csv`` (:mod:`protection_eval.effects.reporting`):
    whether reports came sooner or later, whether the drop falls on the places the strategy
    acts on or on homes too, and whether the mix of sources moved. A suppressed row (fewer
    than k incidents: its interval is blank) is left out, and with it what it would have said.

    Parameters
    ----------
    effects : pandas.DataFrame or None
        The run's shared ``effects.csv``.
    strategy_id : str
        The strategy.
    lang : Language, optional
        The page's language (English when None).

    Returns
    -------
    str
        One sentence (plain text), e.g. "How reporting changed there: no slower reporting; the
        drop is where the strategy acts, not at home."; empty when no diagnostic is shown.
    """
    lang = lang or get_language("en")
    if effects is None or effects.empty or "estimand" not in effects:
        return ""
    mine = effects[effects["strategy_id"] == strategy_id].drop_duplicates("estimand")
    rows = {str(r["estimand"]): r for _, r in mine.iterrows()}
    findings = []
    speed = _direction(rows.get("reporting_within_7d"))
    if speed is not None:
        findings.append(_SPEED[{"up": "faster", "down": "slower", "flat": "same"}[speed]])
    target, home = (_direction(rows.get("target_locations")),
                    _direction(rows.get("placebo_home")))
    if target == "down" and home in {"flat", "up"}:
        findings.append(_WHERE["targets"])
    elif target == "down" and home == "down":
        findings.append(_WHERE["everywhere"])
    elif target in {"flat", "up"}:
        findings.append(_WHERE["none"])
    mix = _direction(rows.get("source_mission_share"))
    if mix in {"up", "down"}:
        findings.append(_MIX["more" if mix == "up" else "fewer"])
    if not findings:
        return ""
    joined = lang.gettext(_REPORTING_SEPARATOR).join(lang.gettext(f) for f in findings)
    return lang.gettext(_REPORTING).format(findings=joined)


def _finite_rows(rows: pd.DataFrame) -> pd.DataFrame:
    numbers = rows[["irr", "ci_low", "ci_high"]].apply(pd.to_numeric, errors="coerce")
    return rows[numbers.notna().all(axis=1) & (numbers > 0).all(axis=1)]


def describe_displacement(
    effects: pd.DataFrame | None, strategy_id: str, *, language: Language | None = None
) -> str:
    """Say in one sentence whether a strategy's reports moved to neighbouring areas.

    Read from the ring-design rows of ``effects.csv`` (design ``stacked_rings``): a ring whose
    interval lies above 1 means reports rose next door (the nearest such ring is described, with
    the net change over the strategy's and neighbouring areas); below 1, the change reached
    next door too; otherwise no sign of either. Suppressed rows (blank ratio) say nothing.

    Parameters
    ----------
    effects : pandas.DataFrame or None
        The run's ``effects.csv``.
    strategy_id : str
        The strategy.
    language : Language, optional
        The brief's language (English by default).

    Returns
    -------
    str
        One sentence (HTML-escaped), or empty when there is no ring row to read.
    """
    lang = language or get_language("en")
    if effects is None or effects.empty or "design" not in effects:
        return ""
    rows = effects[(effects["strategy_id"].astype(str) == strategy_id)
                   & (effects["design"].astype(str) == "stacked_rings")]
    estimand = rows["estimand"].astype(str)
    rings = _finite_rows(rows[estimand.str.startswith("displacement_ring_")])
    if rings.empty:
        return ""
    rings = rings.sort_values("estimand")
    low = pd.to_numeric(rings["ci_low"])
    high = pd.to_numeric(rings["ci_high"])
    moved, spread = rings[low > 1], rings[high < 1]
    net = _finite_rows(rows[estimand == "displacement_net"])

    def said(row: object) -> str:
        return describe_effect(float(row.irr), float(row.ci_low), float(row.ci_high),
                               language=lang)

    def fill(message: str, **values: str) -> str:
        return html.escape(lang.gettext(message), quote=False).format(**values)

    if not moved.empty:
        effect = said(next(moved.itertuples(index=False)))
        if net.empty:
            return fill(_DISPLACEMENT_MOVED_NO_NET, effect=effect)
        return fill(_DISPLACEMENT_MOVED, effect=effect,
                    net=said(next(net.itertuples(index=False))))
    if not spread.empty:
        return fill(_DISPLACEMENT_SPREAD, effect=said(next(spread.itertuples(index=False))))
    return fill(_DISPLACEMENT_NONE)


def _breakdown(row: object) -> float:
    value = pd.to_numeric(pd.Series([getattr(row, "breakdown_m", None)]), errors="coerce").iloc[0]
    return float(value) if pd.notna(value) else math.nan


def _row_status(row: object) -> str:
    """Return an effects row's status (from its numbers in a table written before ``status``)."""
    status = getattr(row, "status", None)
    if isinstance(status, str) and status in RESULT_STATUSES:
        return status
    numbers = pd.to_numeric(pd.Series([getattr(row, c, None) for c in ("irr", "ci_low",
                                                                      "ci_high")]),
                            errors="coerce")
    return OK if numbers.notna().all() else NOT_SHOWN


def _strategy_missing(status: str, name: str, lang: Language, k: int) -> str:
    """One line for a strategy without a number, in the word its status calls for."""
    bold = f"<b>{html.escape(name[:1].upper() + name[1:])}</b>"
    if status == NOT_SHOWN:
        message, values = _STRATEGY_NOT_SHOWN, {"k": lang.number(k)}
    elif status == NOT_COMPUTED:
        message, values = _STRATEGY_NEVER_ACTIVE, {}
    else:
        message, values = _STRATEGY_NOT_ESTIMABLE, {}
    text = _t(lang, message, name="\x00", **values).replace("\x00", bold)
    return f"<li>{text}</li>"


def _effects_section(inputs: BriefInputs, lang: Language) -> str:
    rows = headline_effects(inputs.effects)
    presence = _presence_section(inputs, lang)
    if rows.empty:
        # Not computed, and why: no estimates at all, or no strategy in place to estimate.
        if inputs.effects is None:
            return presence + _p(lang, "No strategy was assessed: this run has no estimates.")
        return presence + _p(lang, "No strategy deployment is recorded for this period, so no "
                                   "strategy was assessed.")
    items = []
    for r in rows.itertuples(index=False):
        sid = str(getattr(r, "strategy_id", "") or "")
        name = (inputs.strategy_names.get(sid, sid.replace("-", " "))
                or lang.gettext("patrol presence"))
        status = _row_status(r)
        if status != OK:
            items.append(_strategy_missing(status, name, lang, inputs.k))
            continue
        effect = describe_effect(float(r.irr), float(r.ci_low), float(r.ci_high), language=lang)
        m = _breakdown(r)
        text = str(getattr(r, "caveats", "") or "")
        if math.isfinite(m):
            # The technical sensitivity sentence is said for a reader instead.
            text = text.replace(describe_breakdown(m), " ")
        caveats = " ".join(c for c in (describe_trend_caution(m, lang),
                                       _translate_caveats(text, lang)) if c)
        warn = (_p(lang, "Treat with care: {caveats}", tag="div", cls="caveat", caveats=caveats)
                if caveats else "")
        line = html.escape(lang.gettext("{name}: where it was in place, {effect}."),
                           quote=False).format(
            name=f"<b>{html.escape(name[:1].upper() + name[1:])}</b>", effect=effect)
        moved = describe_displacement(inputs.effects, sid, language=lang)
        moved = f" {moved}" if moved else ""
        reporting = describe_reporting(inputs.effects, sid, lang)
        said = (f"<div class='reporting'>{html.escape(reporting, quote=False)}</div>"
                if reporting else "")
        items.append(f"<li>{line}{moved}{said}{warn}</li>")
    return f"{presence}<ul>{''.join(items)}</ul>"


def _kind(cov: dict[str, Any] | None) -> str:
    """``bases`` for a mission whose presence is base locations, else ``patrols``."""
    return "bases" if (cov or {}).get("model") == "bases" else "patrols"


def _share_status(cov: dict[str, Any]) -> str:
    """Return the covered share's status (a summary written before it had only suppression)."""
    status = cov.get("covered_share_status")
    if isinstance(status, str) and status in RESULT_STATUSES:
        return status
    return OK if cov.get("covered_share") is not None else NOT_SHOWN


def _spans(spans: Any, lang: Language) -> str:
    """Month spans (``[["2014-01", "2018-12"], ...]``, None: open) said as months."""
    said = []
    for first, last in spans or []:
        if first is None and last is None:
            continue
        if first is None:
            said.append(_t(lang, _SPAN["until"], end=lang.month(last)))
        elif last is None:
            said.append(_t(lang, _SPAN["from"], start=lang.month(first)))
        else:
            said.append(_t(lang, _SPAN["both"], start=lang.month(first), end=lang.month(last)))
    return ", ".join(said)


def _source(cov: dict[str, Any], lang: Language) -> str:
    presence = cov.get("presence") or {}
    source = presence.get("source") or {"tracks": "GPS tracks", "routes": "patrol routes",
                                         "bases": "base locations"}.get(str(cov.get("model")))
    return lang.gettext(_SOURCE_WORDS.get(str(source), _ANY_PATROLS))


def _not_computed(cov: dict[str, Any], lang: Language, radius: str) -> str:
    """Say why coverage was not computed: which data are missing, for which months."""
    presence = cov.get("presence") or {}
    cause = cov.get("covered_share_cause")
    source = _source(cov, lang)
    if cause == "no_incidents":
        return _t(lang, _NOT_COMPUTED["no_incidents"])
    if cause == "no_presence_in_period" or presence.get("months_with_data") == 0:
        return _t(lang, _NOT_COMPUTED["no_presence_in_period"], source=source,
                  spans=_spans(presence.get("data_spans"), lang))
    if cause == "all_imprecise":
        return _t(lang, _NOT_COMPUTED["all_imprecise"], radius=radius, source=source)
    return _t(lang, _NOT_COMPUTED["none_testable"], radius=radius, source=source,
              spans=_spans(presence.get("spans_with_data"), lang))


def _coverage_section(inputs: BriefInputs, lang: Language) -> str:
    cov = inputs.coverage
    if not cov:
        return _p(lang, "Patrol coverage was not computed in this run.")
    total = cov.get("incidents_total")
    if not isinstance(total, int | float):
        total_text = lang.gettext("not known")
    elif 0 < total < inputs.k:
        total_text = _t(lang, "fewer than {k}", k=lang.number(inputs.k))
    else:
        total_text = lang.number(total)
    first = _t(lang, "Reported incidents in the period: {total}.", total="\x00")
    first = first.replace("\x00", f"<b>{html.escape(total_text)}</b>")
    if cov.get("model") == "none":
        return f"<p>{first} {_t(lang, _NO_COVERAGE)}</p>"
    kind = _kind(cov)
    model = lang.gettext(_MODELS.get(str(cov.get("model")), _ANY_PATROLS))
    radius = lang.number(float(cov.get("radius_m", 0)) / 1000, decimals=1)
    where = dict(radius=radius, hours=lang.number(float(cov.get("window_h", 0))), source=model)
    status = _share_status(cov)
    if status == OK:
        second = _t(lang, _SHARE[kind], share=lang.percent(float(cov["covered_share"])),
                    **where)
        second += _partly_known(cov, lang)
    elif status == NOT_SHOWN:
        second = _t(lang, _SHARE_NOT_SHOWN[kind], **where) + _partly_known(cov, lang)
    else:
        second = _not_computed(cov, lang, radius)
    return f"<p>{first} {second}</p>"


def _partly_known(cov: dict[str, Any], lang: Language) -> str:
    """Say which months the presence data cover, when they do not cover the whole period."""
    presence = cov.get("presence") or {}
    if not presence.get("spans_without_data"):
        return ""
    count = cov.get("incidents_left_out_presence_unknown")
    spans = _spans(presence.get("spans_with_data"), lang)
    if isinstance(count, int | float) and count > 0:
        return " " + _t(lang, _PARTLY_KNOWN_COUNT, source=_source(cov, lang), spans=spans,
                        count=lang.number(count))
    return " " + _t(lang, _PARTLY_KNOWN, source=_source(cov, lang), spans=spans)


def _presence_row(effects: pd.DataFrame | None) -> pd.Series | None:
    """Return the within-reach row of ``effects.csv`` (strategy ``patrol-presence``), if any."""
    if effects is None or effects.empty or "estimand" not in effects:
        return None
    rows = effects[(effects["strategy_id"].astype(str) == PATROL_PRESENCE)
                   & (effects["estimand"].astype(str) == PRESENCE_ESTIMAND)]
    return None if rows.empty else rows.iloc[0]


def _presence_answer(row: pd.Series | None, cov: dict[str, Any], inputs: BriefInputs,
                     lang: Language) -> str:
    """Answer "fewer reports near patrols?" in the word its status calls for."""
    kind = _kind(cov)
    radius = lang.number(float(cov.get("radius_m", 0)) / 1000, decimals=1)
    hours = lang.number(float(cov.get("window_h", 0)))
    if row is None:
        coverage_missing = cov.get("model") == "none" or _share_status(cov) == NOT_COMPUTED
        return _t(lang, _PRESENCE_NOT_COMPUTED if cov and coverage_missing
                  else _PRESENCE_NOT_RUN)
    status = _row_status(row)
    if status == NOT_SHOWN:
        return _t(lang, _PRESENCE_NOT_SHOWN, k=lang.number(inputs.k))
    if status == NOT_COMPUTED:
        return _t(lang, _PRESENCE_NOT_COMPUTED)
    if status == NOT_ESTIMABLE:
        match = _caveat_pattern(CELL_REASONS["clusters"]).search(str(row.get("reason", "")))
        if match is None:
            return _t(lang, _PRESENCE_NOT_ESTIMABLE)
        size = _t(lang, "about {area} km²", area=lang.number(
            float(match["parent_km2"]), decimals=0))
        return _t(lang, _PRESENCE_CLUSTERS, needed=lang.number(int(match["needed"])),
                  size=size, found=lang.number(int(match["found"])))
    effect = describe_effect(float(row["irr"]), float(row["ci_low"]), float(row["ci_high"]),
                             language=lang)
    said = html.escape(lang.gettext(_PRESENCE_OK[kind]), quote=False).format(
        radius=html.escape(radius), hours=html.escape(hours), effect=effect)
    if str(row.get("design", "")) == CELL_DESIGN:
        match = _caveat_pattern(CELL_CAVEAT).search(str(row.get("caveats", "")))
        if match is not None:
            size = _t(lang, "about {area} km²", area=lang.number(
                float(match["cell_km2"]), decimals=0))
            said += " " + _t(lang, _PRESENCE_CELLS, size=size,
                             n=lang.number(int(match["n_areas"])))
    caveat = _p(lang, _PRESENCE_ASSOCIATION[kind], tag="span", cls="caveat")
    return f"{said} {caveat}"


def _presence_section(inputs: BriefInputs, lang: Language) -> str:
    """Answer "are there fewer reports near patrols (bases)?" always: a number or why not."""
    cov = inputs.coverage or {}
    question = _t(lang, _PRESENCE_QUESTION[_kind(cov)])
    answer = _presence_answer(_presence_row(inputs.effects), cov, inputs, lang)
    return f"<p class='presence'><b>{question}</b> {answer}</p>"


def _gaps_not_computed(inputs: BriefInputs) -> bool:
    """Whether the gap list could not be ranked (no presence data, nothing testable)."""
    cov = inputs.coverage or {}
    status = cov.get("gaps_status")
    if status is None and cov:
        status = NOT_COMPUTED if cov.get("model") == "none" else OK
    gaps = inputs.gaps
    listed = (gaps is not None and "status" in gaps
              and gaps["status"].astype(str).isin([NOT_COMPUTED, NOT_ESTIMABLE]).any())
    return status in {NOT_COMPUTED, NOT_ESTIMABLE} or listed


def _gaps_section(inputs: BriefInputs, lang: Language) -> str:
    gaps = inputs.gaps
    if _gaps_not_computed(inputs):
        return _p(lang, _GAPS_NOT_COMPUTED)
    if gaps is None:
        return _p(lang, "No gap list was produced.")
    kind = _kind(inputs.coverage)
    if gaps.empty:
        return _p(lang, _NO_GAP[kind])
    if "rank" in gaps:
        gaps = gaps.assign(_rank=pd.to_numeric(gaps["rank"], errors="coerce"))
        gaps = gaps.sort_values("_rank", kind="stable", na_position="last")
    head = gaps.head(5)
    place_col = next((c for c in ("place", "area_name", "name", "h3_cell", "area_id")
                      if c in head), head.columns[0])
    rows = []
    for number, (_, r) in enumerate(head.iterrows(), start=1):
        count = r.get("incidents")
        count_text = (_t(lang, "fewer than {k}", k=lang.number(inputs.k))
                      if count is None or pd.isna(count) else lang.number(count))
        cov = r.get("covered_share")
        cov_text = (lang.gettext("not shown") if cov is None or pd.isna(cov)
                    else lang.percent(float(cov)))
        rank = r["_rank"] if "_rank" in r and pd.notna(r["_rank"]) else number
        place = r[place_col]
        place = lang.gettext("outside the mission's areas") if pd.isna(place) else str(place)
        size = r.get("resolution")
        size_text = "" if size is None or pd.isna(size) else _hexagon_size(int(size), lang)
        rows.append(f"<tr><td>{int(rank)}</td><td>{html.escape(place)}</td>"
                    f"<td>{count_text}</td><td>{cov_text}</td>"
                    f"<td>{html.escape(size_text)}</td></tr>")
    headers = [N_("rank on the map"), N_("in area"), N_("reported incidents"),
               _GAP_SHARE_HEADER[kind], N_("hexagon size")]
    head_row = "".join(f"<th>{_t(lang, h)}</th>" for h in headers)
    return f"<table class='gaps'><tr>{head_row}</tr>{''.join(rows)}</table>"


def _hexagon_size(resolution: int, lang: Language) -> str:
    area = hexagon_area_km2(resolution)
    # Two significant figures: a size to picture, not to measure.
    value = float(f"{area:.2g}")
    return _t(lang, "about {area} km²", area=lang.number(value, decimals=1 if value < 10 else 0))


def _legend(inputs: BriefInputs, lang: Language, radius_km: str | None) -> str:
    # The map's colours, imported here: the run's report index reads headlines from this
    # module without drawing a map (sharing.maps imports folium).
    from protection_eval.sharing.maps import (
        AREA_COLOUR,
        FOOTPRINT_COLOUR,
        GAP_COLOUR,
        count_classes,
    )

    def row(style: str, text: str) -> str:
        return f"<div class='row'><span class='sw' style='{style}'></span><span>{text}</span></div>"

    rows = [_p(lang, "Reports per hexagon", tag="div", cls="lh")]
    for low, high, colour in count_classes(inputs.k):
        label = (_t(lang, "{low} to {high}", low=lang.number(low), high=lang.number(high))
                 if high is not None else _t(lang, "{low} or more", low=lang.number(low)))
        rows.append(row(f"background:{colour}", label))
    rows.append(row("background:#f4f4f4;border:1px solid #bbb",
                    _t(lang, "No report, or fewer than {k} (hidden to protect survivors)",
                       k=lang.number(inputs.k))))
    kind = _kind(inputs.coverage)
    reach = (_t(lang, _REACH_LEGEND[kind], radius=radius_km)
             if radius_km else _t(lang, "Patrol footprint"))
    rows.append(row(f"background:{FOOTPRINT_COLOUR};opacity:.35", reach))
    rows.append(row(f"border:3px dashed {GAP_COLOUR}", _t(lang, _GAP_LEGEND[kind])))
    presence = (inputs.coverage or {}).get("presence") or {}
    if presence.get("months_with_data") == 0:
        # Only when no month had presence data: otherwise the footprint drawn is true.
        rows.append(f"<div class='note'>{_t(lang, _NO_FOOTPRINT)}</div>")
    if (inputs.coverage or {}).get("incidents_left_out_by_precision") and radius_km:
        # Those reports are in no hexagon: a legend of counts per hexagon must not hide that.
        rows.append(f"<div class='note'>{_t(lang, _IMPRECISE, radius=radius_km)}</div>")
    rows.append(row(f"border:1.5px solid {AREA_COLOUR}", _t(lang, "Area boundary")))
    rows += _context_rows(inputs, lang)
    match = re.search(r'data-resolutions="([\d ]*)"', inputs.map_svg or "")
    sizes = [int(r) for r in match.group(1).split()] if match else []
    if len(sizes) > 1:
        listed = ", ".join(_hexagon_size(r, lang) for r in sizes)
        note = _t(lang, "Hexagon sizes: {sizes}. Where reports are few, hexagons are merged "
                  "into larger ones so that counts can be shown. A larger hexagon counts only "
                  "the reports outside the smaller hexagons drawn on it.", sizes=listed)
        rows.append(f"<div class='note'>{note}</div>")
    elif sizes:
        note = _t(lang, "Hexagons of {size}.", size=_hexagon_size(sizes[0], lang))
        rows.append(f"<div class='note'>{note}</div>")
    return f"<div class='legend'>{''.join(rows)}</div>"


# The context the printable map draws (its data-context attribute), as the legend names it.
_CONTEXT_ROWS = {
    "places": ("width:9px;height:9px;border-radius:50%;background:#000", N_("Town or village")),
    "roads": ("height:0;border-top:3px solid #4d4d4d", N_("Main road")),
    "rivers": ("height:0;border-top:2px solid #3b82c4", N_("River")),
}


def _context_rows(inputs: BriefInputs, lang: Language) -> list[str]:
    match = re.search(r'data-context="([a-z ]*)"', inputs.map_svg or "")
    kinds = match.group(1).split() if match else []
    return [f"<div class='row'><span class='sw' style='{style}'></span>"
            f"<span>{_t(lang, label)}</span></div>"
            for kind, (style, label) in _CONTEXT_ROWS.items() if kind in kinds]


def _map_section(inputs: BriefInputs, lang: Language) -> str:
    cov = inputs.coverage or {}
    radius_km = (lang.number(float(cov["radius_m"]) / 1000, decimals=1)
                 if cov.get("radius_m") else None)
    link = ""
    if inputs.map_file:
        file = html.escape(inputs.map_file)
        link = ("<p class='note'>" + html.escape(lang.gettext(
            "The interactive map is in the same folder: {file} (works offline)."),
            quote=False).format(
            file=f"<a href='{file}'>{file}</a>") + "</p>")
    if not inputs.map_svg:
        return _p(lang, "No map in this run.") + link
    svg = inputs.map_svg.strip()
    svg = svg[svg.index("<svg"):] if "<svg" in svg else ""
    label = html.escape(lang.gettext("Map of patrol coverage and reported incidents"), quote=True)
    svg = re.sub(r'aria-label="[^"]*"', f'aria-label="{label}"', svg, count=1)
    return (f"<div class='mapbox'><div class='map' dir='ltr'>{svg}</div>"
            f"{_legend(inputs, lang, radius_km)}</div>{link}")


_STYLE = """
@page { size: A4; margin: 10mm 11mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans", "DejaVu Sans", system-ui, sans-serif; max-width: 186mm;
       margin: 1rem auto; color: #222; line-height: 1.32; padding: 0 .6rem; font-size: 10pt; }
h1 { font-size: 15pt; margin: .1rem 0; } h2 { font-size: 11.5pt; margin: .55rem 0 .2rem; }
p, ul { margin: .2rem 0; } ul { padding-inline-start: 1.1rem; } li { margin: .1rem 0; }
.sub { color: #555; } .synthetic { background: #ffd166; padding: .25rem .4rem; font-weight: bold; }
.caveat { color: #8a4b00; font-size: 8.8pt; } .note { color: #555; font-size: 8.6pt; }
table { border-collapse: collapse; font-size: 9pt; }
td, th { border-bottom: 1px solid #ddd; padding: .12rem .4rem; text-align: start; }
.mapbox { display: flex; gap: .6rem; align-items: flex-start; }
.map { flex: 0 0 60%; } .map svg { width: 100%; height: auto; max-height: 105mm;
       border: 1px solid #ccc; display: block; }
.legend { flex: 1; font-size: 8.6pt; } .lh { font-weight: bold; margin-bottom: .1rem; }
.row { display: flex; align-items: center; gap: .35rem; margin: 1px 0; }
.sw { flex: none; width: 12px; height: 12px; display: inline-block; }
.foot { color: #666; font-size: 8pt; margin-top: .5rem; }
@media screen and (max-width: 640px) { .mapbox { flex-direction: column; }
               .map { flex: none; width: 100%; } .map svg { max-height: none; } }
@media print { body { margin: 0; max-width: none; padding: 0; font-size: 8.6pt;
                      line-height: 1.2; }
               h1 { font-size: 13pt; } h2 { font-size: 10pt; margin: .4rem 0 .15rem; }
               .caveat { font-size: 7.6pt; } .legend, .note { font-size: 7.4pt; }
               table { font-size: 8pt; } .map svg { max-height: 64mm; }
               .synthetic, .sw, .map svg { print-color-adjust: exact;
               -webkit-print-color-adjust: exact; }
               a { color: inherit; } }
"""


def render_brief(inputs: BriefInputs, *, generated: dt.date | None = None) -> str:
    """Return the brief as one self-contained HTML page that prints on one A4 page.

    Parameters
    ----------
    inputs : BriefInputs
        The shared artefacts of the run, and the mission's language.
    generated : datetime.date, optional
        When the brief was made; only its month is shown.

    Returns
    -------
    str
        HTML with inline style and an inline SVG map, no script and no external request;
        ``lang`` and ``dir`` set from the language (``dir="rtl"`` for Arabic).
    """
    lang = get_language(inputs.language)
    generated = generated or dt.datetime.now(dt.UTC).date()
    banner = (_p(lang, "SYNTHETIC DATA: a demonstration, not a real mission", tag="div",
                 cls="synthetic") if inputs.synthetic else "")
    kind = _kind(inputs.coverage)
    titles = (_BASES_HEADING, *_HEADINGS[1:]) if kind == "bases" else _HEADINGS
    headings = [_p(lang, text, tag="h2") for text in titles]
    radius_m = (inputs.coverage or {}).get("radius_m") or 0
    definition = ("" if _gaps_not_computed(inputs) else
                  _p(lang, _GAP_DEFINITION[kind], k=lang.number(inputs.k),
                     share=lang.percent(GAP_MIN_UNCOVERED_SHARE),
                     radius=lang.number(float(radius_m) / 1000, decimals=1)))
    title = _t(lang, "Protection brief: {name}", name=inputs.name)
    period = _t(lang, "{start} to {end}", start=lang.month(inputs.period[0]),
                end=lang.month(inputs.period[1]))
    foot = _t(lang, "Counts below {k}, and shares built on them, are not shown, to protect "
              "survivors. No incident is shown individually. Made by protection-eval, {month}.",
              k=lang.number(inputs.k), month=lang.month(f"{generated:%Y-%m}"))
    return f"""<!doctype html>
<html lang="{lang.code}" dir="{lang.direction}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_STYLE}</style></head><body>
{banner}
<h1>{title}</h1>
<div class="sub">{html.escape(inputs.mission)} · {period}</div>
{headings[0]}
{_coverage_section(inputs, lang)}
{headings[1]}
{_effects_section(inputs, lang)}
{_p(lang, CAVEAT_REPORTING, cls="caveat")}
{headings[2]}
{definition}
{_gaps_section(inputs, lang)}
{headings[3]}
{_map_section(inputs, lang)}
<div class="foot">{foot}</div>
</body></html>
"""
