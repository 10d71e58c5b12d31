"""Reading personnel files and targets for the 1325 indicators, and writing their outputs.

:mod:`protection_eval.indicators` computes from frames; this module is its door to the disk,
through the project's readers and writers.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from protection_eval.indicators.charts import make_trajectory_chart, to_svg
from protection_eval.indicators.personnel import PersonnelTable, to_personnel
from protection_eval.indicators.report import IndicatorReport
from protection_eval.indicators.targets import TargetsError, TargetTable, to_target_table
from protection_eval.indicators.workbook import to_workbook, to_xlsx_bytes
from protection_eval.io.bundled import bundled_path
from protection_eval.io.readers import read_raw_table
from protection_eval.io.writers import write_bytes, write_table, write_text
from protection_eval.runs.layout import RESTRICTED_FILES, SHARED_FILES
from protection_eval.yaml_loader import YamlStructureError, load_yaml

__all__ = [
    "DEFAULT_TARGETS",
    "INDICATOR_FILES",
    "load_personnel",
    "load_targets",
    "write_indicators",
]

#: The targets table used when none is named.
DEFAULT_TARGETS = bundled_path("targets", "wps-participation-targets.yaml")

#: Files written into an output folder, by role.
INDICATOR_FILES = {
    "csv": SHARED_FILES["indicators"],
    "xlsx": SHARED_FILES["indicators_xlsx"],
    "chart": SHARED_FILES["indicators_chart"],
}


def load_personnel(path: str | Path, preset: str = "canonical") -> PersonnelTable:
    """Read and check a personnel file (CSV, or any format :func:`read_raw_table` reads).

    Parameters
    ----------
    path : str or Path
        The file.
    preset : str
        Column preset (:data:`protection_eval.indicators.personnel.PERSONNEL_PRESETS`).

    Returns
    -------
    PersonnelTable
        Accepted and quarantined rows.
    """
    raw = read_raw_table("personnel", Path(path))
    return to_personnel(raw.frame, preset=preset, origin=str(path))


def load_targets(path: str | Path | None = None) -> TargetTable:
    """Read and validate a targets file (default :data:`DEFAULT_TARGETS`).

    Raises
    ------
    TargetsError
        A missing or unreadable file, or invalid entries (named).
    """
    path = Path(path) if path is not None else DEFAULT_TARGETS
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TargetsError(f"{path}: targets file not found. Pass --targets with an existing "
                           "file, or omit it for data/targets/.") from None
    except UnicodeDecodeError:
        raise TargetsError(f"{path}: not UTF-8 text. Re-save it as UTF-8.") from None
    try:
        document = load_yaml(text)
    except YamlStructureError as exc:
        raise TargetsError(f"{path}: {exc.problem}.") from None
    except yaml.YAMLError as exc:
        raise TargetsError(f"{path}: not valid YAML ({exc}). Fix the syntax.") from None
    return to_target_table(document, origin=path.name)


def write_indicators(
    report: IndicatorReport,
    out_dir: str | Path,
    *,
    restricted_dir: str | Path | None = None,
) -> dict[str, Path]:
    """Write ``indicators.csv``, ``indicators.xlsx`` and, with trajectories, the chart (SVG).

    Parameters
    ----------
    report : IndicatorReport
        Rows (already suppressed where counts are sensitive), trajectories, targets, sources.
    out_dir : str or Path
        Folder of the outputs (a run's ``shared/``).
    restricted_dir : str or Path, optional
        Folder for quarantined personnel rows (``rejected/personnel.csv``); ``out_dir`` when
        None (personnel rows are not sensitive).

    Returns
    -------
    dict
        Role -> path written.
    """
    out = Path(out_dir)
    written = {"csv": write_table(report.indicators.to_frame(), out / INDICATOR_FILES["csv"])}
    book = to_workbook(report.indicators, trajectories=report.trajectories,
                       targets=report.targets, sources=report.sources)
    written["xlsx"] = write_bytes(out / INDICATOR_FILES["xlsx"], to_xlsx_bytes(book))
    if report.trajectories is not None and report.trajectories.trajectories:
        figure = make_trajectory_chart(report.indicators.rows, report.trajectories)
        written["chart"] = write_text(to_svg(figure), out / INDICATOR_FILES["chart"])
    if report.rejected is not None and len(report.rejected):
        folder = Path(restricted_dir) if restricted_dir is not None else out
        rejected = folder / RESTRICTED_FILES["rejected"] / "personnel.csv"
        written["rejected"] = write_table(report.rejected, rejected)
    return written
