"""Model: the one class every layer is an instance of, with Thinc's semantics.

A layer is a function that builds a ``Model`` from a name, a ``forward``
function, an optional ``init`` function, dims, params and child layers.
``forward(model, X, is_train)`` returns ``(Y, backprop)``; ``backprop(dY)``
returns ``dX`` and only *increments* gradients. ``finish_update(optimizer)``
applies the gradients and zeroes them, in one fused call over the parameter
arena (see ``thinc_fast._arena``).
"""
from __future__ import annotations

import contextlib
import copy as _copy
import itertools
import json
import numbers
import threading
from typing import (Any, Callable, Dict, Generic, List, Optional, Sequence, Tuple,
                    TypeVar)

import numpy

from ._arena import ArenaOptimizer, ParamArena, arena_of
from ._io import FormatError, PathT, atomic_write, pack, read_file, unpack
from . import _thinc_format
from .backends import Ops, get_current_ops

InT = TypeVar("InT")
OutT = TypeVar("OutT")
ForwardT = Callable[["Model", Any, bool], Tuple[Any, Callable[[Any], Any]]]
InitT = Callable[..., Any]

MODEL_FORMAT_VERSION = 1
_model_ids = itertools.count(1)
_init_state = threading.local()
_operators = threading.local()
_OPERATOR_METHODS = {
    ">>": "__rshift__", "<<": "__lshift__", "|": "__or__", "&": "__and__", "+": "__add__",
    "-": "__sub__", "*": "__mul__", "@": "__matmul__", "/": "__truediv__", "//": "__floordiv__",
    "%": "__mod__", "**": "__pow__", "^": "__xor__",
}


