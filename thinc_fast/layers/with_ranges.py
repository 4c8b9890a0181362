"""with_nvtx_range and with_signpost_interval: mark a layer's phases for a profiler.

Both change `layer` in place (its callbacks are replaced, so it keeps its place
in the tree, its id and its parameters) and return it, as Thinc's do. Each
phase runs inside a context manager made by ``enter(label)``: an NVTX range
for CUDA profilers (Nsight), or a signpost interval for macOS Instruments.
"""
import contextlib
from typing import Any, Callable, ContextManager, Optional, Tuple, TypeVar

from .. import compat
from .._builtins import builtin
from ..model import Model
from ..util import use_nvtx_range

_ModelT = TypeVar("_ModelT", bound=Model)


def _mark_phases(layer: _ModelT, name: str, *, on_forward: Callable[[str], ContextManager],
                 on_backprop: Callable[[str], ContextManager],
                 on_init: Optional[Callable[[str], ContextManager]] = None) -> _ModelT:
    """Run `layer`'s init, forward and backprop inside the managers the three
    callables make from the labels "<name> init", "<name> forward" and
    "<name> backprop"."""
    inner_forward = layer._func
    inner_init = layer.init

    def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
        with on_forward(f"{name} forward"):
            Y, inner_backprop = inner_forward(layer, X, is_train)

        def backprop(dY: Any) -> Any:
            with on_backprop(f"{name} backprop"):
                return inner_backprop(dY)

        return Y, backprop

    def init(model: Model, X: Any = None, Y: Any = None) -> Any:
        if inner_init is None:
            return layer
        with (on_init(f"{name} init") if on_init is not None else contextlib.nullcontext()):
            return inner_init(layer, X, Y)

    layer.replace_callbacks(forward, init=init)
    return layer


@builtin("layers", "with_nvtx_range.v1")
def with_nvtx_range(layer: _ModelT, name: Optional[str] = None, *, forward_color: int = -1,
                    backprop_color: int = -1) -> _ModelT:
    """Mark `layer`'s forward and backprop passes as NVTX ranges named
    "<name> forward" and "<name> backprop" (`name` defaults to the layer's), in
    the given NVTX colour ids. Without CuPy the ranges are no-ops, so the same
    model runs on the CPU unchanged."""
    return _mark_phases(layer, layer.name if name is None else name,
                        on_forward=lambda label: use_nvtx_range(label, forward_color),
                        on_backprop=lambda label: use_nvtx_range(label, backprop_color))


@builtin("layers", "with_signpost_interval.v1")
def with_signpost_interval(layer: _ModelT, signposter: Any,
                           name: Optional[str] = None) -> _ModelT:
    """Mark `layer`'s init, forward and backprop as intervals of
    ``signposter`` (an ``os_signpost.Signposter``) for macOS Instruments.
    Raises ValueError when the ``os_signpost`` package is not installed."""
    if not compat.has_os_signpost:
        raise ValueError("with_signpost_interval needs the 'os_signpost' package (macOS only): "
                         "pip install os-signpost, or use with_debug to time the phases")
    return _mark_phases(layer, layer.name if name is None else name,
                        on_forward=signposter.use_interval, on_backprop=signposter.use_interval,
                        on_init=signposter.use_interval)
