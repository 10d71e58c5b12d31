"""The audit of a shared folder: proof, by inspection, that nothing row-level got out.

The face of the audit: :func:`audit_shared_folder` (any folder, with or without the mission's
raw values) and :func:`audit_mission_folder` (a run's shared folder against its mission), their
:class:`AuditResult` and :class:`Finding` rows. The gate
(:func:`protection_eval.runs.publish_shared`) is the one caller that publishes. What is
searched for and why: ``docs/privacy.md``. The names are imported on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "folder": [
            "FINDING_KINDS",
            "AuditResult",
            "Finding",
            "RawNeedles",
            "audit_mission_folder",
            "audit_shared_folder",
            "raw_needles_of",
        ],
    },
)