class Model(Generic[InT, OutT]):
    """A node of a model tree: forward function, dims, params, grads, children."""

    def __init__(
        self,
        name: str,
        forward: ForwardT,
        *,
        init: Optional[InitT] = None,
        dims: Optional[Dict[str, Optional[int]]] = None,
        params: Optional[Dict[str, Any]] = None,
        layers: Optional[Sequence["Model"]] = None,
        refs: Optional[Dict[str, Optional["Model"]]] = None,
        attrs: Optional[Dict[str, Any]] = None,
        ops: Optional[Ops] = None,
    ) -> None:
        if not callable(forward):
            raise TypeError(f"Model {name!r}: forward must be callable, got {type(forward).__name__}")
        self.name = name
        self.id: int = next(_model_ids)
        self.ops: Ops = ops if ops is not None else get_current_ops()
        self._func = forward
        self.init = init
        self._dims: Dict[str, Optional[int]] = {}
        for dim, value in (dims or {}).items():
            self._dims[dim] = None if value is None else _check_dim_value(self, dim, value)
        self._params: Dict[str, Any] = {}
        self._grads: Dict[str, Any] = {}
        self._has_grad: set = set()
        self._arena: Optional[ParamArena] = None
        for pname, value in (params or {}).items():
            self._params[pname] = None if value is None else self._as_param(pname, value)
        self._layers: List[Model] = list(layers or [])
        for layer in self._layers:
            if not isinstance(layer, Model):
                raise TypeError(f"Model {name!r}: layers must be Model instances, got {type(layer).__name__}")
        self._refs: Dict[str, Optional[Model]] = dict(refs or {})
        self._attrs: Dict[str, Any] = dict(attrs or {})

    def __repr__(self) -> str:
        return f"<Model {self.name!r} id={self.id} dims={self._dims}>"

    @classmethod
    @contextlib.contextmanager
    def define_operators(cls, operators: Dict[str, Callable[..., "Model"]]):
        """Within the block, bind Python operators to combinators, as in Thinc:
        ``with Model.define_operators({">>": chain}): model = Relu(64) >> Softmax()``."""
        unknown = set(operators) - set(_OPERATOR_METHODS)
        if unknown:
            raise ValueError(f"define_operators: unsupported operators {sorted(unknown)}; "
                             f"supported: {' '.join(_OPERATOR_METHODS)}")
        previous = getattr(_operators, "table", {})
        _operators.table = {**previous, **operators}
        try:
            yield
        finally:
            _operators.table = previous

    def _apply_operator(self, symbol: str, other: Any) -> "Model":
        func = getattr(_operators, "table", {}).get(symbol)
        if func is None:
            raise TypeError(f"operator {symbol!r} is not defined for models here; bind it with "
                            f"Model.define_operators({{{symbol!r}: ...}})")
        return func(self, other)

    # ------------------------------------------------------------- structure
    @property
    def layers(self) -> List["Model"]:
        """The child models (a list you may append to before initialising)."""
        return self._layers

    @property
    def attrs(self) -> Dict[str, Any]:
        """Free-form settings of this node (e.g. a dropout rate)."""
        return self._attrs

    def walk(self, *, order: str = "bfs") -> List["Model"]:
        """This node and every descendant, each once: ``bfs``, ``dfs_pre`` or ``dfs_post``."""
        if order == "bfs":
            queue, seen, out = [self], {self.id}, []
            i = 0
            while i < len(queue):
                node = queue[i]
                i += 1
                out.append(node)
                for child in node._layers:
                    if child.id not in seen:
                        seen.add(child.id)
                        queue.append(child)
            return out
        if order not in ("dfs_pre", "dfs_post"):
            raise ValueError(f"walk: unknown order {order!r}; use 'bfs', 'dfs_pre' or 'dfs_post'")
        out, seen = [], set()

        def visit(node: Model) -> None:
            if node.id in seen:
                return
            seen.add(node.id)
            if order == "dfs_pre":
                out.append(node)
            for child in node._layers:
                visit(child)
            if order == "dfs_post":
                out.append(node)

        visit(self)
        return out

    # ------------------------------------------------------------------ dims
    @property
    def dims(self) -> Dict[str, Optional[int]]:
        """A copy of the dimensions, e.g. ``{"nO": 10, "nI": None}``."""
        return dict(self._dims)

    @property
    def dim_names(self) -> Tuple[str, ...]:
        return tuple(self._dims)

    def has_dim(self, name: str) -> Optional[bool]:
        """True if set, None if declared but unset, False if unknown."""
        if name not in self._dims:
            return False
        return True if self._dims[name] is not None else None

    def get_dim(self, name: str) -> int:
        """The value of dimension `name`; raises if unknown or unset."""
        if name not in self._dims:
            raise KeyError(f"Cannot get dimension {name!r} for model {self.name!r}: "
                           f"unknown dimension (known: {list(self._dims)})")
        value = self._dims[name]
        if value is None:
            raise ValueError(f"Cannot get dimension {name!r} for model {self.name!r}: value unset. "
                             "Set it when creating the layer or call model.initialize(X=..., Y=...)")
        return value

    def maybe_get_dim(self, name: str) -> Optional[int]:
        return self._dims.get(name)

    def set_dim(self, name: str, value: Optional[int], *, force: bool = False) -> None:
        """Set dimension `name`; changing a set value needs ``force=True``."""
        if name not in self._dims:
            raise KeyError(f"Cannot set dimension {name!r} for model {self.name!r}: "
                           f"unknown dimension (known: {list(self._dims)})")
        old = self._dims[name]
        if value is not None:
            value = _check_dim_value(self, name, value)
        if old is not None and value != old and not force:
            raise ValueError(f"Attempt to change dimension {name!r} for model {self.name!r} "
                             f"from {old} to {value}")
        self._dims[name] = value

    # ---------------------------------------------------------------- params
    @property
    def param_names(self) -> Tuple[str, ...]:
        return tuple(self._params)

    @property
    def grad_names(self) -> Tuple[str, ...]:
        return tuple(name for name in self._params if name in self._has_grad)

    def has_param(self, name: str) -> Optional[bool]:
        """True if allocated, None if declared but unallocated, False if unknown."""
        if name not in self._params:
            return False
        return True if self._params[name] is not None else None

    def get_param(self, name: str):
        """The array of parameter `name` (a view into the arena once initialised)."""
        value = self._params.get(name)
        if value is None:
            raise self._param_error(name, "get")
        return value

    def set_param(self, name: str, value: Any) -> None:
        """Set parameter `name`. Same shape: copied into the existing array, so
        views (the arena) stay valid. New shape: stored anew, the arena is rebuilt
        at the next ``finish_update`` and the accumulated gradient is dropped."""
        if name not in self._params:
            raise KeyError(f"Cannot set parameter {name!r} for model {self.name!r}: "
                           f"unknown parameter (known: {list(self._params)})")
        if value is None:
            self._drop_param(name)
            return
        array = self._as_param(name, value)
        current = self._params[name]
        if current is not None and current.shape == array.shape:
            current[...] = array
            return
        self._drop_param(name)
        self._params[name] = array

    def _drop_param(self, name: str) -> None:
        self._params[name] = None
        self._grads.pop(name, None)
        self._has_grad.discard(name)
        if self._arena is not None:
            self._arena.valid = False

    def _as_param(self, name: str, value: Any):
        array = self.ops.asarray(value)
        if array.dtype.kind != "f":
            raise TypeError(f"Parameter {name!r} of model {self.name!r} must be a float array, "
                            f"got dtype {array.dtype}")
        return self.ops.xp.array(array, dtype="float32", copy=True)

    def _param_error(self, name: str, verb: str) -> Exception:
        if name not in self._params:
            return KeyError(f"Cannot {verb} parameter {name!r} for model {self.name!r}: "
                            f"unknown parameter (known: {list(self._params)})")
        unset = [dim for dim, value in self._dims.items() if value is None]
        why = (f"dimension{'s' if len(unset) > 1 else ''} {', '.join(repr(d) for d in unset)} "
               f"{'are' if len(unset) > 1 else 'is'} unset" if unset else "it was never initialized")
        return ValueError(f"Cannot {verb} parameter {name!r} for model {self.name!r}: "
                          f"the model is not initialized ({why}). "
                          "Call model.initialize(X=..., Y=...) with sample data first.")

    # ----------------------------------------------------------------- grads
    def has_grad(self, name: str) -> bool:
        """True once a gradient for `name` was set or incremented."""
        return name in self._has_grad and self._params.get(name) is not None

    def get_grad_buffer(self, name: str):
        """The gradient array of `name`, for kernels that accumulate into it in
        place (``gemm(..., out=buf, beta=1)``); marks the gradient as present."""
        grad = self._grads.get(name)
        if grad is None:
            param = self.get_param(name) if name in self._params else None
            if param is None:
                raise self._param_error(name, "get the gradient of")
            grad = self.ops.alloc(param.shape)
            self._grads[name] = grad
        self._has_grad.add(name)
        return grad

    def get_grad(self, name: str):
        """The accumulated gradient of parameter `name`."""
        if self._params.get(name) is None:
            raise self._param_error(name, "get the gradient of")
        grad = self._grads.get(name)
        if grad is None:
            grad = self.get_grad_buffer(name)
        return grad

    def set_grad(self, name: str, value: Any) -> None:
        """Overwrite the gradient of `name` (same shape as the parameter)."""
        grad = self.get_grad_buffer(name)
        value = self._check_grad_shape(name, value, grad)
        grad[...] = value

    def inc_grad(self, name: str, value: Any) -> None:
        """Add `value` to the gradient of `name` (same shape as the parameter)."""
        grad = self.get_grad_buffer(name)
        value = self._check_grad_shape(name, value, grad)
        grad += value

    def _check_grad_shape(self, name: str, value: Any, grad: Any):
        value = self.ops.asarray(value)
        if value.shape != grad.shape:
            raise ValueError(f"Gradient for {name!r} of model {self.name!r} has shape {value.shape}, "
                             f"but the parameter has shape {grad.shape}")
        return value

    def zero_grads(self) -> None:
        """Set every gradient of this model tree to zero."""
        for node in self.walk():
            for grad in node._grads.values():
                grad.fill(0)

    # ------------------------------------------------------------------ refs
    @property
    def ref_names(self) -> Tuple[str, ...]:
        return tuple(self._refs)

    def has_ref(self, name: str) -> Optional[bool]:
        if name not in self._refs:
            return False
        return True if self._refs[name] is not None else None

    def get_ref(self, name: str) -> "Model":
        ref = self._refs.get(name)
        if ref is None:
            raise KeyError(f"Cannot get reference {name!r} for model {self.name!r}: "
                           f"{'unset' if name in self._refs else 'unknown reference'}")
        return ref

    def set_ref(self, name: str, value: Optional["Model"]) -> None:
        if value is not None and not isinstance(value, Model):
            raise TypeError(f"set_ref: expected a Model, got {type(value).__name__}")
        self._refs[name] = value

    # ----------------------------------------------------------- the work
    def initialize(self, X: Any = None, Y: Any = None) -> "Model":
        """Infer missing dims from sample data `X`/`Y`, allocate the parameters,
        and (for the outermost call) pack them into one arena. Returns self."""
        depth = getattr(_init_state, "depth", 0)
        _init_state.depth = depth + 1
        try:
            if self.init is not None:
                self.init(self, X=X, Y=Y)
        finally:
            _init_state.depth = depth
        if depth == 0:
            ParamArena(self)
        return self

    def begin_update(self, X: InT) -> Tuple[OutT, Callable[[Any], Any]]:
        """Run the model for training: returns ``(Y, backprop)``; ``backprop(dY)``
        returns the gradient of the input and increments parameter gradients."""
        return self._func(self, X, True)

    def predict(self, X: InT) -> OutT:
        """Run the model for inference (dropout off) and return the output."""
        return self._func(self, X, False)[0]

    def __call__(self, X: InT, is_train: bool = False) -> Tuple[OutT, Callable[[Any], Any]]:
        """Call the forward function: ``(Y, backprop)``."""
        return self._func(self, X, is_train)

    def finish_update(self, optimizer: Any) -> None:
        """Apply the accumulated gradients with `optimizer` and zero them.

        With a thinc_fast optimizer this is one fused kernel call over the
        parameter arena. Other optimizers are called Thinc's way, once per
        parameter: ``optimizer((node.id, name), param, grad)``.
        """
        if isinstance(optimizer, ArenaOptimizer):
            optimizer.update_arena(arena_of(self))
            return
        for node in self.walk():
            for name in node.param_names:
                if node.has_grad(name):
                    param, grad = optimizer((node.id, name), node.get_param(name), node.get_grad(name))
                    node.set_param(name, param)

    @property
    def arena(self) -> ParamArena:
        """This model's parameter arena (built if needed)."""
        return arena_of(self)

    @contextlib.contextmanager
    def use_params(self, params: Optional[Dict[Tuple[int, str], Any]]):
        """Within the block, use `params` (keyed ``(node.id, name)``, e.g.
        ``optimizer.averages``) instead of the current values; restore after."""
        swaps = []
        if params:
            for node in self.walk():
                for name in node.param_names:
                    value = params.get((node.id, name))
                    if value is None or not node.has_param(name):
                        continue
                    current = node.get_param(name)
                    if getattr(value, "shape", None) != current.shape:
                        raise ValueError(f"use_params: value for {name!r} of model {node.name!r} has "
                                         f"shape {getattr(value, 'shape', None)}, the parameter has "
                                         f"{current.shape}")
                    swaps.append((node, name, value))
        backup = []
        try:
            for node, name, value in swaps:
                backup.append((node, name, node.get_param(name).copy()))
                node.set_param(name, value)
            yield
        finally:
            for node, name, value in reversed(backup):
                node.set_param(name, value)

    # --------------------------------------------------------- serialization
    def to_bytes(self, *, format: str = "thinc_fast") -> bytes:
        """Dims, attrs and parameters of every node, without pickle.

        ``format="thinc_fast"`` (the default): an npz archive with a JSON header.
        ``format="thinc"``: the msgpack bytes Thinc 9.1's ``Model.to_bytes`` writes,
        which Thinc's ``Model.from_bytes`` loads into the same architecture.
        ``from_bytes`` reads both.
        """
        if format == "thinc":
            return _thinc_format.encode(self._thinc_nodes())
        if format != "thinc_fast":
            raise ValueError(f"to_bytes: unknown format {format!r} (use 'thinc_fast' or 'thinc')")
        nodes = self.walk()
        header_nodes = []
        arrays = {}
        for i, node in enumerate(nodes):
            params = [name for name, value in node._params.items() if value is not None]
            for name in params:
                arrays[f"{i}:{name}"] = node._params[name]
            header_nodes.append({"name": node.name, "dims": node._dims, "params": params,
                                 "attrs": _jsonable(node._attrs)})
        header = {"format": "thinc_fast.model", "version": MODEL_FORMAT_VERSION,
                  "nodes": header_nodes}
        return pack(header, arrays)

    def _thinc_nodes(self) -> List[Dict[str, Any]]:
        """Each node as ``_thinc_format.encode`` takes it (refs as indices into walk())."""
        nodes = self.walk()
        index = {node.id: i for i, node in enumerate(nodes)}
        out = []
        for i, node in enumerate(nodes):
            refs: Dict[str, Optional[int]] = {}
            for name, ref in node._refs.items():
                if ref is not None and ref.id not in index:
                    raise ValueError(f"cannot write model {self.name!r} in Thinc's format: "
                                     f"reference {name!r} of node {i} ({node.name!r}) points "
                                     "to a model outside the tree")
                refs[name] = None if ref is None else index[ref.id]
            out.append({"name": node.name, "dims": dict(node._dims), "refs": refs,
                        "attrs": dict(node._attrs), "params": dict(node._params)})
        return out

    def from_bytes(self, data: bytes) -> "Model":
        """Load what ``to_bytes`` wrote into this model (same architecture): our
        format, or Thinc's (a msgpack map, as Thinc 9.1's ``Model.to_bytes`` writes).

        Everything is checked before anything is changed: on a shape, name or
        format mismatch the model is left as it was and a ValueError names it
        (a FormatError, also a ValueError, for corrupt or truncated data).
        Nothing is unpickled: npz + JSON, or plain msgpack with arrays decoded
        from an allow-list of numeric dtypes.
        """
        nodes = self.walk()
        if _thinc_format.is_thinc_bytes(data):
            saved = _thinc_format.decode(data)
            strict = True
        else:
            saved = self._read_own_format(data, nodes)
            strict = False
        self._load_saved(nodes, saved, strict=strict)
        return self

    def _read_own_format(self, data: bytes, nodes: List["Model"]) -> List[Dict[str, Any]]:
        """The per-node descriptions (as ``_thinc_format.decode`` gives them) of our npz format."""
        header, arrays = unpack(data, kind="model", max_version=MODEL_FORMAT_VERSION)
        saved = header.get("nodes")
        if not isinstance(saved, list) or len(saved) != len(nodes):
            count = len(saved) if isinstance(saved, list) else "no"
            raise ValueError(f"cannot load into model {self.name!r}: the data describes "
                             f"{count} nodes, this model has {len(nodes)}")
        out = []
        for i, (node, info) in enumerate(zip(nodes, saved)):
            where = f"node {i} ({node.name!r})"
            if not isinstance(info, dict) or not isinstance(info.get("attrs", {}), dict) or \
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
            out.append({"name": info.get("name"), "dims": info.get("dims", {}), "refs": None,
                        "attrs": info.get("attrs", {}), "params": params})
        return out

    def _load_saved(self, nodes: List["Model"], saved: List[Dict[str, Any]], *,
                    strict: bool) -> None:
        """Check `saved` (one description per node of `nodes`) against the model, then
        load it. `strict` (Thinc's files): refs must agree and every attr must be one
        this node has, of the same kind; otherwise attrs are taken as they are."""
        if len(saved) != len(nodes):
            raise ValueError(f"cannot load into model {self.name!r}: the data describes "
                             f"{len(saved)} nodes, this model has {len(nodes)}")
        index = {node.id: i for i, node in enumerate(nodes)}
        plan = []
        for i, (node, info) in enumerate(zip(nodes, saved)):
            where = f"node {i} ({node.name!r})"
            if info["name"] != node.name:
                raise ValueError(f"cannot load into model {self.name!r}: {where} is called "
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
            if info["refs"] is not None:
                ours = {name: None if ref is None else index.get(ref.id, -1)
                        for name, ref in node._refs.items()}
                if set(info["refs"]) != set(ours):
                    raise ValueError(f"cannot load: {where} has references {sorted(ours)} in the "
                                     f"model but {sorted(info['refs'])} in the data")
                for ref, value in info["refs"].items():
                    if ours[ref] != value:
                        raise ValueError(f"cannot load: reference {ref!r} of {where} points to "
                                         f"node {ours[ref]} in the model but {value} in the data")
            if strict:
                for attr, value in info["attrs"].items():
                    if attr not in node._attrs:
                        raise ValueError(f"cannot load: {where} has no attr {attr!r} (known: "
                                         f"{sorted(node._attrs)})")
                    if not _same_kind(node._attrs[attr], value):
                        raise ValueError(f"cannot load: attr {attr!r} of {where} is "
                                         f"{node._attrs[attr]!r} in the model but {value!r} "
                                         "in the data")
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
        for node, info in zip(nodes, saved):
            for dim, value in info["dims"].items():
                if node._dims[dim] is None and value is not None:
                    node._dims[dim] = int(value)
            node._attrs.update(info["attrs"])
        for node, name, array in plan:
            node.set_param(name, self.ops.asarray(array))
        ParamArena(self)

    def to_disk(self, path: PathT, *, format: str = "thinc_fast") -> None:
        """Write ``to_bytes(format=format)`` to `path` atomically (write, then rename)."""
        atomic_write(path, self.to_bytes(format=format))

    def from_disk(self, path: PathT) -> "Model":
        """Load a file written by ``to_disk`` or by Thinc's; see ``from_bytes``."""
        return self.from_bytes(read_file(path))

    # ------------------------------------------------------------------ copy
    def copy(self) -> "Model":
        """An independent deep copy (new ids, own parameters and arena).
        Nodes shared inside the tree stay shared in the copy."""
        memo: Dict[int, Model] = {}
        clone = self._copy_node(memo)
        if self._arena is not None:
            ParamArena(clone)
        return clone

    def _copy_node(self, memo: Dict[int, "Model"]) -> "Model":
        if self.id in memo:
            return memo[self.id]
        new = Model.__new__(Model)
        memo[self.id] = new
        new.name = self.name
        new.id = next(_model_ids)
        new.ops = self.ops
        new._func = self._func
        new.init = self.init
        new._dims = dict(self._dims)
        new._params = {k: (None if v is None else v.copy()) for k, v in self._params.items()}
        new._grads = {k: v.copy() for k, v in self._grads.items()}
        new._has_grad = set(self._has_grad)
        new._arena = None
        new._layers = [layer._copy_node(memo) for layer in self._layers]
        new._refs = {k: (None if v is None else v._copy_node(memo)) for k, v in self._refs.items()}
        new._attrs = _copy.deepcopy(self._attrs)
        return new

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Model":
        return self.copy()


def _jsonable(attrs: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


def _same_kind(current: Any, value: Any) -> bool:
    """Whether a loaded attr `value` may replace `current`: numbers by numbers, bools
    by bools, lists by lists, and so on; anything may replace None."""
    if current is None:
        return True
    if isinstance(current, (bool, numpy.bool_)) or isinstance(value, bool):
        return isinstance(current, (bool, numpy.bool_)) and isinstance(value, bool)
    if isinstance(current, numbers.Real):
        return isinstance(value, (int, float))
    if isinstance(current, (list, tuple)):
        return isinstance(value, list)
    return type(value) is type(current)


def _check_dim_value(model: Model, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 0:
        raise ValueError(f"Dimension {name!r} of model {model.name!r} must be a non-negative int, "
                         f"got {value!r}")
    return int(value)


def _make_operator(symbol: str) -> Callable[[Model, Any], Model]:
    def operator(self: Model, other: Any) -> Model:
        return self._apply_operator(symbol, other)

    operator.__name__ = _OPERATOR_METHODS[symbol]
    return operator


for _symbol, _method in _OPERATOR_METHODS.items():
    setattr(Model, _method, _make_operator(_symbol))
