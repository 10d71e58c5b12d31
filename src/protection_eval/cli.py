"""The ``protection-eval`` command. Thin: each command calls one library function and reports.

Errors a person can act on (a bad configuration, an unusable file) are printed as one message
and exit 1; they are never shown as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from protection_eval.config import ConfigError
from protection_eval.ingest.errors import MissionInputError
from protection_eval.io.errors import InputFileError
from protection_eval.runs.layout import (
    REPORT_FILES,
    RESTRICTED,
    RESTRICTED_FILES,
    SHARED,
    mission_config_paths,
    missions_dir,
    reports_root,
)
from protection_eval.runs.ledger import LedgerError

app = typer.Typer(
    name="protection-eval",
    help="Evaluate protection strategies against sexual and gender-based violence, per mission.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

USER_ERRORS = (ConfigError, InputFileError, MissionInputError, LedgerError)

#: Modules this command's process never imports; each importer below goes on without it.
#:
#: - ``rfc3987_syntax`` builds its Lark grammars when imported (about 1.6 CPU-seconds, more
#:   than ``import pandas``). jsonschema, which nbformat, jupytext and papermill import, imports
#:   it, and the other modules of this group, only to check string formats (``iri``,
#:   ``duration`` through ``isoduration`` and with it ``arrow``'s locales, ``hostname``,
#:   ``uri-template``, ``color``, ``date-time``, ``uri``, ``json-pointer``), and leaves a
#:   format unchecked when it cannot. No schema the command validates uses them: nbformat's are
#:   draft 4, and checked without a format checker.
#: - jupytext's contents managers, for Jupyter's server, import ``jupyter_server`` and its
#:   event and metrics stack; the command only reads and writes text notebooks.
#: - pandera imports ``hypothesis`` for its data-synthesis strategies, which validation never
#:   asks for.
UNUSED_MODULES = (
    "rfc3987_syntax",
    "isoduration",
    "fqdn",
    "uri_template",
    "webcolors",
    "rfc3339_validator",
    "rfc3986_validator",
    "jsonpointer",
    "jupytext.sync_contentsmanager",
    "jupytext.async_contentsmanager",
    "hypothesis",
)


def load_mission(config: Path, **options: Any):  # imports lazily: `run` starts its kernel first
    """Return :func:`protection_eval.runs.missions.load_mission` of ``config``."""
    from protection_eval.runs.missions import load_mission as load

    return load(config, **options)


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` to standard error and exit with ``code``."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _mission_code(config: Path) -> str:
    """Return the mission code the YAML gives; when it cannot load, its file name made safe.

    :func:`~protection_eval.runs.runner.folder_label` makes the name (``...yaml`` gives ``__``),
    so a folder named by it always lies inside the reports root.
    """
    from protection_eval.config import load_mission_config
    from protection_eval.runs.runner import folder_label

    try:
        return load_mission_config(config).mission
    except ConfigError:
        return folder_label(config.stem)


def _mission_reports(config: Path, reports: Path | None) -> Path:
    """Return ``<reports>/<mission id>``: the mission's folder, named by its id, not its file."""
    return reports_root(reports) / _mission_code(config)


def _mission_ledger(config: Path, out: Path | None) -> Path:
    """Return the ledger of published margins: the mission's, or one beside ``--out``'s parts.

    Without ``--out`` the runs go in the mission's folder, whose ledger every run shares; a
    folder given with ``--out`` keeps its own, beside the runs written into it.
    """
    from protection_eval.runs.layout import mission_file

    return mission_file(out if out is not None else _mission_reports(config, None), "ledger")


