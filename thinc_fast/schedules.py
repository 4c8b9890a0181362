"""Hyperparameter schedules: small functions of the step count.

Each built-in schedule returns a :class:`Schedule`, an iterator that yields the
values at steps 0, 1, 2, ... and also knows its position, so that a training
run can save it and resume bit-exactly. ``schedule(step)`` evaluates any step
without moving the iterator. Any Python iterator (a generator, say) can also
drive a hyperparameter; only built-in schedules can be saved.

    >>> lr = warmup_linear(0.01, warmup_steps=2, total_steps=10)
    >>> [round(next(lr), 4) for _ in range(3)]
    [0.0, 0.005, 0.01]
"""

import math
from typing import Any, Callable, Dict, Optional, Sequence, Union

NumberT = Union[int, float]


class Schedule:
    """Values ``fn(step)`` for steps 0, 1, 2, ...: an iterator with a position.

    name: the registry name (e.g. ``"warmup_linear.v1"``); args: the arguments
    it was built with (for checks when a saved position is restored).
    """

    __slots__ = ("name", "args", "step", "_fn")

    def __init__(self, name: str, fn: Callable[[int], float], args: Dict[str, Any],
                 step: int = 0) -> None:
        self.name = name
        self.args = args
        self.step = step
        self._fn = fn

    def __call__(self, step: int) -> float:
        """The value at `step` (the iterator does not move)."""
        if step < 0:
            raise ValueError(f"schedule {self.name}: step must be >= 0, got {step}")
        return float(self._fn(step))

    def __iter__(self) -> "Schedule":
        return self

    def __next__(self) -> float:
        value = self(self.step)
        self.step += 1
        return value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.name}({args}) at step {self.step}"

    def get_state(self) -> Dict[str, Any]:
        """``{"name", "step"}``: what is needed to resume this schedule."""
        return {"name": self.name, "step": self.step}

    def set_state(self, state: Dict[str, Any]) -> None:
        """Move to the saved position; the schedule must be the same kind."""
        if state.get("name") != self.name:
            raise ValueError(f"cannot restore a {state.get('name')!r} schedule position into a "
                             f"{self.name!r} schedule")
        self.step = int(state["step"])


