"""Optimizers: one ``Optimizer`` class; ``Adam``, ``SGD`` and ``RAdam`` configure it.

The update follows Thinc's formulas and order (per step ``t``):

1. classic L2 (``L2_is_weight_decay=False``): ``g += L2 * w``
2. clipping by the *global* norm: ``g *= grad_clip / ||g||`` when ``||g|| >= grad_clip``
3. Adam: ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
   ``w -= lr * sqrt(1-b2^t) / (1-b1^t) * m / (sqrt(v) + eps)``;
   RAdam: the rectified step of Liu et al. (Thinc's version);
   SGD (``beta1 = beta2 = 0``): ``w -= lr * g``
4. decoupled weight decay (``L2_is_weight_decay=True``): ``w -= lr * L2 * w``
5. averages (``use_averages``): ``ema -= (1 - d) (ema - w)``,
   ``d = min((1 + t) / (10 + t), 0.9999)``; gradients are zeroed.

``model.finish_update(optimizer)`` runs all of it as one fused kernel over the
model's parameter arena, after a single reduction that gives the global norm
and rejects NaN/inf gradients before anything is changed.

Any hyperparameter can follow a schedule: pass a generator, an iterator, a
list or a built-in :class:`~thinc_fast.schedules.Schedule` as its value (the
first value is taken at once), or name it in ``schedules={...}`` (the value
given stays until ``step_schedules()`` is called).
"""

import math
from typing import Any, Dict, Iterable, Iterator, Optional, Tuple, Union

from ._arena import LayoutT, ParamArena, arena_of
from ._io import FormatError, pack, unpack
from .schedules import Schedule

KeyT = Tuple[int, str]
HyperT = Union[float, Iterable[float], Schedule]
OPTIMIZER_FORMAT_VERSION = 1

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

# hyperparameter -> (attribute, lower bound, upper bound (exclusive) or None)
_HYPERPARAMETERS: Dict[str, Tuple[str, float, Optional[float]]] = {
    "learn_rate": ("learn_rate", 0.0, None),
    "L2": ("L2", 0.0, None),
    "beta1": ("b1", 0.0, 1.0),
    "beta2": ("b2", 0.0, 1.0),
    "eps": ("eps", 0.0, None),
    "grad_clip": ("grad_clip", 0.0, None),
}
_ALIASES = {"b1": "beta1", "b2": "beta2"}


class _ArenaState:
    """An optimizer's arena-shaped state for one model: moments, averages, step."""

    __slots__ = ("layout", "mom1", "mom2", "averages", "nr_update")

    def __init__(self, arena: ParamArena, use_averages: bool) -> None:
        ops = arena.ops
        n = len(arena)
        self.layout: LayoutT = arena.layout
        self.mom1 = ops.alloc1f(n)
        self.mom2 = ops.alloc1f(n)
        self.averages = ops.alloc1f(n) if use_averages else None
        self.nr_update = 0

    def arrays(self) -> Dict[str, Any]:
        out = {"mom1": self.mom1, "mom2": self.mom2}
        if self.averages is not None:
            out["averages"] = self.averages
        return out

    def remap(self, arena: ParamArena, use_averages: bool) -> "_ArenaState":
        """A state for the new layout of `arena`, keeping what each parameter had."""
        new = _ArenaState(arena, use_averages)
        new.nr_update = self.nr_update
        old = {key: (off, shape) for key, off, shape in self.layout}
        for key, off, shape in arena.layout:
            if key in old and old[key][1] == shape:
                size = math.prod(shape)
                src = slice(old[key][0], old[key][0] + size)
                for name, a_old in self.arrays().items():
                    getattr(new, name)[off:off + size] = a_old[src]
        return new


