"""Which data a run was trained on: recorded at the start, checked on resume
and evaluate.

A relative ``[data]`` path resolves against the folder ``thinc-fast`` runs in,
so the same config read from another folder can name other data. A new run
writes ``DIR/data.json``: the data's *fingerprint* (a SHA-256 over the loaded
arrays or documents, their dtypes and shapes: what the model sees, whatever
file or loader it came from) and the absolute paths the config's ``[data]``
path keys resolved to. ``--resume`` and ``evaluate`` (on the config's dev
set) compute the same for what they would read now and refuse a mismatch,
naming both, unless told ``--allow-other-data``. A run folder written
before this record existed has none: it is then written on the first resume.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy

from .._io import atomic_write
from ..errors import UserError
from ..util import to_numpy

DATA_RECORD = "data.json"


def data_fingerprint(data: Any) -> str:
    """SHA-256 of `data` (the ``(train_X, train_Y, dev_X, dev_Y)`` a dataset
    loader returns): arrays by dtype, shape and bytes, lists and tuples item by
    item, strings as UTF-8, other values by ``repr``. Equal data give equal
    fingerprints whichever file or loader they came from."""
    digest = hashlib.sha256()
    _feed(digest, data)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, numpy.ndarray):
        array = numpy.ascontiguousarray(value)
        digest.update(f"a{array.dtype.str}{array.shape}".encode())
        digest.update(array.view(numpy.uint8).reshape(-1) if array.size else b"")
    elif isinstance(value, (list, tuple)):
        digest.update(f"l{len(value)}[".encode())
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif isinstance(value, str):
        encoded = value.encode("utf8")
        digest.update(f"s{len(encoded)}:".encode())
        digest.update(encoded)
    elif hasattr(value, "dataXd") and hasattr(value, "lengths"):  # a Ragged
        _feed(digest, [numpy.asarray(value.dataXd), numpy.asarray(value.lengths)])
    elif hasattr(value, "shape") and hasattr(value, "dtype"):  # a CuPy array
        _feed(digest, to_numpy(value))
    else:
        digest.update(f"r{value!r};".encode())


def data_sources(data_section: Dict[str, Any]) -> Dict[str, str]:
    """The ``[data]`` keys that name files (``path``, ``dev_path``, any key
    ending in ``path``), each as the absolute path it resolves to here."""
    return {key: str(Path(value).expanduser().resolve())
            for key, value in sorted(data_section.items())
            if isinstance(value, str) and key.endswith("path")}


def write_data_record(folder: Path, fingerprint: str, sources: Dict[str, str]) -> None:
    """Record the run's data in ``folder/data.json`` (atomically)."""
    record = {"fingerprint": fingerprint, "sources": sources}
    atomic_write(folder / DATA_RECORD, json.dumps(record, indent=2).encode("utf8"))


def read_data_record(folder: Path) -> Optional[Dict[str, Any]]:
    """The record of the run in `folder` (or in the run folder above a
    ``model-*`` folder), or None for a run written before records existed."""
    for place in (folder, folder.parent):
        path = place / DATA_RECORD
        if path.is_file():
            try:
                record = json.loads(path.read_text(encoding="utf8"))
            except (OSError, ValueError) as err:
                raise UserError(f"{path}: unreadable ({err}); it records which data the run "
                                "was trained on. Restore it, or delete it to skip the check "
                                "(--allow-other-data does too)") from None
            if not isinstance(record, dict) or not isinstance(record.get("fingerprint"), str):
                raise UserError(f"{path}: malformed (no fingerprint); restore or delete it")
            return record
    return None


def check_same_data(record: Optional[Dict[str, Any]], fingerprint: str,
                    sources: Dict[str, str], action: str, where: Path) -> None:
    """UserError when `record` (the run's data) differs from the data `action`
    would use now (its `fingerprint` and `sources`), naming both."""
    if record is None or record["fingerprint"] == fingerprint:
        return
    then = record.get("sources") or {}
    lines = []
    for key in sorted(set(then) | set(sources)):
        before, now = then.get(key, "(none)"), sources.get(key, "(none)")
        lines.append(f"  [data] {key}: trained on {before}" +
                     (f", now {now}" if now != before else " (the same path, changed content)"))
    if not lines:
        lines.append("  (the [data] section names no file: the loader's output changed)")
    other = (" or name the file to score: thinc-fast evaluate RUN FILE;"
             if action == "evaluate" else "")
    raise UserError(
        f"{action}: the run in {where} was trained on other data than it would read now "
        f"(fingerprint {record['fingerprint'][:12]} then, {fingerprint[:12]} now):\n"
        + "\n".join(lines) + "\n"
        "A relative [data] path resolves against the current folder: run thinc-fast from the "
        f"folder the run started in;{other} or, to go on with the other data on purpose, add "
        "--allow-other-data.")