def _new_command_run(config: Path, out: Path | None, command: str) -> tuple[str, Path]:
    """Make a new run folder for the ``coverage`` or ``effects`` command; return its id and path.

    Each run gets its own folder, ``<out>/<run_id>/`` (default
    ``<reports>/<mission>/<command>/<run_id>/``), so that a run never replaces what an earlier
    one published: the ledger's runs stay the files they recorded.
    """
    from protection_eval.runs.runner import new_run_id

    base = out if out is not None else _mission_reports(config, None) / command
    base.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = new_run_id()
        try:
            (base / run_id).mkdir()
        except FileExistsError:
            continue
        return run_id, base / run_id


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="Mission YAML, e.g. data/missions/DEMO-A.yaml")],
    out: Annotated[Path | None, typer.Option(help="Folder for validation.json and rejected/")]
    = None,
) -> None:
    """Check a mission's inputs: counts, quarantine reasons, plausibility, validation.json."""
    from protection_eval.runs.plausibility import check_plausibility
    from protection_eval.runs.rejected import RejectedFiles
    from protection_eval.runs.runner import write_validation

    out = out or _mission_reports(config, None) / "validation"
    # The quarantined rows go to rejected/ as they are found, never all held at once.
    with RejectedFiles(out) as sink:
        try:
            mission = load_mission(config, rejected_sink=sink)
        except USER_ERRORS as exc:
            report = getattr(exc, "report", None)
            sink.close(report.tables if report is not None else ())
            _fail_validation(config, out, exc, report)
        sink.close(mission.validation.tables)
    check = check_plausibility(mission) if mission.validation.usable else None
    write_validation(mission, out, check)
    for line in mission.validation.summary_lines():
        typer.echo(line)
    for line in check.summary_lines() if check is not None else []:
        typer.echo(line)
    typer.echo(f"wrote {out / RESTRICTED_FILES['validation']} and "
               f"{out / RESTRICTED_FILES['rejected']}/")
    if not mission.validation.usable:
        raise typer.Exit(1)


def _fail_validation(config: Path, out: Path, exc: Exception, report: Any) -> None:
    """Write what is known of a mission that cannot be validated, print it and exit 1."""
    from protection_eval.io.writers import write_json
    from protection_eval.runs.runner import write_validation_report

    if report is None:
        write_json({"mission": _mission_code(config), "config": str(config),
                    "usable": False, "errors": [str(exc)]},
                   out / RESTRICTED_FILES["validation"])
    else:
        write_validation_report(report, out)
        for line in report.summary_lines():
            typer.echo(line)
    fail(f"NOT usable: {exc}")


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(help="Folder for the demo missions")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data")] = 11,
    scale: Annotated[float, typer.Option(help="Multiplies patrols and incident rates")] = 1.0,
    run: Annotated[bool, typer.Option(help="Run every notebook for every demo mission")] = True,
    reports: Annotated[Path | None, typer.Option(help="Reports folder")] = None,
    jobs: Annotated[int, typer.Option(help="Missions run at once")] = 2,
) -> None:
    """Generate the synthetic demo missions (with ground_truth.json) and run them."""
    from protection_eval.demo import make_demo_missions

    out = missions_dir(out)
    paths = make_demo_missions(out, seed=seed, scale=scale)
    for path in paths:
        typer.echo(f"demo mission written: {path}")
    if run:
        _run_and_report(paths, reports, jobs=jobs)


def _run_and_report(
    paths: list[Path],
    reports: Path | None,
    *,
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    period: str | None = None,
    scheduler_timeout: float = 30.0,
) -> None:
    from protection_eval.runs.batch import ProgressDisplay, SchedulerError, run_missions

    reports = reports_root(reports)
    display = ProgressDisplay([p.stem for p in paths])
    try:
        batch = run_missions(paths, reports_dir=reports, jobs=jobs, executor=executor,
                             scheduler=scheduler, period=period, progress=display,
                             scheduler_timeout=scheduler_timeout)
    except (ValueError, SchedulerError) as exc:
        fail(str(exc), 2)
    typer.echo(batch.summary_table())
    for error in batch.errors:
        typer.echo(f"ERROR {error}", err=True)
    typer.echo(f"index: {reports / REPORT_FILES['index']}")
    typer.echo(batch.one_line())
    raise typer.Exit(batch.exit_code)


@app.command()
def run(
    configs: Annotated[list[Path] | None, typer.Argument(help="Mission YAML files")] = None,
    all_missions: Annotated[bool, typer.Option("--all", help="Every mission in --missions")]
    = False,
    missions: Annotated[Path | None, typer.Option(help="Folder of mission YAML files for --all "
                                                  "(default data/missions)")] = None,
    reports: Annotated[Path | None, typer.Option(help="Reports folder")] = None,
    jobs: Annotated[int, typer.Option(help="Missions run at once (local processes)")] = 1,
    executor: Annotated[str, typer.Option(help="local (processes) or dask (a cluster, one "
                                          "task per mission)")] = "local",
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler, e.g. tcp://host:8786; with --executor local, each mission's "
             "heavy steps run there in parts")] = None,
    period: Annotated[str | None, typer.Option(help="Reporting period: 2024-06 or "
                                               "2024-01..2024-06")] = None,
    scheduler_timeout: Annotated[float, typer.Option(help="Seconds to wait for the Dask "
                                                     "scheduler to answer")] = 30.0,
) -> None:
    """Run every notebook per mission into reports/<mission>/<run_id>/.

    Exit code 0 when every mission ran ok, 1 when any failed, 2 for a usage error or when the
    Dask scheduler cannot be reached (no mission ran).
    """
    from protection_eval.config import parse_period

    paths = list(configs or [])
    if all_missions:
        paths += mission_config_paths(missions)
    if not paths:
        fail("name mission YAML files or pass --all (no mission found)", 2)
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        fail(f"no such mission configuration: {', '.join(missing)}", 2)
    if period:
        try:
            parse_period(period)
        except ConfigError as exc:
            fail(str(exc), 2)
    _run_and_report(paths, reports, jobs=jobs, executor=executor, scheduler=scheduler,
                    period=period, scheduler_timeout=scheduler_timeout)


