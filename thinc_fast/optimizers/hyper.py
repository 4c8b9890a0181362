"""What a hyperparameter follows, and the value an optimizer shows for it.

An optimizer counts its steps (``optimizer._step``, advanced by
``step_schedules()``). Each hyperparameter (``learn_rate``, ``L2``, ``b1``,
``b2``, ``eps``, ``grad_clip``) has a *source* giving its value at a step:

- :class:`Constant`: a number.
- :class:`FromSchedule`: Thinc 9's way, any callable
  ``fn(step, *, key=None, last_score=None)`` such as a built-in
  :class:`~thinc_fast.schedules.Schedule` (a pure function of the step).
- :class:`FromIterator`: a generator, iterator or list: the value at step
  ``s`` is its ``s``-th item (an exhausted one keeps its last value). The
  original ``schedules={"learn_rate": gen}`` is the same with the value passed
  to the optimizer as item 0, so ``gen``'s first value shows after the first
  ``step_schedules()``.

Reading ``optimizer.learn_rate`` gives a :class:`Hyperparameter`: a float
(the value at the current step, as the original API reads it) that is also
callable as Thinc 9 reads it, ``optimizer.learn_rate(step=s, key=k)``.
"""
import inspect
import math
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from ..schedules import Schedule, same_schedule_name

KeyT = Tuple[int, str]
ScoreT = Optional[Tuple[int, float]]


class HyperparameterError(ValueError, TypeError):
    """A hyperparameter got something it cannot use (a ValueError, as Thinc
    raises, and a TypeError where the kind of value is wrong)."""


class Source:
    """The value of one hyperparameter as a function of the optimizer's step."""

    def __call__(self, step: int, *, key: Optional[KeyT] = None, last_score: ScoreT = None) -> float:
        raise NotImplementedError

    def get_state(self) -> Optional[Dict[str, Any]]:
        """What must be saved to resume exactly; None when nothing (stateless)."""
        return None

    def set_state(self, state: Dict[str, Any]) -> None:
        raise ValueError(f"{type(self).__name__} has no saved position to restore")


class Constant(Source):
    """The same value at every step."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, step: int, *, key: Optional[KeyT] = None, last_score: ScoreT = None) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


class FromSchedule(Source):
    """A callable of the step (Thinc 9's schedules), called with whichever of
    ``key`` and ``last_score`` its signature accepts."""

    def __init__(self, fn: Callable[..., float]) -> None:
        self.fn = fn
        self._step_by_name, self._extra = _accepted_keywords(fn)

    def __call__(self, step: int, *, key: Optional[KeyT] = None, last_score: ScoreT = None) -> float:
        given = {"key": key, "last_score": last_score}
        extra = {k: v for k, v in given.items() if k in self._extra}
        return self.fn(step=step, **extra) if self._step_by_name else self.fn(step, **extra)

    def get_state(self) -> Optional[Dict[str, Any]]:
        """The schedule's own state (e.g. a plateau's counters) for a built-in
        schedule; None for a plain function, which holds nothing to save."""
        get = getattr(self.fn, "get_state", None)
        if get is None:
            return None
        return {"kind": "schedule", "name": self.fn.name, "schedule": get()}

    def set_state(self, state: Dict[str, Any]) -> None:
        if not same_schedule_name(state.get("name"), getattr(self.fn, "name", None)):
            raise ValueError(f"the saved schedule is {state.get('name')!r}, this one is {self.fn!r}")
        if "schedule" in state:
            self.fn.set_state(state["schedule"])  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"FromSchedule({self.fn!r})"


class FromIterator(Source):
    """Item ``s`` of an iterator at step ``s`` (item 0 is `first`), read lazily;
    steps may not go back. This is Thinc's ``_wrap_generator``."""

    def __init__(self, name: str, first: float, iterator: Iterator[float]) -> None:
        self.name = name
        self.iterator = iterator
        self.last_step = 0
        self.last_value = first

    def __call__(self, step: int, *, key: Optional[KeyT] = None, last_score: ScoreT = None) -> float:
        if step < self.last_step:
            raise ValueError(f"'step' of the generator-based schedule for {self.name} must not "
                             f"decrease (asked for step {step} after {self.last_step})")
        while self.last_step < step:
            try:
                self.last_value = next(self.iterator)
            except StopIteration:
                self.last_step = step  # exhausted: keep the last value from now on
                break
            self.last_step += 1
        return self.last_value

    def get_state(self) -> Optional[Dict[str, Any]]:
        get = getattr(self.iterator, "get_state", None)
        if get is None:
            return None
        return {"kind": "iterator", "last_step": self.last_step, "last_value": self.last_value,
                "schedule": get()}

    def set_state(self, state: Dict[str, Any]) -> None:
        self.iterator.set_state(state["schedule"])  # type: ignore[attr-defined]
        self.last_step = int(state["last_step"])
        self.last_value = state["last_value"]

    @property
    def savable(self) -> bool:
        return hasattr(self.iterator, "get_state")

    def __repr__(self) -> str:
        return f"FromIterator({self.name!r} at step {self.last_step}: {self.last_value!r})"


