"""One rule per algorithm: the state it keeps and the fused kernel it calls.

Every step of every rule runs in Thinc's order, over a flat array of
parameters (a model's whole arena, or one parameter for Thinc's per-key call):

1. classic L2 (``L2_is_weight_decay=False``): ``g += L2 * w``
2. clipping: ``g *= grad_clip / ||g||`` when ``||g|| >= grad_clip``, by each
   parameter's own norm (Thinc's default) or by one global norm
3. the rule's update (below)
4. decoupled weight decay (``L2_is_weight_decay=True``): ``w -= lr * L2 * w``
5. averages: ``ema -= (1 - d) (ema - w)``, ``d = min((1 + t) / (10 + t), 0.9999)``;
   the gradient is zeroed.

Steps 1, 2, 4 and 5 are common; :class:`KernelScalars` is the one record of
what a kernel needs beyond the arrays: the backends' ``adam_step`` and
``sgd_step`` take it as it is (``scalars=``). An optimizer names its rule
("adam", "radam", "sgd"; Thinc's ``use_radam=True`` is "radam"). To add an
algorithm, write a rule with its ``state`` names, its ``scalars`` and its
``run``, and add it to :data:`RULES`.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Protocol, Tuple, Union

from ..backends.kernel_args import KernelScalars

MAX_AVERAGE_DECAY = 0.9999


@dataclass(frozen=True)
class Hyper:
    """The hyperparameter values of one step."""

    learn_rate: float
    L2: float
    beta1: float
    beta2: float
    eps: float
    grad_clip: float


def common_scalars(h: Hyper, t: int, L2_is_weight_decay: bool, lr_scale: float) -> Dict[str, float]:
    """Steps 1, 4 and 5 of every rule, for update number `t` (from 1)."""
    lr = h.learn_rate * lr_scale
    coupled = h.L2 != 0.0 and not L2_is_weight_decay
    return {
        "l2_coupled": h.L2 if coupled else 0.0,
        "decay": lr * h.L2 if (h.L2 != 0.0 and L2_is_weight_decay) else 0.0,
        "avg_rate": 1.0 - min((1.0 + t) / (10.0 + t), MAX_AVERAGE_DECAY),
    }


class Rule(Protocol):
    """An update rule: the arrays it keeps (each the size of the parameters),
    the scalars of step `t`, and the kernel call."""

    name: str
    state: Tuple[str, ...]

    def scalars(self, h: Hyper, t: int, common: Dict[str, float], lr_scale: float) -> KernelScalars:
        ...

    def run(self, ops: Any, weights: Any, grads: Any, state: Dict[str, Any], averages: Any,
            k: KernelScalars, grad_scale: Any, segments: Any) -> None:
        ...


class AdamRule:
    """Adam (Kingma & Ba): ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``."""

    name = "adam"
    state = ("mom1", "mom2")

    def scalars(self, h: Hyper, t: int, common: Dict[str, float], lr_scale: float) -> KernelScalars:
        lr_hat = h.learn_rate * lr_scale * math.sqrt(1.0 - h.beta2 ** t) / (1.0 - h.beta1 ** t)
        return KernelScalars(lr_hat=lr_hat, beta1=h.beta1, beta2=h.beta2, eps=h.eps, **common)

    def run(self, ops: Any, weights: Any, grads: Any, state: Dict[str, Any], averages: Any,
            k: KernelScalars, grad_scale: Any, segments: Any) -> None:
        ops.adam_step(weights, grads, state["mom1"], state["mom2"], averages, scalars=k,
                      grad_scale=grad_scale, segments=segments)


class RAdamRule(AdamRule):
    """Rectified Adam (Liu et al., 2019), as Thinc computes it. With
    ``s = t + 1`` (Thinc counts one step ahead of its updates),
    ``N = 2 / (1 - b2) - 1``, ``n = N - 2 s b2^s / (1 - b2^s)``: when ``n >= 5``,
    ``w -= lr r / (1 - b1^s) * m / (sqrt(v) + eps)`` with
    ``r = sqrt((1 - b2^s) (n - 4)(n - 2) N / ((N - 4) n (N - 2)))``;
    otherwise ``w -= lr / (1 - b1^s) * m``."""

    name = "radam"

    def scalars(self, h: Hyper, t: int, common: Dict[str, float], lr_scale: float) -> KernelScalars:
        step = t + 1
        beta2_t = h.beta2 ** step
        n_sma_max = 2.0 / (1.0 - h.beta2) - 1.0
        n_sma = n_sma_max - 2.0 * step * beta2_t / (1.0 - beta2_t)
        bias1 = 1.0 - h.beta1 ** step
        rectified = n_sma >= 5
        if rectified:
            rect = ((1.0 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma
                    * n_sma_max / (n_sma_max - 2))
            size = math.sqrt(rect) / bias1
        else:
            size = 1.0 / bias1
        return KernelScalars(lr_hat=h.learn_rate * lr_scale * size, beta1=h.beta1, beta2=h.beta2,
                             eps=h.eps, use_denominator=rectified, **common)


class SGDRule:
    """Plain SGD: ``w -= lr * g``. Keeps no state."""

    name = "sgd"
    state: Tuple[str, ...] = ()

    def scalars(self, h: Hyper, t: int, common: Dict[str, float], lr_scale: float) -> KernelScalars:
        return KernelScalars(lr_hat=h.learn_rate * lr_scale, **common)

    def run(self, ops: Any, weights: Any, grads: Any, state: Dict[str, Any], averages: Any,
            k: KernelScalars, grad_scale: Any, segments: Any) -> None:
        ops.sgd_step(weights, grads, averages, scalars=k, grad_scale=grad_scale,
                     segments=segments)


ADAM, RADAM, SGD = AdamRule(), RAdamRule(), SGDRule()


RULES: Dict[str, Rule] = {"adam": ADAM, "radam": RADAM, "sgd": SGD}


def rule_name(rule: Optional[str], use_radam: bool) -> str:
    """The rule an optimizer is built with: `rule` by name, or from Thinc's
    ``use_radam`` alias (True: "radam"; False, the default: "adam")."""
    if rule is None:
        return "radam" if use_radam else "adam"
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(repr(n) for n in RULES)}, got {rule!r}")
    if use_radam and rule != "radam":
        raise ValueError(f"use_radam=True asks for rule 'radam', but rule={rule!r} was given")
    return rule


def select_rule(rule: Union[str, bool], h: Hyper) -> Rule:
    """The rule of one step. "radam" and "sgd" are themselves; "adam" is
    Thinc's choice at each step: Adam when both betas are positive, plain SGD
    when both are zero. A bool is Thinc's ``use_radam`` (True: "radam",
    False: "adam")."""
    if rule is True or rule == "radam":
        return RADAM
    if rule is False or rule == "adam":
        return ADAM if (h.beta1 > 0.0 and h.beta2 > 0.0) else SGD
    if rule == "sgd":
        return SGD
    raise ValueError(f"unknown optimizer rule {rule!r}: use one of "
                     f"{', '.join(repr(n) for n in RULES)}")


def clip_scales(sumsq: Any, grad_clip: float) -> Optional[List[float]]:
    """Per-norm clipping factors ``min(1, grad_clip / sqrt(sumsq))``, or None
    when no clipping is asked for (a few values: plain Python is fastest)."""
    if grad_clip <= 0.0:
        return None
    out = []
    for total in (sumsq.tolist() if hasattr(sumsq, "tolist") else sumsq):
        norm = math.sqrt(total)
        out.append(grad_clip / norm if norm >= grad_clip and norm > 0.0 else 1.0)
    return out
