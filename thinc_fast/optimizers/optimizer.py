"""The Optimizer facade: hyperparameters, schedules, state, and the update.

``model.finish_update(optimizer)`` calls :meth:`Optimizer.update_arena` once
per step: one read-only pass gives every tensor's gradient norm (and rejects
NaN/inf before anything changes), then one fused kernel applies the rule of
:mod:`thinc_fast.optimizers.rules` to the whole arena, each tensor with its own
clipping factor. ``optimizer(key, weights, gradient)`` is Thinc's per-parameter
call, for code that drives the optimizer itself.
"""
import math
from collections import defaultdict
from typing import Any, Callable, Dict, Iterator, Literal, Optional, Tuple, Union

import numpy

from .._arena import ParamArena
from .._builtins import beyond_thinc, builtin
from .._io import FormatError
from ..backends import get_array_ops
from ..backends.numpy_ops import step_tick
from . import _format
from ._format import OPTIMIZER_FORMAT_VERSION, StateBounds, state_bounds  # noqa: F401  (old home)
from .hyper import (Constant, FromIterator, FromSchedule, Hyperparameter, HyperparameterError, KeyT, Source,
                    checked_value, lagged_source, make_source)
from .rules import Hyper, clip_scales, common_scalars, rule_name, select_rule
from .state import ArenaState

ScheduleT = Any  # a number, a list, an iterator/generator or a schedule
ClipModeT = Literal["parameter", "global"]

ADAM_DEFAULTS: Dict[str, Union[float, bool]] = {
    "learn_rate": 0.001,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-08,
    "L2": 0.0,
    "grad_clip": 1.0,
    "L2_is_weight_decay": True,
    "use_averages": True,
}
SGD_DEFAULTS: Dict[str, Union[float, bool]] = {
    "L2": 0.0,
    "grad_clip": 1.0,
    "L2_is_weight_decay": True,
    "use_averages": True,
}

# hyperparameter -> (attribute, lower bound, upper bound (exclusive) or None)
HYPERPARAMETERS: Dict[str, Tuple[str, float, Optional[float]]] = {
    "learn_rate": ("learn_rate", 0.0, None),
    "L2": ("L2", 0.0, None),
    "beta1": ("b1", 0.0, 1.0),
    "beta2": ("b2", 0.0, 1.0),
    "eps": ("eps", 0.0, None),
    "grad_clip": ("grad_clip", 0.0, None),
}
_BY_ATTR = {attr: name for name, (attr, _, _) in HYPERPARAMETERS.items()}
_ALIASES = {"b1": "beta1", "b2": "beta2"}


