"""Hyperparameter schedules: small functions of the step count (Thinc 9's interface).

A :class:`Schedule` is called with the step: ``schedule(step, key=None,
last_score=None)`` (Thinc 9). It is also an iterator over the values at steps
0, 1, 2, ... that knows its position, so the original generator-style use keeps
working and a training run can save it and resume bit-exactly
(:meth:`Schedule.get_state` / :meth:`Schedule.set_state`). Any Python iterator
(a generator, say) can also drive a hyperparameter; only built-in schedules can
be saved.

    >>> lr = warmup_linear(0.01, warmup_steps=2, total_steps=10)
    >>> [round(lr(step), 4) for step in range(3)]
    [0.0, 0.005, 0.01]
    >>> [round(next(lr), 4) for _ in range(3)]
    [0.0, 0.005, 0.01]

How an optimizer evaluates a schedule: ``schedule(step, key=key,
last_score=last_score)``, with `step` the optimizer's step count (the number
of ``step_schedules()`` calls so far), `key` the parameter's ``(node_id,
name)`` and `last_score` the ``(step, score)`` of the last evaluation (None
before the first). This does not move the iterator; only :func:`plateau`
depends on `last_score`, and calling it repeatedly with the same `last_score`
(once per parameter, say) counts that evaluation once. A driver that iterates
instead calls :meth:`Schedule.advance` (``next(schedule)`` is
``schedule.advance()``), which reuses the last `last_score` the schedule was
given.
"""

import itertools
from ._builtins import builtin, builtins
import math
import numbers
from typing import (Any, Callable, Dict, Generator, Generic, List, Optional, Sequence,
                    Tuple, TypeVar, Union)

NumberT = Union[int, float]
ScoreT = Tuple[int, float]
OutT = TypeVar("OutT")


