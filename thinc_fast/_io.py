"""Bytes and files without pickle: an npz archive holding a JSON header and arrays.

Loading goes through ``numpy.load(allow_pickle=False)`` and ``json``, so a file
can never execute code. Files are written atomically: to a temporary file in
the same folder, flushed to disk, then renamed over the target.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import numpy

HEADER = "__header__"
PathT = Union[str, os.PathLike]


class FormatError(ValueError):
    """Bytes or a file that are not what they claim to be (corrupt, truncated, wrong kind)."""


def pack(header: Dict[str, Any], arrays: Dict[str, Any]) -> bytes:
    """An npz archive of `arrays` (host copies) plus `header` as JSON."""
    buf = io.BytesIO()
    payload = {name: numpy.asarray(_to_host(a)) for name, a in arrays.items()}
    payload[HEADER] = numpy.frombuffer(json.dumps(header).encode("utf8"), dtype=numpy.uint8)
    numpy.savez(buf, **payload)
    return buf.getvalue()


def unpack(data: bytes, *, kind: str, max_version: int) -> Tuple[Dict[str, Any], Dict[str, numpy.ndarray]]:
    """The header and arrays of bytes made by `pack`; checks the kind and version."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    try:
        with numpy.load(io.BytesIO(bytes(data)), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise FormatError(f"not a valid thinc_fast {kind} (corrupt or truncated data: {err})") from None
    raw = arrays.pop(HEADER, None)
    if raw is None:
        raise FormatError(f"not a thinc_fast {kind}: the data has no header")
    try:
        header = json.loads(raw.tobytes().decode("utf8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FormatError(f"not a valid thinc_fast {kind}: unreadable header ({err})") from None
    if not isinstance(header, dict) or header.get("format") != f"thinc_fast.{kind}":
        found = header.get("format") if isinstance(header, dict) else None
        raise FormatError(f"expected a thinc_fast {kind}, found {found or 'something else'!r}")
    version = header.get("version")
    if not isinstance(version, int) or not 1 <= version <= max_version:
        raise FormatError(f"unsupported {kind} format version {version!r} "
                          f"(this thinc_fast reads versions 1 to {max_version})")
    return header, arrays


def atomic_write(path: PathT, data: bytes) -> Path:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def read_file(path: PathT) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return path.read_bytes()


def _to_host(array: Any) -> Any:
    get = getattr(array, "get", None)  # CuPy arrays
    return get() if callable(get) and not isinstance(array, numpy.ndarray) else array