class Optimizer:
    """Stochastic gradient descent with Adam/RAdam moments, clipping, decay, averages."""

    def __init__(
        self,
        learn_rate: HyperT,
        *,
        L2: HyperT = ADAM_DEFAULTS["L2"],
        beta1: HyperT = ADAM_DEFAULTS["beta1"],
        beta2: HyperT = ADAM_DEFAULTS["beta2"],
        eps: HyperT = ADAM_DEFAULTS["eps"],
        grad_clip: HyperT = ADAM_DEFAULTS["grad_clip"],
        use_averages: bool = True,
        use_radam: bool = False,
        L2_is_weight_decay: bool = True,
        schedules: Optional[Dict[str, Iterator[float]]] = None,
    ) -> None:
        self.schedules: Dict[str, Iterator[float]] = {}
        given = {"learn_rate": learn_rate, "L2": L2, "beta1": beta1, "beta2": beta2,
                 "eps": eps, "grad_clip": grad_clip}
        for name, value in given.items():
            self._set_attr_or_schedule(name, value)
        for name, schedule in (schedules or {}).items():
            name = _ALIASES.get(name, name)
            if name not in _HYPERPARAMETERS:
                raise ValueError(f"schedules: unknown hyperparameter {name!r}; "
                                 f"schedulable: {', '.join(_HYPERPARAMETERS)}")
            if isinstance(schedule, list):
                schedule = iter(schedule)
            if not hasattr(schedule, "__next__"):
                raise TypeError(f"schedules[{name!r}] must be an iterator or generator, "
                                f"got {type(schedule).__name__}")
            self.schedules[name] = schedule
        self.use_averages = bool(use_averages)
        self.use_radam = bool(use_radam)
        self.L2_is_weight_decay = bool(L2_is_weight_decay)
        self._check_betas()
        self._arena_states: Dict[int, _ArenaState] = {}
        self._key_states: Dict[KeyT, Dict[str, Any]] = {}

    def __repr__(self) -> str:
        kind = "RAdam" if self.use_radam else ("Adam" if self.uses_moments else "SGD")
        return (f"<Optimizer {kind} learn_rate={self.learn_rate} L2={self.L2} "
                f"grad_clip={self.grad_clip} use_averages={self.use_averages}>")

    # --------------------------------------------------------- hyperparameters
    @property
    def uses_moments(self) -> bool:
        return self.b1 > 0.0 and self.b2 > 0.0

    @property
    def beta1(self) -> float:
        return self.b1

    @property
    def beta2(self) -> float:
        return self.b2

    def _set_attr_or_schedule(self, name: str, value: Any) -> None:
        if isinstance(value, bool):
            raise TypeError(f"Optimizer argument {name!r} must be a number or a schedule, got a bool")
        if isinstance(value, (int, float)):
            self._set_value(name, value)
            return
        if isinstance(value, list):
            value = iter(value)
        if not hasattr(value, "__next__"):
            raise TypeError(f"Optimizer argument {name!r} must be a number, a schedule or a "
                            f"generator, got {type(value).__name__}")
        self.schedules[name] = value
        try:
            first = next(value)
        except StopIteration:
            raise ValueError(f"the schedule for {name!r} yields no value") from None
        self._set_value(name, first, source=f"the schedule for {name!r}")

    def _set_value(self, name: str, value: Any, source: str = "") -> None:
        setattr(self, _HYPERPARAMETERS[name][0], _checked_value(name, value, source))

    def _check_betas(self) -> None:
        _check_consistent(self.b1, self.b2, self.eps, self.use_radam)

    def step_schedules(self) -> None:
        """Advance every schedule one step; an exhausted one keeps its last value."""
        for name, schedule in self.schedules.items():
            try:
                value = next(schedule)
            except StopIteration:
                continue
            self._set_value(name, value, source=f"the schedule for {name!r}")
        self._check_betas()

    # ------------------------------------------------------------ whole model
    def step_arena(self, arena: ParamArena, *, lr_scale: float = 1.0) -> None:
        """Update every parameter of `arena` in one fused call and zero its gradients.

        Raises FloatingPointError, changing nothing, if a gradient (or, with
        classic L2, a parameter) holds NaN or inf.
        """
        state = self._arena_state(arena)
        l2_coupled = self._l2_coupled()
        sumsq = arena.ops.sum_of_squares(arena.grads, arena.params, l2_coupled)
        if not math.isfinite(sumsq):
            raise _nonfinite_error(arena)
        state.nr_update += 1
        self._apply(arena.ops, arena.params, arena.grads, state.mom1, state.mom2,
                    state.averages, state.nr_update, sumsq, l2_coupled, lr_scale)

    def _arena_state(self, arena: ParamArena) -> _ArenaState:
        state = self._arena_states.get(arena.owner_id)
        if state is None:
            state = _ArenaState(arena, self.use_averages)
            self._arena_states[arena.owner_id] = state
        elif state.layout != arena.layout:
            state = state.remap(arena, self.use_averages)
            self._arena_states[arena.owner_id] = state
        return state

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
        if not (weights.flags.c_contiguous and gradient.flags.c_contiguous):
            raise ValueError(f"optimizer {key}: weights and gradient must be contiguous arrays")
        from .backends import get_array_ops  # local: avoid a cycle at import time

        ops = get_array_ops(weights)
        w = weights.reshape(-1)
        g = gradient.reshape(-1)
        state = self._key_states.get(key)
        if state is None:
            state = {"mom1": ops.alloc1f(w.size), "mom2": ops.alloc1f(w.size),
                     "averages": ops.alloc1f(w.size) if self.use_averages else None,
                     "nr_update": 0, "shape": tuple(weights.shape)}
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

    @property
    def averages(self) -> Optional[Dict[KeyT, Any]]:
        """The parameter averages keyed ``(node.id, name)`` (views), for
        ``model.use_params(optimizer.averages)``; None without ``use_averages``."""
        if not self.use_averages:
            return None
        out: Dict[KeyT, Any] = {}
        for state in self._arena_states.values():
            for key, off, shape in state.layout:
                out[key] = state.averages[off:off + math.prod(shape)].reshape(shape)
        for key, state in self._key_states.items():
            out[key] = state["averages"].reshape(state["shape"])
        return out

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
        common = dict(grad_scale=grad_scale, l2_coupled=l2_coupled, decay=decay, avg_rate=avg_rate)
        if self.use_radam:
            step_size, rectified = _radam_step_size(self.b1, self.b2, t)
            ops.adam_step(weights, grads, mom1, mom2, averages, lr_hat=lr * step_size,
                          beta1=self.b1, beta2=self.b2, eps=self.eps,
                          use_denominator=rectified, **common)
        elif self.uses_moments:
            lr_hat = lr * math.sqrt(1.0 - self.b2 ** t) / (1.0 - self.b1 ** t)
            ops.adam_step(weights, grads, mom1, mom2, averages, lr_hat=lr_hat, beta1=self.b1,
                          beta2=self.b2, eps=self.eps, **common)
        else:
            ops.sgd_step(weights, grads, averages, learn_rate=lr, **common)

    # ---------------------------------------------------------- serialization
    def to_bytes(self, model: Any = None) -> bytes:
        """Hyperparameters, schedule positions and (given `model`) that model's
        moments, averages and step count, without pickle.

        Raises ValueError if a hyperparameter follows a plain generator, which
        cannot be saved: use a built-in schedule from ``thinc_fast.schedules``.
        """
        schedules = {}
        for name, schedule in self.schedules.items():
            if not isinstance(schedule, Schedule):
                raise ValueError(
                    f"cannot save the optimizer: {name!r} follows a plain Python iterator "
                    f"({type(schedule).__name__}), whose position cannot be saved. Use a built-in "
                    "schedule from thinc_fast.schedules (e.g. warmup_linear) to save and resume.")
            schedules[name] = schedule.get_state()
        header: Dict[str, Any] = {
            "format": "thinc_fast.optimizer", "version": OPTIMIZER_FORMAT_VERSION,
            "hyperparameters": {name: getattr(self, attr)
                                for name, (attr, _, _) in _HYPERPARAMETERS.items()},
            "kind": {"use_averages": self.use_averages, "use_radam": self.use_radam,
                     "L2_is_weight_decay": self.L2_is_weight_decay},
            "schedules": schedules,
            "model_state": None,
        }
        arrays: Dict[str, Any] = {}
        if model is not None:
            arena = arena_of(model)
            state = self._arena_states.get(model.id)
            if state is not None:
                state = self._arena_state(arena)
                position = {node.id: i for i, node in enumerate(model.walk())}
                header["model_state"] = {
                    "nr_update": state.nr_update,
                    "layout": [[position[node_id], name, off, list(shape)]
                               for (node_id, name), off, shape in state.layout],
                }
                arrays.update(state.arrays())
        return pack(header, arrays)

    def from_bytes(self, data: bytes, model: Any = None) -> "Optimizer":
        """Restore what ``to_bytes`` saved. The optimizer must be built the same
        way (same kind, same schedules); with `model`, its moments are restored
        for that model. Scheduled hyperparameters take their saved values and
        positions; fixed ones keep the values this optimizer was built with.
        Everything is checked before anything changes."""
        header, arrays = unpack(data, kind="optimizer", max_version=OPTIMIZER_FORMAT_VERSION)
        kind = {"use_averages": self.use_averages, "use_radam": self.use_radam,
                "L2_is_weight_decay": self.L2_is_weight_decay}
        if header.get("kind") != kind:
            raise ValueError(f"cannot load optimizer state: saved for {header.get('kind')}, "
                             f"this optimizer is {kind}")
        saved_schedules = header.get("schedules", {})
        if set(saved_schedules) != set(self.schedules):
            raise ValueError(f"cannot load optimizer state: saved with schedules for "
                             f"{sorted(saved_schedules)}, this optimizer has {sorted(self.schedules)}")
        for name, state in saved_schedules.items():
            schedule = self.schedules[name]
            if not isinstance(schedule, Schedule) or schedule.name != state.get("name"):
                raise ValueError(f"cannot load optimizer state: the schedule for {name!r} was "
                                 f"{state.get('name')!r}, here it is {schedule!r}")
        hyper = header.get("hyperparameters", {})
        if set(hyper) != set(_HYPERPARAMETERS):
            raise FormatError("optimizer state has an incomplete set of hyperparameters")
        # Scheduled hyperparameters resume at their saved values; fixed ones keep
        # the values this optimizer was built with (e.g. from an edited config).
        values = {name: getattr(self, attr) for name, (attr, _, _) in _HYPERPARAMETERS.items()}
        for name in saved_schedules:
            values[name] = _checked_value(name, hyper[name], "the saved optimizer state")
        _check_consistent(values["beta1"], values["beta2"], values["eps"], self.use_radam)
        for name, state in saved_schedules.items():
            if not isinstance(state.get("step"), int) or state["step"] < 0:
                raise FormatError(f"optimizer state: bad schedule position for {name!r}")
        plan = None
        model_state = header.get("model_state")
        if model is not None and model_state is not None:
            plan = self._plan_model_state(model, model_state, arrays)
        for name, state in saved_schedules.items():
            self.schedules[name].set_state(state)  # type: ignore[union-attr]
        for name, value in values.items():
            setattr(self, _HYPERPARAMETERS[name][0], value)
        if plan is not None:
            self._arena_states[model.id] = plan
        return self

    def _plan_model_state(self, model: Any, saved: Dict[str, Any],
                          arrays: Dict[str, Any]) -> _ArenaState:
        arena = arena_of(model)
        nodes = model.walk()
        new = _ArenaState(arena, self.use_averages)
        new.nr_update = int(saved["nr_update"])
        where = {key: (off, shape) for key, off, shape in arena.layout}
        needed = {"mom1", "mom2"} | ({"averages"} if self.use_averages else set())
        missing = needed - set(arrays)
        if missing:
            raise FormatError(f"optimizer state lacks the arrays {sorted(missing)}")
        for index, name, off, shape in saved["layout"]:
            shape = tuple(shape)
            if not 0 <= index < len(nodes):
                raise ValueError(f"cannot load optimizer state: it refers to node {index}, "
                                 f"the model has {len(nodes)} nodes")
            node = nodes[index]
            target = where.get((node.id, name))
            if target is None or target[1] != shape:
                raise ValueError(f"cannot load optimizer state: parameter {name!r} of node {index} "
                                 f"({node.name!r}) has shape {None if target is None else target[1]} "
                                 f"in the model but {shape} in the saved state")
            size = math.prod(shape)
            for array_name in needed:
                src = arrays[array_name]
                if src.shape[0] < off + size:
                    raise FormatError("optimizer state arrays are truncated")
                getattr(new, array_name)[target[0]:target[0] + size] = src[off:off + size]
        return new


