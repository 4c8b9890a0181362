"""The parameter arena: many tensors in one float32 buffer, and their gradients
in a second.

A plain structure: it is given the tensors' shapes, lays them out (each
starting on a 64-byte boundary), allocates the two flat buffers and keeps the
table ``(node, name, offset, size, shape)``. What a "node" is, it does not
know: :class:`~thinc_fast.model.Model` alone decides what to pack, copies the
values in, hands its nodes the views and decides when to pack anew. With one
buffer per kind, an optimizer updates a whole model in one kernel call,
zeroing gradients is one fill, and a model's gradient is one array to send.

    >>> import numpy
    >>> from thinc_fast.backends import NumpyOps
    >>> arena = ParamArena(NumpyOps(), [("a", "W", (2, 3)), ("a", "b", (2,))])
    >>> [(name, offset, shape) for _, name, offset, _, shape in arena.entries]
    [('W', 0, (2, 3)), ('b', 16, (2,))]
    >>> arena.param_view(1).shape, len(arena)
    ((2,), 32)
"""
from __future__ import annotations

import itertools
from typing import (Any, Callable, Hashable, Optional, Protocol, Sequence, Tuple,
                    runtime_checkable)

# Each tensor starts on a 64-byte boundary inside the arena.
ALIGN = 16
_arena_ids = itertools.count(1)

ShapeT = Tuple[int, ...]
LayoutT = Tuple[Tuple[Hashable, int, ShapeT], ...]


@runtime_checkable
class ArenaOptimizer(Protocol):
    """What ``Model.finish_update`` needs of an optimizer to update a whole
    arena in one call (thinc_fast's :class:`~thinc_fast.optimizers.Optimizer`).
    Other optimizers are called Thinc's way, once per parameter."""

    def update_arena(self, arena: "ParamArena") -> None:
        ...


class ParamArena:
    """Contiguous parameter and gradient buffers for a list of tensors.

    tensors: ``(node, name, shape)`` for each tensor, in layout order; `node`
    is opaque here. key: gives each tensor's stable key from ``(node, name)``
    (the model uses ``(node.id, name)``), the key optimizers keep their own
    arena-shaped state (moments, averages) by. owner_id: who packed it.

    entries: ``(node, name, offset, size, shape)`` per tensor. layout:
    ``(key, offset, shape)`` per tensor.
    """

    __slots__ = ("id", "ops", "owner_id", "params", "grads", "entries", "layout")

    def __init__(self, ops: Any, tensors: Sequence[Tuple[Any, str, ShapeT]],
                 key: Callable[[Any, str], Hashable] = lambda node, name: (node, name),
                 owner_id: Optional[int] = None) -> None:
        self.id = next(_arena_ids)
        self.ops = ops
        self.owner_id = owner_id
        entries = []
        offset = 0
        for node, name, shape in tensors:
            shape = tuple(int(d) for d in shape)
            size = 1
            for d in shape:
                size *= d
            entries.append((node, name, offset, size, shape))
            offset += -(-size // ALIGN) * ALIGN
        self.entries = tuple(entries)
        self.layout: LayoutT = tuple((key(node, name), off, shape)
                                     for node, name, off, _, shape in entries)
        self.params = ops.alloc1f(offset)
        self.grads = ops.alloc1f(offset)

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def __repr__(self) -> str:
        return f"<ParamArena {len(self.entries)} tensors, {len(self)} floats>"

    def param_view(self, index: int) -> Any:
        """Tensor `index` of the parameter buffer, shaped."""
        _, _, off, size, shape = self.entries[index]
        return self.params[off:off + size].reshape(shape)

    def grad_view(self, index: int) -> Any:
        """Tensor `index` of the gradient buffer, shaped."""
        _, _, off, size, shape = self.entries[index]
        return self.grads[off:off + size].reshape(shape)

    def find_nonfinite(self) -> Optional[Tuple[Any, str, str]]:
        """The first ``(node, name, "gradient" | "parameter")`` holding NaN or inf."""
        xp = self.ops.xp
        for node, name, off, size, _ in self.entries:
            if not bool(xp.isfinite(self.grads[off:off + size]).all()):
                return node, name, "gradient"
            if not bool(xp.isfinite(self.params[off:off + size]).all()):
                return node, name, "parameter"
        return None
