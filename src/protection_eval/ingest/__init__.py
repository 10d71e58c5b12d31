"""Ingestion that loses nothing: every row read is accepted or quarantined with a reason.

The face of ingestion: :func:`ingest_mission` turns a mission's raw tables into the canonical
tables of :class:`MissionData` (``docs/architecture.md``), with a :class:`ValidationReport`
that reconciles what was read, accepted, quarantined and dropped. The data-quality views of the
first notebook are here too. The names are imported on first use, so
``import protection_eval.ingest`` costs nothing until a table is ingested.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "errors": ["MissionInputError"],
        "quality": ["compute_monthly_counts", "plot_quarantine_map", "quarantined_points"],
        "quarantine": ["RejectedSink"],
        "schemas": ["validate_table"],
        "table_models": ["INCIDENTS_CRS", "MissionData", "to_incident_points"],
        "tables": ["ingest_mission", "ingest_table"],
        "validation": ["TableReport", "ValidationReport"],
    },
)
