"""The model's file formats: what ``Model.to_bytes``/``from_bytes`` and
``to_dict``/``from_dict`` write and read, and the attr codec.

- the attr codec: :func:`serialize_attr` and :func:`deserialize_attr` (msgpack,
  as Thinc's; Thinc exports them from ``thinc.model``, and so does
  ``thinc_fast.model``);
- writing: Thinc's msgpack layout (``_thinc_format``; stamped with a checksum
  by default) or thinc_fast's npz archive with a JSON header (``_io``);
- reading either, every check made before the model changes, with memory
  bounded by the model loaded into, whatever sizes the data declares
  (:class:`LoadBounds`);
- the dict form: Thinc's four lists aligned on ``walk()``.

The functions take the model as their first argument. This module does not
import ``model.py`` (which imports it), and leaves the model's state to the
model: loaded values go in through ``set_param``, ``Model._take_loaded`` and
``Model._pack``.
"""
from __future__ import annotations

import functools
import numbers
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import msgpack
import numpy

from . import _thinc_format
from ._io import FormatError, pack, unpack
from .types import Unserializable

ModelT = Any  # a thinc_fast Model (not imported: model.py imports this module)

MODEL_FORMAT_VERSION = 2  # 2: attrs as serialize_attr bytes, refs, shims
#: attrs that thinc_fast once saved under another name: old name -> name now
#: (Softmax's flag had its own name before it took Thinc's)
_RENAMED_ATTRS = {"normalize_outputs": "softmax_normalize"}

# What loading may cost, from the model loaded into (see ``Model.from_bytes``)
_HEADER_BYTES = 64 << 10  # our format's JSON header: this, plus per node
_HEADER_BYTES_PER_NODE = 4 << 10  # this, plus 4x its name and its attrs (version 1 kept them)
_PARAM_SLACK = 4  # a parameter may declare 4x its bytes in the model, plus _PARAM_EXTRA:
_PARAM_EXTRA = 64 << 10  # float64 data or a small shape mismatch reach the named checks
_MEMBERS_PER_NODE = 64  # our format's members: the model's params, attrs, shims, plus this
_VALUES = 4096  # Thinc's msgpack: this many values, plus per node
_VALUES_PER_NODE = 256  # this, plus 8 per dim, ref, attr and shim and 64 per param
_ATTR_VALUES = 1 << 16  # all attrs together: this many values, plus 2x the model's attrs
# ... plus one value per this many bytes of the attr's own data: a large table
# (remap_ids' mapping) loads into a blank model, at O(data size) memory
_ATTR_BYTES_PER_VALUE = 4
_ATTR_DEPTH = 100  # maps and lists nested in an attr
_SLICE_BYTES = 64  # an encoded slice: [start, stop, step], at most 3 x 9 bytes


class NotThincWritable(ValueError):
    """The model holds something Thinc's file layout cannot (a slice attr)."""


# The default attr codec: msgpack, as Thinc's (srsly) writes it. NumPy arrays are
# srsly's ``{b"nd": True, ...}`` maps (decoded from an allow-list of dtypes),
# NumPy scalars plain numbers; a slice is msgpack extension type 1 holding
# ``[start, stop, step]`` (thinc_fast's own: Thinc's format refuses it).
_EXT_SLICE = 1


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, numpy.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, slice):
        parts = [value.start, value.stop, value.step]
        if not all(p is None or (isinstance(p, (int, numpy.integer)) and not isinstance(p, bool))
                   for p in parts):
            raise TypeError(f"can not serialize slice {value!r} (only int or None bounds)")
        return msgpack.ExtType(_EXT_SLICE, msgpack.packb([None if p is None else int(p)
                                                          for p in parts]))
    if getattr(value, "shape", None) is not None and hasattr(value, "dtype") and \
            hasattr(value, "tobytes"):
        encoded = _thinc_format.encode_array(value)
        if encoded[b"type"] not in _thinc_format.ARRAY_DTYPES:
            raise TypeError(f"can not serialize an array of dtype {encoded[b'type']!r}")
        return encoded
    raise TypeError(f"can not serialize {type(value).__name__!r} object")


