"""remap_ids (v1, v2): map each key (string or int) to an id through a table."""

from typing import Any, Callable, Dict, Hashable, Optional, Sequence, Tuple, Union

from .._builtins import builtin
from ..model import Model
from ..types import DTypes, Ints1d, Ints2d
from ..util import is_xp_array, to_numpy

InT = Union[Sequence[Hashable], Ints1d, Ints2d]


@builtin("layers", "remap_ids.v1")
def remap_ids(mapping_table: Dict[Any, int] = {}, default: int = 0,  # noqa: B006 (Thinc's)
              dtype: DTypes = "i") -> Model:
    """``[table.get(x, default) for x in X]`` as an ``(n, 1)`` int array of
    `dtype`. The table is the ``mapping_table`` attr and may be updated after
    the layer is made. No gradient (backprop gives ``[]``)."""
    return Model("remap_ids", forward,
                 attrs={"mapping_table": mapping_table, "dtype": dtype, "default": default})


def forward(model: Model, inputs: Sequence[Any], is_train: bool) -> Tuple[Ints2d, Callable]:
    table = model.attrs["mapping_table"]
    default = model.attrs["default"]
    values = [table.get(x, default) for x in inputs]
    output = model.ops.reshape2i(model.ops.asarray(values, dtype=model.attrs["dtype"]), -1, 1)

    def backprop(dY: Ints2d) -> list:
        return []

    return output, backprop


@builtin("layers", "remap_ids.v2")
def remap_ids_v2(mapping_table: Optional[Union[Dict[int, int], Dict[str, int]]] = None,
                 default: int = 0, *, column: Optional[int] = None) -> Model:
    """As :func:`remap_ids` (int32 output), and for a 2d array input the keys
    are its column `column`. No table (None) is a ValueError when called;
    backprop gives an empty array of ``dY``'s shape for array input, else ``[]``."""
    return Model("remap_ids", forward_v2,
                 attrs={"mapping_table": mapping_table, "default": default, "column": column})


def forward_v2(model: Model, inputs: InT, is_train: bool) -> Tuple[Ints2d, Callable]:
    table = model.attrs["mapping_table"]
    if table is None:
        raise ValueError("'mapping table' not set")
    default = model.attrs["default"]
    column = model.attrs["column"]
    xp_input = is_xp_array(inputs)
    if xp_input:
        keys = to_numpy(inputs[:, column] if column is not None else inputs).tolist()
    else:
        keys = inputs
    values = [table.get(x, default) for x in keys]
    output = model.ops.reshape2i(model.ops.asarray(values, dtype="i"), -1, 1)

    def backprop(dY: Ints2d) -> Any:
        if xp_input:
            return model.ops.xp.empty(dY.shape)
        return []

    return output, backprop
