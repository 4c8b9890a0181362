"""Model: the one class every layer is an instance of, with Thinc's semantics.

A layer is a function that builds a ``Model`` from a name, a ``forward``
function, an optional ``init`` function, dims, params and child layers.
``forward(model, X, is_train)`` returns ``(Y, backprop)``; ``backprop(dY)``
returns ``dX`` and only *increments* gradients. ``finish_update(optimizer)``
applies the gradients and zeroes them, in one fused call over the parameter
arena (see ``thinc_fast._arena``). The file formats (``to_bytes``, ``to_dict``
and the attr codec) are in ``thinc_fast._model_format``.
"""
from __future__ import annotations

import contextlib
import contextvars
import copy as _copy
import functools
import threading
from typing import (Any, Callable, Dict, Generic, List, Optional, Sequence, Tuple,
                    TypeVar)

import numpy

from . import _model_format, _thinc_format
from ._arena import ArenaOptimizer, ParamArena
from ._io import FormatError, PathT, atomic_write, read_file
# serialize_attr, deserialize_attr: Thinc exports them from thinc.model
from ._model_format import MODEL_FORMAT_VERSION, deserialize_attr, serialize_attr  # noqa: F401
from .backends import Ops, get_current_ops, get_ops
from .shims.shim import Shim  # noqa: F401  (re-exported: thinc_fast.model.Shim)
from .validation import DATA_VALIDATION, validate_fwd_input_output

InT = TypeVar("InT")
OutT = TypeVar("OutT")
ForwardT = Callable[["Model", Any, bool], Tuple[Any, Callable[[Any], Any]]]
InitT = Callable[..., Any]

def _next_id() -> int:
    """A new node id: ``Model.global_id`` after adding one to it (Thinc's scheme)."""
    with Model.global_id_lock:
        Model.global_id += 1
        return Model.global_id


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


#: set by a training watch while it runs a node's backprop callback: called
#: by :func:`gradients_final` (None: no watch, or the node's call is not watched)
_GRADIENTS_FINAL: contextvars.ContextVar[Optional[Callable[["Model"], None]]] = \
    contextvars.ContextVar("thinc_fast_gradients_final", default=None)


def gradients_final(node: "Model") -> None:
    """Say, from inside `node`'s backprop callback, that this call has written
    every parameter gradient it will write: what is left of it computes only
    the gradient of its input. A training watch (the distributed exchange)
    may start summing `node`'s gradients then, while the input's gradient is
    computed. Optional (the callback's return says the same, later); a no-op
    without a watch, and for any node but the one whose callback is running."""
    hook = _GRADIENTS_FINAL.get()
    if hook is not None:
        hook(node)


@contextlib.contextmanager
def watching_backprop(hook: Callable[["Model"], None]):
    """For a training watch's wrapper, around the node's own callback: route
    :func:`gradients_final` calls made in it (not in nested watched calls,
    which set their own) to `hook`."""
    token = _GRADIENTS_FINAL.set(hook)
    try:
        yield
    finally:
        _GRADIENTS_FINAL.reset(token)


#: set by :func:`input_gradient_unread`: ``(node id, X)`` of the one training
#: call whose input gradient its caller will not read (None: every one is read)
_UNREAD_INPUT: contextvars.ContextVar[Optional[Tuple[int, Any]]] = \
    contextvars.ContextVar("thinc_fast_unread_input", default=None)


@contextlib.contextmanager
def input_gradient_unread(node: "Model", X: Any):
    """Within the block (this thread or task), the backprop callback of
    `node`'s training call on `X` (this very object, not an equal copy) may
    skip computing the gradient of `X` and return None: its caller has said it
    will not read it. Parameter gradients are computed as always.

    For a caller that owns the whole backward pass and drops what it returns,
    as :func:`thinc_fast.step.train_step` does for the layer that receives the
    batch: a model's input gradient (``dY @ W`` of its first dense layer, a
    fifth of the gemm work of a 784-512-512-10 MLP's step) is then not
    computed, as PyTorch computes none for an input that does not require a
    gradient. A layer that honours it asks :func:`input_gradient_wanted`;
    every other layer ignores it."""
    token = _UNREAD_INPUT.set((node.id, X))
    try:
        yield
    finally:
        _UNREAD_INPUT.reset(token)