def _msgpack_object_hook(obj: Dict[Any, Any]) -> Any:
    keys = set(obj)
    if keys == _thinc_format.ARRAY_KEYS and obj[b"nd"] is True:
        return _thinc_format.decode_array(obj, "an array attr").copy()
    if keys == _thinc_format.SCALAR_KEYS and obj[b"nd"] is False:
        return _thinc_format.decode_scalar(obj, "a scalar attr")
    return obj


def _msgpack_ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_SLICE and len(data) <= _SLICE_BYTES:
        parts = msgpack.unpackb(data)
        if isinstance(parts, list) and len(parts) == 3 and all(
                p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts):
            return slice(*parts)
    return _refuse_ext(code, data)


def _refuse_ext(code: int, data: bytes) -> Any:
    raise FormatError(f"msgpack extension type {code} is not allowed in an attr")


@functools.singledispatch
def serialize_attr(_: Any, value: Any, name: str, model: ModelT) -> bytes:
    """An attr value as bytes (msgpack by default, as Thinc's), dispatched on
    the type of the first argument: register your own with
    ``@serialize_attr.register(MyType)``. TypeError: the value cannot be stored
    (``Model.to_dict`` then leaves it out, as Thinc's; ``Model.to_bytes``
    raises, naming the node and the attr)."""
    return msgpack.packb(value, use_bin_type=True, default=_msgpack_default)


_serialize_attr_default = serialize_attr.dispatch(object)


