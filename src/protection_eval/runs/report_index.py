"""``reports/index.html``: every mission, its newest run, status, headline figures and links.

Rebuilt after every batch of runs. It is one self-contained page (no script, no external
request) that opens from a file, offline. It reads only manifests and the shared part of runs,
so it holds aggregates only; it is meant for the evaluation team, since it also links to the
restricted part.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from protection_eval.io.writers import write_text
from protection_eval.runs.layout import (
    LATEST,
    MANIFEST,
    REPORT_FILES,
    RESTRICTED,
    SHARED,
    SHARED_FILES,
)


@dataclass(frozen=True)
class MissionEntry:
    """What the index shows for one mission."""

    mission: str
    newest: dict[str, Any]
    newest_dir: Path
    latest_ok: str | None
    coverage: dict[str, Any] | None
    effects: pd.DataFrame | None
    runs: int


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def collect_missions(reports_dir: str | Path) -> list[MissionEntry]:
    """Read every mission's runs under ``reports_dir`` (staging folders are ignored).

    Parameters
    ----------
    reports_dir : str or Path
        Root of the reports.

    Returns
    -------
    list of MissionEntry
        Sorted by mission code.
    """
    entries = []
    for mission_dir in sorted(p for p in Path(reports_dir).iterdir() if p.is_dir()):
        runs = sorted(
            (d for d in mission_dir.iterdir()
             if d.is_dir() and not d.is_symlink() and not d.name.startswith(".")
             and (d / MANIFEST).exists()),
            key=lambda d: d.name,
        )
        if not runs:
            continue
        newest = _read_json(runs[-1] / MANIFEST) or {"status": "unreadable"}
        latest = mission_dir / LATEST
        latest_ok = latest.resolve().name if latest.is_symlink() and latest.exists() else None
        shared = (mission_dir / latest_ok / SHARED) if latest_ok else None
        coverage = _read_json(shared / SHARED_FILES["coverage"]) if shared else None
        effects = None
        if shared and (shared / SHARED_FILES["effects"]).exists():
            effects = pd.read_csv(shared / SHARED_FILES["effects"])
        entries.append(MissionEntry(mission_dir.name, newest, runs[-1], latest_ok, coverage,
                                    effects, len(runs)))
    return entries


def _fmt_share(value: Any) -> str:
    try:
        return f"{float(value):.0%}"
    except (TypeError, ValueError):
        return "–"


def _effects_cell(effects: pd.DataFrame | None) -> str:
    from protection_eval.sharing.brief import headline_effects

    rows = headline_effects(effects)
    if rows.empty:
        return "<span class='muted'>no estimate</span>"
    items = []
    for r in rows.head(6).itertuples():
        label = html.escape(str(getattr(r, "strategy_id", "") or getattr(r, "estimand", "")))
        try:
            text = f"{float(r.irr):.2f} ({float(r.ci_low):.2f}–{float(r.ci_high):.2f})"
        except (TypeError, ValueError, AttributeError):
            text = "not estimable"
        items.append(f"<li>{label}: {text}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _link(base: Path, target: Path, text: str) -> str:
    if not target.exists():
        return ""
    return f"<a href='{html.escape(target.relative_to(base).as_posix())}'>{html.escape(text)}</a>"


def render_report_index(reports_dir: str | Path) -> str:
    """Return the index page for ``reports_dir`` as HTML text."""
    base = Path(reports_dir)
    rows = []
    for e in collect_missions(base):
        status = str(e.newest.get("status", "?"))
        synthetic = " <span class='tag'>SYNTHETIC</span>" if e.newest.get("synthetic") else ""
        error = e.newest.get("error") or {}
        reason = (f"<div class='err'>{html.escape(str(error.get('message', ''))[:400])}</div>"
                  if status != "ok" else "")
        cov = e.coverage or {}
        latest_dir = base / e.mission / e.latest_ok if e.latest_ok else None
        links = " · ".join(x for x in (
            _link(base, latest_dir / SHARED / SHARED_FILES["brief"], "brief") if latest_dir else "",
            _link(base, latest_dir / SHARED / SHARED_FILES["map"], "map") if latest_dir else "",
            _link(base, latest_dir / SHARED / SHARED_FILES["indicators"], "1325 indicators")
            if latest_dir else "",
            _link(base, latest_dir / SHARED, "shared files") if latest_dir else "",
            _link(base, e.newest_dir / MANIFEST, "manifest"),
            _link(base, e.newest_dir / RESTRICTED, "restricted"),
        ) if x)
        rows.append(
            "<tr>"
            f"<td><b>{html.escape(e.mission)}</b>{synthetic}</td>"
            f"<td class='{'ok' if status == 'ok' else 'bad'}'>{html.escape(status)}{reason}</td>"
            f"<td>{html.escape(e.newest_dir.name)}<br><span class='muted'>"
            f"{html.escape(str(e.newest.get('finished_at', ''))[:16])} · {e.runs} run(s)"
            "</span></td>"
            f"<td>{html.escape(e.latest_ok or '–')}</td>"
            f"<td>{html.escape(str(cov.get('incidents_total', '–')))}</td>"
            f"<td>{_fmt_share(cov.get('covered_share'))}</td>"
            f"<td>{_effects_cell(e.effects)}</td>"
            f"<td>{links}</td>"
            "</tr>"
        )
    evidence = base / REPORT_FILES["evidence_html"]
    evidence_link = (
        "<p>" + _link(base, evidence, "Evidence across missions")
        + ": each strategy's estimates side by side, pooled where two or more missions "
        "estimated it.</p>"
        if evidence.exists() else ""
    )
    body = "".join(rows) or "<tr><td colspan='8'>No runs yet: try <code>make demo</code>.</td></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>protection-eval reports</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
.ok {{ color: #176b2c; font-weight: bold; }} .bad {{ color: #a4161a; font-weight: bold; }}
.err {{ font-weight: normal; font-size: .85rem; max-width: 28rem; }}
.muted {{ color: #777; font-size: .85rem; }} ul {{ margin: 0; padding-left: 1rem; }}
.tag {{ background: #ffd166; padding: 0 .3rem; font-size: .75rem; }}
</style></head><body>
<h1>protection-eval: mission reports</h1>
<p class="muted">Newest run per mission; headline figures from its latest successful run.
Incidents are <em>reported</em> incidents. Effects are incidence-rate ratios of the headline
strategy estimates, with 95% intervals (below 1: fewer reports where deployed). For the
evaluation team: links lead into restricted parts.</p>
{evidence_link}
<table><thead><tr><th>mission</th><th>status of newest run</th><th>newest run</th>
<th>latest ok run</th><th>incidents</th><th>covered</th><th>strategy effects (IRR)</th>
<th>links</th></tr></thead><tbody>{body}</tbody></table>
</body></html>
"""


def write_report_index(reports_dir: str | Path) -> Path:
    """Rebuild ``reports_dir/index.html`` and return its path."""
    return write_text(render_report_index(reports_dir), Path(reports_dir) / REPORT_FILES["index"])