class Schedule(Generic[OutT]):
    """A hyperparameter as a function of the step, and an iterator with a position.

    name: Thinc's name for it (``"warmup_linear"``; the registry's is
    ``"warmup_linear.v1"``). schedule: the
    function, called as ``schedule(self, step, **extra)`` where `extra` holds
    the `key` and `last_score` given to :meth:`__call__` (as in Thinc 9:
    ``Schedule("my_rate", fn, attrs={...})`` builds a custom schedule). attrs:
    the arguments it was built with.

    ``step`` is the iterator's position: the step whose value ``next()``
    returns.
    """

    __slots__ = ("name", "_schedule", "_attrs", "step", "_last_score")

    def __init__(self, name: str, schedule: Callable[..., OutT], *,
                 attrs: Optional[Dict[str, Any]] = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Schedule: argument 'name' must be a str, got {type(name).__name__}")
        if not callable(schedule):
            raise TypeError(f"Schedule {name!r}: argument 'schedule' must be callable, "
                            f"got {type(schedule).__name__}")
        self.name = name
        self._schedule = schedule
        self._attrs: Dict[str, Any] = dict(attrs or {})
        self.step = 0
        self._last_score: Optional[ScoreT] = None

    @property
    def attrs(self) -> Dict[str, Any]:
        """The arguments the schedule was built with (plus any state it keeps)."""
        return self._attrs

    @property
    def args(self) -> Dict[str, Any]:
        """Alias of :attr:`attrs` (thinc_fast's earlier name)."""
        return self._attrs

    @property
    def last_score(self) -> Optional[ScoreT]:
        """The last ``(step, score)`` this schedule was given, or None."""
        return self._last_score

    def __call__(self, step: int, *, key: Any = None, last_score: Optional[ScoreT] = None,
                 **extra: Any) -> OutT:
        """The value at `step` (the iterator does not move).

        key: the parameter being updated, ``(node_id, name)``; last_score: the
        last evaluation as ``(step, score)``; both are passed on to the
        schedule function and to wrapped schedules (only :func:`plateau` uses
        `last_score`)."""
        _check_step(self.name, "step", step)
        if key is not None:
            extra["key"] = key
        if last_score is not None:
            last_score = _check_last_score(self.name, last_score)
            self._last_score = last_score
            extra["last_score"] = last_score
        value = self._schedule(self, step, **extra)
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
            return float(value)  # type: ignore[return-value]
        return value

    def advance(self, *, key: Any = None, last_score: Optional[ScoreT] = None) -> OutT:
        """The value at the iterator's position, then move one step on.

        Without `last_score`, the last one this schedule was given is used again
        (so :func:`plateau` keeps its scaling when driven as an iterator)."""
        if last_score is None:
            last_score = self._last_score
        value = self(self.step, key=key, last_score=last_score)
        self.step += 1
        return value

    def __iter__(self) -> "Schedule[OutT]":
        return self

    def __next__(self) -> OutT:
        return self.advance()

    def to_generator(self, start: int = 0, step_size: int = 1,
                     **extra: Any) -> Generator[OutT, None, None]:
        """A generator of the values at steps ``start, start + step_size, ...``,
        each called with `extra` (e.g. ``key``). It does not move this
        schedule's own position."""
        _check_step(self.name, "start", start)
        _check_step(self.name, "step_size", step_size)

        def generate() -> Generator[OutT, None, None]:
            for step in itertools.count(start, step_size):
                yield self(step, **extra)

        return generate()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._attrs.items() if k != "state")
        return f"{self.name}({args}) at step {self.step}"

    # ------------------------------------------------------------ saved state
    def _children(self) -> List["Schedule"]:
        """The schedules this one wraps, in a fixed order."""
        children: List[Schedule] = []
        for value in self._attrs.values():
            if isinstance(value, Schedule):
                children.append(value)
            elif isinstance(value, (list, tuple)):
                children.extend(v for v in value if isinstance(v, Schedule))
        return children

    def get_state(self) -> Dict[str, Any]:
        """What is needed to resume this schedule exactly, as plain JSON data:
        ``{"name", "step", "last_score"}``, plus ``"plateau"`` (a plateau's
        counters) and ``"children"`` (the states of wrapped schedules) where
        they apply."""
        state: Dict[str, Any] = {
            "name": self.name, "step": self.step,
            "last_score": None if self._last_score is None else list(self._last_score)}
        plateau_state = self._attrs.get("state")
        if isinstance(plateau_state, _PlateauState):
            state["plateau"] = plateau_state.to_dict()
        children = self._children()
        if children:
            state["children"] = [child.get_state() for child in children]
        return state

    def set_state(self, state: Dict[str, Any]) -> None:
        """Move to a saved position (and restore the plateau counters and
        wrapped schedules' states). The schedule must be the same kind; all
        of `state` is checked before anything changes."""
        self._check_state(state)
        self._apply_state(state)

    def _check_state(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"cannot restore a schedule position from {type(state).__name__}")
        if not same_schedule_name(state.get("name"), self.name):
            raise ValueError(f"cannot restore a {state.get('name')!r} schedule position into a "
                             f"{self.name!r} schedule")
        step = state.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"cannot restore {self.name}: bad position {step!r}")
        if state.get("last_score") is not None:
            _check_last_score(self.name, state["last_score"])
        if "plateau" in state:
            if not isinstance(self._attrs.get("state"), _PlateauState):
                raise ValueError(f"cannot restore plateau counters into a {self.name!r} schedule")
            _PlateauState.from_dict(self.name, state["plateau"])
        if "children" in state:
            children = self._children()
            saved = state["children"]
            if not isinstance(saved, list) or len(saved) != len(children):
                raise ValueError(f"cannot restore {self.name}: it wraps {len(children)} "
                                 f"schedule(s), the saved state has a different number")
            for child, child_state in zip(children, saved):
                child._check_state(child_state)

    def _apply_state(self, state: Dict[str, Any]) -> None:
        self.step = int(state["step"])
        saved_score = state.get("last_score")
        self._last_score = None if saved_score is None else _check_last_score(self.name,
                                                                               saved_score)
        if "plateau" in state:
            self._attrs["state"] = _PlateauState.from_dict(self.name, state["plateau"])
        if "children" in state:
            for child, child_state in zip(self._children(), state["children"]):
                child._apply_state(child_state)


def same_schedule_name(saved: Any, name: Optional[str]) -> bool:
    """Whether a saved schedule `name` is this one's. The built-in schedules
    carry Thinc's names ("warmup_linear"); states written by earlier
    thinc_fast versions carry the registry's ("warmup_linear.v1"), and load."""
    if saved == name:
        return True
    return (isinstance(saved, str) and isinstance(name, str) and saved == name + ".v1"
            and any(registered == saved for _, registered, _ in builtins("schedules")))


