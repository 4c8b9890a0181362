"""premap_ids: map integer keys to ids through a table, vectorised."""

from typing import Any, Callable, Iterator, Mapping, Optional, Tuple, Union

import msgpack
import numpy

from .._builtins import builtin
from ..model import Model, deserialize_attr, serialize_attr
from ..types import Ints1d, Ints2d
from ..util import to_numpy


class IntMap:
    """An int -> int table held as sorted key and value arrays, looked up for a
    whole array of keys at once (``lookup``: binary search, no Python loop).
    ``table[key]`` gives None for a missing key, as Thinc's PreshMap does."""

    def __init__(self, mapping: Mapping[int, int]) -> None:
        for k, v in mapping.items():
            if not (isinstance(k, int) and isinstance(v, int)):
                raise ValueError("mapping_table has to be of type Mapping[int, int], "
                                 f"but found {k}, {type(k)} and {v}, {type(v)}")
        keys = numpy.fromiter(mapping.keys(), dtype=numpy.int64, count=len(mapping))
        values = numpy.fromiter(mapping.values(), dtype=numpy.int64, count=len(mapping))
        order = numpy.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.values = values[order]

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def __contains__(self, key: int) -> bool:
        return self[key] is not None

    def __getitem__(self, key: int) -> Optional[int]:
        i = int(numpy.searchsorted(self.keys, key))
        return int(self.values[i]) if i < len(self) and self.keys[i] == key else None

    def __setitem__(self, key: int, value: int) -> None:
        i = int(numpy.searchsorted(self.keys, key))
        if i < len(self) and self.keys[i] == key:
            self.values[i] = value
        else:
            self.keys = numpy.insert(self.keys, i, key)
            self.values = numpy.insert(self.values, i, value)

    def items(self) -> Iterator[Tuple[int, int]]:
        return zip(self.keys.tolist(), self.values.tolist())

    def lookup(self, keys: Any, default: int) -> Any:
        """``[table.get(k, default) for k in keys]`` as an int64 array."""
        keys = numpy.asarray(keys, dtype=numpy.int64)
        if not len(self):
            return numpy.full(keys.shape, default, dtype=numpy.int64)
        pos = numpy.minimum(numpy.searchsorted(self.keys, keys), len(self) - 1)
        return numpy.where(self.keys[pos] == keys, self.values[pos], default)


@serialize_attr.register(IntMap)
def _serialize_int_map(_: IntMap, value: IntMap, name: str, model: Model) -> bytes:
    return msgpack.packb([value.keys.tolist(), value.values.tolist()], use_bin_type=True)


@deserialize_attr.register(IntMap)
def _deserialize_int_map(_: IntMap, value: bytes, name: str, model: Model) -> IntMap:
    keys, values = msgpack.unpackb(value, raw=False)
    return IntMap(dict(zip(keys, values)))


@builtin("layers", "premap_ids.v1")
def premap_ids(mapping_table: Mapping[int, int], default: int = 0, *,
               column: Optional[int] = None) -> Model:
    """``table.get(key, default)`` for each int key (a 1d array, or column
    `column` of a 2d one) as an ``(n, 1)`` int32 array. Keys and values must
    be Python ints (ValueError otherwise, as Thinc). The ``mapping_table``
    attr is an :class:`IntMap`. Backprop gives int zeros of the input's shape."""
    return Model("premap_ids", forward,
                 attrs={"mapping_table": IntMap(mapping_table), "default": default,
                        "column": column})


def forward(model: Model, inputs: Union[Ints1d, Ints2d], is_train: bool
            ) -> Tuple[Ints2d, Callable]:
    table = model.attrs["mapping_table"]
    column = model.attrs["column"]
    keys = to_numpy(inputs if column is None else inputs[:, column])
    result = table.lookup(keys, model.attrs["default"])
    output = model.ops.reshape2i(model.ops.asarray(result, dtype="int32"), -1, 1)
    inputs_shape = inputs.shape

    def backprop(dY: Ints2d) -> Any:
        return model.ops.alloc_i(inputs_shape)

    return output, backprop
