"""The whole product on the synthetic demo, installed as a user installs it.

The package is built as a wheel and installed into a fresh environment (the locked versions
only), and the demo missions, plus a broken one, are run by that environment's
``protection-eval`` from a folder outside the repository: every notebook, every mission, the
gate, the index and the evidence, with nothing taken from the source tree.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SHARED = {"brief.html", "coverage_map.html", "coverage_summary.json", "effects.csv",
          "indicators.csv", "indicators.xlsx"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this tree, installed into a new environment; its bin folder."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the wheel (make setup installs it into .venv)")
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    subprocess.run([uv, "build", "--wheel", "-q", "-o", str(dist), str(ROOT)], check=True,
                   timeout=600, capture_output=True)
    wheel = next(dist.glob("protection_eval-*.whl"))
    venv = root / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   timeout=300, capture_output=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-c",
         str(ROOT / "requirements.lock"), str(wheel)],
        check=True, timeout=900, capture_output=True,
    )
    return venv / "bin"


def new_user_environment(home: Path) -> dict[str, str]:
    """This process's environment as a new user's shell has it: nothing of the project's.

    The throwaway environment keeps the bytecode it compiles: under a PYTHONDONTWRITEBYTECODE
    set for the whole machine, each notebook kernel would compile pandas, geopandas and the rest
    again (``uv pip install`` writes no bytecode, unlike pip). The gate's key goes to the user's
    config folder, here a temporary one.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PROTECTION_EVAL_", "PYTHONPATH", "VIRTUAL_ENV",
                                "PYTHONDONTWRITEBYTECODE"))}
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    if os.environ.get("PROTECTION_EVAL_CHROMIUM"):  # where the machine keeps its browser
        env["PROTECTION_EVAL_CHROMIUM"] = os.environ["PROTECTION_EVAL_CHROMIUM"]
    return env


