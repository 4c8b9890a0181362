"""The config text of the small MLPs the tests train, built in one place.

Test modules import it by name (``from configs import mlp_config``; pytest's
``pythonpath`` holds the tests folder), at import time too, which a fixture
cannot serve.
"""
from typing import Any, Dict, Optional, Sequence


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _block(header: str, values: Dict[str, Any]) -> str:
    lines = [f"[{header}]"] + [f"{key} = {_value(v)}" for key, v in values.items()]
    return "\n".join(lines) + "\n"


def mlp_config(hidden: Sequence[int], *, dropout: Optional[float] = None,
               optimizer: Optional[Dict[str, Any]] = None,
               learn_rate: Optional[Dict[str, Any]] = None,
               before: str = "", after: str = "") -> str:
    """A ``chain.v1`` of ``Relu.v1`` layers of widths `hidden` (each with
    `dropout` when given) and a ``Softmax.v1`` output, trained by
    ``Adam.v1`` with the keyword arguments `optimizer` and, when given, the
    schedule `learn_rate` (its block: ``{"@schedules": ..., ...}``).

    `before` and `after`: config text placed before the ``[model]`` block
    (``[data]``, say) and after the ``[optimizer]`` blocks (``[training]``).

    >>> print(mlp_config([8], optimizer={"learn_rate": 0.01}))  # doctest: +NORMALIZE_WHITESPACE
    [model]
    @layers = "chain.v1"
    <BLANKLINE>
    [model.*.hidden1]
    @layers = "Relu.v1"
    nO = 8
    <BLANKLINE>
    [model.*.output]
    @layers = "Softmax.v1"
    <BLANKLINE>
    [optimizer]
    @optimizers = "Adam.v1"
    learn_rate = 0.01
    """
    blocks = [before.strip() + "\n"] if before.strip() else []
    blocks.append(_block("model", {"@layers": "chain.v1"}))
    for i, width in enumerate(hidden, 1):
        layer: Dict[str, Any] = {"@layers": "Relu.v1", "nO": width}
        if dropout is not None:
            layer["dropout"] = dropout
        blocks.append(_block(f"model.*.hidden{i}", layer))
    blocks.append(_block("model.*.output", {"@layers": "Softmax.v1"}))
    blocks.append(_block("optimizer", {"@optimizers": "Adam.v1", **(optimizer or {})}))
    if learn_rate is not None:
        blocks.append(_block("optimizer.learn_rate", learn_rate))
    if after.strip():
        blocks.append(after.strip() + "\n")
    return "\n".join(blocks)