def _check_step(fn: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"schedule {fn}: {name!r} must be a number, got {type(value).__name__}")
    if not value >= 0:  # also catches NaN
        raise ValueError(f"schedule {fn}: {name!r} must be >= 0, got {value!r}")


def _check_last_score(fn: str, last_score: Any) -> ScoreT:
    """``(step, score)`` with an int step >= 0 and a real score."""
    ok = isinstance(last_score, (tuple, list)) and len(last_score) == 2
    if ok:
        step, score = last_score
        ok = (isinstance(step, numbers.Integral) and not isinstance(step, bool) and step >= 0
              and isinstance(score, numbers.Real) and not isinstance(score, bool))
    if not ok:
        raise TypeError(f"schedule {fn}: 'last_score' must be a (step, score) pair with an int "
                        f"step >= 0 and a number score, got {last_score!r}")
    return (int(step), float(score))


def _number(fn: str, name: str, value: Any, *, low: Optional[float] = None,
            high: Optional[float] = None, strict_low: bool = False, integer: bool = False) -> Any:
    """Check one schedule argument, naming it in the error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{fn}: argument {name!r} must be a finite number, got {value!r}")
    if integer and int(value) != value:
        raise ValueError(f"{fn}: argument {name!r} must be an integer, got {value!r}")
    if low is not None and (value < low or (strict_low and value == low)):
        op = ">" if strict_low else ">="
        raise ValueError(f"{fn}: argument {name!r} must be {op} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{fn}: argument {name!r} must be <= {high}, got {value!r}")
    return int(value) if integer else float(value)


def _schedule_arg(fn: str, name: str, value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return constant(value)
    raise TypeError(f"{fn}: argument {name!r} must be a built-in schedule or a number, "
                    f"got {type(value).__name__}")


@builtin("schedules", "constant.v1")
def constant(rate: float) -> Schedule[float]:
    """``rate`` at every step."""
    rate = _number("constant", "rate", rate)
    return Schedule("constant", _constant, attrs={"rate": rate})


def _constant(schedule: Schedule, step: int, **extra: Any) -> float:
    return schedule.attrs["rate"]


@builtin("schedules", "constant_then.v1")
def constant_then(rate: float, steps: int, schedule: Schedule[float]) -> Schedule[float]:
    """``rate`` for the first `steps` steps, then ``schedule(step)``.

    As in Thinc 9, the wrapped schedule is asked about the same (unshifted)
    step: ``constant_then(1.0, 2, decaying(0.5, 0.1))`` gives 1.0, 1.0, then
    ``0.5 / (1 + 0.1 * 2)``, ...

    >>> [round(constant_then(1.0, 2, decaying(0.5, 0.1))(s), 4) for s in range(4)]
    [1.0, 1.0, 0.4167, 0.3846]
    """
    rate = _number("constant_then", "rate", rate)
    steps = _number("constant_then", "steps", steps, low=0, integer=True)
    inner = _schedule_arg("constant_then", "schedule", schedule)
    return Schedule("constant_then", _constant_then,
                    attrs={"rate": rate, "steps": steps, "schedule": inner})


def _constant_then(schedule: Schedule, step: int, **extra: Any) -> float:
    attrs = schedule.attrs
    if step < attrs["steps"]:
        return attrs["rate"]
    return attrs["schedule"](step, **extra)


@builtin("schedules", "decaying.v1")
def decaying(base_rate: float, decay: float, *, t: float = 0.0) -> Schedule[float]:
    """``base_rate / (1 + decay * (t + step))``."""
    base_rate = _number("decaying", "base_rate", base_rate)
    decay = _number("decaying", "decay", decay, low=0.0)
    t = _number("decaying", "t", t, low=0.0)
    return Schedule("decaying", _decaying,
                    attrs={"base_rate": base_rate, "decay": decay, "t": t})


def _decaying(schedule: Schedule, step: int, **extra: Any) -> float:
    a = schedule.attrs
    return a["base_rate"] * (1.0 / (1.0 + a["decay"] * (step + a["t"])))


@builtin("schedules", "compounding.v1")
def compounding(start: float, stop: float, compound: float, *, t: float = 0.0) -> Schedule[float]:
    """``start * compound ** (t + step)``, clipped at `stop` (from either side)."""
    start = _number("compounding", "start", start)
    stop = _number("compounding", "stop", stop)
    compound = _number("compounding", "compound", compound, low=0.0, strict_low=True)
    t = _number("compounding", "t", t, low=0.0)
    return Schedule("compounding", _compounding,
                    attrs={"start": start, "stop": stop, "compound": compound, "t": t})


def _compounding(schedule: Schedule, step: int, **extra: Any) -> float:
    a = schedule.attrs
    start, stop = a["start"], a["stop"]
    curr = start * a["compound"] ** (step + a["t"])
    return max(curr, stop) if start > stop else min(curr, stop)


class _PlateauState:
    """A plateau's counters: the best score so far, the step of the last score
    seen, the evaluations since the best without improvement (reset at
    `max_patience`), and the number of plateaus reached."""

    __slots__ = ("best_score", "last_score_step", "patience", "n_plateaus")

    def __init__(self, best_score: Optional[float] = None, last_score_step: Optional[int] = None,
                 patience: int = 0, n_plateaus: int = 0) -> None:
        self.best_score = best_score
        self.last_score_step = last_score_step
        self.patience = patience
        self.n_plateaus = n_plateaus

    def __repr__(self) -> str:
        return (f"_PlateauState(best_score={self.best_score!r}, "
                f"last_score_step={self.last_score_step!r}, patience={self.patience}, "
                f"n_plateaus={self.n_plateaus})")

    def to_dict(self) -> Dict[str, Any]:
        return {"best_score": self.best_score, "last_score_step": self.last_score_step,
                "patience": self.patience, "n_plateaus": self.n_plateaus}

    @classmethod
    def from_dict(cls, fn: str, data: Any) -> "_PlateauState":
        def whole(v: Any, optional: bool = False) -> bool:
            return (optional and v is None) or (isinstance(v, int) and not isinstance(v, bool)
                                                 and v >= 0)

        ok = (isinstance(data, dict) and whole(data.get("patience"))
              and whole(data.get("n_plateaus")) and whole(data.get("last_score_step"), True)
              and (data.get("best_score") is None
                   or (isinstance(data["best_score"], numbers.Real)
                       and not isinstance(data["best_score"], bool))))
        if not ok:
            raise ValueError(f"cannot restore {fn}: bad plateau counters {data!r}")
        best = data["best_score"]
        return cls(None if best is None else float(best), data["last_score_step"],
                   data["patience"], data["n_plateaus"])


@builtin("schedules", "plateau.v1")
def plateau(max_patience: int, scale: float, schedule: Schedule[float]) -> Schedule[float]:
    """``scale ** n_plateaus * schedule(step)``: the wrapped schedule, scaled
    down each time the score stops improving.

    The caller passes ``last_score=(score_step, score)``, the last evaluation.
    A score above the best so far resets the patience; a score that is not,
    from a later `score_step` than the previous one, adds 1 to it, and when it
    reaches `max_patience` the plateau count goes up by one and the patience
    restarts at 0. The same `score_step` given again changes nothing, and an
    earlier one is an error.

    >>> lr = plateau(2, 0.5, constant(1.0))
    >>> [lr(s, last_score=(s, 1.0)) for s in range(1, 6)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    fn = "plateau"
    max_patience = _number(fn, "max_patience", max_patience, low=1, integer=True)
    scale = _number(fn, "scale", scale, low=0.0, strict_low=True)
    inner = _schedule_arg(fn, "schedule", schedule)
    return Schedule("plateau", _plateau, attrs={
        "max_patience": max_patience, "scale": scale, "schedule": inner,
        "state": _PlateauState()})


def _plateau(schedule: Schedule, step: int, *, last_score: Optional[ScoreT] = None,
             **extra: Any) -> float:
    a = schedule.attrs
    state: _PlateauState = a["state"]
    if last_score is not None:
        score_step, score = last_score
        if state.best_score is None or state.last_score_step is None or score > state.best_score:
            state.best_score = score
            state.patience = 0
        elif score_step < state.last_score_step:
            raise ValueError(f"plateau: Expected score with step >= {state.last_score_step}, "
                             f"was: {score_step} (argument 'last_score')")
        elif score_step > state.last_score_step:
            state.patience += 1
            if state.patience == a["max_patience"]:
                state.n_plateaus += 1
                state.patience = 0
        state.last_score_step = score_step
        extra["last_score"] = last_score
    return (a["scale"] ** state.n_plateaus) * a["schedule"](step, **extra)


@builtin("schedules", "warmup_linear.v1")
def warmup_linear(initial_rate: float, warmup_steps: int, total_steps: int) -> Schedule[float]:
    """Linear warm-up from 0 to `initial_rate` over `warmup_steps`, then a linear
    decline to 0 at `total_steps`:

    ``rate * step / warmup_steps`` if ``step < warmup_steps``, else
    ``rate * max(0, (total_steps - step) / (total_steps - warmup_steps))``.
    """
    fn = "warmup_linear"
    initial_rate = _number(fn, "initial_rate", initial_rate)
    warmup_steps = _number(fn, "warmup_steps", warmup_steps, low=0, integer=True)
    # total_steps=0 would give a rate of 0 at every step: training that silently learns nothing
    total_steps = _number(fn, "total_steps", total_steps, low=1, integer=True)
    if total_steps < warmup_steps:
        raise ValueError(f"{fn}: argument 'total_steps' ({total_steps}) must be >= "
                         f"'warmup_steps' ({warmup_steps})")
    return Schedule("warmup_linear", _warmup_linear, attrs={
        "initial_rate": initial_rate, "warmup_steps": warmup_steps, "total_steps": total_steps})


def _warmup_linear(schedule: Schedule, step: int, **extra: Any) -> float:
    a = schedule.attrs
    warmup_steps, total_steps = a["warmup_steps"], a["total_steps"]
    if step < warmup_steps:
        factor = step / max(1, warmup_steps)
    else:
        factor = max(0.0, (total_steps - step) / max(1.0, total_steps - warmup_steps))
    return factor * a["initial_rate"]


@builtin("schedules", "slanted_triangular.v1")
def slanted_triangular(max_rate: float, num_steps: int, *, cut_frac: float = 0.1,
                       ratio: int = 32, t: float = 0.0) -> Schedule[float]:
    """Howard and Ruder's slanted triangular rate. With ``u = step + t + 1`` and
    ``cut = int(num_steps * cut_frac)``: ``p = u / cut`` while ``u < cut``, else
    ``p = 1 - (u - cut) / (cut * (1 / cut_frac - 1))``; the value is
    ``max_rate * (1 + p * (ratio - 1)) / ratio``."""
    fn = "slanted_triangular"
    max_rate = _number(fn, "max_rate", max_rate)
    num_steps = _number(fn, "num_steps", num_steps, low=1, integer=True)
    cut_frac = _number(fn, "cut_frac", cut_frac, low=0.0, high=1.0, strict_low=True)
    ratio = _number(fn, "ratio", ratio, low=1)
    t = _number(fn, "t", t, low=0.0)
    cut = int(num_steps * cut_frac)
    if cut < 1:
        raise ValueError(f"{fn}: num_steps * cut_frac must be >= 1, got {num_steps} * {cut_frac} "
                         f"(arguments 'num_steps' and 'cut_frac')")
    return Schedule("slanted_triangular", _slanted_triangular, attrs={
        "max_rate": max_rate, "num_steps": num_steps, "cut": cut, "cut_frac": cut_frac,
        "ratio": ratio, "t": t})


def _slanted_triangular(schedule: Schedule, step: int, **extra: Any) -> float:
    a = schedule.attrs
    cut, cut_frac, ratio = a["cut"], a["cut_frac"], a["ratio"]
    u = step + a["t"] + 1.0
    if u < cut:
        p = u / cut
    else:
        p = 1 - ((u - cut) / (cut * (1 / cut_frac - 1)))
    return a["max_rate"] * (1 + p * (ratio - 1)) * (1 / ratio)


@builtin("schedules", "cyclic_triangular.v1")
def cyclic_triangular(min_lr: float, max_lr: float, period: int) -> Schedule[float]:
    """A triangle wave between `min_lr` and `max_lr` with half-period `period`:
    with ``i = step + 1``, ``x = |i / period - 2 * floor(1 + i / (2 period)) + 1|``,
    the value is ``min_lr + (max_lr - min_lr) * max(0, 1 - x)``."""
    fn = "cyclic_triangular"
    min_lr = _number(fn, "min_lr", min_lr)
    max_lr = _number(fn, "max_lr", max_lr)
    period = _number(fn, "period", period, low=1, integer=True)
    return Schedule("cyclic_triangular", _cyclic_triangular,
                    attrs={"min_lr": min_lr, "max_lr": max_lr, "period": period})


def _cyclic_triangular(schedule: Schedule, step: int, **extra: Any) -> float:
    a = schedule.attrs
    min_lr, max_lr, period = a["min_lr"], a["max_lr"], a["period"]
    it = step + 1
    cycle = math.floor(1 + it / (2 * period))
    x = abs(it / period - 2 * cycle + 1)
    return min_lr + (max_lr - min_lr) * max(0.0, 1 - x)


@builtin("schedules", "cosine_decay.v1")
def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0,
                 exponent: float = 1.0) -> Schedule[float]:
    """``init_value * ((1 - alpha) * c ** exponent + alpha)`` with
    ``c = (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2``."""
    fn = "cosine_decay"
    init_value = _number(fn, "init_value", init_value)
    decay_steps = _number(fn, "decay_steps", decay_steps, low=1, integer=True)
    alpha = _number(fn, "alpha", alpha, low=0.0, high=1.0)
    exponent = _number(fn, "exponent", exponent, low=0.0, strict_low=True)
    return Schedule("cosine_decay", _cosine_decay, attrs={
        "init_value": init_value, "decay_steps": decay_steps, "alpha": alpha,
        "exponent": exponent})


