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
import contextvars
import copy as _copy
import functools
import itertools
import numbers
import warnings
from typing import (Any, Callable, Dict, Generic, List, Optional, Sequence, Tuple,
                    TypeVar)

import msgpack
import numpy

from ._arena import ArenaOptimizer, ParamArena
from ._io import FormatError, PathT, atomic_write, pack, read_file, unpack
from . import _thinc_format
from .backends import Ops, get_current_ops
from .util import DATA_VALIDATION, validate_fwd_input_output
from .shims.shim import Shim  # noqa: F401  (re-exported: thinc_fast.model.Shim)

InT = TypeVar("InT")
OutT = TypeVar("OutT")
ForwardT = Callable[["Model", Any, bool], Tuple[Any, Callable[[Any], Any]]]
InitT = Callable[..., Any]

MODEL_FORMAT_VERSION = 2  # 2: attrs as serialize_attr bytes, refs, shims
_model_ids = itertools.count(1)
_OPERATOR_METHODS = {
    ">>": "__rshift__", "<<": "__lshift__", "|": "__or__", "&": "__and__", "+": "__add__",
    "-": "__sub__", "*": "__mul__", "@": "__matmul__", "/": "__truediv__", "//": "__floordiv__",
    "%": "__mod__", "**": "__pow__", "^": "__xor__",
}


#: set by :func:`watch_training`: ``wrap(node, backprop) -> backprop`` (None: no watch)
_TRAINING_WATCH: contextvars.ContextVar[Optional[Callable[["Model", Callable], Callable]]] = \
    contextvars.ContextVar("thinc_fast_training_watch", default=None)


@contextlib.contextmanager
def watch_training(wrap: Callable[["Model", Callable], Callable]):
    """Within the block (this thread or task), every training call of a node
    (``begin_update(X)``, or ``node(X, is_train=True)`` from a combinator)
    hands the backprop callback it returns to ``wrap(node, backprop)`` and
    returns what `wrap` returns instead. For hooks that must know when a
    node's backward pass has finished (the distributed exchange starts
    summing a layer's gradients then: :class:`thinc_fast.step.GradientBuckets`).
    The callbacks keep their wrapping when called after the block."""
    token = _TRAINING_WATCH.set(wrap)
    try:
        yield
    finally:
        _TRAINING_WATCH.reset(token)


class UnsetError(KeyError, ValueError):
    """A parameter or reference that is declared but has no value yet.

    Both a KeyError (what Thinc raises for an unallocated parameter) and a
    ValueError (what Thinc raises for an unset reference, and what thinc_fast
    raised for both), so code written for either catches it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class _NotThincWritable(ValueError):
    """The model holds something Thinc's file layout cannot (a slice attr)."""


