"""One door to the disk for input files and every file the library writes.

The face of ``io``: readers of a mission's input files in their declared or extension-implied
format (as text tables with their row numbers), the one error of a file that cannot be used,
atomic writers (CSV spreadsheet-safe) and the files installed with the package. It imports
nothing above the base layer. The names are imported on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "bundled": ["bundled_path"],
        "errors": ["InputFileError"],
        "readers": ["read_mission_sources", "read_raw_table"],
        "writers": [
            "file_sha256",
            "read_json",
            "to_spreadsheet_safe",
            "write_bytes",
            "write_geopackage",
            "write_json",
            "write_table",
            "write_text",
        ],
    },
)