def _number(fn: str, name: str, value: Any, *, low: Optional[float] = None,
            high: Optional[float] = None, strict_low: bool = False, integer: bool = False) -> Any:
    """Check one schedule argument, naming it in the error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
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
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return constant(value)
    raise TypeError(f"{fn}: argument {name!r} must be a built-in schedule or a number, "
                    f"got {type(value).__name__}")


def constant(rate: float) -> Schedule:
    """``rate`` at every step."""
    rate = _number("constant", "rate", rate)
    return Schedule("constant.v1", lambda step: rate, {"rate": rate})


def constant_then(rate: float, steps: int, schedule: Schedule) -> Schedule:
    """``rate`` for the first `steps` steps, then ``schedule(step - steps)``."""
    rate = _number("constant_then", "rate", rate)
    steps = _number("constant_then", "steps", steps, low=0, integer=True)
    inner = _schedule_arg("constant_then", "schedule", schedule)
    return Schedule("constant_then.v1",
                    lambda step: rate if step < steps else inner(step - steps),
                    {"rate": rate, "steps": steps, "schedule": inner})


def decaying(base_rate: float, decay: float, *, t: float = 0.0) -> Schedule:
    """``base_rate / (1 + decay * (t + step))``."""
    base_rate = _number("decaying", "base_rate", base_rate)
    decay = _number("decaying", "decay", decay, low=0.0)
    t = _number("decaying", "t", t, low=0.0)
    return Schedule("decaying.v1", lambda step: base_rate * (1.0 / (1.0 + decay * (t + step))),
                    {"base_rate": base_rate, "decay": decay, "t": t})


def compounding(start: float, stop: float, compound: float, *, t: float = 0.0) -> Schedule:
    """``start * compound ** (t + step)``, clipped at `stop` (from either side)."""
    start = _number("compounding", "start", start)
    stop = _number("compounding", "stop", stop)
    compound = _number("compounding", "compound", compound, low=0.0, strict_low=True)
    t = _number("compounding", "t", t, low=0.0)

    def value(step: int) -> float:
        curr = start * compound ** (t + step)
        return max(curr, stop) if start > stop else min(curr, stop)

    return Schedule("compounding.v1", value,
                    {"start": start, "stop": stop, "compound": compound, "t": t})


def warmup_linear(initial_rate: float, warmup_steps: int, total_steps: int) -> Schedule:
    """Linear warm-up from 0 to `initial_rate` over `warmup_steps`, then a linear
    decline to 0 at `total_steps`:

    ``rate * step / warmup_steps`` if ``step < warmup_steps``, else
    ``rate * max(0, (total_steps - step) / (total_steps - warmup_steps))``.
    """
    fn = "warmup_linear"
    initial_rate = _number(fn, "initial_rate", initial_rate)
    warmup_steps = _number(fn, "warmup_steps", warmup_steps, low=0, integer=True)
    total_steps = _number(fn, "total_steps", total_steps, low=0, integer=True)
    if total_steps < warmup_steps:
        raise ValueError(f"{fn}: argument 'total_steps' ({total_steps}) must be >= "
                         f"'warmup_steps' ({warmup_steps})")

    def value(step: int) -> float:
        if step < warmup_steps:
            factor = step / max(1, warmup_steps)
        else:
            factor = max(0.0, (total_steps - step) / max(1.0, total_steps - warmup_steps))
        return factor * initial_rate

    return Schedule("warmup_linear.v1", value, {"initial_rate": initial_rate,
                                                "warmup_steps": warmup_steps,
                                                "total_steps": total_steps})


def slanted_triangular(max_rate: float, num_steps: int, *, cut_frac: float = 0.1,
                       ratio: int = 32, t: float = 0.0) -> Schedule:
    """Howard and Ruder's slanted triangular rate. With ``u = t + step + 1`` and
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
        raise ValueError(f"{fn}: num_steps * cut_frac must be >= 1, got {num_steps} * {cut_frac}")

    def value(step: int) -> float:
        u = t + step + 1
        if u < cut:
            p = u / cut
        else:
            p = 1 - ((u - cut) / (cut * (1 / cut_frac - 1)))
        return max_rate * (1 + p * (ratio - 1)) * (1 / ratio)

    return Schedule("slanted_triangular.v1", value, {"max_rate": max_rate, "num_steps": num_steps,
                                                     "cut_frac": cut_frac, "ratio": ratio, "t": t})


def cyclic_triangular(min_lr: float, max_lr: float, period: int) -> Schedule:
    """A triangle wave between `min_lr` and `max_lr` with half-period `period`:
    with ``i = step + 1``, ``x = |i / period - 2 * floor(1 + i / (2 period)) + 1|``,
    the value is ``min_lr + (max_lr - min_lr) * max(0, 1 - x)``."""
    fn = "cyclic_triangular"
    min_lr = _number(fn, "min_lr", min_lr)
    max_lr = _number(fn, "max_lr", max_lr)
    period = _number(fn, "period", period, low=1, integer=True)

    def value(step: int) -> float:
        it = step + 1
        cycle = math.floor(1 + it / (2 * period))
        x = abs(it / period - 2 * cycle + 1)
        return min_lr + (max_lr - min_lr) * max(0.0, 1 - x)

    return Schedule("cyclic_triangular.v1", value,
                    {"min_lr": min_lr, "max_lr": max_lr, "period": period})


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0,
                 exponent: float = 1.0) -> Schedule:
    """``init_value * ((1 - alpha) * c ** exponent + alpha)`` with
    ``c = (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2``."""
    fn = "cosine_decay"
    init_value = _number(fn, "init_value", init_value)
    decay_steps = _number(fn, "decay_steps", decay_steps, low=1, integer=True)
    alpha = _number(fn, "alpha", alpha, low=0.0, high=1.0)
    exponent = _number(fn, "exponent", exponent, low=0.0, strict_low=True)

    def value(step: int) -> float:
        c = 0.5 * (1 + math.cos(math.pi * min(step, decay_steps) / decay_steps))
        return init_value * ((1 - alpha) * c ** exponent + alpha)

    return Schedule("cosine_decay.v1", value, {"init_value": init_value, "decay_steps": decay_steps,
                                               "alpha": alpha, "exponent": exponent})


