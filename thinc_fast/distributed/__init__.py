"""Data-parallel training on Ray (``pip install thinc_fast[ray]``).

See :class:`thinc_fast.distributed.ray.RayTrainer`.
"""
from .ray import RayTrainer, RayUnavailableError, WorkerFailure

__all__ = ["RayTrainer", "RayUnavailableError", "WorkerFailure"]
