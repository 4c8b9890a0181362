__title__ = "thinc_fast"
__version__ = "0.1.0"
__summary__ = "A Cython-accelerated, Thinc-style deep-learning core"
