"""with_debug: call user callbacks around a layer's init, forward and backprop."""

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model


def _do_nothing(*args: Any, **kwargs: Any) -> None:
    return None


@builtin("layers", "with_debug.v1")
def with_debug(layer: Model, name: Optional[str] = None, *,
               on_init: Callable[..., None] = _do_nothing,
               on_forward: Callable[..., None] = _do_nothing,
               on_backprop: Callable[..., None] = _do_nothing) -> Model:
    """Make `layer` call ``on_init(model, X, Y)`` before its init,
    ``on_forward(model, X, is_train)`` before its forward and ``on_backprop(dY)``
    before its backprop. As in Thinc, `layer` itself is changed (its callbacks
    are replaced) and returned, so it keeps its place, id and parameters.
    `name` is accepted for Thinc's signature; the layer keeps its name."""
    orig_forward = layer._func
    orig_init = layer.init

    def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
        on_forward(model, X, is_train)
        Y, backprop_layer = orig_forward(layer, X, is_train)

        def backprop(dY: Any) -> Any:
            on_backprop(dY)
            return backprop_layer(dY)

        return Y, backprop

    def init(model: Model, X: Any = None, Y: Any = None) -> None:
        on_init(model, X, Y)
        if orig_init is not None:
            orig_init(layer, X=X, Y=Y)

    layer.replace_callbacks(forward, init=init)
    return layer
