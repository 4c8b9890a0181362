"""Bytes and files without pickle: an npz archive holding a JSON header and arrays.

Loading never unpickles: the header is JSON, each array an ``.npy`` member read
with an allow-list of numeric dtypes. What loading checks, before any array is
used:

- every member's declared size against its shape and dtype (the ``.npy``
  header, and the ``manifest`` in the JSON header of files written since the
  checksum was added), *before* decompressing it;
- every declared size against what the reader's model expects, also before
  decompressing: the JSON header against `max_header` (a few KiB per node of
  the model, see ``Model.from_bytes``), each array against `max_bytes` (the
  model's parameter or optimizer-state sizes, with slack), and the number of
  members against `max_members`. What the model cannot bound (attr and shim
  blobs, a checkpoint's training state) must lie in the file: it may inflate
  at most ``_MAX_INFLATE`` times its compressed size (plus
  ``_INFLATE_SLACK``), and our writer never compresses. The JSON header may
  hold at most `max_containers` lists and maps (counted before parsing).
  So loading or refusing N bytes costs at most a small multiple of the
  model's own size plus O(N), whatever sizes the file declares;
- that no member is one the reader does not ask for (`names` of ``unpack``)
  or the manifest does not declare, again before decompressing it;
- each member's zip CRC (every member is read to its end), and the SHA-256 of
  the whole content that ``pack`` writes into the archive's comment
  (``thinc_fast sha256:<hex>``), over the members in name order.

Files written before the checksum have neither comment nor manifest and still
load (their CRCs are checked); a file with a manifest but no checksum is
refused (the comment was stripped: its content cannot be verified). Old readers ignore both, so files written now
load in earlier thinc_fast releases: the format versions did not change.

Files are written atomically: to a temporary file in the same folder, flushed
to disk, then renamed over the target; they get the usual ``0o666 & ~umask``
mode (``tempfile`` would leave them readable by their owner only).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

import numpy

HEADER = "__header__"
MANIFEST = "manifest"
CHECKSUM_PREFIX = b"thinc_fast sha256:"
PathT = Union[str, os.PathLike]
NamesFn = Callable[[Dict[str, Any]], Optional[Iterable[str]]]
# given the header: {array name: (most data bytes, what the reader's model expects there)}
SizesFn = Callable[[Dict[str, Any]], Dict[str, Tuple[int, str]]]

# the dtype kinds an array may have (no objects, no structured or void types)
_ARRAY_KINDS = "biuf"
_MAX_NPY_HEADER = 1 << 16  # an .npy header's length: numpy writes well under 1 KiB
# A member the reader's model gives no bound for (attr and shim blobs, a
# checkpoint's JSON header, which holds the epoch's example order) may declare
# at most _MAX_INFLATE times the bytes it takes in the file, plus _INFLATE_SLACK:
# it then costs O(file size). ``pack`` stores members uncompressed (ratio 1).
_MAX_INFLATE = 4
_INFLATE_SLACK = 1 << 16
_MAX_JSON_CONTAINERS = 1 << 16  # lists and maps in a JSON header, unless the reader says
_MAX_MEMBERS = 1 << 16  # members of an archive, unless the reader says
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same content gives the same bytes


class FormatError(ValueError):
    """Bytes or a file that are not what they claim to be (corrupt, truncated, wrong kind)."""


# ------------------------------------------------------------------- writing
def pack(header: Dict[str, Any], arrays: Dict[str, Any]) -> bytes:
    """An npz archive of `arrays` (host copies) plus `header` as JSON, with a
    manifest of the arrays' dtypes and shapes in the header and the content's
    SHA-256 in the archive comment."""
    payload = {name: numpy.asarray(_to_host(a)) for name, a in arrays.items()}
    for name, array in payload.items():
        if name == HEADER or not isinstance(name, str) or "/" in name:
            raise ValueError(f"pack: bad array name {name!r}")
        if array.dtype.kind not in _ARRAY_KINDS:
            raise ValueError(f"pack: array {name!r} has dtype {array.dtype}, which is not saved "
                             f"(numeric dtypes only)")
    full = {key: value for key, value in header.items() if key != MANIFEST}
    full[MANIFEST] = {name: [a.dtype.str, list(a.shape)] for name, a in payload.items()}
    members = {HEADER: _npy_bytes(numpy.frombuffer(json.dumps(full).encode("utf8"),
                                                   dtype=numpy.uint8))}
    for name, array in payload.items():
        members[name] = _npy_bytes(array)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
        zf.comment = CHECKSUM_PREFIX + _digest(members).encode("ascii")
    return buf.getvalue()


def _npy_bytes(array: numpy.ndarray) -> bytes:
    out = io.BytesIO()
    numpy.lib.format.write_array(out, numpy.ascontiguousarray(array), allow_pickle=False)
    return out.getvalue()


def _digest(members: Dict[str, Any]) -> str:
    """SHA-256 over the members in name order: name, length, then the .npy bytes
    (each member's bytes, or a tuple of the pieces they are made of)."""
    sha = hashlib.sha256()
    for name in sorted(members):
        parts = members[name] if isinstance(members[name], tuple) else (members[name],)
        encoded = name.encode("utf8")
        sha.update(struct.pack("<Q", len(encoded)) + encoded
                   + struct.pack("<Q", sum(len(p) for p in parts)))
        for part in parts:
            sha.update(part)
    return sha.hexdigest()


# ------------------------------------------------------------------- reading
def unpack(data: bytes, *, kind: str, max_version: int,
           names: Optional[NamesFn] = None, max_header: Optional[int] = None,
           max_bytes: Optional[SizesFn] = None, max_members: Optional[int] = None,
           max_containers: Optional[int] = None
           ) -> Tuple[Dict[str, Any], Dict[str, numpy.ndarray]]:
    """The header and arrays of bytes made by `pack`; checks the kind, version,
    sizes, CRCs and checksum before returning anything.

    names: given the header, the array names the reader uses (None: any);
    any other member is refused before it is decompressed.

    What the reader's model expects, each checked before anything is
    decompressed (a FormatError names the member and both sizes):
    max_header: the most bytes of JSON the header may hold (None: as many as
    the file stores, see ``_MAX_INFLATE``); max_bytes: given the header,
    ``{array name: (most data bytes, what the model expects there)}`` (key
    ``"*"``: any other array; arrays it leaves out: as many as the file
    stores); max_members: the most members
    the archive may have (default ``_MAX_MEMBERS``); max_containers: the most
    lists and maps the JSON header may hold (default
    ``_MAX_JSON_CONTAINERS``), counted before it is parsed.

    Memory: the members' declared sizes (about twice, while one is read), so
    at most about twice these bounds plus ``2 * _MAX_INFLATE`` times the size
    of `data`, and the parsed header (at most ~70 bytes per container).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    bounds = _Bounds(max_header, max_bytes,
                     _MAX_MEMBERS if max_members is None else max_members,
                     _MAX_JSON_CONTAINERS if max_containers is None else max_containers)
    try:
        return _unpack(bytes(data), kind, max_version, names, bounds)
    except FormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError,
            NotImplementedError, RuntimeError, struct.error, SyntaxError, TypeError,
            OverflowError, MemoryError) as err:
        raise FormatError(f"not a valid thinc_fast {kind} (corrupt or truncated data: "
                          f"{type(err).__name__}: {err})") from None


class _Bounds(NamedTuple):
    header: Optional[int]
    arrays: Optional[SizesFn]
    members: int
    containers: int


def _unpack(data: bytes, kind: str, max_version: int, names: Optional[NamesFn],
            bounds: _Bounds) -> Tuple[Dict[str, Any], Dict[str, numpy.ndarray]]:
    what = f"thinc_fast {kind}"
    end = _end_record(data)
    if end is not None and (end[zipfile._ECD_LOCATION] + zipfile.sizeEndCentDir  # type: ignore
                            + end[zipfile._ECD_COMMENT_SIZE] != len(data)):  # type: ignore
        # our archives end with their end record; one found earlier belongs to
        # an archive stored inside (a checkpoint's model member): the data was cut
        raise FormatError(f"not a valid {what}: the data is cut short (or has bytes appended): "
                          "its archive's end record is not at its end")
    declared = None if end is None else int(end[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore
    if declared is not None and declared > bounds.members:
        raise FormatError(f"not a valid {what}: its archive declares {declared} members, "
                          f"where this model allows at most {bounds.members} (refused before "
                          "reading them)")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos: Dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if name is None or name in infos or info.is_dir():
                raise FormatError(f"not a valid {what}: unexpected member {info.filename!r}")
            infos[name] = info
        header_info = infos.pop(HEADER, None)
        if header_info is None:
            raise FormatError(f"not a {what}: the data has no header")
        if bounds.header is not None:
            if header_info.file_size > bounds.header + _MAX_NPY_HEADER:
                raise FormatError(f"not a valid {what}: its JSON header declares "
                                  f"{header_info.file_size} bytes, where this model allows at "
                                  f"most {bounds.header + _MAX_NPY_HEADER} (refused before "
                                  "reading it)")
        else:
            _check_inflation(header_info, "its JSON header", what)
        raw_members: Dict[str, Any] = {}
        raw_header, header_array = _read_member(zf, header_info, HEADER, what, None)
        raw_members[HEADER] = raw_header
        if header_array.dtype != numpy.uint8 or header_array.ndim != 1:
            raise FormatError(f"not a valid {what}: its header is not text")
        text = header_array.tobytes()
        containers = text.count(b"[") + text.count(b"{")  # an upper bound, before parsing
        if containers > bounds.containers:
            raise FormatError(f"not a valid {what}: its JSON header holds up to {containers} "
                              f"lists and maps, where this model allows at most "
                              f"{bounds.containers} (refused before parsing it)")
        try:
            header = json.loads(text.decode("utf8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise FormatError(f"not a valid {what}: unreadable header ({err})") from None
        if not isinstance(header, dict) or header.get("format") != f"thinc_fast.{kind}":
            found = header.get("format") if isinstance(header, dict) else None
            raise FormatError(f"expected a {what}, found {found or 'something else'!r}")
        version = header.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= max_version:
            raise FormatError(f"unsupported {kind} format version {version!r} "
                              f"(this thinc_fast reads versions 1 to {max_version})")
        checksum = _stored_checksum(zf.comment, what)
        manifest = _check_manifest(header.pop(MANIFEST, None), infos, what)
        if checksum is not None and manifest is None:
            raise FormatError(f"not a valid {what}: it has a checksum but no manifest")
        if manifest is not None and checksum is None:
            # files written since the checksum have both: the checksum was removed
            raise FormatError(f"{what} is corrupt: it has a manifest but its checksum (the "
                              "zip archive's comment) is missing, so its content cannot be "
                              "verified; re-save it from a good copy")
        wanted = names(header) if names is not None else None
        if wanted is not None:
            extra = sorted(set(infos) - set(wanted))
            if extra:
                shown = ", ".join(repr(n) for n in extra[:5]) + (", ..." if len(extra) > 5 else "")
                raise FormatError(f"not a valid {what}: it holds arrays that no part of the "
                                  f"{kind} asks for ({shown}); refused before reading them")
        limits = bounds.arrays(header) if bounds.arrays is not None else {}
        for name in sorted(infos):  # every size, before any array is read
            limit = limits.get(name, limits.get("*"))
            if limit is None:
                _check_inflation(infos[name], f"array {name!r}", what)
            elif manifest is not None:
                dtype, shape = manifest[name]
                _check_limit(name, dtype, shape, limit, what)
            elif infos[name].file_size > limit[0] + _MAX_NPY_HEADER:
                raise FormatError(f"not a valid {what}: array {name!r} declares "
                                  f"{infos[name].file_size} bytes, but {limit[1]}; at most "
                                  f"{limit[0]} bytes are accepted there (refused before "
                                  "reading it)")
        arrays: Dict[str, numpy.ndarray] = {}
        for name in sorted(infos):
            raw, array = _read_member(zf, infos[name], name, what,
                                      None if manifest is None else manifest[name],
                                      limits.get(name, limits.get("*")))
            raw_members[name] = raw
            arrays[name] = array
    if checksum is not None and _digest(raw_members) != checksum:
        raise FormatError(f"{what} is corrupt: the checksum of its content does not match "
                          "(the file was damaged after it was written)")
    return header, arrays


def _check_limit(name: str, dtype: numpy.dtype, shape: Tuple[int, ...],
                 limit: Tuple[int, str], what: str) -> None:
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > limit[0]:
        raise FormatError(f"not a valid {what}: array {name!r} is declared {dtype} {shape}, "
                          f"{nbytes} bytes, but {limit[1]}; at most {limit[0]} bytes are "
                          "accepted there (refused before reading it)")


def _check_inflation(info: zipfile.ZipInfo, member: str, what: str) -> None:
    """FormatError if `info` declares more than ``_MAX_INFLATE`` times the bytes it
    takes in the file (plus ``_INFLATE_SLACK``): a member no model size bounds
    must lie in the file (nothing is decompressed here)."""
    most = _MAX_INFLATE * info.compress_size + _INFLATE_SLACK
    if info.file_size > most:
        raise FormatError(f"not a valid {what}: {member} declares {info.file_size} bytes but "
                          f"takes {info.compress_size} in the file (at most {most} are "
                          "accepted; refused before decompressing it)")


def _end_record(data: bytes) -> Optional[List[Any]]:
    """The archive's end record as zipfile reads it (its member count, its
    offset, its comment's size...), before zipfile parses the directory; None
    if there is none (zipfile then reports the damage)."""
    try:
        return zipfile._EndRecData(io.BytesIO(data))  # type: ignore[attr-defined]
    except (AttributeError, IndexError, TypeError, ValueError, OSError, struct.error):
        return None


def _stored_checksum(comment: bytes, what: str) -> Optional[str]:
    if not comment:
        return None
    if not comment.startswith(CHECKSUM_PREFIX):
        raise FormatError(f"not a valid {what}: unexpected archive comment")
    digest = comment[len(CHECKSUM_PREFIX):]
    if len(digest) != 64 or any(c not in b"0123456789abcdef" for c in digest):
        raise FormatError(f"{what} is corrupt: its checksum is malformed")
    return digest.decode("ascii")


def _check_manifest(manifest: Any, infos: Dict[str, zipfile.ZipInfo],
                    what: str) -> Optional[Dict[str, Tuple[numpy.dtype, Tuple[int, ...]]]]:
    """The header's declared dtypes and shapes, checked against the members' names
    and declared sizes (nothing is decompressed here)."""
    if manifest is None:
        return None
    if not isinstance(manifest, dict):
        raise FormatError(f"not a valid {what}: malformed manifest")
    undeclared = sorted(set(infos) - set(manifest))
    missing = sorted(set(manifest) - set(infos))
    if undeclared or missing:
        raise FormatError(f"not a valid {what}: its arrays do not match its manifest "
                          f"(undeclared: {undeclared[:5]}, missing: {missing[:5]})")
    out = {}
    for name, entry in manifest.items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], list)
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                        for n in entry[1])):
            raise FormatError(f"not a valid {what}: malformed manifest entry for {name!r}")
        dtype = _safe_dtype(entry[0], name, what)
        shape = tuple(entry[1])
        nbytes = math.prod(shape) * dtype.itemsize
        size = infos[name].file_size
        if not nbytes + 10 <= size <= nbytes + _MAX_NPY_HEADER:
            raise FormatError(f"not a valid {what}: array {name!r} is declared {dtype} "
                              f"{shape} ({nbytes} bytes) but its member holds {size} bytes")
        out[name] = (dtype, shape)
    return out


def _safe_dtype(descr: Any, name: str, what: str) -> numpy.dtype:
    try:
        dtype = numpy.dtype(descr) if isinstance(descr, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None \
            or dtype.subdtype is not None:
        raise FormatError(f"not a valid {what}: array {name!r} has dtype {descr!r} "
                          "(numeric dtypes only)")
    return dtype


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, what: str,
                 declared: Optional[Tuple[numpy.dtype, Tuple[int, ...]]],
                 limit: Optional[Tuple[int, str]] = None
                 ) -> Tuple[Tuple[bytes, bytearray], numpy.ndarray]:
    """One member's bytes and array. Its .npy header is read first and checked
    against the member's declared size (and the manifest's `declared` dtype and
    shape, and the reader's `limit`: most bytes, what the model expects) before
    the data is decompressed; the data is read to the end, so that zipfile
    checks its CRC."""
    size = info.file_size
    with zf.open(info) as f:
        prefix = f.read(min(size, 12))
        if len(prefix) < 10 or prefix[:6] != b"\x93NUMPY":
            raise FormatError(f"not a valid {what}: array {name!r} is not an .npy array")
        major = prefix[6]
        if major == 1:
            start, length = 10, struct.unpack("<H", prefix[8:10])[0]
        elif major in (2, 3) and len(prefix) >= 12:
            start, length = 12, struct.unpack("<I", prefix[8:12])[0]
        else:
            raise FormatError(f"not a valid {what}: array {name!r} has .npy version {major}")
        if start + length > min(size, _MAX_NPY_HEADER):
            raise FormatError(f"not a valid {what}: the .npy header of array {name!r} is "
                              f"{length} bytes")
        head = prefix + f.read(start + length - len(prefix))
        try:
            fp = io.BytesIO(head)
            version = numpy.lib.format.read_magic(fp)
            read_header = {(1, 0): numpy.lib.format.read_array_header_1_0,
                           (2, 0): numpy.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f".npy version {version}")
            shape, fortran, dtype = read_header(fp)
        except Exception as err:  # noqa: BLE001 - NumPy's parser of untrusted text (tokenize)
            raise FormatError(f"not a valid {what}: unreadable .npy header of array {name!r} "
                              f"({err})") from None
        plain = dtype.kind in _ARRAY_KINDS and dtype.fields is None and dtype.subdtype is None
        dtype = _safe_dtype(dtype.str if plain else repr(dtype), name, what)
        if declared is not None and (dtype != declared[0] or tuple(shape) != declared[1]):
            raise FormatError(f"not a valid {what}: array {name!r} is {dtype} {tuple(shape)}, "
                              f"its manifest says {declared[0]} {declared[1]}")
        nbytes = math.prod(shape) * dtype.itemsize
        if start + length + nbytes != size:
            raise FormatError(f"not a valid {what}: array {name!r} is {dtype} {tuple(shape)} "
                              f"({nbytes} bytes) but its member holds "
                              f"{size - start - length} bytes of data")
        if limit is not None:
            _check_limit(name, dtype, tuple(shape), limit, what)
        body = bytearray(nbytes)
        view = memoryview(body)
        got = 0
        while got < nbytes:
            n = f.readinto(view[got:])
            if not n:
                raise FormatError(f"not a valid {what}: array {name!r} is truncated")
            got += n
        if f.read(1):  # also reaches the end: zipfile checks the CRC there
            raise FormatError(f"not a valid {what}: array {name!r} is longer than declared")
    array = numpy.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return (bytes(head), body), array


# --------------------------------------------------------------------- files
def current_umask() -> int:
    """This process's umask (read without changing it where the OS allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open``: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The mode a new folder gets from ``mkdir``: ``0o777 & ~umask``."""
    return 0o777 & ~current_umask()


def make_temp_dir(parent: PathT, prefix: str) -> Path:
    """``tempfile.mkdtemp`` with the usual ``0o777 & ~umask`` mode (not 0o700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, folder_mode())
    return path


def atomic_write(path: PathT, data: bytes) -> Path:
    """Write `data` to `path` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), file_mode())
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