strategies_app = typer.Typer(help="The strategy inventory (data/strategies).",
                             no_args_is_help=True)
app.add_typer(strategies_app, name="strategies")


def _load_strategies(path: Path | None):  # imports lazily: keeps `--help` fast
    from protection_eval.inventory.strategies import CatalogueError, load_catalogue

    try:
        return load_catalogue(path)
    except CatalogueError as exc:
        fail(f"{exc}\nRun `protection-eval strategies validate` after fixing.")


@strategies_app.command("list")
def strategies_list(
    actor: Annotated[str | None, typer.Option(help="military, police, civilian or joint")] = None,
    category: Annotated[str | None, typer.Option(help="e.g. patrolling, escort")] = None,
    mission: Annotated[str | None, typer.Option(help="Mission acronym, e.g. MONUSCO")] = None,
    evidence_level: Annotated[str | None, typer.Option(help="e.g. descriptive")] = None,
    text: Annotated[str | None, typer.Option(help="Free text searched in the entries")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    path: Annotated[Path | None, typer.Option(help="Catalogue folder")] = None,
) -> None:
    """List strategies, filtered."""
    from protection_eval.inventory.strategies import LISTING_FORMATS, to_listing

    if fmt not in LISTING_FORMATS:
        fail(f"--format must be one of {', '.join(LISTING_FORMATS)}, not {fmt!r}")
    selected = _load_strategies(path).filter(actor, category, mission, evidence_level, text)
    typer.echo(to_listing(selected, fmt))


@strategies_app.command("show")
def strategies_show(
    strategy_id: Annotated[str, typer.Argument(help="Strategy id, e.g. firewood-escorts")],
    path: Annotated[Path | None, typer.Option(help="Catalogue folder")] = None,
) -> None:
    """Show one strategy in full, with its sources."""
    from protection_eval.inventory.strategies import to_strategy_text

    catalogue = _load_strategies(path)
    try:
        strategy = catalogue.get(strategy_id)
    except KeyError as exc:
        fail(str(exc.args[0]))
    typer.echo(to_strategy_text(strategy, catalogue.files.get(strategy_id)))


@strategies_app.command("validate")
def strategies_validate(
    path: Annotated[Path | None, typer.Option(help="Catalogue folder")] = None,
) -> None:
    """Check every catalogue entry; exit 1 listing the file and field of each problem."""
    from protection_eval.inventory.strategies import validate_catalogue

    problems = validate_catalogue(path)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        fail(f"{len(problems)} problem(s) in the strategy catalogue")
    typer.echo(f"strategy catalogue is valid: {len(_load_strategies(path))} strategies")


@app.command()
def evidence(
    reports: Annotated[Path | None, typer.Option(help="Reports folder")] = None,
) -> None:
    """Pool every run's effects.csv into reports/evidence.csv and reports/evidence.html."""
    from protection_eval.runs.evidence import write_evidence

    reports = reports_root(reports)
    synthesis, csv_path, html_path = write_evidence(reports, _load_strategies(None))
    for problem in synthesis.problems:
        typer.echo(f"left out: {problem}", err=True)
    typer.echo(
        f"{len(synthesis.strategy_ids)} strategies with estimates, {len(synthesis.pooled)} pooled "
        f"across missions; wrote {csv_path} and {html_path}"
    )


@app.command()
def audit(
    path: Annotated[Path, typer.Argument(help="Shared folder (or file) to audit")],
    mission: Annotated[
        Path | None, typer.Option(help="Mission YAML: k, tile server, raw incidents, areas")
    ] = None,
) -> None:
    """Audit a shared folder for anything that could expose a survivor; exit 1 on a finding."""
    from protection_eval.runs.publish import audit_folder

    if not path.exists():
        fail(f"{path}: no such folder or file to audit")
    try:
        result = audit_folder(path, mission)
    except USER_ERRORS as exc:
        fail(f"cannot audit against the mission: {exc}")
    typer.echo(result.summary())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def coverage(
    config: Annotated[Path, typer.Argument(help="Mission YAML, e.g. data/missions/DEMO-A.yaml")],
    out: Annotated[Path | None, typer.Option(
        help="Folder of this command's runs: each run writes <out>/<run_id>/shared and "
             "restricted (default reports/<mission>/coverage)")] = None,
    radius_m: Annotated[float | None, typer.Option(help="Override coverage.radius_m")] = None,
    window_h: Annotated[float | None, typer.Option(help="Override coverage.window_h")] = None,
    period: Annotated[str | None, typer.Option(help="Reporting window, e.g. 2023-01..2023-06")]
    = None,
) -> None:
    """Patrol coverage of a mission: coverage_summary.json, gaps, map and GeoPackage."""
    from protection_eval.config import parse_period
    from protection_eval.coverage.mission import compute_mission_coverage
    from protection_eval.runs.outputs import write_coverage
    from protection_eval.runs.publish import publish_shared

    ledger = _mission_ledger(config, out)
    try:
        mission = load_mission(config)
        window = parse_period(period) if period else None
        result = compute_mission_coverage(mission, radius_m=radius_m, window_h=window_h,
                                          period=window)
    except (*USER_ERRORS, ValueError) as exc:
        fail(f"coverage not computed: {exc}")
    k = mission.config.sharing.min_count
    run_id, run_dir = _new_command_run(config, out, "coverage")
    written = write_coverage(result, restricted_dir=run_dir / RESTRICTED, shared_dir=None, k=k,
                             period=period)
    outcome = publish_shared(
        lambda staged: write_coverage(result, restricted_dir=None, shared_dir=staged, k=k,
                                      config=mission.config, period=period),
        run_dir / SHARED, run_dir / RESTRICTED, mission,
        ledger=ledger, period=period, run=f"coverage {run_id}",
    )
    s = result.summary
    share = "n/a" if s["covered_share"] is None else f"{s['covered_share']:.1%}"
    typer.echo(f"{s['mission']}: model {s['model']}, {s['incidents_covered']:,} of "
               f"{s['incidents_in_scope']:,} incidents in scope covered ({share}); "
               f"{s['incidents_left_out_by_precision']:,} left out by location precision")
    for path in dict.fromkeys(written.values()):
        typer.echo(f"wrote {path}")
    _report_publication(outcome)

@app.command()
def effects(
    config: Annotated[Path, typer.Argument(help="Mission YAML, e.g. data/missions/DEMO-A.yaml")],
    out: Annotated[Path | None, typer.Option(
        help="Folder of this command's runs: each run writes <out>/<run_id>/shared and "
             "restricted (default reports/<mission>/effects)")] = None,
    strategy: Annotated[str | None, typer.Option(help="One strategy id (default: all)")] = None,
    design: Annotated[str, typer.Option(help="Headline design: stacked or twfe")] = "stacked",
    period: Annotated[str | None, typer.Option(help="Analysis window, e.g. 2022-07..2023-06")]
    = None,
) -> None:
    """Effect of each strategy and of patrol presence: effects.csv with caveats."""
    from protection_eval.config import parse_period
    from protection_eval.effects.mission import estimate_mission
    from protection_eval.inventory.strategies import load_catalogue, to_target_location_types
    from protection_eval.runs.outputs import write_effects
    from protection_eval.runs.publish import publish_shared

    ledger = _mission_ledger(config, out)
    try:
        mission = load_mission(config)
        window = parse_period(period) if period else None
        result = estimate_mission(
            mission, strategies=strategy, design=design, period=window,
            target_location_types=to_target_location_types(load_catalogue()),
        )
    except (*USER_ERRORS, ValueError) as exc:
        fail(f"effects not estimated: {exc}")
    k = mission.config.sharing.min_count
    run_id, run_dir = _new_command_run(config, out, "effects")
    written = write_effects(result, shared_dir=None, restricted_dir=run_dir / RESTRICTED,
                            min_count=k)
    outcome = publish_shared(
        lambda staged: write_effects(result, shared_dir=staged, min_count=k),
        run_dir / SHARED, run_dir / RESTRICTED, mission,
        ledger=ledger, period=period, run=f"effects {run_id}",
    )
    for line in result.summary_lines():
        typer.echo(line)
    for path in written.values():
        typer.echo(f"wrote {path}")
    _report_publication(outcome)


@app.command()
def plan(
    config: Annotated[Path, typer.Argument(help="Mission YAML, e.g. data/missions/DEMO-A.yaml")],
    month: Annotated[str, typer.Option(help="The month to plan, YYYY-MM (only data before it "
                                       "are used)")],
    patrol_hours: Annotated[float | None, typer.Option(
        help="Patrol-hours of the month (default: the mean of the three months before)")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed of the randomisation among near-ties")] = 0,
    margin: Annotated[float, typer.Option(help="Near-tie margin (0.25: within 25 %; 0: no "
                                          "randomised pair)")] = 0.25,
    strategy: Annotated[str | None, typer.Option(
        help="Strategy whose roll-out the stepped wedge orders (default: a new one)")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for shared/ and restricted/ (default: the mission's plans/<month>, "
             "where later runs evaluate it)")] = None,
) -> None:
    """Plan next month's patrols so that the plan can be evaluated: plan.csv, map, design."""
    from protection_eval.planning import PlanOptions, to_month
    from protection_eval.runs.layout import plan_dir
    from protection_eval.runs.plans import make_plan, write_plan
    from protection_eval.runs.publish import publish_shared

    try:
        planned = str(to_month(month))
        options = PlanOptions(patrol_hours=patrol_hours, seed=seed, margin=margin,
                              strategy=strategy)
    except ValueError as exc:
        fail(f"plan not made: {exc}", 2)
    ledger = _mission_ledger(config, out)
    out = out or plan_dir(_mission_reports(config, None), planned)
    try:
        mission = load_mission(config)
        result = make_plan(mission, planned, options)
    except (*USER_ERRORS, ValueError) as exc:
        fail(f"plan not made: {exc}")
    written = write_plan(result, mission, shared_dir=None, restricted_dir=out / RESTRICTED)
    outcome = publish_shared(
        lambda staged: write_plan(result, mission, shared_dir=staged, restricted_dir=None),
        out / SHARED, out / RESTRICTED, mission,
        ledger=ledger, period=planned, run=f"plan {out}",
    )
    for line in result.summary_lines():
        typer.echo(line)
    for path in written.values():
        typer.echo(f"wrote {path}")
    _report_publication(outcome)


def _report_publication(outcome: object) -> None:
    """Say what the gate published; exit 1 when its audit refused the shared part."""
    typer.echo(outcome.message, err=not outcome.published)
    if not outcome.published:
        raise typer.Exit(1)


@app.command()
def indicators(
    personnel: Annotated[Path, typer.Option(help="Personnel file: women and all uniformed "
                                            "personnel by mission and period")],
    preset: Annotated[str, typer.Option(help="Column preset: un-gender or canonical")]
    = "canonical",
    targets: Annotated[Path | None, typer.Option(help="Targets YAML (default data/targets/)")]
    = None,
    out: Annotated[Path | None, typer.Option(help="Output folder")] = None,
) -> None:
    """Resolution 1325 indicators from a personnel file: indicators.csv, .xlsx and a chart."""
    from protection_eval.indicators import (
        PersonnelInputError,
        TargetsError,
        compute_cross_mission_indicators,
    )
    from protection_eval.runs.indicators import load_personnel, load_targets, write_indicators

    out = out or reports_root() / "indicators"
    try:
        table = load_personnel(personnel, preset)
        report = compute_cross_mission_indicators(table, load_targets(targets))
    except (*USER_ERRORS, PersonnelInputError, TargetsError) as exc:
        fail(f"indicators not computed: {exc}")
    for line in report.summary_lines():
        typer.echo(line)
    for path in write_indicators(report, out).values():
        typer.echo(f"wrote {path}")


def skip_unused_modules() -> None:
    """Keep :data:`UNUSED_MODULES` out of this process (one not imported yet stays out).

    A ``None`` entry in :data:`sys.modules` makes ``import`` raise ``ModuleNotFoundError``
    (the import system's documented way to block a module); the importers above catch it.
    """
    for name in UNUSED_MODULES:
        sys.modules.setdefault(name, None)


def main() -> None:
    """Entry point that turns stray user errors into messages, not tracebacks."""
    skip_unused_modules()
    try:
        app()
    except USER_ERRORS as exc:
        typer.echo(str(exc), err=True)
        sys.exit(1)