@functools.singledispatch
def deserialize_attr(_: Any, value: Any, name: str, model: ModelT) -> Any:
    """The attr value `serialize_attr` wrote, dispatched on the type of the
    first argument (the attr's current value): register your own with
    ``@deserialize_attr.register(MyType)``. The default decodes msgpack (any
    map keys; arrays as srsly writes them; no code is ever run) and gives a
    list back as a tuple where the current value is a tuple.

    The default refuses (FormatError), before unpacking, data that holds more
    than 65,536 msgpack values plus twice the encoded size of the current
    value plus one per 4 bytes of the data, or nests more than 100 deep:
    decoding costs at most ~70 bytes per value allowed plus about twice the
    data's size (so O(data) memory, whatever the data declares)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            _thinc_format.count_values(bytes(value), max_depth=_ATTR_DEPTH,
                                       max_values=_ATTR_VALUES + 2 * _encoded_size(_)
                                       + len(value) // _ATTR_BYTES_PER_VALUE)
        except _thinc_format.LimitError as err:
            raise FormatError(f"attr {name!r}: {err}; refused before unpacking it") from None
        except ValueError:
            pass  # not msgpack: unpackb says so
    loaded = msgpack.unpackb(value, raw=False, strict_map_key=False,
                             object_hook=_msgpack_object_hook, ext_hook=_msgpack_ext_hook)
    if isinstance(_, tuple) and isinstance(loaded, list):
        return tuple(loaded)
    return loaded


_deserialize_attr_default = deserialize_attr.dispatch(object)


# --------------------------------------------------------------------- writing
def to_bytes(model: ModelT, format: Optional[str] = None) -> bytes:
    """What ``Model.to_bytes(format=format)`` gives (see there)."""
    if format is None:
        try:
            return _thinc_format.encode(thinc_nodes(model), stamp=True)
        except NotThincWritable as err:
            warnings.warn(f"{err}; wrote thinc_fast's format instead, which Thinc cannot "
                          "read (pass format='thinc_fast' to silence this)", stacklevel=3)
            format = "thinc_fast"
    if format == "thinc":
        return _thinc_format.encode(thinc_nodes(model))
    if format != "thinc_fast":
        raise ValueError(f"to_bytes: unknown format {format!r} (use None, 'thinc' or "
                         "'thinc_fast')")
    nodes = model.walk()
    all_refs = ref_indices(model, nodes)
    header_nodes = []
    arrays = {}
    for i, node in enumerate(nodes):
        where = f"node {i} ({node.name!r})"
        params = [name for name, value in node._params.items() if value is not None]
        for name in params:
            arrays[f"{i}:{name}"] = node._params[name]
        attrs, code = encode_attrs(node, where, for_thinc=False)
        for k, data in enumerate(attrs.values()):
            arrays[f"attr:{i}:{k}"] = numpy.frombuffer(data, dtype=numpy.uint8)
        shims = shim_bytes(node, where)
        for j, data in enumerate(shims):
            arrays[f"shim:{i}:{j}"] = numpy.frombuffer(data, dtype=numpy.uint8)
        header_nodes.append({"name": node.name, "dims": node._dims, "params": params,
                             "refs": all_refs[i], "attrs": list(attrs),
                             "code_attrs": code, "shims": len(shims)})
    header = {"format": "thinc_fast.model", "version": MODEL_FORMAT_VERSION,
              "nodes": header_nodes}
    return pack(header, arrays)


def thinc_nodes(model: ModelT) -> List[Dict[str, Any]]:
    """Each node as ``_thinc_format.encode`` takes it (refs as indices into
    walk(), attrs as ``serialize_attr`` bytes, shims as bytes)."""
    nodes = model.walk()
    all_refs = ref_indices(model, nodes)
    out = []
    for i, node in enumerate(nodes):
        where = f"node {i} ({node.name!r})"
        attrs, code = encode_attrs(node, where, for_thinc=True)
        out.append({"name": node.name, "dims": dict(node._dims), "refs": all_refs[i],
                    "attrs": attrs, "code_attrs": code, "params": dict(node._params),
                    "shims": shim_bytes(node, where)})
    return out


def ref_indices(model: ModelT, nodes: List[ModelT]) -> List[Dict[str, Optional[int]]]:
    """Each node's refs as indices into `nodes` (``walk()``); ValueError for a
    reference to a model outside the tree (it could not be loaded back)."""
    index = {node.id: i for i, node in enumerate(nodes)}
    out = []
    for i, node in enumerate(nodes):
        refs: Dict[str, Optional[int]] = {}
        for name, ref in node._refs.items():
            if ref is not None and ref.id not in index:
                raise ValueError(f"cannot save model {model.name!r}: reference {name!r} of "
                                 f"node {i} ({node.name!r}) points to model {ref.name!r}, "
                                 "outside the tree")
            refs[name] = None if ref is None else index[ref.id]
        out.append(refs)
    return out


def is_code(value: Any, node: ModelT) -> bool:
    """Functions, classes and other callables (a model excepted: an instance of
    the class of `node`, which holds the attr): attrs that are code, not data,
    and are never stored."""
    return callable(value) and not isinstance(value, type(node))


def encode_attrs(node: ModelT, where: str, *, for_thinc: bool) -> Tuple[Dict[str, bytes],
                                                                       List[str]]:
    """``({attr: serialize_attr bytes}, [names of code attrs])`` for `node`.
    ValueError naming the node and the attr for a value that cannot be encoded
    (or, `for_thinc`, one whose default encoding Thinc cannot read). A value
    wrapped in :class:`~thinc_fast.types.Unserializable` is left out, as
    Thinc leaves it out: loading keeps the model's own value of that attr."""
    encoded: Dict[str, bytes] = {}
    code: List[str] = []
    for name, value in node._attrs.items():
        if isinstance(value, Unserializable):
            continue
        try:
            data = serialize_attr(value, value, name, node)
        except (TypeError, ValueError, OverflowError) as err:
            if is_code(value, node):
                code.append(name)
                continue
            raise ValueError(f"cannot save attr {name!r} of {where}: its value, a "
                             f"{type(value).__name__}, cannot be serialized ({err}). Register "
                             "functions for its type with @serialize_attr.register and "
                             "@deserialize_attr.register") from None
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"cannot save attr {name!r} of {where}: serialize_attr returned "
                            f"a {type(data).__name__}, not bytes")
        if for_thinc and serialize_attr.dispatch(type(value)) is _serialize_attr_default:
            try:
                msgpack.unpackb(data, strict_map_key=False, ext_hook=_refuse_ext)
            except FormatError:
                raise NotThincWritable(f"cannot save attr {name!r} of {where} in Thinc's "
                                       f"format: its value {value!r} holds a slice, which "
                                       "Thinc cannot read; save the model in thinc_fast's "
                                       "format") from None
        encoded[name] = bytes(data)
    return encoded, code


def shim_bytes(node: ModelT, where: str) -> List[bytes]:
    """The bytes of each shim of `node` (TypeError naming it for a shim whose
    ``to_bytes()`` does not give bytes)."""
    out = []
    for j, shim in enumerate(node._shims):
        data = shim.to_bytes()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"cannot save shim {j} of {where}: its to_bytes() returned a "
                            f"{type(data).__name__}, not bytes")
        out.append(bytes(data))
    return out


