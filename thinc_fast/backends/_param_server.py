"""A store of parameters and their gradients keyed by ``(model_id, name)``.

Thinc 9 exposes this as ``thinc.backends.ParamServer``: code that keeps its
own parameters outside a model (or a remote-parameter experiment, through a
`proxy`) can import it from ``thinc_fast.backends`` the same way. thinc_fast's
models keep their parameters in their own arena and do not use it.
"""
from typing import Any, Dict, Optional, Tuple

from ..types import FloatsXd

KeyT = Tuple[int, str]


class ParamServer:
    """Parameters and gradients of one process, each keyed by
    ``(model_id, name)``.

    params, grads: initial entries (copied into new dicts; the arrays are
    not copied). proxy: an object with ``get_param``, ``set_param``,
    ``set_grad`` and ``inc_grad`` methods of the same signatures, which then
    holds the values: reads fetch from it, writes go to it.
    """

    def __init__(self, params: Optional[Dict[KeyT, FloatsXd]] = None,
                 grads: Optional[Dict[KeyT, FloatsXd]] = None, *, proxy: Any = None) -> None:
        self._params: Dict[KeyT, FloatsXd] = dict(params or {})
        self._grads: Dict[KeyT, FloatsXd] = dict(grads or {})
        self.proxy = proxy

    @property
    def param_keys(self) -> Tuple[KeyT, ...]:
        """The keys of every registered parameter, in the order they came."""
        return tuple(self._params)

    @property
    def grad_keys(self) -> Tuple[KeyT, ...]:
        """The parameters' keys (in param_keys's order) that have a gradient;
        a gradient whose key has no parameter is not listed."""
        return tuple(key for key in self._params if key in self._grads)

    def has_param(self, model_id: int, name: str) -> bool:
        return (model_id, name) in self._params

    def has_grad(self, model_id: int, name: str) -> bool:
        return (model_id, name) in self._grads

    def get_param(self, model_id: int, name: str) -> FloatsXd:
        """The parameter (refreshed from the proxy first when there is one).
        Raises KeyError when it was never set."""
        key = (model_id, name)
        if self.proxy is not None:
            self._params[key] = self.proxy.get_param(model_id, name)
        return self._params[key]

    def get_grad(self, model_id: int, name: str) -> FloatsXd:
        """The gradient; KeyError when there is none."""
        return self._grads[(model_id, name)]

    def set_param(self, model_id: int, name: str, value: FloatsXd) -> None:
        if self.proxy is not None:
            self.proxy.set_param(model_id, name, value)
        self._params[(model_id, name)] = value

    def set_grad(self, model_id: int, name: str, value: FloatsXd) -> None:
        """Replace the gradient (held by the proxy instead, when there is one)."""
        if self.proxy is not None:
            self.proxy.set_grad(model_id, name, value)
        else:
            self._grads[(model_id, name)] = value

    def inc_grad(self, model_id: int, name: str, value: FloatsXd) -> None:
        """Add `value` to the gradient: ``grad += value``. The first increment
        stores a contiguous copy, so the caller's array is never written."""
        key = (model_id, name)
        if self.proxy is not None:
            self.proxy.inc_grad(model_id, name, value)
        elif key in self._grads:
            self._grads[key] += value
        else:
            copy = getattr(value, "copy", None)
            self._grads[key] = copy() if copy is not None else value