class Model(Generic[InT, OutT]):
    """A node of a model tree: forward function, dims, params, grads, children."""

    # the operators bound by define_operators in this context (thread, task)
    _context_operators: contextvars.ContextVar[Dict[str, Callable[..., Any]]] = \
        contextvars.ContextVar("thinc_fast_operators", default={})

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
        shims: Optional[Sequence[Shim]] = None,
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
        self._arena_nodes = 0  # nodes of the tree when this node packed its arena
        for pname, value in (params or {}).items():
            self._params[pname] = None if value is None else self._as_param(pname, value)
        self._layers: List[Model] = list(layers or [])
        for layer in self._layers:
            if not isinstance(layer, Model):
                raise TypeError(f"Model {name!r}: layers must be Model instances, got {type(layer).__name__}")
        self._refs: Dict[str, Optional[Model]] = dict(refs or {})
        self._attrs: Dict[str, Any] = dict(attrs or {})
        self._shims: List[Shim] = list(shims or [])

    def __repr__(self) -> str:
        return f"<Model {self.name!r} id={self.id} dims={self._dims}>"

    @classmethod
    @contextlib.contextmanager
    def define_operators(cls, operators: Dict[str, Callable[..., "Model"]]):
        """Within the block, bind Python operators to combinators, as in Thinc:
        ``with Model.define_operators({">>": chain}): model = Relu(64) >> Softmax()``.

        As in Thinc, a nested block *replaces* the bindings (operators bound
        only outside it are undefined inside), and the bindings belong to the
        current thread (a context variable)."""
        unknown = set(operators) - set(_OPERATOR_METHODS)
        if unknown:
            raise ValueError(f"define_operators: unsupported operators {sorted(unknown)}; "
                             f"supported: {' '.join(_OPERATOR_METHODS)}")
        token = cls._context_operators.set(dict(operators))
        try:
            yield
        finally:
            cls._context_operators.reset(token)

    def _apply_operator(self, symbol: str, other: Any) -> "Model":
        func = Model._context_operators.get().get(symbol)
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

    @property
    def shims(self) -> List[Shim]:
        """Wrapped models of other frameworks (see :class:`Shim`)."""
        return self._shims

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
            raise ValueError(f"Invalid order {order!r}, must be one of: bfs, dfs_pre, dfs_post")
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

    def remove_node(self, node: "Model") -> None:
        """Remove `node` from the layers of every node of this tree; references
        that then point outside the tree are set to None."""
        for parent in self.walk():
            parent._layers[:] = [layer for layer in parent._layers if layer is not node]
        tree = self.walk()
        inside = {n.id for n in tree}
        for parent in tree:
            for name, ref in parent._refs.items():
                if ref is not None and ref.id not in inside:
                    parent._refs[name] = None

    def replace_node(self, old: "Model", new: "Model") -> bool:
        """Put `new` wherever `old` is a layer or a reference inside this tree
        (children first, so references to deeper nodes stay valid). Returns
        whether `old` was found."""
        if not isinstance(new, Model):
            raise TypeError(f"replace_node: expected a Model, got {type(new).__name__}")
        seen = False
        for node in self.walk(order="dfs_post"):
            if node is old:
                seen = True
                continue
            node._layers[:] = [new if layer is old else layer for layer in node._layers]
            for name, ref in node._refs.items():
                if ref is old:
                    node.set_ref(name, new)
        return seen

    def replace_callbacks(self, forward: ForwardT, *, init: Optional[InitT] = None) -> None:
        """Swap this node's forward and init functions (``with_debug`` does)."""
        if not callable(forward):
            raise TypeError(f"Model {self.name!r}: forward must be callable, got "
                            f"{type(forward).__name__}")
        self._func = forward
        self.init = init

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
        """Set dimension `name`. Changing a set value needs ``force=True``, and
        (as in Thinc) is refused while any parameter of this node is allocated:
        set the parameters to None first."""
        if name not in self._dims:
            raise KeyError(f"Cannot set dimension {name!r} for model {self.name!r}: "
                           f"unknown dimension (known: {list(self._dims)})")
        old = self._dims[name]
        if value is not None:
            value = _check_dim_value(self, name, value)
        if old is not None and value != old:
            if not force:
                raise ValueError(f"Attempt to change dimension {name!r} for model {self.name!r} "
                                 f"from {old} to {value}")
            allocated = [p for p, array in self._params.items() if array is not None]
            if allocated:
                raise ValueError(f"Attempt to change dimension {name!r} for model {self.name!r} "
                                 f"from {old} to {value} while its parameters "
                                 f"{', '.join(repr(p) for p in allocated)} are allocated "
                                 "(force=True needs them set to None first)")
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
        """The array of parameter `name` (a view into the arena once initialised).
        KeyError if unknown; :class:`UnsetError` (a KeyError and a ValueError)
        if declared but not allocated."""
        value = self._params.get(name)
        if value is None:
            raise self._param_error(name, "get")
        return value

    def maybe_get_param(self, name: str):
        """The array of parameter `name`, or None if unknown or unallocated."""
        return self._params.get(name)

    def set_param(self, name: str, value: Any) -> None:
        """Set parameter `name` (a new name declares it, as in Thinc; None
        declares it unallocated). Same shape: copied into the existing array, so
        views (the arena) stay valid. New shape: stored anew, the arena is rebuilt
        at the next ``finish_update`` and the accumulated gradient is dropped."""
        if value is None:
            self._drop_param(name)
            return
        array = self._as_param(name, value)
        expected = _thinc_format.expected_shape(self.name, name, self._dims)
        if expected is not None and (len(expected) != array.ndim or any(
                n is not None and n != m for n, m in zip(expected, array.shape))):
            raise ValueError(f"set_param: parameter {name!r} of model {self.name!r} has shape "
                             f"{expected} (from its dims {self._dims}), the value has shape "
                             f"{tuple(array.shape)}. To resize it, set it to None, change the "
                             "dims (set_dim force=True), then set it.")
        current = self._params.get(name)
        if current is not None and current.shape == array.shape:
            current[...] = array
            return
        self._drop_param(name)
        self._params[name] = array

    def _drop_param(self, name: str) -> None:
        self._params[name] = None
        self._grads.pop(name, None)
        self._has_grad.discard(name)
        self._arena = None  # the tree's arena no longer holds this node's params: pack anew

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
        return UnsetError(f"Cannot {verb} parameter {name!r} for model {self.name!r}: "
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

    def maybe_get_grad(self, name: str):
        """The gradient of `name` if it has one (see ``has_grad``), else None."""
        return self.get_grad(name) if self.has_grad(name) else None

    def get_gradients(self) -> Dict[Tuple[int, str], Tuple[Any, Any]]:
        """``{(node.id, name): (param, grad)}`` for every parameter of the tree
        that has a gradient: the arrays themselves (arena views), not copies."""
        return {(node.id, name): (node._params[name], node._grads[name])
                for node in self.walk() for name in node.grad_names}

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
        if value.shape != grad.shape and value.ndim != 0:  # a scalar fills, as in Thinc
            raise ValueError(f"Gradient for {name!r} of model {self.name!r} has shape {value.shape}, "
                             f"but the parameter has shape {grad.shape}")
        return value

    def zero_grads(self) -> None:
        """Set every gradient of this model tree to zero (one fill of the arena)."""
        self._packed_arena().grads.fill(0)

    # ------------------------------------------------------------------ refs
    @property
    def ref_names(self) -> Tuple[str, ...]:
        return tuple(self._refs)

    def has_ref(self, name: str) -> Optional[bool]:
        if name not in self._refs:
            return False
        return True if self._refs[name] is not None else None

    def get_ref(self, name: str) -> "Model":
        """The node referenced as `name`: KeyError if unknown, :class:`UnsetError`
        (a KeyError and a ValueError) if declared but unset."""
        if name not in self._refs:
            raise KeyError(f"Cannot get reference {name!r} for model {self.name!r}: "
                           f"unknown reference (known: {list(self._refs)})")
        ref = self._refs[name]
        if ref is None:
            raise UnsetError(f"Cannot get reference {name!r} for model {self.name!r}: "
                             "value unset")
        return ref

    def maybe_get_ref(self, name: str) -> Optional["Model"]:
        """The node referenced as `name`, or None if unknown or unset."""
        return self._refs.get(name)

    def set_ref(self, name: str, value: Optional["Model"]) -> None:
        """Point reference `name` at `value`, a node of this model's tree (this
        node or a descendant, so that it can be serialised), or None."""
        if value is not None:
            if not isinstance(value, Model):
                raise TypeError(f"set_ref: expected a Model, got {type(value).__name__}")
            if not any(node is value for node in self.walk()):
                raise ValueError(f"Cannot set reference {name!r} of model {self.name!r} to "
                                 f"{value.name!r}: cannot add reference to node not in tree")
        self._refs[name] = value

    # ----------------------------------------------------------- the work
    def initialize(self, X: Any = None, Y: Any = None) -> "Model":
        """Infer missing dims from sample data `X`/`Y`, allocate the parameters
        and pack them into one arena. Returns self. (A layer's init that
        initialises its children packs their subtrees first; packing this tree
        afterwards copies them into its own arena, at init time only.)

        Under ``data_validation(True)``, `X` and `Y` are first checked against
        the annotations of the forward function (``DataValidationError``)."""
        if DATA_VALIDATION.get():
            validate_fwd_input_output(self.name, self._func, X, Y)
        if self.init is not None:
            self.init(self, X=X, Y=Y)
        self._pack()
        return self

    def begin_update(self, X: InT) -> Tuple[OutT, Callable[[Any], Any]]:
        """Run the model for training: returns ``(Y, backprop)``; ``backprop(dY)``
        returns the gradient of the input and increments parameter gradients."""
        return self(X, is_train=True)

    def predict(self, X: InT) -> OutT:
        """Run the model for inference (dropout off) and return the output."""
        return self._func(self, X, False)[0]

    def __call__(self, X: InT, is_train: bool = False) -> Tuple[OutT, Callable[[Any], Any]]:
        """Call the forward function: ``(Y, backprop)``."""
        if is_train:
            wrap = _TRAINING_WATCH.get()
            if wrap is not None:
                Y, backprop = self._func(self, X, is_train)
                return Y, wrap(self, backprop)
        return self._func(self, X, is_train)

    def finish_update(self, optimizer: Any) -> None:
        """Apply the accumulated gradients with `optimizer` and zero them.

        With a thinc_fast optimizer this is one fused kernel call over the
        parameter arena. Other optimizers are called Thinc's way, once per
        parameter: ``optimizer((node.id, name), param, grad)``. As in Thinc,
        nothing happens while no gradient has been computed (no backprop yet);
        shims are passed the optimizer first.
        """
        if not _updates_arenas(type(optimizer)) and not callable(optimizer):
            raise TypeError(f"finish_update of model {self.name!r}: expected an optimizer (e.g. "
                            f"Adam(0.001)), got {type(optimizer).__name__} {optimizer!r:.60}")
        nodes = self.walk()
        for node in nodes:
            for shim in node._shims:
                shim.finish_update(optimizer)
        if not any(node._has_grad for node in nodes):
            return
        if _updates_arenas(type(optimizer)):
            optimizer.update_arena(self._packed_arena())
            return
        for node in self.walk():
            for name in node.param_names:
                if node.has_grad(name):
                    param, grad = optimizer((node.id, name), node.get_param(name), node.get_grad(name))
                    node.set_param(name, param)

    # ----------------------------------------------------------------- arena
    @property
    def arena(self) -> ParamArena:
        """This model's parameter arena (packed anew if needed)."""
        return self._packed_arena()

    def _packed_arena(self) -> ParamArena:
        """This tree's arena, packed anew when there is none, when it was packed
        for another root, when a node has left it (packed elsewhere, or a
        parameter changed shape or was added) or when the tree changed."""
        arena = self._arena
        if arena is None or arena.owner_id != self.id:
            return self._pack()
        nodes = self.walk()
        if len(nodes) != self._arena_nodes or any(node._arena is not arena for node in nodes):
            return self._pack()
        return arena

    def _pack(self) -> ParamArena:
        """Lay every allocated parameter of this tree into one new arena, copy
        the values (and gradients accumulated so far) in, and point each node's
        params and grads at their views. The one place an arena is built."""
        nodes = self.walk()
        tensors = [(node, name, value.shape) for node in nodes
                   for name, value in node._params.items() if value is not None]
        arena = ParamArena(self.ops, tensors, key=_arena_key, owner_id=self.id)
        for i, (node, name, *_) in enumerate(arena.entries):
            p_view, g_view = arena.param_view(i), arena.grad_view(i)
            p_view[...] = node._params[name]
            old_grad = node._grads.get(name)
            if old_grad is not None and old_grad.shape == p_view.shape:
                g_view[...] = old_grad
            node._params[name] = p_view
            node._grads[name] = g_view
        for node in nodes:
            node._arena = arena
        self._arena_nodes = len(nodes)
        return arena

    def to_gpu(self, gpu_id: int = 0) -> None:  # pragma: no cover - needs a GPU
        """Move the model (parameters, gradients, arena) to GPU `gpu_id`."""
        from .backends import get_ops

        self._to_ops(get_ops("cupy", device_id=gpu_id))

    def to_cpu(self) -> None:
        """Move the model (parameters, gradients, arena) to the CPU backend."""
        from .backends import get_ops

        self._to_ops(get_ops("numpy"))

    def _to_ops(self, ops: Ops) -> None:
        """Give every node `ops`; arrays that live elsewhere are moved and the
        arena is rebuilt on the new backend (same backend: nothing is copied)."""
        moved = False
        on_host = ops.xp is numpy
        for node in self.walk():
            node.ops = ops
            for table in (node._params, node._grads):
                for name, value in table.items():
                    if value is None:
                        continue
                    new = ops.asarray(value.get() if on_host and hasattr(value, "get")
                                      and not isinstance(value, numpy.ndarray) else value)
                    if new is not value:
                        table[name] = new
                        moved = True
            for shim in node._shims:
                shim.to_device("cpu" if on_host else "gpu", getattr(ops, "device_id", 0))
        if moved and self._arena is not None:
            self._pack()

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
            with contextlib.ExitStack() as stack:
                for node in self.walk():
                    for shim in node._shims:
                        stack.enter_context(shim.use_params(params or {}))
                yield
        finally:
            for node, name, value in reversed(backup):
                node.set_param(name, value)

    # --------------------------------------------------------- serialization
    def to_bytes(self, *, format: Optional[str] = None) -> bytes:
        """Dims, refs, attrs, parameters and shims of every node, without pickle.

        The default writes Thinc's own layout (the msgpack map Thinc 9.1's
        ``Model.to_bytes`` writes, which Thinc 8.3 and 9.1 load with
        ``Model.from_bytes``) plus one more entry, ``"thinc_fast"``, holding
        the SHA-256 of the rest: Thinc ignores it, thinc_fast's ``from_bytes``
        refuses bytes that no longer match it. A model Thinc's layout cannot
        hold (an attr holding a slice) is written in thinc_fast's format
        instead, with a warning saying why.
        ``format="thinc"``: exactly Thinc's bytes, without the checksum.
        ``format="thinc_fast"``: an npz archive with a JSON header, a manifest
        and a checksum (what the CLI's run folders and checkpoints hold).
        ``from_bytes`` reads all three.

        Attrs are stored as the bytes :func:`serialize_attr` gives (msgpack by
        default, which keeps int dict keys, NumPy arrays and slices; register
        your own types with ``@serialize_attr.register``). An attr it cannot
        encode raises ValueError naming the node and the attr. Functions and
        other callables (code, such as ``resizable``'s ``resize_layer``) are
        not data and are not stored: our format records their names, and
        loading requires the model loaded into to have a callable there
        (Thinc's format, like Thinc, leaves them out). A reference to a node
        outside the tree raises ValueError, as in Thinc. Shims are stored as
        their ``to_bytes()``.
        """
        if format is None:
            try:
                return _thinc_format.encode(self._thinc_nodes(), stamp=True)
            except _NotThincWritable as err:
                warnings.warn(f"{err}; wrote thinc_fast's format instead, which Thinc cannot "
                              "read (pass format='thinc_fast' to silence this)", stacklevel=2)
                format = "thinc_fast"
        if format == "thinc":
            return _thinc_format.encode(self._thinc_nodes())
        if format != "thinc_fast":
            raise ValueError(f"to_bytes: unknown format {format!r} (use None, 'thinc' or "
                             "'thinc_fast')")
        nodes = self.walk()
        all_refs = self._ref_indices(nodes)
        header_nodes = []
        arrays = {}
        for i, node in enumerate(nodes):
            where = f"node {i} ({node.name!r})"
            params = [name for name, value in node._params.items() if value is not None]
            for name in params:
                arrays[f"{i}:{name}"] = node._params[name]
            attrs, code = _encode_attrs(node, where, for_thinc=False)
            for k, data in enumerate(attrs.values()):
                arrays[f"attr:{i}:{k}"] = numpy.frombuffer(data, dtype=numpy.uint8)
            shims = _shim_bytes(node, where)
            for j, data in enumerate(shims):
                arrays[f"shim:{i}:{j}"] = numpy.frombuffer(data, dtype=numpy.uint8)
            header_nodes.append({"name": node.name, "dims": node._dims, "params": params,
                                 "refs": all_refs[i], "attrs": list(attrs),
                                 "code_attrs": code, "shims": len(shims)})
        header = {"format": "thinc_fast.model", "version": MODEL_FORMAT_VERSION,
                  "nodes": header_nodes}
        return pack(header, arrays)

    def _ref_indices(self, nodes: List["Model"]) -> List[Dict[str, Optional[int]]]:
        """Each node's refs as indices into `nodes` (``walk()``); ValueError for a
        reference to a model outside the tree (it could not be loaded back)."""
        index = {node.id: i for i, node in enumerate(nodes)}
        out = []
        for i, node in enumerate(nodes):
            refs: Dict[str, Optional[int]] = {}
            for name, ref in node._refs.items():
                if ref is not None and ref.id not in index:
                    raise ValueError(f"cannot save model {self.name!r}: reference {name!r} of "
                                     f"node {i} ({node.name!r}) points to model {ref.name!r}, "
                                     "outside the tree")
                refs[name] = None if ref is None else index[ref.id]
            out.append(refs)
        return out

    def _thinc_nodes(self) -> List[Dict[str, Any]]:
        """Each node as ``_thinc_format.encode`` takes it (refs as indices into
        walk(), attrs as ``serialize_attr`` bytes, shims as bytes)."""
        nodes = self.walk()
        all_refs = self._ref_indices(nodes)
        out = []
        for i, node in enumerate(nodes):
            where = f"node {i} ({node.name!r})"
            attrs, code = _encode_attrs(node, where, for_thinc=True)
            out.append({"name": node.name, "dims": dict(node._dims), "refs": all_refs[i],
                        "attrs": attrs, "code_attrs": code, "params": dict(node._params),
                        "shims": _shim_bytes(node, where)})
        return out

    def from_bytes(self, data: bytes) -> "Model":
        """Load what ``to_bytes`` wrote into this model (same architecture): our
        format (any version), or Thinc's (a msgpack map, as Thinc 9.1's
        ``Model.to_bytes`` writes).

        As in Thinc, references are set from the data and attrs are decoded
        with :func:`deserialize_attr` (given the node's current value). From
        Thinc's files, every attr must be one the node has, of the same kind.
        Everything is checked (and every attr decoded) before anything is
        changed: on a shape, name or format mismatch the model is left as it
        was and a ValueError names it (a FormatError, also a ValueError, for
        corrupt or truncated data); shims load last. Nothing is unpickled: npz
        + JSON, or plain msgpack with arrays decoded from an allow-list of
        numeric dtypes.

        Memory is bounded by this model, whatever sizes the data declares
        (see ``_LoadBounds``): each parameter may declare at most 4 times its
        size in this model plus 64 KiB (arrays whose shape the model does not
        know yet, and attr and shim blobs, at most what the data stores); our
        format's JSON header at most 64 KiB plus 4 KiB per node (plus 4 times
        the node's attrs); Thinc's msgpack at most 4,096 values plus a few
        hundred per node, and the attrs at most 65,536 values plus twice what
        the model's attrs hold. Each is checked before anything is
        decompressed or unpacked, so that loading or refusing N bytes costs at
        most a small multiple of the model's size plus O(N).
        """
        nodes = self.walk()
        bounds = _LoadBounds(nodes)
        if _thinc_format.is_thinc_bytes(data):
            # Thinc's own bytes must match the model attr for attr; bytes
            # thinc_fast wrote (stamped) may add attrs, as its npz format may
            count = _thinc_format.peek_node_count(data)
            if count is not None and count > len(nodes):  # before its values are counted
                raise FormatError(f"cannot load into model {self.name!r}: the data describes "
                                  f"{count} nodes, this model has {len(nodes)}")
            saved, stamped = _thinc_format.decode(data, with_stamp=True,
                                                  max_values=bounds.values, n_nodes=len(nodes))
            strict = not stamped
        else:
            saved = self._read_own_format(data, nodes, bounds)
            strict = False
        self._load_saved(nodes, saved, strict=strict, attr_values=bounds.attr_values)
        return self

    def _read_own_format(self, data: bytes, nodes: List["Model"],
                         bounds: "_LoadBounds") -> List[Dict[str, Any]]:
        """The per-node descriptions (as ``_thinc_format.decode`` gives them) of
        our npz format. Version 1 stored attrs as JSON values (``plain_attrs``);
        version 2 stores ``serialize_attr`` bytes, refs, code attr names and shims."""
        header, arrays = unpack(data, kind="model", max_version=MODEL_FORMAT_VERSION,
                                names=lambda header: _array_names(header, nodes, self.name),
                                max_header=bounds.header,
                                max_bytes=bounds.param_limits, max_members=bounds.members,
                                max_containers=bounds.containers)
        version = header["version"]
        saved = header.get("nodes")
        if not isinstance(saved, list) or len(saved) != len(nodes):
            count = len(saved) if isinstance(saved, list) else "no"
            raise ValueError(f"cannot load into model {self.name!r}: the data describes "
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

    def _load_saved(self, nodes: List["Model"], saved: List[Dict[str, Any]], *,
                    strict: bool, attr_values: Optional[int] = None) -> None:
        """Check `saved` (one description per node of `nodes`) against the model,
        decode its attrs, then load it. `strict` (Thinc's files): every attr must
        be one this node has, of the same kind; otherwise attrs are taken as they are.
        `attr_values`: the most msgpack values all attrs decoded by the default
        ``deserialize_attr`` may hold together, counted before each is unpacked."""
        if len(saved) != len(nodes):
            raise ValueError(f"cannot load into model {self.name!r}: the data describes "
                             f"{len(saved)} nodes, this model has {len(nodes)}")
        plan = []
        loads = []
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
            refs = {ref: None if target is None else nodes[target]
                    for ref, target in (info["refs"] or {}).items()}
            for attr in info.get("code_attrs", []):
                if not _is_code(node._attrs.get(attr)):
                    raise ValueError(f"cannot load: attr {attr!r} of {where} is code (a "
                                     "function or other callable), which is not stored: the "
                                     "model must supply it, but its value is "
                                     f"{node._attrs.get(attr, '(missing)')!r}")
            attrs = dict(info.get("plain_attrs", {}))
            for attr, raw in info["attrs"].items():
                if strict and attr not in node._attrs:
                    raise ValueError(f"cannot load: {where} has no attr {attr!r} (known: "
                                     f"{sorted(node._attrs)})")
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
                if strict and not _same_kind(current, value):
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
            for dim, value in saved_dims.items():
                if node._dims[dim] is None and value is not None:
                    node._dims[dim] = int(value)
            node._refs.update(refs)
            node._attrs.update(attrs)
        for node, name, array in plan:
            node.set_param(name, self.ops.asarray(array))
        self._pack()
        for node, _, _, _, shims in loads:
            for shim, data in zip(node._shims, shims or ()):
                shim.from_bytes(data)

    def to_disk(self, path: PathT, *, format: Optional[str] = None) -> None:
        """Write ``to_bytes(format=format)`` to `path` atomically (write, then
        rename); by default a file Thinc loads too (see :meth:`to_bytes`)."""
        atomic_write(path, self.to_bytes(format=format))

    def from_disk(self, path: PathT) -> "Model":
        """Load a file written by ``to_disk`` or by Thinc's; see ``from_bytes``
        (memory bounded by this model; a FormatError names the file)."""
        data = read_file(path)
        try:
            return self.from_bytes(data)
        except FormatError as err:
            raise FormatError(f"{path}: {err}") from None

    # -------------------------------------------------------------- as a dict
    def to_dict(self) -> Dict[str, List[Any]]:
        """The model as Thinc's dict: four lists aligned on ``walk()``::

            {"nodes": [{"index": i, "name": ..., "dims": {...}, "refs": {ref: index | None}}],
             "attrs": [{attr: bytes}],  # serialize_attr; attrs it cannot encode are left out
             "params": [{name: array | None}],  # the live arrays (arena views), not copies
             "shims": [[shim.to_bytes(), ...]]}

        References are stored as indices into ``walk()``; a reference to a node
        outside the tree raises ValueError.
        """
        nodes = self.walk()
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

    def from_dict(self, msg: Dict[str, Any]) -> "Model":
        """Load what ``to_dict`` gave (Thinc's layout) into this model: names,
        dims, refs, attrs (``deserialize_attr``), params (copied) and shims.

        Checked before anything changes: the number of nodes, dims that differ
        from set dims, reference indices, parameter dtypes, and the attrs decode.
        """
        if not isinstance(msg, dict) or "nodes" not in msg:
            raise ValueError("Cannot deserialize model: the data is not a model dict (no "
                             "'nodes'); was it written by an incompatible version?")
        nodes = self.walk()
        infos = msg["nodes"]
        if len(infos) != len(nodes):
            raise ValueError(f"Cannot deserialize model: mismatched structure: the data has "
                             f"{len(infos)} nodes, model {self.name!r} has {len(nodes)}")
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
                value = _check_dim_value(node, dim, value)
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
            node.name = name
            node._dims.update(dims)
            node._refs.update(refs)
            node._attrs.update(attrs)
            for pname, value in params.items():
                node.set_param(pname, value)
            for shim, data in zip(node._shims, shims):
                shim.from_bytes(data)
        self._pack()
        return self

    def can_from_dict(self, msg: Dict[str, Any], *, strict: bool = True) -> bool:
        """Whether ``from_dict(msg)`` would fit this model: same number of nodes,
        known dims equal where set, known params of the same shape where both are
        allocated; with `strict`, also the same node names and attrs."""
        if not isinstance(msg, dict) or "nodes" not in msg:
            return False
        nodes = self.walk()
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

    # ------------------------------------------------------------------ copy
    def copy(self) -> "Model":
        """An independent deep copy (new ids, own parameters and arena).
        Nodes shared inside the tree stay shared in the copy (shims too)."""
        memo: Dict[Any, Any] = {}
        clone = self._copy_node(memo)
        if self._arena is not None:
            clone._pack()
        return clone

    def _copy_node(self, memo: Dict[Any, Any]) -> "Model":
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
        new._arena_nodes = 0
        new._layers = [layer._copy_node(memo) for layer in self._layers]
        new._refs = {k: (None if v is None else v._copy_node(memo)) for k, v in self._refs.items()}
        new._attrs = _copy.deepcopy(self._attrs)
        new._shims = []
        for shim in self._shims:
            key = ("shim", id(shim))
            if key not in memo:
                memo[key] = shim.copy()
            new._shims.append(memo[key])
        return new

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Model":
        return self.copy()


def _is_code(value: Any) -> bool:
    """Functions, classes and other callables (a Model excepted): attrs that are
    code, not data, and are never stored."""
    return callable(value) and not isinstance(value, Model)


def _encode_attrs(node: Model, where: str, *, for_thinc: bool) -> Tuple[Dict[str, bytes],
                                                                        List[str]]:
    """``({attr: serialize_attr bytes}, [names of code attrs])`` for `node`.
    ValueError naming the node and the attr for a value that cannot be encoded
    (or, `for_thinc`, one whose default encoding Thinc cannot read)."""
    encoded: Dict[str, bytes] = {}
    code: List[str] = []
    for name, value in node._attrs.items():
        try:
            data = serialize_attr(value, value, name, node)
        except (TypeError, ValueError, OverflowError) as err:
            if _is_code(value):
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
                raise _NotThincWritable(f"cannot save attr {name!r} of {where} in Thinc's format: its "
                                 f"value {value!r} holds a slice, which Thinc cannot read; "
                                 "save the model in thinc_fast's format") from None
        encoded[name] = bytes(data)
    return encoded, code


def _shim_bytes(node: Model, where: str) -> List[bytes]:
    out = []
    for j, shim in enumerate(node._shims):
        data = shim.to_bytes()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"cannot save shim {j} of {where}: its to_bytes() returned a "
                            f"{type(data).__name__}, not bytes")
        out.append(bytes(data))
    return out


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


class _LoadBounds:
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

    def __init__(self, nodes: List[Model]) -> None:
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


def _array_names(header: Dict[str, Any], model_nodes: Optional[List[Model]] = None,
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


def _same_kind(current: Any, value: Any) -> bool:
    """Whether a loaded attr `value` may replace `current`: numbers by numbers, bools
    by bools, sequences by sequences, and so on; anything may replace None."""
    if current is None:
        return True
    if isinstance(current, (bool, numpy.bool_)) or isinstance(value, (bool, numpy.bool_)):
        return isinstance(current, (bool, numpy.bool_)) and isinstance(value, (bool, numpy.bool_))
    if isinstance(current, numbers.Real):
        return isinstance(value, numbers.Real)
    if isinstance(current, (list, tuple)):
        return isinstance(value, (list, tuple))
    return type(value) is type(current)


@functools.lru_cache(maxsize=64)
def _updates_arenas(kind: type) -> bool:
    """Whether optimizers of this class follow the ArenaOptimizer protocol
    (checked once per class: a runtime protocol check is slow per call)."""
    return issubclass(kind, ArenaOptimizer)


def _arena_key(node: Model, name: str) -> Tuple[int, str]:
    """The key optimizers keep per-parameter state by: ``(node.id, name)``."""
    return (node.id, name)


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
def serialize_attr(_: Any, value: Any, name: str, model: Model) -> bytes:
    """An attr value as bytes (msgpack by default, as Thinc's), dispatched on
    the type of the first argument: register your own with
    ``@serialize_attr.register(MyType)``. TypeError: the value cannot be stored
    (``Model.to_dict`` then leaves it out, as Thinc's; ``Model.to_bytes``
    raises, naming the node and the attr)."""
    return msgpack.packb(value, use_bin_type=True, default=_msgpack_default)


_serialize_attr_default = serialize_attr.dispatch(object)


@functools.singledispatch
def deserialize_attr(_: Any, value: Any, name: str, model: Model) -> Any:
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
_ModelT = TypeVar("_ModelT", bound=Model)


def change_attr_values(model: _ModelT, mapping: Dict[str, Dict[str, Any]]) -> _ModelT:
    """For each node whose name is in `mapping`, set the attrs it names, among
    those the node already has (others are ignored). Returns `model`."""
    for node in model.walk():
        for attr, value in mapping.get(node.name, {}).items():
            if attr in node._attrs:
                node._attrs[attr] = value
    return model


def set_dropout_rate(model: _ModelT, drop: float, attrs: Sequence[str] = ("dropout_rate",)
                     ) -> _ModelT:
    """Set the dropout rate of every node that has one of the attrs `attrs`
    (``"dropout_rate"`` by default). Returns `model`."""
    for node in model.walk():
        for attr in attrs:
            if attr in node._attrs:
                node._attrs[attr] = drop
    return model


def wrap_model_recursive(model: Model, wrapper: Callable[[Model], _ModelT]) -> _ModelT:
    """Replace every node `n` below `model` by ``wrapper(n)`` (in place), then
    return ``wrapper(model)``."""
    for node in model.walk():
        if node is not model:
            model.replace_node(node, wrapper(node))
    return wrapper(model)