# --------------------------------------------------------------------- reading
def from_bytes(model: ModelT, data: bytes) -> None:
    """Load `data` into `model`: what ``Model.from_bytes`` does (see there)."""
    nodes = model.walk()
    bounds = LoadBounds(nodes)
    if _thinc_format.is_thinc_bytes(data):
        # in Thinc's own bytes, numbers, flags and code attrs must keep their
        # kind (_may_replace); bytes thinc_fast wrote (stamped) are taken as written
        count = _thinc_format.peek_node_count(data)
        if count is not None and count > len(nodes):  # before its values are counted
            raise FormatError(f"cannot load into model {model.name!r}: the data describes "
                              f"{count} nodes, this model has {len(nodes)}")
        saved, stamped = _thinc_format.decode(data, with_stamp=True,
                                              max_values=bounds.values, n_nodes=len(nodes))
        strict = not stamped
    else:
        saved = _read_own_format(model, data, nodes, bounds)
        strict = False
    _load_saved(model, nodes, saved, strict=strict, attr_values=bounds.attr_values)


def _read_own_format(model: ModelT, data: bytes, nodes: List[ModelT],
                     bounds: LoadBounds) -> List[Dict[str, Any]]:
    """The per-node descriptions (as ``_thinc_format.decode`` gives them) of
    our npz format. Version 1 stored attrs as JSON values (``plain_attrs``);
    version 2 stores ``serialize_attr`` bytes, refs, code attr names and shims."""
    header, arrays = unpack(data, kind="model", max_version=MODEL_FORMAT_VERSION,
                            names=lambda header: array_names(header, nodes, model.name),
                            max_header=bounds.header,
                            max_bytes=bounds.param_limits, max_members=bounds.members,
                            max_containers=bounds.containers)
    version = header["version"]
    saved = header.get("nodes")
    if not isinstance(saved, list) or len(saved) != len(nodes):
        count = len(saved) if isinstance(saved, list) else "no"
        raise ValueError(f"cannot load into model {model.name!r}: the data describes "
                         f"{count} nodes, this model has {len(nodes)}")
    out = []
    for i, (node, info) in enumerate(zip(nodes, saved)):
        where = f"node {i} ({node.name!r})"
        attrs_type = dict if version == 1 else list
        if not isinstance(info, dict) or not isinstance(info.get("attrs", attrs_type()),
                                                        attrs_type) or \
                not isinstance(info.get("dims", {}), dict) or \
                not isinstance(info.get("params", []), list):
            raise FormatError(f"cannot load: the description of {where} is malformed")
        params = {}
        for name in info.get("params", []):
            array = arrays.get(f"{i}:{name}") if isinstance(name, str) else None
            if name not in node._params or array is None:
                raise FormatError(f"cannot load: parameter {name!r} of {where} is missing "
                                  "from the data or from the model")
            if array.dtype != numpy.float32:
                raise ValueError(f"cannot load: parameter {name!r} of {where} is "
                                 f"{array.dtype} in the data, not float32")
            params[name] = array
        entry = {"name": info.get("name"), "dims": info.get("dims", {}), "refs": None,
                 "attrs": {}, "plain_attrs": {}, "code_attrs": [], "shims": None,
                 "params": params}
        if version == 1:
            entry["plain_attrs"] = info.get("attrs", {})
        else:
            entry.update(_read_v2_node(info, arrays, i, len(nodes), where))
        out.append(entry)
    return out


