"""thinc_fast: a Cython-accelerated, Thinc-style deep-learning core.

Import the public API from :mod:`thinc_fast.api`.
"""
from .about import __version__
from .backends import get_num_threads, set_num_threads

__all__ = ["__version__", "set_num_threads", "get_num_threads"]