def input_gradient_wanted(node: "Model", X: Any) -> bool:
    """False only inside :func:`input_gradient_unread` for that node and
    that very input object: then `node`'s backprop may return None instead of
    the gradient of `X`."""
    unread = _UNREAD_INPUT.get()
    return unread is None or unread[0] != node.id or unread[1] is not X


def empty_init(model: "Model", *args: Any, **kwargs: Any) -> "Model":
    """An init function that does nothing (Thinc's ``thinc.model.empty_init``)."""
    return model


class UnsetError(KeyError, ValueError):
    """A parameter or reference that is declared but has no value yet.

    Both a KeyError (what Thinc raises for an unallocated parameter) and a
    ValueError (what Thinc raises for an unset reference, and what thinc_fast
    raised for both), so code written for either catches it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Model(Generic[InT, OutT]):
    """A node of a model tree: forward function, dims, params, grads, children."""

    #: The last id given to a node (ids count from 1, as Thinc's ``Model.global_id``),
    #: under ``global_id_lock`` so that threads building models get distinct ids.
    global_id: int = 0
    global_id_lock: threading.Lock = threading.Lock()

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
        self.id: int = _next_id()
        self.ops: Ops = ops if ops is not None else get_current_ops()
        self._func = forward
        self.init = init
        self._dims: Dict[str, Optional[int]] = {}
        for dim, value in (dims or {}).items():
            self._dims[dim] = None if value is None else self._checked_dim(dim, value)
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
            value = self._checked_dim(name, value)
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

    def _checked_dim(self, name: str, value: Any) -> int:
        """`value` as the int value of dimension `name`; ValueError naming the
        model unless it is a non-negative integer."""
        if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 0:
            raise ValueError(f"Dimension {name!r} of model {self.name!r} must be a non-negative "
                             f"int, got {value!r}")
        return int(value)

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
            optimizer.update_arena(self._packed_arena(nodes))
            return
        for node in nodes:
            for name in node.param_names:
                if node.has_grad(name):
                    param, grad = optimizer((node.id, name), node.get_param(name), node.get_grad(name))
                    node.set_param(name, param)

    # ----------------------------------------------------------------- arena
    @property
    def arena(self) -> ParamArena:
        """This model's parameter arena (packed anew if needed)."""
        return self._packed_arena()

    def _packed_arena(self, nodes: Optional[List["Model"]] = None) -> ParamArena:
        """This tree's arena, packed anew when there is none, when it was packed
        for another root, when a node has left it (packed elsewhere, or a
        parameter changed shape or was added) or when the tree changed.
        `nodes`: ``self.walk()``, when the caller has it."""
        arena = self._arena
        if arena is None or arena.owner_id != self.id:
            return self._pack()
        if nodes is None:
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
        self._to_ops(get_ops("cupy", device_id=gpu_id))

    def to_cpu(self) -> None:
        """Move the model (parameters, gradients, arena) to the CPU backend."""
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

    # ------------------------------------------- serialization (_model_format.py)
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
        return _model_format.to_bytes(self, format)

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
        (see ``_model_format.LoadBounds``): each parameter may declare at most
        4 times its size in this model plus 64 KiB (arrays whose shape the
        model does not know yet, and attr and shim blobs, at most what the data
        stores); our format's JSON header at most 64 KiB plus 4 KiB per node
        (plus 4 times the node's attrs); Thinc's msgpack at most 4,096 values
        plus a few hundred per node, and the attrs at most 65,536 values plus
        twice what the model's attrs hold. Each is checked before anything is
        decompressed or unpacked, so that loading or refusing N bytes costs at
        most a small multiple of the model's size plus O(N).
        """
        _model_format.from_bytes(self, data)
        return self

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

    def can_from_bytes(self, data: bytes, *, strict: bool = True) -> bool:
        """Whether ``from_bytes(data)`` would load into this model (Thinc's
        check): same tree, dims, parameter shapes; with `strict`, also no attr
        that this model holds would take another value. Tried on a copy of
        the model (one copy's memory for the duration); this model is not
        changed."""
        trial = self.copy()
        try:
            trial.from_bytes(data)
        except (ValueError, TypeError, KeyError):  # FormatError is a ValueError
            return False
        if strict:
            for mine, theirs in zip(self.walk(), trial.walk()):
                for name, value in mine._attrs.items():
                    if _attr_changed(value, theirs._attrs.get(name)):
                        return False
        return True

    def can_from_disk(self, path: PathT, *, strict: bool = True) -> bool:
        """``can_from_bytes`` of the file at `path` (False for a folder or a
        missing file, as in Thinc)."""
        import os

        if not os.path.isfile(path):
            return False
        try:
            data = read_file(path)
        except (OSError, ValueError):
            return False
        return self.can_from_bytes(data, strict=strict)

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
        return _model_format.to_dict(self)

    def from_dict(self, msg: Dict[str, Any]) -> "Model":
        """Load what ``to_dict`` gave (Thinc's layout) into this model: names,
        dims, refs, attrs (``deserialize_attr``), params (copied) and shims.

        Checked before anything changes: the number of nodes, dims that differ
        from set dims, reference indices, parameter dtypes, and the attrs decode.
        """
        _model_format.from_dict(self, msg)
        return self

    def can_from_dict(self, msg: Dict[str, Any], *, strict: bool = True) -> bool:
        """Whether ``from_dict(msg)`` would fit this model: same number of nodes,
        known dims equal where set, known params of the same shape where both are
        allocated; with `strict`, also the same node names and attrs."""
        return _model_format.can_from_dict(self, msg, strict=strict)

    def _take_loaded(self, name: str, dims: Dict[str, int], refs: Dict[str, Optional["Model"]],
                     attrs: Dict[str, Any]) -> None:
        """Take the name, dims, refs and attrs ``_model_format`` loaded for this
        node (checked there against the whole tree before any node takes them)."""
        self.name = name
        self._dims.update(dims)
        self._refs.update(refs)
        self._attrs.update(attrs)

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
        new.id = _next_id()
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

    def __copy__(self) -> "Model":
        """A shallow copy shares everything with this node, its arena too (as
        before ``__getstate__`` below existed, which copy.copy would use)."""
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        return new

    def __getstate__(self) -> Dict[str, Any]:
        """What pickle saves: every attribute (ids kept, as Thinc's pickled
        models keep theirs) but the arena. Each parameter and gradient is a
        view of the arena, and pickle stores views as arrays of their own: an
        arena restored beside them would be one the model no longer uses (its
        optimizer steps would update a copy). The arena is packed anew from
        them on first use after loading."""
        state = self.__dict__.copy()
        state["_arena"] = None
        state["_arena_nodes"] = 0
        return state


def _attr_changed(before: Any, after: Any) -> bool:
    """Whether an attr's value differs after a load (arrays compared by value)."""
    if before is after:
        return False
    if hasattr(before, "shape") or hasattr(after, "shape"):
        try:
            return not numpy.array_equal(numpy.asarray(before), numpy.asarray(after))
        except (TypeError, ValueError):
            return True
    try:
        return bool(before != after)
    except (TypeError, ValueError):
        return True


@functools.lru_cache(maxsize=64)
def _updates_arenas(kind: type) -> bool:
    """Whether optimizers of this class follow the ArenaOptimizer protocol
    (checked once per class: a runtime protocol check is slow per call)."""
    return issubclass(kind, ArenaOptimizer)


def _arena_key(node: Model, name: str) -> Tuple[int, str]:
    """The key optimizers keep per-parameter state by: ``(node.id, name)``."""
    return (node.id, name)


def _make_operator(symbol: str) -> Callable[[Model, Any], Model]:
    def operator(self: Model, other: Any) -> Model:
        return self._apply_operator(symbol, other)

    operator.__name__ = _OPERATOR_METHODS[symbol]
    return operator


for _symbol, _method in _OPERATOR_METHODS.items():
    setattr(Model, _method, _make_operator(_symbol))


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