def _load_saved(model: ModelT, nodes: List[ModelT], saved: List[Dict[str, Any]], *,
                strict: bool, attr_values: Optional[int] = None) -> None:
    """Check `saved` (one description per node of `nodes`) against the model,
    decode its attrs, then load it. `strict` (Thinc's files): a number, flag
    or code attr keeps its kind (see _may_replace); otherwise attrs are taken
    as they are, those the node lacks too (as Thinc loads them).
    `attr_values`: the most msgpack values all attrs decoded by the default
    ``deserialize_attr`` may hold together, counted before each is unpacked."""
    if len(saved) != len(nodes):
        raise ValueError(f"cannot load into model {model.name!r}: the data describes "
                         f"{len(saved)} nodes, this model has {len(nodes)}")
    plan = []
    loads = []
    for i, (node, info) in enumerate(zip(nodes, saved)):
        where = f"node {i} ({node.name!r})"
        if info["name"] != node.name:
            raise ValueError(f"cannot load into model {model.name!r}: {where} is called "
                             f"{info['name']!r} in the data")
        dims = dict(node._dims)
        for dim, value in info["dims"].items():
            if dim not in node._dims:
                raise ValueError(f"cannot load: {where} has no dimension {dim!r}")
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise FormatError(f"cannot load: dimension {dim!r} of {where} is {value!r}")
            current = node._dims[dim]
            if current is not None and value is not None and current != value:
                raise ValueError(f"cannot load: dimension {dim!r} of {where} is {current} in "
                                 f"the model but {value} in the data")
            if current is None:
                dims[dim] = value
        refs = {ref: None if target is None else nodes[target]
                for ref, target in (info["refs"] or {}).items()}
        for attr in info.get("code_attrs", []):
            if not is_code(node._attrs.get(attr), node):
                raise ValueError(f"cannot load: attr {attr!r} of {where} is code (a "
                                 "function or other callable), which is not stored: the "
                                 "model must supply it, but its value is "
                                 f"{node._attrs.get(attr, '(missing)')!r}")
        attrs = {_RENAMED_ATTRS.get(attr, attr): value
                 for attr, value in info.get("plain_attrs", {}).items()}
        for attr, raw in info["attrs"].items():
            attr = _RENAMED_ATTRS.get(attr, attr)
            current = node._attrs.get(attr)
            if attr_values is not None and isinstance(raw, (bytes, bytearray)) and \
                    deserialize_attr.dispatch(type(current)) is _deserialize_attr_default:
                own = len(raw) // _ATTR_BYTES_PER_VALUE
                try:
                    used, _ = _thinc_format.count_values(raw, max_values=attr_values + own,
                                                         max_depth=_ATTR_DEPTH)
                except _thinc_format.LimitError as err:
                    raise FormatError(f"cannot load: attr {attr!r} of {where}: {err} for "
                                      "the attrs of this model; refused before unpacking "
                                      "it") from None
                except ValueError:
                    used = 0  # not msgpack: deserialize_attr says so below
                attr_values -= max(0, used - own)
            try:
                value = deserialize_attr(current, raw, attr, node)
            except Exception as err:
                detail = str(err) or "corrupt or truncated data"
                raise FormatError(f"cannot load: attr {attr!r} of {where} cannot be decoded "
                                  f"({type(err).__name__}: {detail})") from err
            if strict and not _may_replace(current, value):
                raise ValueError(f"cannot load: attr {attr!r} of {where} is {current!r} in "
                                 f"the model but {value!r} in the data")
            attrs[attr] = value
        shims = info.get("shims")
        if shims is not None and len(shims) != len(node._shims):
            raise ValueError(f"cannot load: {where} has {len(node._shims)} shims in the "
                             f"model but {len(shims)} in the data")
        for name, array in info["params"].items():
            if array is None:
                continue
            if name not in node._params:
                raise ValueError(f"cannot load: {where} has no parameter {name!r} (known: "
                                 f"{list(node._params)})")
            current = node._params[name]
            expected = (tuple(current.shape) if current is not None else
                        _thinc_format.expected_shape(node.name, name, dims))
            if expected is not None and None in expected:
                unset = [d for d, n in zip(_thinc_format.PARAM_SHAPES[node.name][name],
                                           expected) if n is None]
                raise ValueError(f"cannot load: parameter {name!r} of {where} is in the "
                                 f"data but dimension {unset[0]!r} is unset in both the "
                                 "data and the model")
            if array.dtype.kind != "f" or (expected is not None and
                                           tuple(array.shape) != expected):
                raise ValueError(f"cannot load: parameter {name!r} of {where} has shape "
                                 f"{expected} in the model but {tuple(array.shape)} "
                                 f"({array.dtype}) in the data")
            plan.append((node, name, array))
        loads.append((node, info["dims"], refs, attrs, shims))
    for node, saved_dims, refs, attrs, _ in loads:
        dims = {dim: int(value) for dim, value in saved_dims.items()
                if node._dims[dim] is None and value is not None}
        node._take_loaded(node.name, dims, refs, attrs)
    for node, name, array in plan:
        node.set_param(name, model.ops.asarray(array))
    model._pack()
    for node, _, _, _, shims in loads:
        for shim, data in zip(node._shims, shims or ()):
            shim.from_bytes(data)


