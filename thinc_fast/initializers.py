"""Parameter initializers: ``init(ops, shape) -> array``."""

import math
from typing import Tuple

from .backends import Ops


def glorot_uniform_init(ops: Ops, shape: Tuple[int, ...]):
    """Uniform in ``[-s, s]`` with ``s = sqrt(6 / (fan_in + fan_out))``.

    ``fan_out = shape[0]`` and ``fan_in`` is the product of the remaining dims.
    """
    fan_out = shape[0]
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    scale = math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return ops.asarray(ops.xp.random.uniform(-scale, scale, shape), dtype="float32")


def he_normal_init(ops: Ops, shape: Tuple[int, ...]):
    """Normal with standard deviation ``sqrt(2 / fan_in)``."""
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
    return ops.asarray(ops.xp.random.normal(0.0, math.sqrt(2.0 / max(fan_in, 1)), shape),
                       dtype="float32")


def zero_init(ops: Ops, shape: Tuple[int, ...]):
    """All zeros."""
    return ops.alloc(shape)
