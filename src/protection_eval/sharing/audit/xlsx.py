"""How the audit reads an ``.xlsx`` workbook: every sheet as CSV, and what it cannot vouch for.

Internal to :mod:`protection_eval.sharing.audit.folder`. Each worksheet is turned into CSV text
(cell values as stored, formulas as their text) and scanned by the CSV walker of
:mod:`protection_eval.sharing.audit.scan`, so the workbook gets the same rules as a CSV. A workbook
part the audit does not read (macros, external links, embedded objects, images, comments, pivot
caches, drawings) is reported as unauditable rather than waved through; so is a cell holding a
formula, since a formula can fetch from elsewhere or compute a hidden value.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field

__all__ = ["WorkbookContent", "read_workbook"]

# Parts of a plain data workbook (as openpyxl and spreadsheet programs write them). Document
# properties hold the author and save time of the file, not data.
_KNOWN_PARTS = re.compile(
    r"^(\[Content_Types\]\.xml|_rels/\.rels|docProps/(core|app|custom)\.xml|"
    r"xl/(workbook\.xml|styles\.xml|sharedStrings\.xml|_rels/workbook\.xml\.rels|"
    r"theme/theme\d+\.xml|worksheets/sheet\d+\.xml|worksheets/_rels/sheet\d+\.xml\.rels|"
    r"calcChain\.xml))$"
)


@dataclass
class WorkbookContent:
    """What the audit reads of a workbook.

    Attributes
    ----------
    sheets : list of (str, str)
        Sheet title and its cells as CSV text.
    problems : list of (str, str)
        Where and what could not be audited.
    """

    sheets: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def read_workbook(data: bytes) -> WorkbookContent:
    """Read a workbook's sheets as CSV text and list the parts the audit cannot vouch for.

    Parameters
    ----------
    data : bytes
        The ``.xlsx`` file.

    Returns
    -------
    WorkbookContent
        Sheets, and problems (an unreadable file is one problem).
    """
    from openpyxl import load_workbook

    content = WorkbookContent()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        content.problems.append(("file", "not a readable .xlsx (not a zip archive)"))
        return content
    for name in names:
        if not _KNOWN_PARTS.match(name):
            content.problems.append(("part " + name, f"workbook part {name} is not audited"))
    try:
        book = load_workbook(io.BytesIO(data), read_only=False, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        content.problems.append(("file", f"not a readable .xlsx ({type(exc).__name__})"))
        return content
    for sheet in book.worksheets:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in sheet.iter_rows():
            values = []
            for cell in row:
                if cell.data_type == "f":
                    content.problems.append(
                        (f"sheet {sheet.title} cell {cell.coordinate}",
                         f"cell {cell.coordinate} holds a formula"))
                values.append("" if cell.value is None else str(cell.value))
                if cell.hyperlink is not None and cell.hyperlink.target:
                    values.append(str(cell.hyperlink.target))
            writer.writerow(values)
        if sheet.sheet_state != "visible":
            content.problems.append((f"sheet {sheet.title}", "hidden sheet"))
        content.sheets.append((sheet.title, buffer.getvalue()))
    return content
