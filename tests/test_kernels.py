"""Warm kernels: one kernel for a mission's notebooks, a fresh namespace each, IPC only."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import jupytext
import numpy
import papermill
import psutil
import pytest
from papermill.engines import papermill_engines
from papermill.exceptions import PapermillExecutionError

from protection_eval.runs.kernels import ENGINE, REFERENCE_ENGINE, KernelPool, notebook_imports
from protection_eval.runs.papermill_engine import WarmKernelEngine
from protection_eval.runs.runner import _kernel_name, run_mission

pytestmark = pytest.mark.slow

HEADER = '# %% tags=["parameters"]\nlabel = "x"\n\n'


def notebook(tmp_path: Path, name: str, *cells: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(HEADER + "".join(f"# %%\n{c}\n\n" for c in cells), encoding="utf-8")
    return path


def execute(path: Path, kernel, **parameters):
    """Run one notebook with papermill through the warm engine in ``kernel``."""
    return papermill.execute_notebook(
        jupytext.read(path), str(path.with_suffix(".ipynb")), parameters=parameters,
        engine_name=ENGINE, kernel=kernel, kernel_name=_kernel_name(), language="python",
        progress_bar=False)


def outputs(executed) -> list[str]:
    texts = []
    for cell in executed.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text") or out.get("data", {}).get("text/plain") or "")
    return texts


@pytest.fixture(scope="module")
def pool():
    with KernelPool(_kernel_name(), "import os\nimport warnings") as kernels:
        yield kernels


def test_the_engine_is_in_papermills_registry_by_name():
    assert papermill_engines.get_engine(ENGINE) is WarmKernelEngine


def test_notebook_imports_are_the_import_lines_of_every_notebook_once():
    first = "from __future__ import annotations\nimport os\nx = 1\n# %%\nfrom a.b import c, d\n"
    second = "import os\nif x:\n    import never_top_level\nimport json as j\n"
    assert notebook_imports([first, second, "def broken(:\n"]).splitlines() == [
        "import os", "from a.b import c, d", "import json as j"]


def test_names_of_one_notebook_are_not_seen_by_the_next_in_the_same_kernel(pool, tmp_path):
    first = notebook(tmp_path, "first", "import os\nleaked = 42\nprint(os.getpid())")
    second = notebook(tmp_path, "second", "import os\nprint(os.getpid())", "print(leaked)")
    with pool.kernel() as kernel:
        done = execute(first, kernel)
    with pool.kernel() as kernel:
        with pytest.raises(PapermillExecutionError) as failed:
            execute(second, kernel)
    assert failed.value.ename == "NameError" and "leaked" in failed.value.evalue
    again = json.loads(second.with_suffix(".ipynb").read_text())
    pids = [o for c in again["cells"] for o in c.get("outputs", []) if o.get("name") == "stdout"]
    # The same kernel process ran both notebooks: the name is gone because of the reset.
    assert "".join(pids[0]["text"]).strip() == outputs(done)[0].strip()
    assert [c["execution_count"] for c in again["cells"] if c["cell_type"] == "code"][:3] == [
        1, 2, 3]


def test_module_state_a_notebook_changes_is_put_back_for_the_next(tmp_path):
    changes = notebook(
        tmp_path, "changes",
        "import logging, os, sys, warnings\n"
        "import matplotlib\nimport pandas as pd\nimport protection_eval.config as config\n"
        "warnings.warn('shown in each notebook')\n"
        "warnings.simplefilter('ignore')\n"
        "os.environ['PE_TEST_LEAK'] = '1'\nos.chdir('/')\nsys.path.insert(0, '/nowhere')\n"
        "config.MIN_K = 3\npd.set_option('display.max_rows', 3)\n"
        "matplotlib.rcParams['lines.linewidth'] = 9.0\nlogging.getLogger().setLevel(5)\n"
        "import numpy\nnumpy.random.seed(1)\n"
        "if True:  # not a top-level import line: the kernel did not import it beforehand\n"
        "    import protection_eval.sharing.disclosure")
    checks = notebook(
        tmp_path, "checks",
        "import logging, os, sys, warnings\n"
        "import matplotlib\nimport pandas as pd\nimport protection_eval.config as config\n"
        "warnings.warn('shown in each notebook')\n"
        "print(os.environ.get('PE_TEST_LEAK'), os.getcwd() == CWD, '/nowhere' in sys.path)\n"
        "print(config.MIN_K, pd.get_option('display.max_rows'), "
        "matplotlib.rcParams['lines.linewidth'], logging.getLogger().level)\n"
        "import numpy\nprint(numpy.random.randint(1 << 30))\n"
        "if True:  # nor here\n    import protection_eval.sharing.disclosure\n"
        "print(protection_eval.sharing.disclosure.check_k.__name__)")
    # As a run does: the kernel first imports what the notebooks import.
    imports = notebook_imports([changes.read_text(), checks.read_text()])
    with KernelPool(_kernel_name(), imports) as kernels:
        with kernels.kernel() as kernel:
            changed = outputs(execute(changes, kernel))
        with kernels.kernel() as kernel:
            checked = outputs(execute(checks, kernel, CWD=os.getcwd()))
        assert len(kernels.kernels) == 1
    assert any("shown in each notebook" in text for text in changed)
    assert any("shown in each notebook" in text for text in checked)
    printed = "".join(t for t in checked if "shown" not in t).split()
    assert printed[:3] == ["None", "True", "False"]
    assert printed[3:7] == ["5", "60", "1.5", "30"]
    # Not the generator notebook 1 seeded: reseeded from the system, as in a new kernel.
    assert printed[7] != str(numpy.random.RandomState(1).randint(1 << 30))
    # A module a notebook imported stays reachable from its package.
    assert printed[8] == "check_k"


def test_kernels_listen_on_no_tcp_port_and_their_sockets_are_private(tmp_path):
    with KernelPool(_kernel_name()) as kernels:
        with kernels.kernel() as kernel:
            info = kernel.connection_info()
            process = psutil.Process(kernel.pid)
            inet = process.net_connections(kind="inet")
            unix = {c.laddr for c in process.net_connections(kind="unix") if c.laddr}
        folder = kernels.runtime_dir
        mode = folder.stat().st_mode & 0o777  # jupyter_client adds the sticky bit
        assert info["transport"] == "ipc" and info["ip"].startswith(str(folder))
    assert inet == []
    assert unix and all(path.startswith(str(folder)) for path in unix)
    assert mode == 0o700
    assert not folder.exists()
    assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def test_output_of_a_forked_subprocess_reaches_the_notebook_over_ipc(pool, tmp_path):
    forks = notebook(
        tmp_path, "forks",
        "import multiprocessing\n"
        "child = multiprocessing.get_context('fork').Process(target=print, args=('from child',))\n"
        "child.start(); child.join()\nprint('exit', child.exitcode)")
    with pool.kernel() as kernel:
        texts = outputs(execute(forks, kernel))
    assert "from child" in "".join(texts) and "exit 0" in "".join(texts)


def test_side_by_side_notebooks_take_a_second_kernel_and_a_dead_one_is_replaced():
    with KernelPool(_kernel_name()) as kernels:
        kernels.prestart()
        held, release = [], threading.Event()

        def hold() -> None:
            with kernels.kernel() as kernel:
                held.append(kernel.pid)
                release.wait(120)

        threads = [threading.Thread(target=hold) for _ in range(2)]
        for thread in threads:
            thread.start()
        while len(held) < 2 and all(t.is_alive() for t in threads):
            threading.Event().wait(0.05)
        release.set()
        for thread in threads:
            thread.join()
        assert len(set(held)) == 2 and len(kernels.kernels) == 2
        with kernels.kernel() as kernel:
            assert kernel.pid in held  # an idle kernel is reused, none started
            psutil.Process(kernel.pid).kill()
            psutil.Process(kernel.pid).wait(30)
            dead = kernel.pid
        with kernels.kernel() as kernel:
            assert kernel.is_alive() and kernel.pid != dead


NO_TCP = '''# %% tags=["parameters"]
mission_config = ""
run_dir = restricted_dir = shared_dir = None
seed = 0

# %%
import os
import psutil
me = psutil.Process()
print("tcp:", me.net_connections(kind="inet"))
print("pid:", os.getpid(), "parent:", me.ppid())
'''


def test_a_run_prints_no_transport_warning_and_its_kernel_opens_no_tcp_port(
        bad_mission, tmp_path, capfd):
    first, second = tmp_path / "nb" / "01_tcp.py", tmp_path / "nb" / "02_tcp.py"
    first.parent.mkdir()
    first.write_text(NO_TCP)
    second.write_text(NO_TCP)
    result = run_mission(bad_mission, reports_dir=tmp_path / "r", notebooks=[first, second],
                         export_html=False)
    assert result.ok, result.error
    printed = []
    for name in ("01_tcp", "02_tcp"):
        executed = json.loads((result.run_dir / "restricted" / f"{name}.ipynb").read_text())
        printed.append("".join(line for c in executed["cells"] for o in c.get("outputs", [])
                               for line in o.get("text", [])))
    assert all("tcp: []" in text for text in printed)
    # One kernel, a child of this process, ran both notebooks.
    assert printed[0].split("pid:")[1] == printed[1].split("pid:")[1]
    assert f"parent: {os.getpid()}" in printed[0]
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err


def test_a_figure_shows_in_every_notebook_as_it_does_in_a_new_kernel(tmp_path):
    figure = notebook(tmp_path, "figure", "import matplotlib.pyplot as plt",
                      "fig, ax = plt.subplots()\nax.plot([1, 2, 4])\nfig")

    def shown(executed) -> list[tuple[str, list[str]]]:
        return [(out["output_type"], sorted(out.get("data", {})))
                for cell in executed.cells for out in cell.get("outputs", [])]

    fresh = papermill.execute_notebook(
        jupytext.read(figure), str(tmp_path / "fresh.ipynb"), engine_name=REFERENCE_ENGINE,
        kernel_name=_kernel_name(), language="python", progress_bar=False)
    # A notebook that chooses another backend chooses it for itself only.
    agg = notebook(tmp_path, "agg", "import matplotlib\nmatplotlib.use('agg')")
    imports = notebook_imports([figure.read_text(), agg.read_text()])
    with KernelPool(_kernel_name(), imports) as kernels:
        warm = []
        for first in (figure, agg, figure):
            with kernels.kernel() as kernel:
                done = shown(execute(first, kernel))
            if first is figure:
                warm.append(done)
    assert shown(fresh) == [("execute_result", ["image/png", "text/plain"]),
                            ("display_data", ["image/png", "text/plain"])]
    assert warm == [shown(fresh), shown(fresh)]
