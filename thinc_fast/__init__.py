"""thinc_fast: a Cython-accelerated, Thinc-style deep-learning core.

Import the public API from :mod:`thinc_fast.api`.
"""
from .about import __version__

__all__ = ["__version__"]