class Optimizer:
    """Stochastic gradient descent with Adam/RAdam moments, clipping, decay, averages.

    Hyperparameters take a number, a list, a generator or a schedule (see
    :mod:`thinc_fast.optimizers.hyper`); ``schedules={name: iterator}`` is the
    original thinc_fast form. ``grad_clip_mode`` is ``"parameter"`` (Thinc's: each
    parameter's gradient clipped by its own norm) or ``"global"`` (one norm
    over all parameters of the model).
    """

    def __init__(
        self,
        learn_rate: ScheduleT,
        *,
        L2: ScheduleT = ADAM_DEFAULTS["L2"],
        beta1: ScheduleT = ADAM_DEFAULTS["beta1"],
        beta2: ScheduleT = ADAM_DEFAULTS["beta2"],
        eps: ScheduleT = ADAM_DEFAULTS["eps"],
        grad_clip: ScheduleT = ADAM_DEFAULTS["grad_clip"],
        use_averages: bool = True,
        use_radam: bool = False,
        L2_is_weight_decay: bool = True,
        grad_clip_mode: ClipModeT = "parameter",
        schedules: Optional[Dict[str, Iterator[float]]] = None,
        rule: Optional[str] = None,
    ) -> None:
        if grad_clip_mode not in ("parameter", "global"):
            raise ValueError(f"grad_clip_mode must be 'parameter' or 'global', got {grad_clip_mode!r}")
        self._step = 0
        self._last_score: Optional[Tuple[int, float]] = None
        self._cache: Optional[Tuple[Any, Hyper]] = None
        self._all_constant = False
        self._sources: Dict[str, Source] = {}
        given = {"learn_rate": learn_rate, "L2": L2, "beta1": beta1, "beta2": beta2,
                 "eps": eps, "grad_clip": grad_clip}
        for name, value in given.items():
            self._sources[name] = make_source(name, value)
        for name, schedule in (schedules or {}).items():
            name = _ALIASES.get(name, name)
            if name not in HYPERPARAMETERS:
                raise ValueError(f"schedules: unknown hyperparameter {name!r}; "
                                 f"schedulable: {', '.join(HYPERPARAMETERS)}")
            initial = self._sources[name](0)
            self._sources[name] = lagged_source(name, initial, schedule)
        self.use_averages = bool(use_averages)
        self._rule = rule_name(rule, bool(use_radam))
        self.L2_is_weight_decay = bool(L2_is_weight_decay)
        self.grad_clip_mode: ClipModeT = grad_clip_mode
        self._arena_states: Dict[int, ArenaState] = {}
        self._key_states: Dict[KeyT, Dict[str, Any]] = {}
        # Thinc's Optimizer makes this dict and never writes it; kept empty for
        # code that reads it (the step count per key is `nr_update`)
        self.last_seen: Dict[KeyT, int] = defaultdict(int)
        self._all_constant = all(_is_constant(s) for s in self._sources.values())
        self.hyper()  # check the first values now

    def __repr__(self) -> str:
        h = self.hyper()
        return (f"<Optimizer {select_rule(self._rule, h).name} learn_rate={h.learn_rate} "
                f"L2={h.L2} grad_clip={h.grad_clip} ({self.grad_clip_mode}) "
                f"use_averages={self.use_averages} step={self._step}>")

    # --------------------------------------------------------- hyperparameters
    def hyper(self, key: Optional[KeyT] = None) -> Hyper:
        """Every hyperparameter's value at the current step (checked). Values
        are computed once per step (and last score) and kept, so a schedule
        asked about a later step still gives this step's value here."""
        stamp = (self._step, self._last_score, key)
        cache = self._cache
        if cache is not None and (cache[0] == stamp or self._all_constant):
            return cache[1]
        if key is not None and not any(isinstance(s, FromSchedule) for s in self._sources.values()):
            return self.hyper()  # nothing depends on the key
        values = {}
        for name, (_, low, high) in HYPERPARAMETERS.items():
            value = self._sources[name](self._step, key=key, last_score=self._last_score)
            source = "" if _is_constant(self._sources[name]) else f"the schedule for {name!r}"
            values[name] = checked_value(name, value, low, high, source)
        h = Hyper(**values)
        _check_consistent(h.beta1, h.beta2, h.eps, self._rule)
        self._cache = (stamp, h)
        return h

    def _get(self, name: str) -> Hyperparameter:
        value = getattr(self.hyper(), name)
        return Hyperparameter(value, self._sources[name], self._step, self._last_score)

    def _set(self, name: str, value: Any) -> None:
        source = make_source(name, value)
        _, low, high = HYPERPARAMETERS[name]
        if isinstance(source, FromIterator):  # Thinc: a generator set now starts now
            source.last_step = self._step
        checked_value(name, source(self._step, last_score=self._last_score), low, high,
                      f"the value given for {name!r}")
        previous, self._sources[name] = self._sources[name], source
        self._cache = None
        self._all_constant = all(_is_constant(s) for s in self._sources.values())
        try:
            self.hyper()
        except ValueError:
            self._sources[name] = previous
            self._cache = None
            self._all_constant = all(_is_constant(s) for s in self._sources.values())
            raise

    learn_rate = property(lambda self: self._get("learn_rate"),
                          lambda self, v: self._set("learn_rate", v),
                          doc="The learning rate (callable: ``learn_rate(step=, key=)``).")
    L2 = property(lambda self: self._get("L2"), lambda self, v: self._set("L2", v),
                  doc="L2 penalty: weight decay or classic L2 (``L2_is_weight_decay``).")
    b1 = property(lambda self: self._get("beta1"), lambda self, v: self._set("beta1", v),
                  doc="Adam's first-moment decay.")
    b2 = property(lambda self: self._get("beta2"), lambda self, v: self._set("beta2", v),
                  doc="Adam's second-moment decay.")
    beta1 = b1
    beta2 = b2
    eps = property(lambda self: self._get("eps"), lambda self, v: self._set("eps", v),
                   doc="Adam's epsilon.")
    grad_clip = property(lambda self: self._get("grad_clip"),
                         lambda self, v: self._set("grad_clip", v),
                         doc="Clip gradient norms at this value (0: no clipping).")

    @property
    def schedules(self) -> Dict[str, Any]:
        """The hyperparameters that follow a schedule, and the schedule, list
        iterator or generator each follows."""
        return {name: getattr(s, "fn", getattr(s, "iterator", s))
                for name, s in self._scheduled().items()}

    def _scheduled(self) -> Dict[str, Source]:
        return {name: s for name, s in self._sources.items() if not _is_constant(s)}

    @property
    def uses_moments(self) -> bool:
        """Whether the current step uses Adam-style moments."""
        return select_rule(self._rule, self.hyper()).state != ()

    @property
    def rule(self) -> str:
        """The name of the rule the current step runs: "adam", "radam" or
        "sgd" (an optimizer built with rule "adam" runs SGD at steps where both
        betas are 0, as Thinc's does)."""
        return select_rule(self._rule, self.hyper()).name

    @property
    def use_radam(self) -> bool:
        """Thinc's name for ``rule == "radam"``; setting it picks "radam" (True)
        or "adam" (False)."""
        return self._rule == "radam"

    @use_radam.setter
    def use_radam(self, value: bool) -> None:
        rule = "radam" if value else ("adam" if self._rule == "radam" else self._rule)
        h = self.hyper()
        _check_consistent(h.beta1, h.beta2, h.eps, rule)
        self._rule = rule
        self._cache = None

    def step_schedules(self) -> None:
        """Advance the step count: every scheduled hyperparameter moves on."""
        self._step += 1
        self.hyper()

    @property
    def step(self) -> int:
        """Steps taken (``step_schedules`` calls)."""
        return self._step

    @property
    def last_score(self) -> Optional[Tuple[int, float]]:
        """``(step, score)`` of the last score set, for schedules such as plateau."""
        return self._last_score

    @last_score.setter
    def last_score(self, score: float) -> None:
        self._last_score = (self._step, score)

    # ------------------------------------------------------------ whole model
    def update_arena(self, arena: ParamArena, *, lr_scale: float = 1.0) -> None:
        """Update every parameter of `arena` in one fused call and zero its gradients.

        Raises FloatingPointError, changing nothing, if a gradient (or, with
        classic L2, a parameter) holds NaN or inf.
        """
        state = self._arena_state(arena)
        self._update(arena.ops, arena.params, arena.grads, self.hyper(), state.nr_update,
                     state.segments, arena, lr_scale, state.begin)
        step_tick()  # one training step done: the kernels' step clock

    def _update(self, ops: Any, params: Any, grads: Any, h: Hyper, done: int, segments: Any,
                arena: Optional[ParamArena], lr_scale: float,
                begin: Callable[[Tuple[str, ...]], Dict[str, Any]]) -> None:
        """The one update of :meth:`update_arena` and :meth:`__call__`, over the
        flat `params` and `grads` (`done` updates made before): the rule of this
        step, the scalars of steps 1, 4 and 5, the clipping factors (after the
        NaN/inf check: nothing changes if it fails), then ``begin(names)``
        counts the update and gives the state arrays `names`, and the rule's
        fused kernel runs with the one record of scalars."""
        rule = select_rule(self._rule, h)
        common = common_scalars(h, done + 1, self.L2_is_weight_decay, lr_scale)
        grad_scale, segments = self._clip(ops, grads, params, common["l2_coupled"],
                                          h.grad_clip, segments, arena)
        arrays = begin(rule.state + (("averages",) if self.use_averages else ()))
        k = rule.scalars(h, done + 1, common, lr_scale)
        rule.run(ops, params, grads, arrays, arrays.get("averages"), k, grad_scale, segments)

    def _clip(self, ops: Any, grads: Any, params: Any, l2: float, grad_clip: float,
              segments: Any, arena: Optional[ParamArena]) -> Tuple[Any, Any]:
        """(grad_scale, segments) for the kernel, after the NaN/inf check."""
        if (self.grad_clip_mode == "parameter" and grad_clip > 0.0 and segments is not None
                and len(segments) > 2):
            sumsq = ops.segment_sum_of_squares(grads, params, l2, segments)
            if not isinstance(sumsq, numpy.ndarray):
                sumsq = sumsq.get()  # one small device-to-host copy (CuPy)
            totals = sumsq.tolist()
            # sums of squares are >= 0: their sum is finite exactly when each is
            if not math.isfinite(sum(totals)):
                raise _nonfinite_error(arena, None)
            return clip_scales(totals, grad_clip), segments
        total = ops.sum_of_squares(grads, params, l2)
        if not math.isfinite(total):
            raise _nonfinite_error(arena, None)
        scale = clip_scales([total], grad_clip)
        return (1.0 if scale is None else float(scale[0])), None

    def _arena_state(self, arena: ParamArena) -> ArenaState:
        state = self._arena_states.get(arena.owner_id)
        if state is None:
            state = ArenaState(arena.ops, arena.layout, len(arena))
            self._arena_states[arena.owner_id] = state
        elif state.layout != arena.layout or state.size != len(arena):
            state = state.remap(arena.ops, arena.layout, len(arena))
            self._arena_states[arena.owner_id] = state
        return state

    # ----------------------------------------------------------- Thinc's call
    def __call__(self, key: KeyT, weights: Any, gradient: Any, *,
                 lr_scale: float = 1.0) -> Tuple[Any, Any]:
        """Update one parameter Thinc's way; returns ``(weights, gradient)``.

        State (moments, averages, step count) is kept per `key`, usually
        ``(node.id, param_name)``. Clipping uses this parameter's own norm.
        The arrays are updated in place and returned; views that are not
        contiguous (a transpose, a strided slice) too.
        """
        if getattr(gradient, "size", len(gradient)) < 1:
            return weights, gradient
        if weights.shape != gradient.shape:
            raise ValueError(f"optimizer {key}: weights {weights.shape} and gradient "
                             f"{gradient.shape} differ in shape")
        for name, array in (("weights", weights), ("gradient", gradient)):
            if not getattr(array.flags, "writeable", True):  # CuPy arrays have no such flag
                raise ValueError(f"optimizer {key}: the {name} array is read-only, and the "
                                 "update is made in place: pass a writeable array (a copy)")
        ops = get_array_ops(weights)
        if not (weights.flags.c_contiguous and gradient.flags.c_contiguous):
            # a view (a transpose, a slice): update contiguous copies, then
            # write them back, so the given arrays change in place as
            # contiguous ones do (and the returned ones are updated, as Thinc's)
            w_copy, g_copy = ops.xp.ascontiguousarray(weights), ops.xp.ascontiguousarray(gradient)
            self(key, w_copy, g_copy, lr_scale=lr_scale)
            weights[...] = w_copy
            gradient[...] = g_copy
            return weights, gradient
        w = weights.reshape(-1)
        g = gradient.reshape(-1)
        state = self._key_states.get(key)
        if state is None:
            state = {"arrays": {}, "nr_update": 0, "shape": tuple(weights.shape)}
            self._key_states[key] = state

        def begin(names: Tuple[str, ...]) -> Dict[str, Any]:
            state["nr_update"] += 1
            arrays = state["arrays"]
            for name in names:
                if name not in arrays:
                    arrays[name] = ops.xp.zeros(w.shape, dtype=w.dtype)
            return arrays

        self._update(ops, w, g, self.hyper(key), state["nr_update"], None, None, lr_scale, begin)
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
        ``model.use_params(optimizer.averages)``; None without ``use_averages``.
        Setting it to None stops keeping averages (as in Thinc)."""
        if not self.use_averages:
            return None
        out: Dict[KeyT, Any] = {}
        for state in self._arena_states.values():
            if state.averages is not None:
                out.update(state.views("averages"))
        for key, state in self._key_states.items():
            if "averages" in state["arrays"]:
                out[key] = state["arrays"]["averages"].reshape(state["shape"])
        return out

    @averages.setter
    def averages(self, value: Optional[Dict[KeyT, Any]]) -> None:
        if value is None:
            self.use_averages = False
            for state in self._arena_states.values():
                state.arrays.pop("averages", None)
            for kstate in self._key_states.values():
                kstate["arrays"].pop("averages", None)
            return
        if not isinstance(value, dict):
            raise TypeError(f"optimizer.averages must be None or a dict, got {type(value).__name__}")
        self.use_averages = True
        current = self.averages or {}
        for key, array in value.items():
            if key in current:
                if current[key].shape != array.shape:
                    raise ValueError(f"optimizer.averages[{key}]: shape {array.shape}, the "
                                     f"parameter has {current[key].shape}")
                current[key][...] = array

    def _state_views(self, name: str) -> Dict[KeyT, Any]:
        """State array `name` per parameter, keyed ``(node.id, param_name)`` (or
        the key Thinc's call used), each a flat view of the optimizer's state."""
        out: Dict[KeyT, Any] = {}
        for state in self._arena_states.values():
            if name in state.arrays:
                out.update((key, view.reshape(-1)) for key, view in state.views(name).items())
        for key, kstate in self._key_states.items():
            if name in kstate["arrays"]:
                out[key] = kstate["arrays"][name]
        return out

    @property
    def mom1(self) -> Dict[KeyT, Any]:
        """Adam's first moments (the running mean of the gradient) per parameter:
        a dict of flat views keyed as Thinc's ``Optimizer.mom1``, read from the
        optimizer's state (writing into a view changes that state). Empty
        before the first Adam step and for plain SGD."""
        return self._state_views("mom1")

    @property
    def mom2(self) -> Dict[KeyT, Any]:
        """Adam's second moments (the running mean of the squared gradient) per
        parameter, as :attr:`mom1`."""
        return self._state_views("mom2")

    # ---------------------------------------------- serialization (_format.py)
    def _kind(self) -> Dict[str, Any]:
        return {"use_averages": self.use_averages, "use_radam": self.use_radam,
                "L2_is_weight_decay": self.L2_is_weight_decay}

    def to_bytes(self, model: Any = None) -> bytes:
        """Step count, hyperparameters, schedule positions and (given `model`)
        that model's moments, averages and update count, without pickle.

        Raises ValueError if a hyperparameter follows a plain generator, whose
        position cannot be saved: use a built-in schedule from
        ``thinc_fast.schedules``.
        """
        return _format.to_bytes(self, model)

    def from_bytes(self, data: bytes, model: Any = None) -> "Optimizer":
        """Restore what ``to_bytes`` saved. The optimizer must be built the same
        way (same kind, same schedules); with `model`, its state is restored
        for that model. Everything is checked before anything changes.

        Sizes are checked against `model` and this optimizer before anything
        is decompressed (see ``_format.state_bounds``): each state array at most 4
        times the model's arena plus 64 KiB, the JSON header 64 KiB plus 1 KiB
        per parameter tensor plus the schedules' states, so that memory stays
        a small multiple of the model's size whatever the data declares."""
        saved = _format.read_state(self, data, model)  # checked: nothing changed yet
        scheduled = self._scheduled()
        backup = {name: s.get_state() for name, s in scheduled.items()}
        old_step = self._step
        try:
            for name, state in saved.sources.items():
                scheduled[name].set_state(state)
            self._step = saved.step
            self._cache = None
            self.hyper()
        except (KeyError, TypeError, ValueError) as err:
            self._step = old_step
            self._cache = None
            for name, state in backup.items():
                scheduled[name].set_state(state)  # type: ignore[arg-type]
            raise FormatError(f"optimizer state: the saved schedule positions are invalid: {err}")
        self._last_score = saved.last_score  # type: ignore[assignment]
        if saved.plan is not None:
            self._arena_states[model.id] = saved.plan
        return self


def _is_constant(source: Source) -> bool:
    return isinstance(source, Constant)


def _check_consistent(beta1: float, beta2: float, eps: float, rule: str) -> None:
    if (beta1 > 0.0) != (beta2 > 0.0):
        raise HyperparameterError(f"beta1={beta1} and beta2={beta2}: use both > 0 for Adam, "
                                  "or both 0 for SGD")
    if rule == "radam" and not beta1 > 0.0:
        raise HyperparameterError("RAdam needs beta1 > 0 and beta2 > 0")
    if beta1 > 0.0 and eps <= 0.0:
        raise HyperparameterError(f"eps must be > 0 for Adam, got {eps}")


def _nonfinite_error(arena: Optional[ParamArena], key: Optional[KeyT]) -> FloatingPointError:
    found = arena.find_nonfinite() if arena is not None else None
    if found is None:
        return FloatingPointError("the gradient holds NaN or inf (or its norm overflowed); "
                                  "the parameters were left unchanged")
    node, name, what = found
    return FloatingPointError(
        f"NaN or inf in the {what} of parameter {name!r} of model {node.name!r} (id {node.id}); "
        "no parameter was updated. The gradients were kept for inspection: call "
        "model.zero_grads() to discard them."
    )


@builtin("optimizers", "Adam.v1")
@beyond_thinc("grad_clip_mode", "schedules")
def Adam(
    learn_rate: ScheduleT = ADAM_DEFAULTS["learn_rate"],
    *,
    L2: ScheduleT = ADAM_DEFAULTS["L2"],
    beta1: ScheduleT = ADAM_DEFAULTS["beta1"],
    beta2: ScheduleT = ADAM_DEFAULTS["beta2"],
    eps: ScheduleT = ADAM_DEFAULTS["eps"],
    grad_clip: ScheduleT = ADAM_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = bool(ADAM_DEFAULTS["L2_is_weight_decay"]),
    use_averages: bool = bool(ADAM_DEFAULTS["use_averages"]),
    grad_clip_mode: ClipModeT = "parameter",
    schedules: Optional[Dict[str, Iterator[float]]] = None,
) -> Optimizer:
    """Adam (AdamW with ``L2_is_weight_decay=True``), with Thinc's defaults:
    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)``.

    >>> opt = Adam(0.01)
    >>> float(opt.learn_rate), opt.learn_rate(step=0)
    (0.01, 0.01)
    """
    return Optimizer(learn_rate, L2=L2, beta1=beta1, beta2=beta2, eps=eps, grad_clip=grad_clip,
                     L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages,
                     grad_clip_mode=grad_clip_mode, schedules=schedules)


@builtin("optimizers", "RAdam.v1")
@beyond_thinc("grad_clip_mode", "schedules")
def RAdam(
    learn_rate: ScheduleT = ADAM_DEFAULTS["learn_rate"],
    *,
    beta1: ScheduleT = ADAM_DEFAULTS["beta1"],
    beta2: ScheduleT = ADAM_DEFAULTS["beta2"],
    eps: ScheduleT = ADAM_DEFAULTS["eps"],
    L2: ScheduleT = ADAM_DEFAULTS["L2"],
    L2_is_weight_decay: bool = bool(ADAM_DEFAULTS["L2_is_weight_decay"]),
    grad_clip: ScheduleT = ADAM_DEFAULTS["grad_clip"],
    use_averages: bool = bool(ADAM_DEFAULTS["use_averages"]),
    grad_clip_mode: ClipModeT = "parameter",
    schedules: Optional[Dict[str, Iterator[float]]] = None,
) -> Optimizer:
    """Rectified Adam (Liu et al., 2019), with Thinc's defaults (see
    :class:`~thinc_fast.optimizers.rules.RAdamRule` for the formula)."""
    return Optimizer(learn_rate, L2=L2, beta1=beta1, beta2=beta2, eps=eps, grad_clip=grad_clip,
                     L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages,
                     use_radam=True, grad_clip_mode=grad_clip_mode, schedules=schedules)


@builtin("optimizers", "SGD.v1")
@beyond_thinc("grad_clip_mode", "schedules")
def SGD(
    learn_rate: ScheduleT,
    *,
    L2: ScheduleT = SGD_DEFAULTS["L2"],
    grad_clip: ScheduleT = SGD_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = bool(SGD_DEFAULTS["L2_is_weight_decay"]),
    use_averages: bool = bool(SGD_DEFAULTS["use_averages"]),
    grad_clip_mode: ClipModeT = "parameter",
    schedules: Optional[Dict[str, Iterator[float]]] = None,
) -> Optimizer:
    """Plain SGD, ``w -= learn_rate * g``, with Thinc's defaults. Keeps no
    moments (only the averages, when ``use_averages``)."""
    return Optimizer(learn_rate, L2=L2, beta1=0.0, beta2=0.0, grad_clip=grad_clip,
                     L2_is_weight_decay=L2_is_weight_decay, use_averages=use_averages,
                     grad_clip_mode=grad_clip_mode, schedules=schedules)