def _cosine_decay(schedule: Schedule, step: int, **extra: Any) -> float:
    a = schedule.attrs
    decay_steps, alpha = a["decay_steps"], a["alpha"]
    c = 0.5 * (1 + math.cos(math.pi * min(step, decay_steps) / decay_steps))
    return a["init_value"] * ((1 - alpha) * c ** a["exponent"] + alpha)


@builtin("schedules", "warmup_cosine.v1")
def warmup_cosine(init_value: float, peak_value: float, warmup_steps: int, decay_steps: int,
                  end_value: float = 0.0) -> Schedule[float]:
    """Linear from `init_value` to `peak_value` over `warmup_steps`, then cosine
    decay from `peak_value` to `end_value`, reached at `decay_steps` (which
    counts the warm-up, as in optax):
    ``end + (peak - end) * (1 + cos(pi * min(s, D) / D)) / 2`` with
    ``s = step - warmup_steps`` and ``D = decay_steps - warmup_steps``."""
    fn = "warmup_cosine"
    init_value = _number(fn, "init_value", init_value)
    peak_value = _number(fn, "peak_value", peak_value)
    end_value = _number(fn, "end_value", end_value)
    warmup_steps = _number(fn, "warmup_steps", warmup_steps, low=0, integer=True)
    decay_steps = _number(fn, "decay_steps", decay_steps, low=1, integer=True)
    if decay_steps <= warmup_steps:
        raise ValueError(f"{fn}: argument 'decay_steps' ({decay_steps}) must be > "
                         f"'warmup_steps' ({warmup_steps})")
    return Schedule("warmup_cosine", _warmup_cosine, attrs={
        "init_value": init_value, "peak_value": peak_value, "warmup_steps": warmup_steps,
        "decay_steps": decay_steps, "end_value": end_value})


