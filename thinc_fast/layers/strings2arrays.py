"""strings2arrays: hash each string of each sequence into a ``(n, 1)`` uint64 column."""

from typing import Callable, Dict, List, Sequence, Tuple

import numpy

from .._builtins import builtin
from ..model import Model
from ..types import Ints2d

_MASK32 = 0xFFFFFFFF


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of `data` as a signed 32-bit int: what Thinc's
    ``murmurhash.hash_unicode`` gives for the UTF-8 bytes of a string.

        >>> murmurhash3_32(b"hello")
        613153351
    """
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _MASK32
    n = len(data)
    nblocks = n // 4
    for k in memoryview(data[:nblocks * 4]).cast("I") if nblocks else ():
        k = (k * c1) & _MASK32
        k = ((k << 15) | (k >> 17)) & _MASK32
        h ^= (k * c2) & _MASK32
        h = ((h << 13) | (h >> 19)) & _MASK32
        h = (h * 5 + 0xE6546B64) & _MASK32
    tail = data[nblocks * 4:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & _MASK32
        k = ((k << 15) | (k >> 17)) & _MASK32
        h ^= (k * c2) & _MASK32
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def _hash_string(word: str) -> int:
    """Thinc's ``c_uint64(hash_unicode(word)).value``: the signed hash as uint64."""
    return murmurhash3_32(word.encode("utf8")) & 0xFFFFFFFFFFFFFFFF


def _hash_signed(word: str) -> int:
    """The signed 32-bit hash of `word` (Thinc's ``hash_unicode``)."""
    return murmurhash3_32(word.encode("utf8"))


try:  # the compiled hash, when murmurhash (a Thinc dependency) is installed
    from murmurhash import hash_unicode as _hash_unicode

    def _hash_string(word: str) -> int:  # noqa: F811
        return _hash_unicode(word) & 0xFFFFFFFFFFFFFFFF

    _hash_signed = _hash_unicode  # noqa: F811
except ImportError:  # pragma: no cover - murmurhash installed in CI
    pass

# word -> its signed hash: a text's words repeat, and a dict lookup costs a
# fraction of hashing. Bounded: past _CACHE_LIMIT words, new ones are hashed
# each time (the values never change, so the cache changes no result).
_CACHE: Dict[str, int] = {}
_CACHE_LIMIT = 1_000_000


def _cached_hash(word: str) -> int:
    value = _CACHE.get(word)
    if value is None:
        value = _hash_signed(word)
        if len(_CACHE) < _CACHE_LIMIT:
            _CACHE[word] = value
    return value


@builtin("layers", "strings2arrays.v1")
def strings2arrays() -> Model:
    """Each sequence of strings becomes a ``(len, 1)`` uint64 array of their
    32-bit MurmurHash3 values (the same numbers as Thinc); no gradient."""
    return Model("strings2arrays", forward)


def forward(model: Model, Xs: Sequence[Sequence[str]], is_train: bool
            ) -> Tuple[List[Ints2d], Callable]:
    # one int64 array for the batch (a signed hash viewed as uint64 is Thinc's
    # ``c_uint64(hash)``), one copy to the device, then a view per sequence
    cache = _CACHE
    flat: List[int] = []
    for X in Xs:
        try:
            flat.extend([cache[word] for word in X])
        except KeyError:
            flat.extend([_cached_hash(word) for word in X])
    hashes = model.ops.asarray(numpy.asarray(flat, dtype=numpy.int64).view(numpy.uint64)
                               .reshape(-1, 1))
    arrays = []
    start = 0
    for X in Xs:
        end = start + len(X)
        arrays.append(hashes[start:end])
        start = end

    def backprop(dX: List[Ints2d]) -> List:
        return []

    return arrays, backprop