class LoadBounds:
    """What loading into `nodes` (a model's ``walk()``) may cost, from the model
    alone, whatever the data declares (see ``Model.from_bytes``):

    - header: bytes of our format's JSON header, ``_HEADER_BYTES`` plus per node
      ``_HEADER_BYTES_PER_NODE`` and 4x its name and its attrs' encoded size;
    - param_limits: per parameter whose shape the model knows (allocated, or
      given by its dims), at most ``_PARAM_SLACK`` times its float32 bytes plus
      ``_PARAM_EXTRA``; other arrays (attr and shim blobs, parameters of unset
      dims) must lie in the file (``_io._MAX_INFLATE``);
    - members, containers: our format's archive members and JSON lists/maps;
    - values: msgpack values of Thinc's map, ``_VALUES`` plus per node
      ``_VALUES_PER_NODE``, 8 per dim, ref, attr and shim, 64 per param;
    - attr_values: msgpack values of all attrs, ``_ATTR_VALUES`` plus twice the
      encoded size of the model's own attrs (each attr may also hold one value
      per ``_ATTR_BYTES_PER_VALUE`` bytes of its own data).
    """

    def __init__(self, nodes: List[ModelT]) -> None:
        attr_bytes = [sum(_encoded_size(value) for value in node._attrs.values())
                      for node in nodes]
        self.header = _HEADER_BYTES + sum(
            _HEADER_BYTES_PER_NODE + 4 * len(node.name.encode("utf8")) + 4 * size
            for node, size in zip(nodes, attr_bytes))
        self.members = 1 + sum(len(node._params) + len(node._attrs) + len(node._shims)
                               + _MEMBERS_PER_NODE for node in nodes)
        self.containers = 4096 + sum(64 + size for size in attr_bytes)
        self.values = _VALUES + sum(
            _VALUES_PER_NODE + 64 * len(node._params)
            + 8 * (len(node._dims) + len(node._refs) + len(node._attrs) + len(node._shims))
            for node in nodes)
        self.attr_values = _ATTR_VALUES + 2 * sum(attr_bytes)
        self.params: Dict[str, Tuple[int, str]] = {}
        for i, node in enumerate(nodes):
            for name, value in node._params.items():
                shape = tuple(value.shape) if value is not None else \
                    _thinc_format.expected_shape(node.name, name, node._dims)
                if shape is None or None in shape:
                    continue
                nbytes = 4 * _prod(shape)
                self.params[f"{i}:{name}"] = (
                    _PARAM_SLACK * nbytes + _PARAM_EXTRA,
                    f"parameter {name!r} of node {i} ({node.name!r}) is float32 {shape}, "
                    f"{nbytes} bytes, in this model")

    def param_limits(self, header: Dict[str, Any]) -> Dict[str, Tuple[int, str]]:
        return self.params


def _prod(shape: Sequence[int]) -> int:
    out = 1
    for n in shape:
        out *= int(n)
    return out


def _encoded_size(value: Any) -> int:
    """Bytes of `value` as the default ``serialize_attr`` writes it (0 for code and
    values it cannot encode)."""
    try:
        return len(msgpack.packb(value, use_bin_type=True, default=_msgpack_default))
    except (TypeError, ValueError, OverflowError):
        return 0


def array_names(header: Dict[str, Any], model_nodes: Optional[List[ModelT]] = None,
                owner: str = "") -> set:
    """The arrays a model file's header asks for (params, attr and shim blobs),
    so that ``unpack`` refuses any other before reading it.

    With `model_nodes` (the ``walk()`` of model `owner`, loaded into): a header
    describing another number of nodes is refused here, before any array is
    read, and a node asks for at most its shims in the model plus
    ``_MEMBERS_PER_NODE``, so that the names cost in proportion to the model."""
    names = set()
    nodes = header.get("nodes")
    if model_nodes is not None and isinstance(nodes, list) and len(nodes) != len(model_nodes):
        raise FormatError(f"cannot load into model {owner!r}: the data describes {len(nodes)} "
                          f"nodes, this model has {len(model_nodes)}")
    for i, info in enumerate(nodes if isinstance(nodes, list) else []):
        if not isinstance(info, dict):
            continue
        params, attrs, shims = info.get("params"), info.get("attrs"), info.get("shims")
        names.update(f"{i}:{p}" for p in (params if isinstance(params, list) else [])
                     if isinstance(p, str))
        if isinstance(attrs, list):  # version 2: attrs as blobs
            names.update(f"attr:{i}:{k}" for k in range(len(attrs)))
        if isinstance(shims, int) and not isinstance(shims, bool):
            most = 1 << 16 if model_nodes is None else \
                len(model_nodes[i]._shims) + _MEMBERS_PER_NODE
            names.update(f"shim:{i}:{j}" for j in range(max(0, min(shims, most))))
    return names