def _warmup_cosine(schedule: Schedule, step: int, **extra: Any) -> float:
    a = schedule.attrs
    init_value, peak_value, end_value = a["init_value"], a["peak_value"], a["end_value"]
    warmup_steps = a["warmup_steps"]
    if step < warmup_steps:
        return init_value + (peak_value - init_value) * step / warmup_steps
    span = a["decay_steps"] - warmup_steps
    s = min(step - warmup_steps, span)
    return end_value + (peak_value - end_value) * 0.5 * (1 + math.cos(math.pi * s / span))


@builtin("schedules", "exponential_decay.v1")
def exponential_decay(init_value: float, transition_steps: int, decay_rate: float, *,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: Optional[float] = None) -> Schedule[float]:
    """``init_value * decay_rate ** (c / transition_steps)`` with
    ``c = max(0, step - transition_begin)`` (floored to whole transitions when
    `staircase`), bounded by `end_value` when given."""
    fn = "exponential_decay"
    init_value = _number(fn, "init_value", init_value)
    transition_steps = _number(fn, "transition_steps", transition_steps, low=1, integer=True)
    decay_rate = _number(fn, "decay_rate", decay_rate, low=0.0, strict_low=True)
    transition_begin = _number(fn, "transition_begin", transition_begin, low=0, integer=True)
    if end_value is not None:
        end_value = _number(fn, "end_value", end_value)
    return Schedule("exponential_decay", _exponential_decay, attrs={
        "init_value": init_value, "transition_steps": transition_steps, "decay_rate": decay_rate,
        "transition_begin": transition_begin, "staircase": bool(staircase),
        "end_value": end_value})