@pytest.fixture(scope="module")
def demo_run(installed, tmp_path_factory):
    """``protection-eval demo --no-run``, a broken mission added, then ``run --all --jobs 2``.

    Both from a folder of their own (``elsewhere``), with the missions and the reports in the
    default places under it.
    """
    root = tmp_path_factory.mktemp("e2e")
    work = root / "elsewhere"
    work.mkdir()
    env = new_user_environment(root)
    made = subprocess.run(
        [str(installed / "protection-eval"), "demo", "--no-run", "--seed", "7", "--scale", "0.4"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    missions = work / "data" / "missions"
    broken = missions / "BROKEN-X.yaml"
    shutil.copytree(missions / "demo-c", missions / "broken-x")
    # Incidents are required: a header with no rows stops the mission (an optional table with
    # no rows would not).
    (missions / "broken-x" / "incidents.csv").write_text(
        "incident_id,occurred_at,longitude,latitude,gbv_type\n", encoding="utf-8")
    broken.write_text((missions / "DEMO-C.yaml").read_text()
                      .replace("mission: DEMO-C", "mission: BROKEN-X")
                      .replace("demo-c/", "broken-x/")
                      .replace("broken-x/incidents.parquet", "broken-x/incidents.csv"))
    result = subprocess.run(
        [str(installed / "protection-eval"), "run", "--all", "--jobs", "2"],
        cwd=work, env=env, capture_output=True, text=True, timeout=1500,
    )
    return work, result


def test_a_wheel_in_a_fresh_environment_runs_the_demo_from_another_folder(installed, demo_run):
    work, result = demo_run
    assert "3 ok, 1 failed" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert (work / "data" / "missions" / "DEMO-A.yaml").exists()
    for mission in ("DEMO-A", "DEMO-B", "DEMO-C"):
        assert (work / "reports" / mission / "latest" / "shared" / "brief.html").exists()
    assert (work / "reports" / "index.html").exists()
    installed_at = subprocess.run(
        [str(installed / "python"), "-c",
         "import protection_eval; print(protection_eval.__file__)"],
        capture_output=True, text=True, check=True, cwd=work,
        env=new_user_environment(work.parent),
    ).stdout
    assert str(installed.parent) in installed_at and str(ROOT) not in installed_at


def test_run_all_exits_1_and_names_the_broken_mission(demo_run):
    _, result = demo_run
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("protection-eval run: 3 ok, 1 failed (BROKEN-X)")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("mission", ["DEMO-A", "DEMO-B", "DEMO-C"])
def test_good_missions_finish_ok_with_every_shared_artefact(demo_run, mission):
    root, _ = demo_run
    latest = root / "reports" / mission / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"] * len(manifest["notebooks"])
    assert len(manifest["notebooks"]) >= 5
    assert SHARED <= {p.name for p in (latest / "shared").iterdir()}
    assert not list((latest / "shared").glob("*.ipynb"))
    restricted = {p.name for p in (latest / "restricted").iterdir()}
    assert "coverage.gpkg" in restricted and "01_data_quality.html" in restricted
    summary = json.loads((latest / "shared" / "coverage_summary.json").read_text())
    assert summary["model"] == {"DEMO-A": "tracks", "DEMO-B": "routes", "DEMO-C": "bases"}[mission]
    assert 0 < summary["covered_share"] < 1


def test_broken_mission_is_failed_with_its_reason(demo_run):
    root, _ = demo_run
    runs = [p for p in (root / "reports" / "BROKEN-X").iterdir() if p.name[0].isdigit()]
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "incidents.csv" in manifest["error"]["message"]
    assert "header but no rows" in manifest["error"]["message"]
    assert not (root / "reports" / "BROKEN-X" / "latest").exists()


def test_index_lists_every_mission_offline(demo_run):
    root, _ = demo_run
    index = (root / "reports" / "index.html").read_text()
    for mission in ("DEMO-A", "DEMO-B", "DEMO-C", "BROKEN-X"):
        assert mission in index
    assert "https://" not in index and "http://" not in index


def test_demo_effects_contain_the_planted_ratios(demo_run):
    root, _ = demo_run
    for mission in ("DEMO-A", "DEMO-B", "DEMO-C"):
        truth = json.loads((root / "data" / "missions" / f"demo-{mission[-1].lower()}" /
                            "ground_truth.json").read_text())
        effects = pd.read_csv(root / "reports" / mission / "latest" / "shared" / "effects.csv")
        headline = effects[effects.estimand == "deployment"]
        if "headline" in headline:
            headline = headline[headline.headline.astype(bool)]
        for planted in truth["effects"]:
            row = headline[headline.strategy_id == planted["strategy_id"]]
            assert len(row) == 1, (mission, planted)
            assert row.ci_low.iloc[0] <= planted["irr"] <= row.ci_high.iloc[0], (mission, planted)


@pytest.mark.parametrize("mission", ["DEMO-A", "DEMO-B", "DEMO-C"])
def test_demo_runs_share_their_patrol_level_1325_indicators(demo_run, mission):
    from protection_eval.indicators import INDICATOR_COLUMNS

    root, _ = demo_run
    shared = root / "reports" / mission / "latest" / "shared"
    frame = pd.read_csv(shared / "indicators.csv")
    assert list(frame.columns) == INDICATOR_COLUMNS
    assert set(frame["mission"]) == {mission}
    ids = set(frame["indicator_id"])
    assert {"patrol.women_hours_share", "patrol.with_women_share"} <= ids
    assert any(i.startswith("patrol.women_hours_share:unit_type=") for i in ids)
    shown = frame[frame["value"].notna()]
    assert len(shown) and shown["value"].between(0, 1).all()
    assert (shown["numerator"] <= shown["denominator"]).all()


def test_evidence_pools_strategies_estimated_in_two_or_more_missions(demo_run):
    root, _ = demo_run
    evidence = pd.read_csv(root / "reports" / "evidence.csv")
    pooled = evidence[evidence.mission == "ALL"]
    assert set(pooled.strategy_id) >= {"firewood-escorts", "night-patrols"}
    firewood = pooled.set_index("strategy_id").loc["firewood-escorts"]
    assert firewood.n_missions == 3 and firewood.ci_low < 0.65 < firewood.ci_high


#: A second run of DEMO-B, in a fresh process, with papermill's own engine (a new kernel over
#: TCP for each notebook, as every run did before the warm kernel): the same notebooks, the
#: same outputs and the same shared files, from kernels that started empty.
RERUN = """
import sys
from protection_eval.runs.batch import run_missions
from protection_eval.runs.kernels import REFERENCE_ENGINE
# A batch, as the first run was: one BLAS thread per kernel (batch.THREAD_LIMITS), so that no
# sum is added up in another order.
batch = run_missions([sys.argv[1]], reports_dir=sys.argv[2], engine=REFERENCE_ENGINE,
                     build_index=False)
sys.exit(batch.exit_code and f"second run failed: {batch.summary_table()}")
"""


def test_no_kernel_of_the_run_warned_about_tcp(demo_run):
    _, result = demo_run
    assert "without encryption" not in result.stdout + result.stderr
    assert "IPKernelApp" not in result.stderr


#: The calls that end a notebook cell drawing a figure (one figure each).
FIGURE_CALLS = ("plot_quarantine_map(", "plot_coverage_overview(", "plot_headline_forest(",
                "plot_event_studies(", "make_catalogue_chart(", "make_deployment_timeline(",
                "make_forest_panel(")


def _code_cells(path) -> list[tuple[str, int]]:
    """Return each code cell's last line and how many images (PNG outputs) it shows."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [("".join(c["source"]).strip().splitlines()[-1] if "".join(c["source"]).strip()
             else "", sum("image/png" in o.get("data", {}) for o in c.get("outputs", [])))
            for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("mission", ["DEMO-A", "DEMO-B", "DEMO-C"])
def test_each_figure_of_the_executed_notebooks_is_shown_once(demo_run, mission):
    # No cell of the notebooks draws more than one figure, so a second image in a cell is a
    # figure shown twice: an open pyplot figure a cell returns is drawn by the inline backend
    # at the end of the cell and again as the cell's value (tests/test_reading.py shows a
    # kernel doing so).
    root, _ = demo_run
    paths = sorted((root / "reports" / mission / "latest" / "restricted").glob("*.ipynb"))
    assert len(paths) >= 5
    shown = {(path.stem, last): images for path in paths
             for last, images in _code_cells(path) if images}
    assert all(images == 1 for images in shown.values()), shown
    assert {last.split("(")[0] + "(" for _, last in shown} <= set(FIGURE_CALLS), shown
    if mission == "DEMO-B":  # strategies rolled out in steps: every figure has something to draw
        assert sorted(last.split("(")[0] + "(" for _, last in shown) == sorted(FIGURE_CALLS)


def test_notebook_03_shows_readers_tables_with_each_caveat_once(demo_run):
    from protection_eval.effects.reading import READING_COLUMNS
    from protection_eval.effects.vocabulary import CAVEATS

    root, _ = demo_run
    path = root / "reports" / "DEMO-B" / "latest" / "restricted" / "03_effectiveness.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    tables = {"".join(c["source"]).strip(): "".join(o["data"]["text/html"])
              for c in cells if c["cell_type"] == "code"
              and "".join(c["source"]).startswith("to_reading_table(")
              for o in c.get("outputs", []) if "text/html" in o.get("data", {})}
    assert len(tables) >= 6
    for source, table in tables.items():
        shown, _, hidden = table.partition("<details><summary>All columns</summary>")
        assert hidden, source
        assert shown.count(CAVEATS["reported"]) <= 1, source  # a note, not a column
        assert not re.search(r"<td>[-+]?[0-9.]+[eE][-+]?[0-9]+</td>", table), source
        assert not re.search(r"<td>(nan|NaN|None)</td>", table), source
    deployment = tables['to_reading_table(effects, "deployment")']
    assert deployment.count(CAVEATS["reported"]) == 1
    header = deployment.split("</thead>")[0]
    assert re.findall(r"<th>(\w+)</th>", header) == list(READING_COLUMNS)


@pytest.fixture(scope="module")
def reference_run(installed, demo_run):
    root, _ = demo_run
    again = subprocess.run(
        [str(installed / "python"), "-c", RERUN, str(root / "data" / "missions" / "DEMO-B.yaml"),
         str(root / "again")],
        cwd=root, env=new_user_environment(root.parent), capture_output=True, text=True,
        timeout=900,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    return root / "reports" / "DEMO-B" / "latest", root / "again" / "DEMO-B" / "latest"


def test_same_inputs_give_the_same_shared_files_with_either_engine(reference_run):
    warm, reference = reference_run
    names = {p.name for p in (warm / "shared").iterdir()}
    assert names == {p.name for p in (reference / "shared").iterdir()}
    assert SHARED <= names
    for name in sorted(names - {"indicators.xlsx", "brief.pdf"}):
        same = (warm / "shared" / name).read_bytes() == (reference / "shared" / name).read_bytes()
        assert same, name
    # A workbook records when it was written (docProps/core.xml); every other part is equal.
    assert workbook_parts(warm / "shared" / "indicators.xlsx") == workbook_parts(
        reference / "shared" / "indicators.xlsx")
    assert comparable_pdf(warm / "shared" / "brief.pdf") == comparable_pdf(
        reference / "shared" / "brief.pdf")


def test_same_inputs_give_the_same_executed_notebooks_with_either_engine(reference_run):
    warm, reference = reference_run
    notebooks = sorted(p.name for p in (warm / "restricted").glob("*.ipynb"))
    assert len(notebooks) >= 5
    assert notebooks == sorted(p.name for p in (reference / "restricted").glob("*.ipynb"))
    for name in notebooks:
        first = comparable_notebook(warm / "restricted" / name)
        second = comparable_notebook(reference / "restricted" / name)
        assert first == second, name


def workbook_parts(path):
    import zipfile

    with zipfile.ZipFile(path) as book:
        return {n: book.read(n) for n in book.namelist() if n != "docProps/core.xml"}


def comparable_pdf(path):
    """The PDF without what records when and where it was printed.

    Chromium writes the print time (``/CreationDate``, ``/ModDate``) and numbers the tagged
    structure's nodes from the browser's start (a batch's browser printed other briefs first);
    a number of another length moves the byte offsets of the objects after it (the ``xref``
    table and ``startxref``). The brief's link to the map beside it is not printed as a link
    (``runs.pdf.UNLINK_LOCAL_FILES``), so no folder's address is in it.
    """
    text = path.read_bytes().decode("latin-1")
    assert text.startswith("%PDF")
    text = re.sub(r"/(CreationDate|ModDate) \(D:[^)]*\)", "", text)
    # The tagged structure's node numbers count from the warm browser's start.
    text = re.sub(r"/ID \(node\d+\)", "/ID (node)", text)
    text = re.sub(r"(?m)^\d{10} \d{5} [nf] ?$", "<offset>", text)
    text = re.sub(r"startxref\s+\d+", "startxref", text)
    return RUN_FOLDER.sub("<run>", text)


#: What legitimately differs between two runs of the same notebooks, whatever the engine:
#: papermill's and nbclient's timings, the cell ids jupytext draws when it reads a notebook, the
#: run's own folder (its run id) in the injected parameters and in printed paths, and the memory
#: address in an object's default repr.
RUN_FOLDER = re.compile(r"/[^\s\"']*?/(?:\.staging-)?\d{8}T\d{6}Z-[0-9a-f]{4}")
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")
ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


def _without_run_folders(value):
    """``value`` with each run folder in its texts as ``<run>``.

    Only texts that hold a run id are searched for the folder around it: the lazy pattern,
    tried from every ``/`` of a long base64 image, took seconds a notebook.
    """
    if isinstance(value, str):
        return RUN_FOLDER.sub("<run>", value) if RUN_ID.search(value) else value
    if isinstance(value, list):
        return [_without_run_folders(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_run_folders(v) for k, v in value.items()}
    return value


def comparable_notebook(path):
    notebook = json.loads(path.read_text())
    notebook["metadata"].pop("papermill")
    for cell in notebook["cells"]:
        cell.pop("id", None)
        cell["metadata"].pop("papermill", None)
        cell["metadata"].pop("execution", None)
    text = json.dumps(_without_run_folders(notebook), indent=1, sort_keys=True)
    return ADDRESS.sub(" at 0x...>", text)
