"""The optimizer's byte format: what ``Optimizer.to_bytes`` writes and
``Optimizer.from_bytes`` reads (npz + JSON header through ``thinc_fast._io``).

The header holds the step count, the last score, the hyperparameters' values,
the optimizer's kind, the schedules' positions and, given a model, the layout of
its state arrays (``state.ArenaState``: moments, averages) keyed by walk
position; the arrays are the archive's members. :func:`state_bounds` bounds
what a file for one model may hold, from the model, before anything is
decompressed (``thinc_fast.checkpoint`` uses it too).

The functions take the optimizer; this module does not import ``optimizer.py``
(which imports it), and leaves the optimizer's own state to it:
:func:`read_state` checks everything and returns a :class:`SavedState`, which
``Optimizer.from_bytes`` takes.
"""
import json
import math
from typing import Any, Dict, NamedTuple, Optional, Tuple

from .._io import FormatError, pack, unpack
from ..schedules import same_schedule_name
from .rules import Hyper, select_rule
from .state import ArenaState

OPTIMIZER_FORMAT_VERSION = 2
# the hyperparameters' values a file records (the betas tell the rule that saved it)
HYPERPARAMETERS = ("learn_rate", "L2", "beta1", "beta2", "eps", "grad_clip")

# What loading optimizer state may cost, from the model it is for (see ``state_bounds``)
_STATE_HEADER = 64 << 10  # the JSON header: this, plus per parameter tensor of the model
_STATE_HEADER_PER_TENSOR = 1 << 10  # this, plus per scheduled hyperparameter
_STATE_HEADER_PER_SOURCE = 4 << 10  # this plus 4x its state's JSON (unknown: _STATE_SOURCES)
_STATE_SOURCES = 256 << 10  # the schedules of an optimizer not at hand
_STATE_ARRAYS = 8  # state arrays a file may hold (Adam keeps mom1, mom2; then averages)
_STATE_SLACK = 4  # a state array: at most 4x the model's arena (float32), plus _STATE_EXTRA
_STATE_EXTRA = 64 << 10
_NPY_HEADER = 1 << 16  # what ``unpack`` allows an .npy header, per member


class SavedState(NamedTuple):
    """What a state file restores (see :func:`read_state`)."""

    step: int
    last_score: Optional[Tuple[Any, ...]]
    sources: Dict[str, Dict[str, Any]]  # each scheduled hyperparameter's position
    plan: Optional[ArenaState]  # the model's state, None without a model or saved state


# --------------------------------------------------------------------- writing
def to_bytes(optimizer: Any, model: Any = None) -> bytes:
    """What ``Optimizer.to_bytes(model)`` gives (see there)."""
    sources = {}
    for name, source in optimizer._scheduled().items():
        state = source.get_state()
        if state is None:
            what = getattr(source, "iterator", getattr(source, "fn", source))
            raise ValueError(
                f"cannot save the optimizer: {name!r} follows a plain Python iterator or "
                f"function ({type(what).__name__}), whose position cannot be saved. Use a "
                "built-in schedule from thinc_fast.schedules (e.g. warmup_linear) to save "
                "and resume.")
        sources[name] = state
    hyper = optimizer.hyper()
    header: Dict[str, Any] = {
        "format": "thinc_fast.optimizer", "version": OPTIMIZER_FORMAT_VERSION,
        "step": optimizer._step,
        "last_score": list(optimizer._last_score) if optimizer._last_score else None,
        "hyperparameters": {name: float(getattr(hyper, name)) for name in HYPERPARAMETERS},
        "kind": optimizer._kind(), "grad_clip_mode": optimizer.grad_clip_mode,
        "sources": sources, "model_state": None,
    }
    arrays: Dict[str, Any] = {}
    if model is not None:
        state = optimizer._arena_states.get(model.id)
        if state is not None:
            state = optimizer._arena_state(model.arena)
            position = {node.id: i for i, node in enumerate(model.walk())}
            header["model_state"] = {
                "nr_update": state.nr_update,
                "arrays": sorted(state.arrays),
                "layout": [[position[node_id], name, off, list(shape)]
                           for (node_id, name), off, shape in state.layout],
            }
            arrays.update(state.arrays)
    return pack(header, arrays)


# --------------------------------------------------------------------- reading
def read_state(optimizer: Any, data: bytes, model: Any = None) -> SavedState:
    """Everything ``Optimizer.from_bytes`` restores from `data`, checked
    against `optimizer` (same kind, rule and schedules) and `model` (its
    arena's layout) before anything changes; sizes are checked before
    anything is decompressed (see :func:`state_bounds`)."""
    bounds = state_bounds(model, optimizer)
    header, arrays = unpack(data, kind="optimizer", max_version=OPTIMIZER_FORMAT_VERSION,
                            names=_state_array_names, max_header=bounds.header,
                            max_bytes=bounds.array_limits, max_members=bounds.members,
                            max_containers=bounds.containers)
    if header.get("kind") != optimizer._kind():
        raise ValueError(f"cannot load optimizer state: saved for {header.get('kind')}, "
                         f"this optimizer is {optimizer._kind()}")
    saved_rule = _saved_rule(header)
    if saved_rule is not None and saved_rule.name != optimizer.rule:
        kept = (f" (it keeps {', '.join(saved_rule.state)} for each parameter)"
                if saved_rule.state else "")
        raise ValueError(f"cannot load optimizer state: it was saved by {saved_rule.name!r}"
                         f"{kept}, this optimizer is {optimizer.rule!r}. Load it into an "
                         f"optimizer built the same way (e.g. the run's own config)")
    version = header.get("version")
    saved = header.get("sources") if version == 2 else _v1_sources(header)
    scheduled = optimizer._scheduled()
    if not isinstance(saved, dict) or set(saved) != set(scheduled):
        names = sorted(saved) if isinstance(saved, dict) else saved
        raise ValueError(f"cannot load optimizer state: saved with schedules for {names}, "
                         f"this optimizer has {sorted(scheduled)}")
    for name, state in saved.items():
        mine = scheduled[name].get_state()
        if not isinstance(state, dict) or mine is None or mine.get("kind") != state.get("kind") \
                or not same_schedule_name(_schedule_name(state), _schedule_name(mine)):
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
        plan = _plan_model_state(optimizer, model, model_state, arrays)
    return SavedState(step, tuple(last_score) if last_score else None, saved, plan)


def _plan_model_state(optimizer: Any, model: Any, saved: Dict[str, Any],
                      arrays: Dict[str, Any]) -> ArenaState:
    """The state `saved` (a header's ``model_state``) and its `arrays` hold,
    laid out like `model`'s arena now; ValueError for a parameter the model
    does not have with that shape."""
    arena = model.arena
    nodes = model.walk()
    new = ArenaState(arena.ops, arena.layout, len(arena))
    if not isinstance(saved.get("nr_update"), int):
        raise FormatError("optimizer state: bad update count")
    new.nr_update = int(saved["nr_update"])
    names = saved.get("arrays", sorted(arrays))
    if not isinstance(names, list) or not set(names) <= set(arrays):
        raise FormatError(f"optimizer state lacks some of the arrays {names}")
    if optimizer.use_averages:
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


def state_bounds(model: Any = None, optimizer: Any = None) -> StateBounds:
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