def _checked_value(name: str, value: Any, source: str = "") -> float:
    """`value` as a float within the bounds of hyperparameter `name`."""
    _, low, high = _HYPERPARAMETERS[name]
    what = source or f"Optimizer argument {name!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must give numbers for {name}, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or (high is not None and value >= high):
        bounds = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{what}: {name} must be finite and {bounds}, got {value}")
    return value


def _check_consistent(beta1: float, beta2: float, eps: float, use_radam: bool) -> None:
    if (beta1 > 0.0) != (beta2 > 0.0):
        raise ValueError(f"beta1={beta1} and beta2={beta2}: use both > 0 for Adam, "
                         "or both 0 for SGD")
    if use_radam and not beta1 > 0.0:
        raise ValueError("RAdam needs beta1 > 0 and beta2 > 0")
    if beta1 > 0.0 and eps <= 0.0:
        raise ValueError(f"eps must be > 0 for Adam, got {eps}")


def _radam_step_size(beta1: float, beta2: float, t: int) -> Tuple[float, bool]:
    """RAdam's step size and whether the variance is rectified (N_sma >= 5).

    Thinc advances RAdam's internal step once more than its update count, so
    its first update uses step 2; we do the same to match its numbers."""
    step = t + 1
    beta2_t = beta2 ** step
    n_sma_max = 2.0 / (1.0 - beta2) - 1.0
    n_sma = n_sma_max - 2.0 * step * beta2_t / (1.0 - beta2_t)
    bias1 = 1.0 - beta1 ** step
    if n_sma >= 5:
        rect = ((1.0 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma
                * n_sma_max / (n_sma_max - 2))
        return math.sqrt(rect) / bias1, True
    return 1.0 / bias1, False


def Adam(
    learn_rate: HyperT = ADAM_DEFAULTS["learn_rate"],
    *,
    L2: HyperT = ADAM_DEFAULTS["L2"],
    beta1: HyperT = ADAM_DEFAULTS["beta1"],
    beta2: HyperT = ADAM_DEFAULTS["beta2"],
    eps: HyperT = ADAM_DEFAULTS["eps"],
    grad_clip: HyperT = ADAM_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = ADAM_DEFAULTS["L2_is_weight_decay"],
    use_averages: bool = ADAM_DEFAULTS["use_averages"],
    schedules: Optional[Dict[str, Iterator[float]]] = None,
) -> Optimizer:
    """Adam (AdamW with ``L2_is_weight_decay=True``), with Thinc's defaults."""
    return Optimizer(learn_rate, L2=L2, beta1=beta1, beta2=beta2, eps=eps, grad_clip=grad_clip,
                     L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages,
                     schedules=schedules)


def RAdam(
    learn_rate: HyperT = ADAM_DEFAULTS["learn_rate"],
    *,
    beta1: HyperT = ADAM_DEFAULTS["beta1"],
    beta2: HyperT = ADAM_DEFAULTS["beta2"],
    eps: HyperT = ADAM_DEFAULTS["eps"],
    L2: HyperT = ADAM_DEFAULTS["L2"],
    L2_is_weight_decay: bool = ADAM_DEFAULTS["L2_is_weight_decay"],
    grad_clip: HyperT = ADAM_DEFAULTS["grad_clip"],
    use_averages: bool = ADAM_DEFAULTS["use_averages"],
    schedules: Optional[Dict[str, Iterator[float]]] = None,
) -> Optimizer:
    """Rectified Adam (Liu et al., 2019), with Thinc's defaults."""
    return Optimizer(learn_rate, L2=L2, beta1=beta1, beta2=beta2, eps=eps, grad_clip=grad_clip,
                     L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages,
                     use_radam=True, schedules=schedules)


def SGD(
    learn_rate: HyperT,
    *,
    L2: HyperT = SGD_DEFAULTS["L2"],
    grad_clip: HyperT = SGD_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = SGD_DEFAULTS["L2_is_weight_decay"],
    use_averages: bool = SGD_DEFAULTS["use_averages"],
    schedules: Optional[Dict[str, Iterator[float]]] = None,
) -> Optimizer:
    """Plain SGD: ``w -= learn_rate * g``, with Thinc's defaults."""
    return Optimizer(learn_rate, L2=L2, beta1=0.0, beta2=0.0, grad_clip=grad_clip,
                     L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages,
                     schedules=schedules)


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