def _exponential_decay(schedule: Schedule, step: int, **extra: Any) -> float:
    a = schedule.attrs
    decay_rate, end_value = a["decay_rate"], a["end_value"]
    p = max(0, step - a["transition_begin"]) / a["transition_steps"]
    if a["staircase"]:
        p = math.floor(p)
    v = a["init_value"] * decay_rate ** p
    if end_value is not None:
        v = max(v, end_value) if decay_rate < 1 else min(v, end_value)
    return v


@builtin("schedules", "piecewise_constant.v1")
def piecewise_constant(init_value: float,
                       boundaries_and_scales: Dict[int, float]) -> Schedule[float]:
    """`init_value` multiplied by every ``scale`` whose ``boundary <= step``."""
    fn = "piecewise_constant"
    init_value = _number(fn, "init_value", init_value)
    if not isinstance(boundaries_and_scales, dict):
        raise TypeError(f"{fn}: argument 'boundaries_and_scales' must be a dict of "
                        f"step -> scale, got {type(boundaries_and_scales).__name__}")
    pairs = sorted((_number(fn, "boundaries_and_scales", int(b), low=0, integer=True),
                    _number(fn, "boundaries_and_scales", s))
                   for b, s in boundaries_and_scales.items())
    return Schedule("piecewise_constant", _piecewise_constant,
                    attrs={"init_value": init_value, "boundaries_and_scales": dict(pairs)})


