"""Tiny hostile workbooks are measured before they are read, and read in a child process with
memory and time limits: one file never takes a run, a batch or the audit down (issue 25, item 5).

A 5 KB .xlsx with one cell at ``XFD1048576`` made python-calamine ask for 512 GiB and abort the
process (exit 134): ``run`` of it and a second mission died with no summary, no manifest and a
staging folder left. A 1.5 KB .ods whose rows repeat expanded to 5 million cells. The files are
built here, with openpyxl and zipfile.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from protection_eval.io.readers import InputFileError, read_raw_table

ODS_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
    '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" manifest:media-type='
    '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
    'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>')


def xlsx_bomb(path: Path) -> Path:
    """A real incidents header, and one stray cell in the last cell of the grid."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["incident_id", "Date", "longitude", "latitude", "Type of SV"])
    sheet.append(["I01", "2022-03-05", 30.05, 5.05, "Viol"])
    sheet["XFD1048576"] = "x"
    book.save(path)
    return path


def write_ods(path: Path, rows: str) -> Path:
    """An .ods whose one table holds ``rows`` (table:table-row elements), as zipfile writes it."""
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS} '
               'office:version="1.2"><office:body><office:spreadsheet>'
               f'<table:table table:name="Incidents">{rows}</table:table>'
               '</office:spreadsheet></office:body></office:document-content>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(zipfile.ZipInfo("mimetype"),
                        "application/vnd.oasis.opendocument.spreadsheet")
        zipped.writestr("content.xml", content)
        zipped.writestr("META-INF/manifest.xml", ODS_MANIFEST)
    return path


def _cell(text: str, repeat: int = 1) -> str:
    times = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    return (f'<table:table-cell office:value-type="string"{times}><text:p>{text}</text:p>'
            '</table:table-cell>')


def ods_bomb(path: Path) -> Path:
    header = "<table:table-row>" + _cell("incident_id") + _cell("Date") + "</table:table-row>"
    repeated = ('<table:table-row table:number-rows-repeated="100000">' + _cell("x", 50)
                + "</table:table-row>")
    return write_ods(path, header + repeated)


def test_an_xlsx_with_one_cell_in_the_last_column_and_row_is_refused_naming_its_size(tmp_path):
    path = xlsx_bomb(tmp_path / "incidents.xlsx")
    assert path.stat().st_size < 10_000
    with pytest.raises(InputFileError) as err:
        read_raw_table("incidents", path)
    message = str(err.value)
    assert str(path) in message
    assert "sheet 'Sheet' spans 1,048,576 rows x 16,384 columns" in message
    assert "more than the 4,000,000 cells" in message and "export the table as CSV" in message


def test_an_ods_whose_repeated_rows_expand_to_5_million_cells_is_refused(tmp_path):
    path = ods_bomb(tmp_path / "incidents.ods")
    assert path.stat().st_size < 2_000
    with pytest.raises(InputFileError, match=r"sheet 'Incidents' spans 100,001 rows x 50 "
                                             r"columns \(5,000,050 cells\)"):
        read_raw_table("incidents", path)


def test_trailing_empty_repeats_as_libreoffice_writes_them_do_not_count(tmp_path):
    rows = ("<table:table-row>" + _cell("incident_id") + _cell("Date")
            + '<table:table-cell table:number-columns-repeated="1022"/></table:table-row>'
            "<table:table-row>" + _cell("I01") + _cell("2022-03-05")
            + '<table:table-cell table:number-columns-repeated="1022"/></table:table-row>'
            '<table:table-row table:number-rows-repeated="1048574">'
            '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>')
    path = write_ods(tmp_path / "incidents.ods", rows)
    frame = read_raw_table("incidents", path).frame
    assert frame.to_dict("records") == [
        {"source_row": 2, "incident_id": "I01", "Date": "2022-03-05"}]


def test_a_reader_out_of_memory_is_stopped_alone_and_named(tmp_path):
    from protection_eval.io.workbooks import read_guarded, workbook_rows

    path = xlsx_bomb(tmp_path / "incidents.xlsx")
    # With the measure switched off, the child asks for 512 GiB: it dies, this process lives.
    with pytest.raises(InputFileError) as err:
        read_guarded(workbook_rows, path, None, limit=10**12, memory=256 * 2**20)
    assert str(path) in str(err.value)
    assert "stopped its reader" in str(err.value) or "needs more than" in str(err.value)


def small_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    book.active.append(["incident_id", "Date"])
    book.active.append(["I01", "2022-03-05"])
    book.save(path)
    return path


