"""The parameter arena: every parameter of a model tree in one float32 buffer.

Once a model is initialised, each node's parameters are views into
``arena.params`` and its gradients views into ``arena.grads``. The optimizer
then updates the whole model with one fused kernel call, zeroing gradients is
one fill, and the gradient of a model is a single array to send elsewhere.

An arena is owned by the model it was built for (usually the root). Changing a
parameter's shape, or building an arena for an overlapping model, marks the
old arena invalid; ``Model.finish_update`` rebuilds an invalid arena, copying
values (and gradients accumulated so far) across.
"""
from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Optional, Protocol, Tuple, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

# Each tensor starts on a 64-byte boundary inside the arena.
ALIGN = 16
_arena_ids = itertools.count(1)

LayoutT = Tuple[Tuple[Tuple[int, str], int, Tuple[int, ...]], ...]


@runtime_checkable
class ArenaOptimizer(Protocol):
    """What ``Model.finish_update`` needs of an optimizer to update a whole
    arena in one call (thinc_fast's :class:`~thinc_fast.optimizers.Optimizer`).
    Other optimizers are called Thinc's way, once per parameter."""

    def update_arena(self, arena: "ParamArena") -> None:
        ...


class ParamArena:
    """Contiguous parameter and gradient buffers of one model tree.

    entries: ``(node, name, offset, size, shape)`` for each allocated parameter.
    layout: ``((node_id, name), offset, shape)`` per entry, the key optimizers
    use to keep their own arena-shaped state (moments, averages) in step.
    """

    __slots__ = ("id", "ops", "owner_id", "nodes", "params", "grads", "entries", "layout", "valid")

    def __init__(self, owner: "Model") -> None:
        self.id = next(_arena_ids)
        self.ops = owner.ops
        self.owner_id = owner.id
        self.valid = True
        self.nodes = owner.walk()
        entries = []
        offset = 0
        for node in self.nodes:
            for name, value in node._params.items():
                if value is None:
                    continue
                entries.append((node, name, offset, int(value.size), tuple(value.shape)))
                offset += -(-int(value.size) // ALIGN) * ALIGN
        self.entries = entries
        self.layout: LayoutT = tuple(((n.id, name), off, shape) for n, name, off, _, shape in entries)
        self.params = self.ops.alloc1f(offset)
        self.grads = self.ops.alloc1f(offset)
        for node, name, off, size, shape in entries:
            p_view = self.params[off:off + size].reshape(shape)
            g_view = self.grads[off:off + size].reshape(shape)
            p_view[...] = node._params[name]
            old_grad = node._grads.get(name)
            if old_grad is not None and old_grad.shape == shape:
                g_view[...] = old_grad
            node._params[name] = p_view
            node._grads[name] = g_view
        for node in self.nodes:
            if node._arena is not None and node._arena is not self:
                node._arena.valid = False
            node._arena = self

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def __repr__(self) -> str:
        state = "valid" if self.valid else "invalid"
        return f"<ParamArena {len(self.entries)} tensors, {len(self)} floats, {state}>"

    def find_nonfinite(self) -> Optional[Tuple["Model", str, str]]:
        """The first ``(node, name, "gradient" | "parameter")`` holding NaN or inf."""
        xp = self.ops.xp
        for node, name, off, size, _ in self.entries:
            if not bool(xp.isfinite(self.grads[off:off + size]).all()):
                return node, name, "gradient"
            if not bool(xp.isfinite(self.params[off:off + size]).all()):
                return node, name, "parameter"
        return None


def arena_of(model: "Model") -> ParamArena:
    """The valid arena owned by `model`, built (or rebuilt) when needed.

    Rebuilt when there is none, when it was invalidated (a parameter changed
    shape, another arena claimed a node) or when the tree changed shape since.
    """
    arena = model._arena
    if (arena is None or not arena.valid or arena.owner_id != model.id
            or model.walk() != arena.nodes):
        arena = ParamArena(model)
    return arena
