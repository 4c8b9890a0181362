"""Optimizers: one ``Optimizer`` class; ``Adam`` and ``SGD`` configure it.

The update follows Thinc's formulas and order (per step ``t``):

1. classic L2 (``L2_is_weight_decay=False``): ``g += L2 * w``
2. clipping by the *global* norm: ``g *= min(1, grad_clip / ||g||)``
3. Adam: ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
   ``w -= lr * sqrt(1-b2^t) / (1-b1^t) * m / (sqrt(v) + eps)``;
   SGD (``beta1 = beta2 = 0``): ``w -= lr * g``
4. decoupled weight decay (``L2_is_weight_decay=True``): ``w -= lr * L2 * w``
5. averages (``use_averages``): ``ema -= (1 - d) (ema - w)``,
   ``d = min((1 + t) / (10 + t), 0.9999)``; gradients are zeroed.

``model.finish_update(optimizer)`` runs all of it as one fused kernel over the
model's parameter arena, after a single reduction that gives the global norm
and rejects NaN/inf gradients before anything is changed.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

from ._arena import LayoutT, ParamArena

KeyT = Tuple[int, str]

ADAM_DEFAULTS: Dict[str, Any] = {
    "learn_rate": 0.001,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-08,
    "L2": 0.0,
    "grad_clip": 1.0,
    "L2_is_weight_decay": True,
    "use_averages": True,
}
SGD_DEFAULTS: Dict[str, Any] = {
    "L2": 0.0,
    "grad_clip": 1.0,
    "L2_is_weight_decay": True,
    "use_averages": True,
}
MAX_AVERAGE_DECAY = 0.9999


class _ArenaState:
    """An optimizer's arena-shaped state for one model: moments, averages, step."""

    __slots__ = ("layout", "mom1", "mom2", "averages", "nr_update")

    def __init__(self, arena: ParamArena, use_moments: bool, use_averages: bool) -> None:
        ops = arena.ops
        n = len(arena)
        self.layout: LayoutT = arena.layout
        self.mom1 = ops.alloc1f(n) if use_moments else None
        self.mom2 = ops.alloc1f(n) if use_moments else None
        self.averages = ops.alloc1f(n) if use_averages else None
        self.nr_update = 0

    def remap(self, arena: ParamArena, use_moments: bool, use_averages: bool) -> "_ArenaState":
        """A state for the new layout of `arena`, keeping what each parameter had."""
        new = _ArenaState(arena, use_moments, use_averages)
        new.nr_update = self.nr_update
        old = {key: (off, shape) for key, off, shape in self.layout}
        for key, off, shape in arena.layout:
            if key in old and old[key][1] == shape:
                size = math.prod(shape)
                src = slice(old[key][0], old[key][0] + size)
                dst = slice(off, off + size)
                for name in ("mom1", "mom2", "averages"):
                    a_new, a_old = getattr(new, name), getattr(self, name)
                    if a_new is not None and a_old is not None:
                        a_new[dst] = a_old[src]
        return new


