"""An optimizer's state for one model: arrays shaped like its parameter arena.

Which arrays exist depends on the rules that ran: Adam and RAdam keep
``mom1`` and ``mom2``, SGD none; ``averages`` exist when the optimizer keeps
parameter averages. Arrays are allocated when a rule first needs them.
"""
import math
from typing import Any, Dict, Iterable, Optional

import numpy

from .._arena import LayoutT


class ArenaState:
    """State arrays of one model, laid out like its arena (``layout``), plus
    the update count and the segment boundaries of its tensors."""

    __slots__ = ("layout", "size", "arrays", "nr_update", "segments", "ops")

    def __init__(self, ops: Any, layout: LayoutT, size: int) -> None:
        self.ops = ops
        self.layout = layout
        self.size = size
        self.arrays: Dict[str, Any] = {}
        self.nr_update = 0
        self.segments = segment_bounds(layout, size)

    def begin(self, names: Iterable[str]) -> Dict[str, Any]:
        """Count one update and give the arrays `names` (see :meth:`ensure`)."""
        self.nr_update += 1
        return self.ensure(names)

    def ensure(self, names: Iterable[str]) -> Dict[str, Any]:
        """The arrays `names`, allocating (zeroed) those not there yet."""
        for name in names:
            if name not in self.arrays:
                self.arrays[name] = self.ops.alloc1f(self.size)
        return self.arrays

    @property
    def averages(self) -> Optional[Any]:
        return self.arrays.get("averages")

    def remap(self, ops: Any, layout: LayoutT, size: int) -> "ArenaState":
        """A state for a new layout, keeping what each (node, name) had when
        its shape is unchanged."""
        new = ArenaState(ops, layout, size)
        new.nr_update = self.nr_update
        new.ensure(self.arrays)
        old = {key: (off, shape) for key, off, shape in self.layout}
        for key, off, shape in layout:
            if key in old and old[key][1] == shape:
                n = math.prod(shape)
                for name, src in self.arrays.items():
                    new.arrays[name][off:off + n] = src[old[key][0]:old[key][0] + n]
        return new

    def views(self, name: str) -> Dict[Any, Any]:
        """Array `name` as one view per parameter, keyed ``(node_id, param_name)``."""
        array = self.arrays[name]
        return {key: array[off:off + math.prod(shape)].reshape(shape)
                for key, off, shape in self.layout}


def segment_bounds(layout: LayoutT, size: int) -> numpy.ndarray:
    """Boundaries ``[0, off_1, ..., size]`` of the arena's tensors (each tensor's
    alignment padding belongs to it; padding holds zeros)."""
    offsets = [off for _, off, _ in layout]
    if not offsets or offsets[0] != 0:
        offsets = [0] + offsets
    return numpy.asarray(offsets + [size], dtype=numpy.intp)