def test_a_reader_that_takes_too_long_is_stopped(tmp_path, monkeypatch):
    from guarded_readers import sleep

    from protection_eval.io.workbooks import read_guarded

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # the child imports the reader
    path = small_workbook(tmp_path / "incidents.xlsx")
    with pytest.raises(InputFileError, match=r"took longer than 5 seconds to read"):
        read_guarded(sleep, path, seconds=5)


def test_a_reader_stopped_by_its_cpu_limit_is_said_to_take_too_long(tmp_path, monkeypatch):
    from guarded_readers import run_out_of_cpu

    from protection_eval.io.workbooks import read_guarded

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    path = small_workbook(tmp_path / "incidents.xlsx")
    with pytest.raises(InputFileError, match=r"took longer than 30 seconds to read"):
        read_guarded(run_out_of_cpu, path, seconds=30)


BATCH = """
import sys
from protection_eval.runs.batch import run_missions
batch = run_missions(sys.argv[1:3], reports_dir=sys.argv[3], notebooks=[])
print(batch.summary_table())
for result in batch.results:
    print("RESULT", result.mission, result.status, result.error or "")
"""


def test_a_batch_with_a_workbook_bomb_finishes_the_other_mission_and_writes_a_summary(
        bad_mission, tmp_path):
    bombed = tmp_path / "bombed"
    shutil.copytree(bad_mission.parent, bombed)
    xlsx_bomb(bombed / "incidents.xlsx")
    config = bombed / "mission.yaml"
    config.write_text(config.read_text().replace("mission: BAD-1", "mission: BOMB-1")
                      .replace("path: incidents.csv", "path: incidents.xlsx"))
    reports = tmp_path / "reports"
    result = subprocess.run([sys.executable, "-c", BATCH, str(config), str(bad_mission),
                             str(reports)], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = {line.split()[1]: line for line in result.stdout.splitlines()
                if line.startswith("RESULT")}
    assert outcomes["BAD-1"].split()[2] == "ok"
    assert outcomes["BOMB-1"].split()[2] == "failed"
    assert "incidents.xlsx" in outcomes["BOMB-1"] and "4,000,000 cells" in outcomes["BOMB-1"]
    assert "BOMB-1" in result.stdout.split("RESULT")[0]  # the summary table names both
    for mission in ("BAD-1", "BOMB-1"):
        folder = reports / mission
        assert not list(folder.glob(".staging-*")), mission
        manifests = [m for m in folder.glob("*/manifest.json") if m.parent.name != "latest"]
        assert len(manifests) == 1, mission
        status = json.loads(manifests[0].read_text())["status"]
        assert status == ("ok" if mission == "BAD-1" else "failed")


def test_the_audit_reads_a_bombed_workbook_as_unauditable_not_as_a_crash(tmp_path):
    from protection_eval.sharing.audit.office import UnauditableOffice, read_office_file

    for path in (xlsx_bomb(tmp_path / "shared.xlsx"), ods_bomb(tmp_path / "shared.ods")):
        with pytest.raises(UnauditableOffice, match=r"cells a workbook sheet may span; share it"):
            read_office_file(path)


def test_the_audit_still_reads_an_ordinary_workbook_cell_by_cell(tmp_path):
    from protection_eval.sharing.audit.office import read_office_file

    book = openpyxl.Workbook()
    book.active.append(["area", "reports"])
    book.active.append(["Kator", 7])
    hidden = book.create_sheet("Notes")
    hidden.sheet_state = "hidden"
    hidden["A1"] = "invented"
    book.save(tmp_path / "shared.xlsx")
    content = read_office_file(tmp_path / "shared.xlsx")
    assert content.sheets == [("Sheet", [["area", "reports"], ["Kator", 7]]),
                              ("Notes [hidden]", [["invented"]])]


def test_within_one_gate_a_workbook_is_read_once_per_content(tmp_path, monkeypatch):
    from protection_eval.sharing.audit import office

    children: list[Path] = []
    read_in_child = office._read_in_child

    def counted(path: Path, kind: str) -> office.OfficeContent:
        children.append(path)
        return read_in_child(path, kind)

    monkeypatch.setattr(office, "_read_in_child", counted)
    path = tmp_path / "shared.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["area", "reports"])
    book.active.append(["Kator", 7])
    book.save(path)
    with office.reading_workbooks_once():
        first = office.read_office_file(path)
        again = office.read_office_file(path)
        book.active["B2"] = 8  # new bytes: read again, and seen as they are now
        book.save(path)
        changed = office.read_office_file(path)
    assert len(children) == 2
    assert first is again and first.sheets[0][1][1] == ["Kator", 7]
    assert changed.sheets[0][1][1] == ["Kator", 8]
    office.read_office_file(path)  # outside the block, every call reads the file
    assert len(children) == 3
