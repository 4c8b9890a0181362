"""Thinc's model file format (what Thinc 9.1's ``Model.to_bytes`` writes), both ways.

Thinc serialises ``Model.to_dict()`` with ``srsly.msgpack_dumps`` (msgpack,
``use_bin_type=True``): one map with four lists aligned on ``model.walk()``
(breadth-first, each node once), the same order as ``thinc_fast.Model.walk()``::

    {"nodes":  [{"index": i, "name": str, "dims": {dim: int | None},
                 "refs": {ref: node index | None}}, ...],
     "attrs":  [{attr: bytes}, ...],     # each value serialize_attr's bytes (msgpack)
     "params": [{param: array | None}, ...],
     "shims":  [[bytes, ...], ...]}      # each shim's to_bytes()

An array is the map srsly's ``msgpack_numpy`` writes (little-endian, C order)::

    {b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [nO, nI], b"data": bytes}

Reading never unpickles or runs code: plain msgpack (``raw=False``,
``strict_map_key=True``, no ext types), and arrays are decoded here from an
allow-list of numeric dtypes, with the declared shape checked against the
number of bytes. The layer names of Thinc and thinc_fast are the same
(``linear``, ``relu``, ``softmax``, ``maxout``, ``layernorm``, ``dropout``,
``noop`` and the combinators' ``a>>b``, ``a|b``, ``residual(a)``), and so are
their attributes' (``softmax_normalize``, ``softmax_temperature``, ...).

Reading is bounded before anything is unpacked: ``count_values`` walks the
bytes (headers only, no objects built) and refuses data that declares more
values (maps, lists and their items) than the model loaded into can need
(``Model.from_bytes`` passes a budget of a few hundred per node), or nests
deeper than ``_MAX_DEPTH``. A msgpack value costs Python at most ~70 bytes
(an empty map: 1 byte in the file), so decoding costs at most ~70 bytes per
value of the budget plus about twice the size of the data (strings and bytes,
copied once); the walk takes time in proportion to the budget.

This module is a codec only: ``decode`` checks the bytes are well formed and
self-consistent and returns plain per-node descriptions, with each attr still
as its bytes; ``Model.from_bytes`` decodes those (``deserialize_attr``),
compares everything with the model and loads it (all or nothing).
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Optional, Tuple

import msgpack
import numpy

from ._io import FormatError, _to_host

KIND = "Thinc model"
_TOP_KEYS = ("nodes", "attrs", "params", "shims")
# thinc_fast's integrity stamp inside Thinc's map (see ``encode``)
STAMP_KEY = "thinc_fast"
STAMP_FORMAT = "thinc_fast.seal"
STAMP_VERSION = 1
_NODE_KEYS = {"index", "name", "dims", "refs"}
ARRAY_KEYS = frozenset({b"nd", b"type", b"kind", b"shape", b"data"})
SCALAR_KEYS = frozenset({b"nd", b"type", b"data"})
# dtypes an array in the file may have: plain little-endian numbers, never objects
# or structured records ("|O", "|V..." are refused, so no pickle can be reached).
ARRAY_DTYPES = frozenset({"<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8",
                          "|u1", "<u2", "<u4", "<u8", "|b1"})
_MAX_NDIM = 32
_MAX_DEPTH = 16  # nesting of Thinc's map: map > list > node map > array map > shape

# Shapes of the parameters of Thinc's layers, in terms of the node's dims: a file
# whose arrays disagree with its own dims is refused (even for an uninitialised model).
PARAM_SHAPES: Dict[str, Dict[str, tuple]] = {
    "linear": {"W": ("nO", "nI"), "b": ("nO",)},
    "relu": {"W": ("nO", "nI"), "b": ("nO",)},
    "softmax": {"W": ("nO", "nI"), "b": ("nO",)},
    "maxout": {"W": ("nO", "nP", "nI"), "b": ("nO", "nP")},
    "layernorm": {"G": ("nI",), "b": ("nI",)},
    "hashembed": {"E": ("nV", "nO")},
    "embed": {"E": ("nV", "nO")},
    "para-attn": {"Q": ("nO",)},
    "multisoftmax": {"W": ("nO", "nI"), "b": ("nO",)},
    "cauchy_similarity": {"W": ("nI",)},
    **{name: {"W": ("nO", "nI"), "b": ("nO",)}
       for name in ("mish", "gelu", "sigmoid", "swish", "hardswish", "hardswishmobilenet",
                    "dish", "clipped_linear")},
}


def is_thinc_bytes(data: Any) -> bool:
    """True if `data` starts like a msgpack map (Thinc's files do; ours are zip archives)."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        return False
    first = bytes(data[:1])[0]
    return 0x80 <= first <= 0x8F or first in (0xDE, 0xDF)


# ------------------------------------------------------------- bounded reads
class LimitError(FormatError):
    """msgpack that declares more values, or deeper nesting, than the reader allows."""


# msgpack type bytes (other than fixint, fixmap, fixarray, fixstr): bytes that follow
_FIXED_SIZE = {0xc0: 0, 0xc2: 0, 0xc3: 0, 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4,
               0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8,
               0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}  # fixext: type byte + data
_LENGTH_SIZE = {0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4}  # bin, str
_EXT_LENGTH_SIZE = {0xc7: 1, 0xc8: 2, 0xc9: 4}  # then a type byte, then the data
# array16, array32, map16, map32: (length bytes, items per entry)
_CONTAINER = {0xdc: (2, 1), 0xdd: (4, 1), 0xde: (2, 2), 0xdf: (4, 2)}


def count_values(data: bytes, *, max_values: int, max_depth: int,
                 start: int = 0) -> Tuple[int, int]:
    """``(values, end)`` of the one msgpack object at `start` in `data`: how many
    values it holds (itself, and each map key, map value and list item, at any
    depth) and where it ends. Only headers are read; no object is built.

    Each container's declared length is counted when its header is read,
    before its items: LimitError as soon as the count passes `max_values` or a
    container opens deeper than `max_depth`, so that the walk takes time in
    proportion to `max_values`, whatever the data declares. ValueError for
    bytes that are not msgpack (an unused type byte, data cut short)."""
    size = len(data)
    pos, values, remaining = start, 1, 1
    stack: List[int] = []
    while True:
        while remaining == 0:
            if not stack:
                if pos > size:
                    raise ValueError("the data is cut short")
                return values, pos
            remaining = stack.pop()
        remaining -= 1
        if pos >= size:
            raise ValueError("the data is cut short")
        byte = data[pos]
        pos += 1
        if byte < 0x80 or byte >= 0xe0:  # fixint
            continue
        if byte < 0x90:  # fixmap
            items = 2 * (byte & 0x0f)
        elif byte < 0xa0:  # fixarray
            items = byte & 0x0f
        elif byte < 0xc0:  # fixstr
            pos += byte & 0x1f
            continue
        elif byte in _FIXED_SIZE:
            pos += _FIXED_SIZE[byte]
            continue
        elif byte in _LENGTH_SIZE:
            k = _LENGTH_SIZE[byte]
            pos += k + int.from_bytes(data[pos:pos + k], "big")
            continue
        elif byte in _EXT_LENGTH_SIZE:
            k = _EXT_LENGTH_SIZE[byte]
            pos += k + 1 + int.from_bytes(data[pos:pos + k], "big")
            continue
        elif byte in _CONTAINER:
            k, per_entry = _CONTAINER[byte]
            items = per_entry * int.from_bytes(data[pos:pos + k], "big")
            pos += k
        else:
            raise ValueError(f"byte 0x{byte:02x} at offset {pos - 1} is not a msgpack type")
        if items:
            values += items
            if values > max_values:
                raise LimitError(f"it declares at least {values} msgpack values (by offset "
                                 f"{pos}), more than the {max_values} allowed")
            if len(stack) >= max_depth:
                raise LimitError(f"it nests more than {max_depth} maps and lists deep (at "
                                 f"offset {pos})")
            stack.append(remaining)
            remaining = items


def peek_node_count(data: bytes) -> Optional[int]:
    """The length of the ``"nodes"`` list when it is the top map's first entry
    (as Thinc and thinc_fast write it), read from its header alone; else None."""
    data = bytes(data[:16])
    if not data or not (0x80 <= data[0] <= 0x8f or data[0] in (0xde, 0xdf)):
        return None
    pos = 1 if data[0] <= 0x8f else (3 if data[0] == 0xde else 5)
    if data[pos:pos + 6] != b"\xa5nodes":
        return None
    pos += 6
    if pos >= len(data):
        return None
    first = data[pos]
    if 0x90 <= first <= 0x9f:
        return first & 0x0f
    k = {0xdc: 2, 0xdd: 4}.get(first)
    if k is None or pos + 1 + k > len(data):
        return None
    return int.from_bytes(data[pos + 1:pos + 1 + k], "big")


def default_max_values(n_bytes: int) -> int:
    """The value budget of data read with no model to bound it: 1 per 8 bytes
    (at most ~9 times the data's size in Python objects), at least 4096."""
    return max(4096, n_bytes // 8)


# ------------------------------------------------------------------- reading
def decode(data: bytes, *, with_stamp: bool = False, max_values: Optional[int] = None,
           n_nodes: Optional[int] = None) -> Any:
    """Per node, in ``walk()`` order: ``{"name", "dims", "refs", "attrs", "params",
    "shims"}`` with attrs as their bytes under thinc_fast's names, params as
    numpy arrays (or None) and shims as bytes.

    With `with_stamp`, returns ``(nodes, stamped)``: whether the bytes carry
    thinc_fast's checksum (verified). Raises FormatError for bytes that are
    not a well-formed Thinc model, or whose checksum does not match.

    Bounds, checked before anything is unpacked: at most `max_values` msgpack
    values (default: ``default_max_values(len(data))``; ``Model.from_bytes``
    passes what its nodes can need) nested at most ``_MAX_DEPTH`` deep, and,
    given `n_nodes` (the model's), a ``"nodes"`` list no longer. Memory:
    at most ~70 bytes per value allowed plus about twice ``len(data)``."""
    data = bytes(data)
    limit = default_max_values(len(data)) if max_values is None else max_values
    count = peek_node_count(data)
    if n_nodes is not None and count is not None and count > n_nodes:
        raise FormatError(f"the data describes {count} nodes, this model has {n_nodes}")
    try:
        _, end = count_values(data, max_values=limit, max_depth=_MAX_DEPTH)
    except LimitError as err:
        whose = f"this model ({n_nodes} nodes)" if n_nodes is not None else f"{len(data)} bytes"
        raise FormatError(f"not a valid {KIND}: {err} for {whose}; refused before unpacking "
                          "it") from None
    except ValueError as err:
        raise FormatError(f"not a valid {KIND} (corrupt or truncated data: {err})") from None
    if end != len(data):
        raise FormatError(f"not a valid {KIND} (corrupt or truncated data: "
                          f"{len(data) - end} bytes after its end)")
    msg = _unpack(data, "", limit)
    if not isinstance(msg, dict):
        raise FormatError(f"not a {KIND}: the data is a {type(msg).__name__}, not a map")
    missing = [key for key in _TOP_KEYS[:3] if key not in msg]
    extra = sorted(set(msg) - set(_TOP_KEYS) - {STAMP_KEY}, key=repr)
    if missing or extra:
        raise FormatError(f"not a {KIND}: " + (f"missing {missing}" if missing else
                                                 f"unexpected keys {extra}"))
    stamped = STAMP_KEY in msg
    if stamped:
        _check_stamp(bytes(data), msg[STAMP_KEY])
    nodes, attrs, params = msg["nodes"], msg["attrs"], msg["params"]
    shims = msg.get("shims", [[] for _ in nodes] if isinstance(nodes, list) else None)
    for key, value in (("nodes", nodes), ("attrs", attrs), ("params", params), ("shims", shims)):
        if not isinstance(value, list) or len(value) != len(nodes):
            raise FormatError(f"not a valid {KIND}: {key!r} is not a list of one entry per node")
    code = msg[STAMP_KEY]["code_attrs"] if stamped else [[] for _ in nodes]
    if len(code) != len(nodes):
        raise FormatError(f"not a valid {KIND}: code_attrs is not a list of one entry per node")
    out = []
    for i, (node, node_attrs, node_params, node_shims) in enumerate(zip(nodes, attrs, params, shims)):
        out.append(_decode_node(i, len(nodes), node, node_attrs, node_params, node_shims))
        out[-1]["code_attrs"] = list(code[i])
    return (out, stamped) if with_stamp else out


def _decode_node(i: int, count: int, node: Any, attrs: Any, params: Any, shims: Any) -> Dict[str, Any]:
    if not isinstance(node, dict) or set(node) != _NODE_KEYS:
        raise FormatError(f"not a valid {KIND}: node {i} is not a map of {sorted(_NODE_KEYS)}")
    name = node["name"]
    if not isinstance(name, str):
        raise FormatError(f"not a valid {KIND}: the name of node {i} is {name!r}")
    where = f"node {i} ({name!r})"
    if node["index"] != i or isinstance(node["index"], bool):
        raise FormatError(f"not a valid {KIND}: {where} has index {node['index']!r}")
    dims = _str_map(node["dims"], f"the dims of {where}")
    for dim, value in dims.items():
        if value is not None and not _is_count(value):
            raise FormatError(f"not a valid {KIND}: dimension {dim!r} of {where} is {value!r}")
    refs = _str_map(node["refs"], f"the refs of {where}")
    for ref, value in refs.items():
        if value is not None and not (_is_count(value) and value < count):
            raise FormatError(f"not a valid {KIND}: reference {ref!r} of {where} is {value!r} "
                              f"(the model has {count} nodes)")
    if not isinstance(shims, list) or not all(isinstance(data, bytes) for data in shims):
        raise FormatError(f"not a valid {KIND}: the shims of {where} are not a list of bytes")
    out_attrs = {}
    for attr, raw in _str_map(attrs, f"the attrs of {where}").items():
        if not isinstance(raw, bytes):
            raise FormatError(f"not a valid {KIND}: attr {attr!r} of {where} is not msgpack bytes")
        out_attrs[attr] = raw
    out_params: Dict[str, Optional[numpy.ndarray]] = {}
    for pname, value in _str_map(params, f"the params of {where}").items():
        array = None if value is None else decode_array(value, f"parameter {pname!r} of {where}")
        if array is not None:
            expected = expected_shape(name, pname, dims)
            if expected is not None and None not in expected and \
                    tuple(array.shape) != expected:
                raise FormatError(f"not a valid {KIND}: parameter {pname!r} of {where} has shape "
                                  f"{tuple(array.shape)} but the node's dims "
                                  f"{ {d: dims.get(d) for d in PARAM_SHAPES[name][pname]} } "
                                  f"give {expected}")
        out_params[pname] = array
    return {"name": name, "dims": dims, "refs": refs, "attrs": out_attrs, "params": out_params,
            "shims": list(shims)}


def _check_stamp(data: bytes, seal: Any) -> None:
    """FormatError unless `seal` is a well-formed stamp whose digest is that of
    the map's other key/value pairs, as they lie in `data`."""
    if not isinstance(seal, dict) or seal.get("format") != STAMP_FORMAT or \
            not isinstance(seal.get("sha256"), str):
        raise FormatError(f"not a valid {KIND}: malformed {STAMP_KEY!r} entry")
    if seal.get("version") != STAMP_VERSION:
        raise FormatError(f"unsupported {KIND} seal version {seal.get('version')!r} (this "
                          f"thinc_fast reads version {STAMP_VERSION}): upgrade thinc_fast")
    code = seal.get("code_attrs")
    if not isinstance(code, list) or not all(
            isinstance(names, list) and all(isinstance(n, str) for n in names) for names in code):
        raise FormatError(f"not a valid {KIND}: malformed code_attrs in {STAMP_KEY!r}")
    parts = [data[start:end] for start, end in _pair_spans(data)]
    if _seal_digest(parts, code) != seal["sha256"]:
        raise FormatError(f"the {KIND} is corrupt: the checksum of its content does not match "
                          "the one stored with it (the bytes were changed after saving)")


def _seal_digest(parts: List[bytes], code: List[List[str]]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    digest.update(msgpack.packb(code, use_bin_type=True))
    return digest.hexdigest()


def _pair_spans(data: bytes) -> List[Tuple[int, int]]:
    """Byte ranges of the top map's key/value pairs, other than the stamp's."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, ext_hook=_refuse_ext,
                                max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    spans = []
    for _ in range(unpacker.read_map_header()):
        start = unpacker.tell()
        key = unpacker.unpack()
        unpacker.skip()
        if key != STAMP_KEY:
            spans.append((start, unpacker.tell()))
    return spans


def decode_array(obj: Any, what: str) -> numpy.ndarray:
    """An array from srsly's msgpack_numpy map, checked: allowed dtype, shape matches bytes."""
    if not isinstance(obj, dict) or set(obj) != ARRAY_KEYS or obj[b"nd"] is not True:
        raise FormatError(f"not a valid {KIND}: {what} is not an encoded array")
    dtype, kind, shape, data = obj[b"type"], obj[b"kind"], obj[b"shape"], obj[b"data"]
    if kind != b"" or not isinstance(dtype, str) or dtype not in ARRAY_DTYPES:
        raise FormatError(f"not a valid {KIND}: {what} has dtype {dtype!r} (kind {kind!r}); "
                          f"allowed: {sorted(ARRAY_DTYPES)}")
    if not isinstance(shape, list) or len(shape) > _MAX_NDIM or \
            not all(_is_count(n) for n in shape):
        raise FormatError(f"not a valid {KIND}: {what} has shape {shape!r}")
    if not isinstance(data, bytes):
        raise FormatError(f"not a valid {KIND}: the data of {what} is not bytes")
    dt = numpy.dtype(dtype)
    size = 1
    for n in shape:
        size *= n
    if size * dt.itemsize != len(data):
        raise FormatError(f"not a valid {KIND}: {what} declares shape {tuple(shape)} of {dtype} "
                          f"({size * dt.itemsize} bytes) but holds {len(data)} bytes")
    return numpy.frombuffer(data, dtype=dt).reshape(shape)


def decode_scalar(obj: Any, what: str) -> Any:
    """A NumPy scalar from srsly's ``{b"nd": False, b"type", b"data"}`` map, checked."""
    if not isinstance(obj, dict) or set(obj) != SCALAR_KEYS or obj[b"nd"] is not False:
        raise FormatError(f"not a valid {KIND}: {what} is not an encoded scalar")
    fake = {b"nd": True, b"type": obj[b"type"], b"kind": b"", b"shape": [], b"data": obj[b"data"]}
    return decode_array(fake, what)[()]


def _unpack(data: bytes, where: str, max_values: int) -> Any:
    """Unpack data that ``count_values`` has walked (no container longer than the budget)."""
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True,
                               ext_hook=_refuse_ext, timestamp=0,
                               max_array_len=max_values, max_map_len=max_values)
    except FormatError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as err:
        detail = str(err) or type(err).__name__  # msgpack's StackError has no message
        raise FormatError(f"not a valid {KIND}{where} (corrupt or truncated data: {detail})") from None


def _refuse_ext(code: int, data: bytes) -> Any:
    raise FormatError(f"not a valid {KIND}: msgpack extension type {code} is not allowed")


def _str_map(value: Any, what: str) -> Dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise FormatError(f"not a valid {KIND}: {what} are not a map with string keys")
    return value


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def expected_shape(layer: str, param: str, dims: Dict[str, Any]) -> Optional[tuple]:
    """The shape `dims` give parameter `param` of Thinc's layer `layer` (None for an
    unset dim), or None where the layer or parameter is not in ``PARAM_SHAPES``."""
    names = PARAM_SHAPES.get(layer, {}).get(param)
    return None if names is None else tuple(dims.get(d) for d in names)


# ------------------------------------------------------------------- writing
def encode(nodes: List[Dict[str, Any]], *, stamp: bool = False) -> bytes:
    """Thinc's bytes for per-node descriptions ``{"name", "dims", "refs", "attrs",
    "params", "shims"}`` in ``walk()`` order (refs as node indices, attrs as
    their bytes, params arrays or None, shims bytes), laid out exactly as Thinc
    9.1's ``Model.to_bytes`` lays them out.

    With `stamp`, the map gets a fifth entry, ``"thinc_fast"``, after the four
    of Thinc: ``{"format", "version", "code_attrs", "sha256"}``: per node, the
    names of the attrs that hold code (callables, which no format stores: the
    model loaded into must supply them, as with thinc_fast's npz format), and
    the SHA-256 of the encoded key/value pairs before it followed by the
    encoded ``code_attrs``. Thinc reads only the keys it knows, so it loads the
    bytes as its own; ``decode`` verifies the digest."""
    msg: Dict[str, List[Any]] = {"nodes": [], "attrs": [], "params": [], "shims": []}
    for i, node in enumerate(nodes):
        msg["nodes"].append({"index": i, "name": node["name"], "dims": dict(node["dims"]),
                             "refs": dict(node["refs"])})
        msg["attrs"].append({name: bytes(data)
                             for name, data in node["attrs"].items()})
        msg["params"].append({name: None if value is None else encode_array(value)
                              for name, value in node["params"].items()})
        msg["shims"].append([bytes(data) for data in node.get("shims", ())])
    if not stamp:
        return msgpack.packb(msg, use_bin_type=True)
    packer = msgpack.Packer(use_bin_type=True)
    body = b"".join(packer.pack(key) + packer.pack(value) for key, value in msg.items())
    code = [list(node.get("code_attrs", ())) for node in nodes]
    seal = {"format": STAMP_FORMAT, "version": STAMP_VERSION, "code_attrs": code,
            "sha256": _seal_digest([body], code)}
    return packer.pack_map_header(len(msg) + 1) + body + packer.pack(STAMP_KEY) + packer.pack(seal)


def encode_array(array: Any) -> Dict[bytes, Any]:
    """srsly's msgpack_numpy map for `array` (a host copy, little-endian, C order)."""
    host = numpy.asarray(_to_host(array))
    host = numpy.ascontiguousarray(host, dtype=host.dtype.newbyteorder("<"))
    return {b"nd": True, b"type": host.dtype.str, b"kind": b"", b"shape": list(host.shape),
            b"data": host.tobytes()}
