"""Data-parallel training on Ray (the ``[ray]`` extra: ``pip install ".[ray]"`` in a checkout).

See :class:`thinc_fast.distributed.ray.RayTrainer`; :func:`exchange_info` is
the line ``thinc-fast info`` shows (which gradient exchange ``--workers``
would use here). Importing this package does not import Ray.
"""
from ..errors import RayUnavailableError, WorkerFailure
from ._worker import Plan

__all__ = ["RayTrainer", "RayUnavailableError", "WorkerFailure", "Plan", "exchange_info"]


def exchange_info() -> str:
    """One line: the Ray version and the gradient exchange ``--workers`` uses
    here (GLOO allreduce when torch is installed, else the object store)."""
    from .ray import exchange_info as _info

    return _info()


def __getattr__(name: str):
    if name == "RayTrainer":
        from .ray import RayTrainer

        return RayTrainer
    raise AttributeError(name)
