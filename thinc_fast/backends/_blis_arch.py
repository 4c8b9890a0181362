"""Pick blis's kernels before blis initialises.

blis chooses its kernels once, from the CPU's cpuid, when it is first loaded.
On CPUs newer than the blis build knows it falls back to its slow generic
kernels, although the CPU runs the AVX-512 ("skx") or AVX2 ("haswell")
kernels fine. If blis's own detection gives "generic" and the user has not set
``BLIS_ARCH_TYPE``, we set it to the best configuration the CPU's features
allow. The detection calls blis's cpuid query through ctypes without
initialising blis, so this must run before ``blis.cy`` is imported.
"""
import ctypes
import importlib.util
import os
from typing import Dict, FrozenSet, Optional

_AVX512 = frozenset({"avx512f", "avx512dq", "avx512bw", "avx512vl"})
_AVX2 = frozenset({"avx2", "fma"})

_state: Dict[str, Optional[str]] = {"choice": None, "source": None, "detected": None}


def _blis_library() -> Optional[ctypes.CDLL]:
    spec = importlib.util.find_spec("blis.cy")
    if spec is None or not spec.origin:
        return None
    try:
        return ctypes.CDLL(spec.origin)
    except OSError:
        return None


def _arch_name(lib: ctypes.CDLL, arch_id: int) -> Optional[str]:
    lib.bli_arch_string.restype = ctypes.c_char_p
    name = lib.bli_arch_string(arch_id)
    return name.decode() if name else None


def _arch_id(lib: ctypes.CDLL, wanted: str) -> Optional[int]:
    for arch_id in range(64):
        name = _arch_name(lib, arch_id)
        if name is None:
            return None
        if name == wanted:
            return arch_id
    return None


def cpu_flags() -> FrozenSet[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def configure() -> Dict[str, Optional[str]]:
    """Set BLIS_ARCH_TYPE when blis would run its generic kernels; returns what happened."""
    if _state["source"] is not None:
        return dict(_state)
    if os.environ.get("BLIS_ARCH_TYPE"):
        _state.update(source="user", choice=os.environ["BLIS_ARCH_TYPE"])
        return dict(_state)
    lib = _blis_library()
    if lib is None or not hasattr(lib, "bli_cpuid_query_id"):
        _state.update(source="blis")
        return dict(_state)
    lib.bli_cpuid_query_id.restype = ctypes.c_int
    detected = _arch_name(lib, lib.bli_cpuid_query_id())
    _state.update(source="blis", detected=detected)
    if detected != "generic":
        return dict(_state)
    flags = cpu_flags()
    for wanted, needs in (("skx", _AVX512), ("haswell", _AVX2)):
        if needs <= flags:
            arch_id = _arch_id(lib, wanted)
            if arch_id is not None:
                os.environ["BLIS_ARCH_TYPE"] = str(arch_id)
                _state.update(source="thinc_fast", choice=wanted)
                break
    return dict(_state)


def active_arch() -> Optional[str]:
    """The kernel configuration blis is using (after it was imported)."""
    lib = _blis_library()
    if lib is None or not hasattr(lib, "bli_arch_query_id"):
        return None
    lib.bli_arch_query_id.restype = ctypes.c_int
    return _arch_name(lib, lib.bli_arch_query_id())
