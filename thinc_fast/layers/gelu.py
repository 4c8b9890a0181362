"""Gelu under Thinc's module path ``thinc.layers.gelu`` (the layer is
defined with the other dense activations in :mod:`.dense_activations`)."""

from .dense_activations import Gelu

__all__ = ["Gelu"]
