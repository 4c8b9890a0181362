"""The Optimizer facade: hyperparameters, schedules, state, and the update.

``model.finish_update(optimizer)`` calls :meth:`Optimizer.update_arena` once
per step: one read-only pass gives every tensor's gradient norm (and rejects
NaN/inf before anything changes), then one fused kernel applies the rule of
:mod:`thinc_fast.optimizers.rules` to the whole arena, each tensor with its own
clipping factor. ``optimizer(key, weights, gradient)`` is Thinc's per-parameter
call, for code that drives the optimizer itself.
"""
import json
import math
from typing import Any, Dict, Iterator, Literal, NamedTuple, Optional, Tuple, Union

import numpy

from .._arena import ParamArena
from .._builtins import builtin
from .._io import FormatError, pack, unpack
from .hyper import (Constant, FromIterator, FromSchedule, Hyperparameter, HyperparameterError, KeyT, Source,
                    checked_value, lagged_source, make_source)
from .rules import Hyper, clip_scales, common_scalars, select_rule
from .state import ArenaState

ScheduleT = Any  # a number, a list, an iterator/generator or a schedule
ClipModeT = Literal["parameter", "global"]
OPTIMIZER_FORMAT_VERSION = 2

# What loading optimizer state may cost, from the model it is for (see ``state_bounds``)
_STATE_HEADER = 64 << 10  # the JSON header: this, plus per parameter tensor of the model
_STATE_HEADER_PER_TENSOR = 1 << 10  # this, plus per scheduled hyperparameter
_STATE_HEADER_PER_SOURCE = 4 << 10  # this plus 4x its state's JSON (unknown: _STATE_SOURCES)
_STATE_SOURCES = 256 << 10  # the schedules of an optimizer not at hand
_STATE_ARRAYS = 8  # state arrays a file may hold (Adam keeps mom1, mom2; then averages)
_STATE_SLACK = 4  # a state array: at most 4x the model's arena (float32), plus _STATE_EXTRA
_STATE_EXTRA = 64 << 10
_NPY_HEADER = 1 << 16  # what ``unpack`` allows an .npy header, per member

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
        self.use_radam = bool(use_radam)
        self.L2_is_weight_decay = bool(L2_is_weight_decay)
        self.grad_clip_mode: ClipModeT = grad_clip_mode
        self._arena_states: Dict[int, ArenaState] = {}
        self._key_states: Dict[KeyT, Dict[str, Any]] = {}
        self._all_constant = all(_is_constant(s) for s in self._sources.values())
        self.hyper()  # check the first values now

    def __repr__(self) -> str:
        h = self.hyper()
        return (f"<Optimizer {select_rule(self.use_radam, h).name} learn_rate={h.learn_rate} "
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
        _check_consistent(h.beta1, h.beta2, h.eps, self.use_radam)
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
        return select_rule(self.use_radam, self.hyper()).state != ()

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
        h = self.hyper()
        rule = select_rule(self.use_radam, h)
        common = common_scalars(h, state.nr_update + 1, self.L2_is_weight_decay, lr_scale)
        ops = arena.ops
        grad_scale, segments = self._clip(ops, arena.grads, arena.params, common["l2_coupled"],
                                          h.grad_clip, state.segments, arena)
        state.nr_update += 1
        k = rule.scalars(h, state.nr_update, common, lr_scale)
        arrays = state.ensure(rule.state + (("averages",) if self.use_averages else ()))
        rule.run(ops, arena.params, arena.grads, arrays, arrays.get("averages"), k,
                 grad_scale, segments)

    def _clip(self, ops: Any, grads: Any, params: Any, l2: float, grad_clip: float,
              segments: Any, arena: Optional[ParamArena]) -> Tuple[Any, Any]:
        """(grad_scale, segments) for the kernel, after the NaN/inf check."""
        if (self.grad_clip_mode == "parameter" and grad_clip > 0.0 and segments is not None
                and len(segments) > 2):
            sumsq = ops.segment_sum_of_squares(grads, params, l2, segments)
            if not isinstance(sumsq, numpy.ndarray):
                sumsq = sumsq.get()  # one small device-to-host copy (CuPy)
            if not numpy.isfinite(sumsq).all():
                raise _nonfinite_error(arena, None)
            return clip_scales(sumsq, grad_clip), segments
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
        """
        if getattr(gradient, "size", len(gradient)) < 1:
            return weights, gradient
        if weights.shape != gradient.shape:
            raise ValueError(f"optimizer {key}: weights {weights.shape} and gradient "
                             f"{gradient.shape} differ in shape")
        if not (weights.flags.c_contiguous and gradient.flags.c_contiguous):
            raise ValueError(f"optimizer {key}: weights and gradient must be contiguous arrays")
        from ..backends import get_array_ops

        ops = get_array_ops(weights)
        w = weights.reshape(-1)
        g = gradient.reshape(-1)
        state = self._key_states.get(key)
        if state is None:
            state = {"arrays": {}, "nr_update": 0, "shape": tuple(weights.shape)}
            self._key_states[key] = state
        h = self.hyper(key)
        rule = select_rule(self.use_radam, h)
        common = common_scalars(h, state["nr_update"] + 1, self.L2_is_weight_decay, lr_scale)
        grad_scale, _ = self._clip(ops, g, w, common["l2_coupled"], h.grad_clip, None, None)
        state["nr_update"] += 1
        k = rule.scalars(h, state["nr_update"], common, lr_scale)
        arrays = state["arrays"]
        for name in rule.state + (("averages",) if self.use_averages else ()):
            if name not in arrays:
                arrays[name] = ops.xp.zeros(w.shape, dtype=w.dtype)
        rule.run(ops, w, g, arrays, arrays.get("averages"), k, grad_scale, None)
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

    # ---------------------------------------------------------- serialization
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
        sources = {}
        for name, source in self._scheduled().items():
            state = source.get_state()
            if state is None:
                what = getattr(source, "iterator", getattr(source, "fn", source))
                raise ValueError(
                    f"cannot save the optimizer: {name!r} follows a plain Python iterator or "
                    f"function ({type(what).__name__}), whose position cannot be saved. Use a "
                    "built-in schedule from thinc_fast.schedules (e.g. warmup_linear) to save "
                    "and resume.")
            sources[name] = state
        header: Dict[str, Any] = {
            "format": "thinc_fast.optimizer", "version": OPTIMIZER_FORMAT_VERSION,
            "step": self._step, "last_score": list(self._last_score) if self._last_score else None,
            "hyperparameters": {name: float(self._get(name)) for name in HYPERPARAMETERS},
            "kind": self._kind(), "grad_clip_mode": self.grad_clip_mode,
            "sources": sources, "model_state": None,
        }
        arrays: Dict[str, Any] = {}
        if model is not None:
            state = self._arena_states.get(model.id)
            if state is not None:
                state = self._arena_state(model.arena)
                position = {node.id: i for i, node in enumerate(model.walk())}
                header["model_state"] = {
                    "nr_update": state.nr_update,
                    "arrays": sorted(state.arrays),
                    "layout": [[position[node_id], name, off, list(shape)]
                               for (node_id, name), off, shape in state.layout],
                }
                arrays.update(state.arrays)
        return pack(header, arrays)

    def from_bytes(self, data: bytes, model: Any = None) -> "Optimizer":
        """Restore what ``to_bytes`` saved. The optimizer must be built the same
        way (same kind, same schedules); with `model`, its state is restored
        for that model. Everything is checked before anything changes.

        Sizes are checked against `model` and this optimizer before anything
        is decompressed (see :func:`state_bounds`): each state array at most 4
        times the model's arena plus 64 KiB, the JSON header 64 KiB plus 1 KiB
        per parameter tensor plus the schedules' states, so that memory stays
        a small multiple of the model's size whatever the data declares."""
        bounds = state_bounds(model, self)
        header, arrays = unpack(data, kind="optimizer", max_version=OPTIMIZER_FORMAT_VERSION,
                                names=_state_array_names, max_header=bounds.header,
                                max_bytes=bounds.array_limits, max_members=bounds.members,
                                max_containers=bounds.containers)
        if header.get("kind") != self._kind():
            raise ValueError(f"cannot load optimizer state: saved for {header.get('kind')}, "
                             f"this optimizer is {self._kind()}")
        saved_rule = _saved_rule(header)
        rule = select_rule(self.use_radam, self.hyper())
        if saved_rule is not None and saved_rule.name != rule.name:
            kept = (f" (it keeps {', '.join(saved_rule.state)} for each parameter)"
                    if saved_rule.state else "")
            raise ValueError(f"cannot load optimizer state: it was saved by {saved_rule.name!r}"
                             f"{kept}, this optimizer is {rule.name!r}. Load it into an "
                             f"optimizer built the same way (e.g. the run's own config)")
        version = header.get("version")
        saved = header.get("sources") if version == 2 else _v1_sources(header)
        scheduled = self._scheduled()
        if not isinstance(saved, dict) or set(saved) != set(scheduled):
            names = sorted(saved) if isinstance(saved, dict) else saved
            raise ValueError(f"cannot load optimizer state: saved with schedules for {names}, "
                             f"this optimizer has {sorted(scheduled)}")
        for name, state in saved.items():
            mine = scheduled[name].get_state()
            if not isinstance(state, dict) or mine is None or mine.get("kind") != state.get("kind") \
                    or _schedule_name(mine) != _schedule_name(state):
                raise ValueError(f"cannot load optimizer state: the schedule for {name!r} was "
                                 f"{_schedule_name(state)!r}, here it is {scheduled[name]!r}")
        model_state = header.get("model_state")
        step = header.get("step")
        if version == 1:  # no step count then: the model's update count is the best guess
            step = int(model_state["nr_update"]) if isinstance(model_state, dict) else 0
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise FormatError("optimizer state: bad step count")
        last_score = header.get("last_score")
        if last_score is not None and (not isinstance(last_score, list) or len(last_score) != 2):
            raise FormatError("optimizer state: bad last_score")
        plan = None
        if model is not None and model_state is not None:
            plan = self._plan_model_state(model, model_state, arrays)
        backup = {name: s.get_state() for name, s in scheduled.items()}
        old_step = self._step
        try:
            for name, state in saved.items():
                scheduled[name].set_state(state)
            self._step = step
            self._cache = None
            self.hyper()
        except (KeyError, TypeError, ValueError) as err:
            self._step = old_step
            self._cache = None
            for name, state in backup.items():
                scheduled[name].set_state(state)  # type: ignore[arg-type]
            raise FormatError(f"optimizer state: the saved schedule positions are invalid: {err}")
        self._last_score = tuple(last_score) if last_score else None  # type: ignore[assignment]
        if plan is not None:
            self._arena_states[model.id] = plan
        return self

    def _plan_model_state(self, model: Any, saved: Dict[str, Any],
                          arrays: Dict[str, Any]) -> ArenaState:
        arena = model.arena
        nodes = model.walk()
        new = ArenaState(arena.ops, arena.layout, len(arena))
        if not isinstance(saved.get("nr_update"), int):
            raise FormatError("optimizer state: bad update count")
        new.nr_update = int(saved["nr_update"])
        names = saved.get("arrays", sorted(arrays))
        if not isinstance(names, list) or not set(names) <= set(arrays):
            raise FormatError(f"optimizer state lacks some of the arrays {names}")
        if self.use_averages:
            names = sorted(set(names) | {"averages"}) if "averages" in arrays else names
        new.ensure(names)
        where = {key: (off, shape) for key, off, shape in arena.layout}
        for entry in saved.get("layout", []):
            index, name, off, shape = entry
            shape = tuple(shape)
            if not isinstance(index, int) or not 0 <= index < len(nodes):
                raise ValueError(f"cannot load optimizer state: it refers to node {index}, "
                                 f"the model has {len(nodes)} nodes")
            node = nodes[index]
            target = where.get((node.id, name))
            if target is None or target[1] != shape:
                raise ValueError(f"cannot load optimizer state: parameter {name!r} of node {index} "
                                 f"({node.name!r}) has shape {None if target is None else target[1]} "
                                 f"in the model but {shape} in the saved state")
            size = math.prod(shape)
            for array_name in names:
                src = arrays[array_name]
                if src.ndim != 1 or src.shape[0] < off + size:
                    raise FormatError("optimizer state arrays are truncated")
                # the state arrays live on the model's device: copy the host slice there
                new.arrays[array_name][target[0]:target[0] + size] = \
                    arena.ops.asarray(src[off:off + size])
        return new


class StateBounds(NamedTuple):
    """What an optimizer state file for one model may hold (see :func:`state_bounds`)."""

    header: Optional[int]  # bytes of JSON (None: what the file stores)
    arena: Optional[int]  # floats in the model's arena (None: no model to bound the arrays)
    members: int
    containers: Optional[int]  # lists and maps in the JSON (None: ``unpack``'s default)

    def array_limits(self, header: Dict[str, Any]) -> Dict[str, Tuple[int, str]]:
        """``unpack``'s `max_bytes`: every state array, at most ``_STATE_SLACK``
        times the arena's float32 bytes plus ``_STATE_EXTRA``."""
        if self.arena is None:
            return {}
        nbytes = 4 * self.arena
        return {"*": (_STATE_SLACK * nbytes + _STATE_EXTRA,
                      f"this model's optimizer state is float32 ({self.arena},), {nbytes} "
                      "bytes, per array")}

    def total(self) -> Optional[int]:
        """The most bytes the whole file may hold (None where the arrays are unbounded)."""
        if self.arena is None or self.header is None:
            return None
        per_array = _STATE_SLACK * 4 * self.arena + _STATE_EXTRA + _NPY_HEADER
        return (self.header + _NPY_HEADER + _STATE_ARRAYS * per_array
                + self.members * 512 + (1 << 10))  # zip entries, the comment


def state_bounds(model: Any = None, optimizer: Optional["Optimizer"] = None) -> StateBounds:
    """Bounds on optimizer state for `model` (its parameter tensors and arena),
    as `optimizer` (its schedules; None: any optimizer) saves it: the JSON
    header at most ``_STATE_HEADER`` plus ``_STATE_HEADER_PER_TENSOR`` per
    tensor plus the schedules' states; at most ``_STATE_ARRAYS`` arrays of at
    most ``_STATE_SLACK`` times the arena. Without a model, or with one whose
    parameters are not all allocated yet, the header and arrays are bounded
    only by what the file stores (see ``thinc_fast._io``)."""
    arena = None
    tensors = 0
    if model is not None:
        try:  # a model with unallocated parameters (about to be loaded) bounds nothing
            complete = all(node.has_param(name) for node in model.walk()
                           for name in node.param_names)
            if complete:
                packed = model.arena
                arena, tensors = len(packed), len(packed.layout)
        except (AttributeError, TypeError, ValueError, KeyError):
            arena = None
    if optimizer is None:
        sources = _STATE_SOURCES
    else:
        sources = 0
        for source in optimizer._scheduled().values():
            try:
                state = json.dumps(source.get_state())
            except (TypeError, ValueError):
                state = ""
            sources += _STATE_HEADER_PER_SOURCE + 4 * len(state)
    if arena is None:
        return StateBounds(None, None, 1 + _STATE_ARRAYS, None)
    header = _STATE_HEADER + _STATE_HEADER_PER_TENSOR * tensors + sources
    return StateBounds(header, arena, 1 + _STATE_ARRAYS, 4096 + 8 * tensors + sources // 16)


def _is_constant(source: Source) -> bool:
    return isinstance(source, Constant)


def _schedule_name(state: Dict[str, Any]) -> Any:
    inner = state.get("schedule")
    return inner.get("name") if isinstance(inner, dict) else state.get("name")


def _state_array_names(header: Dict[str, Any]) -> Optional[set]:
    """The arrays an optimizer state file asks for (None: any, for files that
    do not list them), so that ``unpack`` refuses others before reading them."""
    model_state = header.get("model_state")
    if model_state is None:
        return set()
    names = model_state.get("arrays") if isinstance(model_state, dict) else None
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else None


def _saved_rule(header: Dict[str, Any]) -> Any:
    """The rule (Adam, RAdam, SGD) a state file was saved by, from its betas; None if unknown."""
    hyper, kind = header.get("hyperparameters"), header.get("kind")
    if not isinstance(hyper, dict) or not isinstance(kind, dict):
        return None
    beta1, beta2 = hyper.get("beta1"), hyper.get("beta2")
    if not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (beta1, beta2)):
        return None
    return select_rule(bool(kind.get("use_radam")), Hyper(0.0, 0.0, float(beta1), float(beta2),
                                                           0.0, 0.0))


def _v1_sources(header: Dict[str, Any]) -> Any:
    """Version 1 files kept a schedule's position and the value in use."""
    schedules = header.get("schedules")
    hyper = header.get("hyperparameters", {})
    if not isinstance(schedules, dict):
        return schedules
    step = (header.get("model_state") or {}).get("nr_update", 0)
    return {name: {"kind": "iterator", "last_step": step, "last_value": hyper.get(name),
                   "schedule": state} for name, state in schedules.items()}


def _check_consistent(beta1: float, beta2: float, eps: float, use_radam: bool) -> None:
    if (beta1 > 0.0) != (beta2 > 0.0):
        raise HyperparameterError(f"beta1={beta1} and beta2={beta2}: use both > 0 for Adam, "
                                  "or both 0 for SGD")
    if use_radam and not beta1 > 0.0:
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