class Hyperparameter(float):
    """A hyperparameter's value at the optimizer's current step, callable as
    ``h(step=None, *, key=None, last_score=None)`` for its value at any step."""

    def __new__(cls, value: float, source: Source, step: int, last_score: ScoreT) -> "Hyperparameter":
        self = super().__new__(cls, value)
        self.source = source
        self._step = step
        self._last_score = last_score
        return self

    def __call__(self, step: Optional[int] = None, *, key: Optional[KeyT] = None,
                 last_score: ScoreT = None) -> float:
        if step is None or step == self._step:
            if last_score is None or last_score == self._last_score:
                return float(self)
        return self.source(step if step is not None else self._step, key=key,
                           last_score=last_score if last_score is not None else self._last_score)

    def __reduce__(self):  # behaves as a plain float when copied or pickled
        return (float, (float(self),))

    def __getattr__(self, name: str) -> Any:
        """The attributes of the schedule it follows (``name``, ``attrs``...):
        Thinc 9's optimizer holds that Schedule itself as ``learn_rate``."""
        schedule = getattr(self.__dict__.get("source"), "fn", None)
        if schedule is not None and not name.startswith("__"):
            return getattr(schedule, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def make_source(name: str, value: Any) -> Source:
    """The source for `value`: a number, a list, an iterator/generator or a
    callable schedule. Raises HyperparameterError naming `name`."""
    if isinstance(value, Source):
        return value
    if isinstance(value, bool):
        raise HyperparameterError(f"Invalid schedule for '{name}': got a bool; give a number "
                                  "or a schedule")
    if isinstance(value, (int, float)):
        return Constant(float(value))
    if isinstance(value, Schedule):  # a function of the step, whatever its position
        return FromSchedule(value)
    if isinstance(value, (list, tuple)):
        value = iter(value)
    if hasattr(value, "__next__"):
        try:
            first = next(value)
        except StopIteration:
            raise HyperparameterError(f"Invalid schedule for '{name}': the schedule for "
                                      f"{name!r} yields no value") from None
        return FromIterator(name, first, value)
    if callable(value) and not isinstance(value, (str, bytes)):
        return FromSchedule(value)
    raise HyperparameterError(f"Invalid schedule for '{name}' ({type(value).__name__}): "
                              f"Optimizer argument {name!r} must be a number, a list, a "
                              "generator or a schedule")


def lagged_source(name: str, initial: float, schedule: Any) -> Source:
    """The original ``schedules={name: schedule}``: `initial` until the first
    ``step_schedules()``, then the schedule's values from its current position."""
    if isinstance(schedule, (list, tuple)):
        schedule = iter(schedule)
    if not hasattr(schedule, "__next__"):
        raise HyperparameterError(f"schedules[{name!r}] must be an iterator or generator, "
                                  f"got {type(schedule).__name__}")
    return FromIterator(name, initial, schedule)


def checked_value(name: str, value: Any, low: float, high: Optional[float], source: str = "") -> float:
    """`value` as a float within ``[low, high)``, or an error naming `name`."""
    what = source or f"Optimizer argument {name!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HyperparameterError(f"{what} must give numbers for {name}, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or (high is not None and value >= high):
        bounds = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise HyperparameterError(f"{what}: {name} must be finite and {bounds}, got {value}")
    return value


def _accepted_keywords(fn: Callable[..., Any]) -> Tuple[bool, Tuple[str, ...]]:
    """(whether `step` goes by name, which of key/last_score `fn` accepts)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True, ("key", "last_score")
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True, ("key", "last_score")
    by_name = "step" in params and params["step"].kind is not inspect.Parameter.POSITIONAL_ONLY
    return by_name, tuple(k for k in ("key", "last_score") if k in params)