def _read_v2_node(info: Dict[str, Any], arrays: Dict[str, Any], i: int, count: int,
                  where: str) -> Dict[str, Any]:
    """The attrs (bytes), refs, code attr names and shims (bytes) of node `i` in a
    version 2 file; FormatError for anything missing or malformed."""
    def blob(key: str, what: str) -> bytes:
        array = arrays.get(key)
        if array is None or array.dtype != numpy.uint8 or array.ndim != 1:
            raise FormatError(f"cannot load: {what} of {where} is missing from the data")
        return array.tobytes()

    names = info.get("attrs", [])
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise FormatError(f"cannot load: the attr names of {where} are malformed")
    attrs = {name: blob(f"attr:{i}:{k}", f"attr {name!r}") for k, name in enumerate(names)}
    refs = info.get("refs", {})
    if not isinstance(refs, dict) or not all(
            isinstance(ref, str) and (target is None or (
                isinstance(target, int) and not isinstance(target, bool) and 0 <= target < count))
            for ref, target in refs.items()):
        raise FormatError(f"cannot load: the references of {where} are malformed ({refs!r}; "
                          f"the model has {count} nodes)")
    code = info.get("code_attrs", [])
    if not isinstance(code, list) or not all(isinstance(name, str) for name in code):
        raise FormatError(f"cannot load: the code attr names of {where} are malformed")
    n_shims = info.get("shims", 0)
    if isinstance(n_shims, bool) or not isinstance(n_shims, int) or n_shims < 0:
        raise FormatError(f"cannot load: the shim count of {where} is {n_shims!r}")
    shims = [blob(f"shim:{i}:{j}", f"shim {j}") for j in range(n_shims)]
    return {"attrs": attrs, "refs": refs, "code_attrs": code, "shims": shims}


def _may_replace(current: Any, value: Any) -> bool:
    """Whether an attr `value` read from Thinc's bytes may replace `current`.

    A number or bool (``dropout_rate``, ``softmax_temperature``,
    ``softmax_normalize``...) only by one of its kind, and code (a function
    the layer calls) never by data, so that a file cannot make the forward
    pass fail later on those; anything else (labels, names, a user's
    metadata, attrs the fresh model lacks) by any value msgpack holds, as
    Thinc loads it."""
    if callable(current) and not callable(value):
        return False
    if isinstance(current, (bool, numpy.bool_)):
        return isinstance(value, (bool, numpy.bool_))
    if isinstance(current, numbers.Real):
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, numpy.bool_))
    return True


# --------------------------------------------------------------- the dict form
def to_dict(model: ModelT) -> Dict[str, List[Any]]:
    """What ``Model.to_dict()`` gives (see there)."""
    nodes = model.walk()
    index = {node.id: i for i, node in enumerate(nodes)}
    msg: Dict[str, List[Any]] = {"nodes": [], "attrs": [], "params": [], "shims": []}
    for i, node in enumerate(nodes):
        refs: Dict[str, Optional[int]] = {}
        outside = []
        for name, ref in node._refs.items():
            if ref is not None and ref.id not in index:
                outside.append(name)
            refs[name] = None if ref is None else index.get(ref.id)
        if outside:
            raise ValueError(f"Cannot get references {outside} of node {i} ({node.name!r}): "
                             "they point to models outside the tree")
        msg["nodes"].append({"index": i, "name": node.name, "dims": dict(node._dims),
                             "refs": refs})
    for node in nodes:
        attrs = {}
        for name, value in node._attrs.items():
            try:
                attrs[name] = serialize_attr(value, value, name, node)
            except TypeError:
                continue
        msg["attrs"].append(attrs)
    for node in nodes:
        msg["shims"].append([shim.to_bytes() for shim in node._shims])
    for node in nodes:
        msg["params"].append(dict(node._params))
    return msg