class Optimizer:
    """Stochastic gradient descent with Adam moments, clipping, decay and averages."""

    def __init__(
        self,
        learn_rate: float,
        *,
        L2: float = ADAM_DEFAULTS["L2"],
        beta1: float = ADAM_DEFAULTS["beta1"],
        beta2: float = ADAM_DEFAULTS["beta2"],
        eps: float = ADAM_DEFAULTS["eps"],
        grad_clip: float = ADAM_DEFAULTS["grad_clip"],
        use_averages: bool = True,
        L2_is_weight_decay: bool = True,
    ) -> None:
        self.learn_rate = _check_number("learn_rate", learn_rate, low=0.0)
        self.L2 = _check_number("L2", L2, low=0.0)
        self.b1 = _check_number("beta1", beta1, low=0.0, high=1.0)
        self.b2 = _check_number("beta2", beta2, low=0.0, high=1.0)
        self.eps = _check_number("eps", eps, low=0.0)
        self.grad_clip = _check_number("grad_clip", grad_clip, low=0.0)
        if (self.b1 > 0.0) != (self.b2 > 0.0):
            raise ValueError(f"beta1={beta1} and beta2={beta2}: use both > 0 for Adam, "
                             "or both 0 for SGD")
        if self.b1 > 0.0 and self.eps <= 0.0:
            raise ValueError(f"eps must be > 0 for Adam, got {eps}")
        self.use_averages = bool(use_averages)
        self.L2_is_weight_decay = bool(L2_is_weight_decay)
        self._arena_states: Dict[int, _ArenaState] = {}
        self._key_states: Dict[KeyT, Dict[str, Any]] = {}

    def __repr__(self) -> str:
        kind = "Adam" if self.uses_moments else "SGD"
        return (f"<Optimizer {kind} learn_rate={self.learn_rate} L2={self.L2} "
                f"grad_clip={self.grad_clip} use_averages={self.use_averages}>")

    @property
    def uses_moments(self) -> bool:
        return self.b1 > 0.0 and self.b2 > 0.0

    @property
    def beta1(self) -> float:
        return self.b1

    @property
    def beta2(self) -> float:
        return self.b2

    # ------------------------------------------------------------ whole model
    def step_arena(self, arena: ParamArena, *, lr_scale: float = 1.0) -> None:
        """Update every parameter of `arena` in one fused call and zero its gradients.

        Raises FloatingPointError, changing nothing, if a gradient (or, with
        classic L2, a parameter) holds NaN or inf.
        """
        state = self._arena_states.get(arena.owner_id)
        if state is None:
            state = _ArenaState(arena, self.uses_moments, self.use_averages)
            self._arena_states[arena.owner_id] = state
        elif state.layout != arena.layout:
            state = state.remap(arena, self.uses_moments, self.use_averages)
            self._arena_states[arena.owner_id] = state
        l2_coupled = self._l2_coupled()
        sumsq = arena.ops.sum_of_squares(arena.grads, arena.params, l2_coupled)
        if not math.isfinite(sumsq):
            raise _nonfinite_error(arena)
        state.nr_update += 1
        self._apply(arena.ops, arena.params, arena.grads, state.mom1, state.mom2,
                    state.averages, state.nr_update, sumsq, l2_coupled, lr_scale)

    # ----------------------------------------------------------- Thinc's call
    def __call__(self, key: KeyT, weights: Any, gradient: Any, *,
                 lr_scale: float = 1.0) -> Tuple[Any, Any]:
        """Update one parameter Thinc's way; returns ``(weights, gradient)``.

        State (moments, averages, step count) is kept per `key`, usually
        ``(node.id, param_name)``. Clipping uses this parameter's own norm.
        """
        if weights.shape != gradient.shape:
            raise ValueError(f"optimizer {key}: weights {weights.shape} and gradient "
                             f"{gradient.shape} differ in shape")
        if gradient.size < 1:
            return weights, gradient
        from .backends import get_current_ops  # local: avoid a cycle at import time

        ops = get_current_ops()
        if not (weights.flags.c_contiguous and gradient.flags.c_contiguous):
            raise ValueError(f"optimizer {key}: weights and gradient must be contiguous arrays")
        w = weights.reshape(-1)
        g = gradient.reshape(-1)
        state = self._key_states.get(key)
        if state is None:
            state = {
                "mom1": ops.alloc1f(w.size) if self.uses_moments else None,
                "mom2": ops.alloc1f(w.size) if self.uses_moments else None,
                "averages": ops.alloc1f(w.size) if self.use_averages else None,
                "nr_update": 0,
            }
            self._key_states[key] = state
        l2_coupled = self._l2_coupled()
        sumsq = ops.sum_of_squares(g, w, l2_coupled)
        if not math.isfinite(sumsq):
            raise FloatingPointError(f"optimizer {key}: the gradient holds NaN or inf; "
                                     "the parameter was left unchanged")
        state["nr_update"] += 1
        self._apply(ops, w, g, state["mom1"], state["mom2"], state["averages"],
                    state["nr_update"], sumsq, l2_coupled, lr_scale)
        return weights, gradient

    @property
    def nr_update(self) -> Dict[Any, int]:
        """Steps taken, per model (arena owner id) and per Thinc-style key."""
        counts: Dict[Any, int] = {k: s.nr_update for k, s in self._arena_states.items()}
        counts.update({k: s["nr_update"] for k, s in self._key_states.items()})
        return counts

    # -------------------------------------------------------------- internals
    def _l2_coupled(self) -> float:
        return self.L2 if (self.L2 != 0.0 and not self.L2_is_weight_decay) else 0.0

    def _apply(self, ops: Any, weights: Any, grads: Any, mom1: Any, mom2: Any, averages: Any,
               t: int, sumsq: float, l2_coupled: float, lr_scale: float) -> None:
        grad_scale = 1.0
        if self.grad_clip > 0.0:
            norm = math.sqrt(sumsq)
            if norm >= self.grad_clip and norm > 0.0:
                grad_scale = self.grad_clip / norm
        lr = self.learn_rate * lr_scale
        decay = lr * self.L2 if (self.L2 != 0.0 and self.L2_is_weight_decay) else 0.0
        avg_rate = 1.0 - min((1.0 + t) / (10.0 + t), MAX_AVERAGE_DECAY)
        if self.uses_moments:
            lr_hat = lr * math.sqrt(1.0 - self.b2 ** t) / (1.0 - self.b1 ** t)
            ops.adam_step(weights, grads, mom1, mom2, averages, lr_hat=lr_hat, beta1=self.b1,
                          beta2=self.b2, eps=self.eps, grad_scale=grad_scale,
                          l2_coupled=l2_coupled, decay=decay, avg_rate=avg_rate)
        else:
            ops.sgd_step(weights, grads, averages, learn_rate=lr, grad_scale=grad_scale,
                         l2_coupled=l2_coupled, decay=decay, avg_rate=avg_rate)