def warmup_cosine(init_value: float, peak_value: float, warmup_steps: int, decay_steps: int,
                  end_value: float = 0.0) -> Schedule:
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
    span = decay_steps - warmup_steps

    def value(step: int) -> float:
        if step < warmup_steps:
            return init_value + (peak_value - init_value) * step / warmup_steps
        s = min(step - warmup_steps, span)
        return end_value + (peak_value - end_value) * 0.5 * (1 + math.cos(math.pi * s / span))

    return Schedule("warmup_cosine.v1", value, {
        "init_value": init_value, "peak_value": peak_value, "warmup_steps": warmup_steps,
        "decay_steps": decay_steps, "end_value": end_value})


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float, *,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: Optional[float] = None) -> Schedule:
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
    staircase = bool(staircase)

    def value(step: int) -> float:
        count = max(0, step - transition_begin)
        p = count / transition_steps
        if staircase:
            p = math.floor(p)
        v = init_value * decay_rate ** p
        if end_value is not None:
            v = max(v, end_value) if decay_rate < 1 else min(v, end_value)
        return v

    return Schedule("exponential_decay.v1", value, {
        "init_value": init_value, "transition_steps": transition_steps, "decay_rate": decay_rate,
        "transition_begin": transition_begin, "staircase": staircase, "end_value": end_value})


def piecewise_constant(init_value: float, boundaries_and_scales: Dict[int, float]) -> Schedule:
    """`init_value` multiplied by every ``scale`` whose ``boundary <= step``."""
    fn = "piecewise_constant"
    init_value = _number(fn, "init_value", init_value)
    if not isinstance(boundaries_and_scales, dict):
        raise TypeError(f"{fn}: argument 'boundaries_and_scales' must be a dict of "
                        f"step -> scale, got {type(boundaries_and_scales).__name__}")
    pairs = sorted((_number(fn, "boundaries_and_scales", int(b), low=0, integer=True),
                    _number(fn, "boundaries_and_scales", s))
                   for b, s in boundaries_and_scales.items())

    def value(step: int) -> float:
        v = init_value
        for boundary, scale in pairs:
            if step >= boundary:
                v *= scale
        return v

    return Schedule("piecewise_constant.v1", value,
                    {"init_value": init_value, "boundaries_and_scales": dict(pairs)})


piecewise = piecewise_constant


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
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

    def value(step: int) -> float:
        out = inner[0](step)
        for boundary, schedule in zip(bounds, inner[1:]):
            if step >= boundary:
                out = schedule(step - boundary)
        return out

    return Schedule("join.v1", value, {"schedules": inner, "boundaries": bounds})


BUILTIN_SCHEDULES: Dict[str, Callable[..., Schedule]] = {
    "constant.v1": constant,
    "constant_then.v1": constant_then,
    "decaying.v1": decaying,
    "compounding.v1": compounding,
    "warmup_linear.v1": warmup_linear,
    "slanted_triangular.v1": slanted_triangular,
    "cyclic_triangular.v1": cyclic_triangular,
    "cosine_decay.v1": cosine_decay,
    "warmup_cosine.v1": warmup_cosine,
    "exponential_decay.v1": exponential_decay,
    "piecewise_constant.v1": piecewise_constant,
    "join.v1": join,
}

__all__ = ["Schedule", "BUILTIN_SCHEDULES"] + [f.__name__ for f in BUILTIN_SCHEDULES.values()]
