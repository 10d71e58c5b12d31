"""The gate's seal: proof that a record beside a shared folder was written by the gate itself.

The audit reads text. A PDF is compressed binary, so the audit cannot vouch for one by reading
it; it accepts ``brief.pdf`` only when a record says that the gate printed it from a page of the
folder that the audit passed (:mod:`protection_eval.runs.pdf`). Such a record lives in the
run's ``manifest.json``, beside the shared folder, where whoever made the folder can write too:
a hand-made ``../manifest.json`` naming any PDF's sha256 would make that PDF pass unread.

So the record is sealed: an HMAC-SHA256 of its canonical JSON under a key that only the gate's
installation holds (:func:`protection_eval.runs.layout.gate_key_path`, a file readable by its
owner only, made on first use). The audit trusts a record only when its seal verifies under
that key; without a key, no record is trusted at all. A seal proves that the gate of this
installation wrote the record; it does not protect against someone who can read the key file,
who could share any file without the audit anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["SEAL_KEY", "load_gate_key", "seal_record", "verify_record"]

#: The member of a sealed record that holds its seal.
SEAL_KEY = "seal"
_KEY_BYTES = 32


def _canonical(record: Mapping[str, Any]) -> bytes:
    body = {str(k): v for k, v in record.items() if k != SEAL_KEY}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal_record(record: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """Return ``record`` with its seal (an HMAC-SHA256 of its canonical JSON) under ``seal``.

    Parameters
    ----------
    record : mapping
        JSON-like members; a ``seal`` member already there is replaced.
    key : bytes
        The gate's key (:func:`load_gate_key`).

    Returns
    -------
    dict
        The record and its seal, in hex.
    """
    digest = hmac.new(key, _canonical(record), hashlib.sha256).hexdigest()
    return {**{k: v for k, v in record.items() if k != SEAL_KEY}, SEAL_KEY: digest}


def verify_record(record: Any, key: bytes | None) -> bool:
    """Whether ``record`` is a mapping whose seal verifies under ``key``; False without a key."""
    if key is None or not isinstance(record, Mapping):
        return False
    seal = record.get(SEAL_KEY)
    if not isinstance(seal, str):
        return False
    expected = hmac.new(key, _canonical(record), hashlib.sha256).hexdigest()
    return hmac.compare_digest(seal, expected)


def load_gate_key(path: str | Path, *, create: bool = False) -> bytes | None:
    """Read the gate's key from ``path``; make it (owner-only) when ``create`` and absent.

    Parameters
    ----------
    path : str or Path
        The key file (:func:`protection_eval.runs.layout.gate_key_path`).
    create : bool
        Make a new random key when the file does not exist (the gate does; the audit only
        reads, so an audit on a machine without a key trusts no record).

    Returns
    -------
    bytes or None
        The key; None when absent and not created, or unreadable.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
        return _create_key(path)
    except OSError:
        return None
    return data if len(data) >= _KEY_BYTES else None


def _create_key(path: Path) -> bytes | None:
    key = secrets.token_bytes(_KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run made it first: use that one
        return load_gate_key(path)
    except OSError:
        return None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key
