"""sharing/audit."""
