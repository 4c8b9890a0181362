"""thinc_fast: a Cython-accelerated, Thinc-style deep-learning core.

Import the public API from :mod:`thinc_fast.api`. As in Thinc's top-level
package, ``thinc_fast.registry`` is the function registry (imported on first
use, so ``import thinc_fast`` stays light).
"""
from typing import Any

from .about import __version__
from .backends import get_num_threads, set_num_threads

__all__ = ["__version__", "registry", "set_num_threads", "get_num_threads"]


def __getattr__(name: str) -> Any:
    if name == "registry":
        from .config import registry

        return registry
    raise AttributeError(f"module 'thinc_fast' has no attribute {name!r}")