def _piecewise_constant(schedule: Schedule, step: int, **extra: Any) -> float:
    v = schedule.attrs["init_value"]
    for boundary, scale in schedule.attrs["boundaries_and_scales"].items():
        if step >= boundary:
            v *= scale
    return v


piecewise = piecewise_constant


@builtin("schedules", "join.v1")
def join(schedules: Sequence[Schedule[float]], boundaries: Sequence[int]) -> Schedule[float]:
    """``schedules[0]`` until ``boundaries[0]``, then ``schedules[1](step -
    boundaries[0])`` until ``boundaries[1]``, and so on (optax's join)."""
    fn = "join"
    inner = [_schedule_arg(fn, "schedules", s) for s in schedules]
    bounds = [_number(fn, "boundaries", b, low=0, integer=True) for b in boundaries]
    if len(inner) != len(bounds) + 1:
        raise ValueError(f"{fn}: argument 'boundaries' needs one entry fewer than 'schedules' "
                         f"({len(bounds)} boundaries for {len(inner)} schedules)")
    if bounds != sorted(bounds):
        raise ValueError(f"{fn}: argument 'boundaries' must be increasing, got {bounds}")
    return Schedule("join", _join, attrs={"schedules": inner, "boundaries": bounds})


def _join(schedule: Schedule, step: int, **extra: Any) -> float:
    schedules, bounds = schedule.attrs["schedules"], schedule.attrs["boundaries"]
    start, which = 0, 0
    for i, boundary in enumerate(bounds):
        if step >= boundary:
            start, which = boundary, i + 1
    return schedules[which](step - start, **extra)



__all__ = ["Schedule", "piecewise", "constant", "constant_then", "decaying", "compounding", "plateau", "warmup_linear", "slanted_triangular", "cyclic_triangular", "cosine_decay", "warmup_cosine", "exponential_decay", "piecewise_constant", "join"]