def Adam(
    learn_rate: float = ADAM_DEFAULTS["learn_rate"],
    *,
    L2: float = ADAM_DEFAULTS["L2"],
    beta1: float = ADAM_DEFAULTS["beta1"],
    beta2: float = ADAM_DEFAULTS["beta2"],
    eps: float = ADAM_DEFAULTS["eps"],
    grad_clip: float = ADAM_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = ADAM_DEFAULTS["L2_is_weight_decay"],
    use_averages: bool = ADAM_DEFAULTS["use_averages"],
) -> Optimizer:
    """Adam (AdamW with ``L2_is_weight_decay=True``), Thinc's defaults."""
    return Optimizer(learn_rate, L2=L2, beta1=beta1, beta2=beta2, eps=eps, grad_clip=grad_clip,
                     L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages)


def SGD(
    learn_rate: float,
    *,
    L2: float = SGD_DEFAULTS["L2"],
    grad_clip: float = SGD_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = SGD_DEFAULTS["L2_is_weight_decay"],
    use_averages: bool = SGD_DEFAULTS["use_averages"],
) -> Optimizer:
    """Plain SGD: ``w -= learn_rate * g``, with Thinc's defaults."""
    return Optimizer(learn_rate, L2=L2, beta1=0.0, beta2=0.0, grad_clip=grad_clip,
                     L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages)


def _check_number(name: str, value: Any, *, low: float, high: Optional[float] = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Optimizer argument {name!r} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or (high is not None and value >= high):
        bounds = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"Optimizer argument {name!r} must be finite and {bounds}, got {value}")
    return value


def _nonfinite_error(arena: ParamArena) -> FloatingPointError:
    found = arena.find_nonfinite()
    if found is None:  # pragma: no cover - sum overflowed without a non-finite value
        return FloatingPointError("the gradient norm overflowed; parameters were left unchanged")
    node, name, what = found
    return FloatingPointError(
        f"NaN or inf in the {what} of parameter {name!r} of model {node.name!r} (id {node.id}); "
        "no parameter was updated. The gradients were kept for inspection: call "
        "model.zero_grads() to discard them."
    )