def from_dict(model: ModelT, msg: Dict[str, Any]) -> None:
    """Load `msg` into `model`: what ``Model.from_dict`` does (see there)."""
    if not isinstance(msg, dict) or "nodes" not in msg:
        raise ValueError("Cannot deserialize model: the data is not a model dict (no "
                         "'nodes'); was it written by an incompatible version?")
    nodes = model.walk()
    infos = msg["nodes"]
    if len(infos) != len(nodes):
        raise ValueError(f"Cannot deserialize model: mismatched structure: the data has "
                         f"{len(infos)} nodes, model {model.name!r} has {len(nodes)}")
    empty: List[Dict[str, Any]] = [{} for _ in nodes]
    all_attrs = msg.get("attrs") or empty
    all_params = msg.get("params") or empty
    all_shims = msg.get("shims") or [[] for _ in nodes]
    plan = []
    for i, (node, info) in enumerate(zip(nodes, infos)):
        where = f"node {i} ({node.name!r})"
        dims = {}
        for dim, value in info.get("dims", {}).items():
            if dim not in node._dims:
                raise KeyError(f"Cannot deserialize model: {where} has no dimension {dim!r}")
            if value is None:
                continue
            value = node._checked_dim(dim, value)
            current = node._dims[dim]
            if current is not None and current != value:
                raise ValueError(f"Cannot deserialize model: dimension {dim!r} of {where} "
                                 f"is {current} in the model but {value} in the data")
            dims[dim] = value
        refs = {}
        for ref, target in info.get("refs", {}).items():
            if target is not None and not (isinstance(target, int) and 0 <= target < len(nodes)):
                raise ValueError(f"Cannot deserialize model: reference {ref!r} of {where} "
                                 f"points to node {target!r}, outside the tree")
            refs[ref] = None if target is None else nodes[target]
        attrs = {attr: deserialize_attr(node._attrs.get(attr), value, attr, node)
                 for attr, value in all_attrs[i].items()}
        params = {}
        for name, value in all_params[i].items():
            params[name] = None if value is None else node._as_param(name, value)
        if len(all_shims[i]) != len(node._shims):
            raise ValueError(f"Cannot deserialize model: {where} has {len(node._shims)} "
                             f"shims, the data {len(all_shims[i])}")
        plan.append((node, info.get("name", node.name), dims, refs, attrs, params, all_shims[i]))
    for node, name, dims, refs, attrs, params, shims in plan:
        node._take_loaded(name, dims, refs, attrs)
        for pname, value in params.items():
            node.set_param(pname, value)
        for shim, data in zip(node._shims, shims):
            shim.from_bytes(data)
    model._pack()


def can_from_dict(model: ModelT, msg: Dict[str, Any], *, strict: bool = True) -> bool:
    """Whether ``model.from_dict(msg)`` would fit: see ``Model.can_from_dict``."""
    if not isinstance(msg, dict) or "nodes" not in msg:
        return False
    nodes = model.walk()
    if len(msg["nodes"]) != len(nodes):
        return False
    for i, node in enumerate(nodes):
        info = msg["nodes"][i]
        if strict and info.get("name") != node.name:
            return False
        if len((msg.get("shims") or [[]] * len(nodes))[i]) != len(node._shims):
            return False
        for dim, value in info.get("dims", {}).items():
            has = node.has_dim(dim)
            if has is False or (has and node._dims[dim] != value):
                return False
        for name, value in (msg.get("params") or [{}] * len(nodes))[i].items():
            has = node.has_param(name)
            if has is False:
                return False
            if has and value is not None and tuple(node._params[name].shape) != \
                    tuple(getattr(value, "shape", ())):
                return False
        if strict:
            for attr, value in (msg.get("attrs") or [{}] * len(nodes))[i].items():
                if attr not in node._attrs:
                    continue
                try:
                    ours = serialize_attr(node._attrs[attr], node._attrs[attr], attr, node)
                except TypeError:
                    continue
                if ours != value:
                    return False
    return True
