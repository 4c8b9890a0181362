"""CUDA source compiled for the CPU: what the stand-in's ``cupy.RawModule`` and
``cupy.RawKernel`` run.

A source goes through four steps:

1. it is parsed (comments blanked, line numbers kept): every ``__global__``
   function with its parameter list, whether it sits in an ``extern "C"``
   block (CuPy's ``get_function(name)`` only finds unmangled names), and
   whether it (or a ``__device__`` function it calls) reaches
   ``__syncthreads``;
2. its ``__shared__`` declarations are rewritten into ``thf_emu::Shared``
   objects (``extern __shared__`` into the launch's dynamic shared memory);
3. the header of ``_header.py`` goes in front and, per kernel, a launcher
   (``thf_emu_launch_<name>``) that unpacks CUDA's ``void** kernelParams``
   behind it;
4. g++ compiles it once into a shared library, cached by the SHA-256 of all
   that (and the compiler's version) in ``$THINC_FAST_CUPY_STANDIN_CACHE`` or a
   per-user folder of the temp dir, and ctypes loads it.

A launch (``Kernel.__call__``) checks what a GPU would not tell you, or would
tell you late: the launch configuration against CUDA's limits, each argument
against the kernel's parameter type (arrays for pointers, with the pointee's
dtype, C-contiguous and aligned; scalars of exactly the parameter's width, as
CuPy passes them: a Python int as int64, a float as double), then copies
every array into a buffer fenced by guard bytes (NaN as a float, so a read
past the end shows up in the results), runs the grid, checks
the fences, and copies the arrays that a non-const pointer could change back.
Blocks and the threads of a block run in an order that can be changed
(:func:`set_order`: "forward", "reverse" or "shuffle") to expose results that
depend on it (races).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy

from ._header import HEADER

_ORDERS = {"forward": 0, "reverse": 1, "shuffle": 2}
_order = "forward"
_lock = threading.RLock()

MAX_BLOCK = (1024, 1024, 64)
MAX_THREADS_PER_BLOCK = 1024
MAX_GRID = (2 ** 31 - 1, 65535, 65535)
MAX_SHARED = 48 * 1024
PAD = 1024  # guard bytes on each side of every array argument
# their pattern: NaN as float32 (0x7fffffff) and float64, INT_MAX as int32, and
# not the NaN a kernel writes (0x7fc00000), so that a write past the end shows
_FENCE = numpy.frombuffer(b"\xff\xff\xff\x7f" * (PAD // 4), dtype=numpy.uint8)


class EmulationError(RuntimeError):
    """A kernel launch that would be wrong on a GPU (bad arguments, a write
    outside an array or shared memory, divergent barriers)."""


def set_order(order: str) -> str:
    """The order in which blocks, and the threads of a block, run from now on;
    returns the previous one."""
    global _order
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {sorted(_ORDERS)}, got {order!r}")
    previous, _order = _order, order
    return previous


def get_order() -> str:
    return _order


# ------------------------------------------------------------------- compiler
def find_compiler() -> Optional[str]:
    """A C++ compiler on PATH (g++, then c++, then clang++), or None."""
    for name in ("g++", "c++", "clang++"):
        path = shutil.which(name)
        if path:
            return path
    return None


_compiler_version: Dict[str, str] = {}


def _version_of(compiler: str) -> str:
    if compiler not in _compiler_version:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
        _compiler_version[compiler] = out.stdout.splitlines()[0] if out.stdout else compiler
    return _compiler_version[compiler]


def cache_dir() -> str:
    folder = os.environ.get("THINC_FAST_CUPY_STANDIN_CACHE") or os.path.join(
        tempfile.gettempdir(), f"thinc-fast-cupy-standin-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    return folder


# --------------------------------------------------------------------- parsing
def _blank_comments(src: str) -> str:
    """`src` with comments replaced by spaces (newlines kept, so line numbers hold)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in src[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _match(src: str, start: int, open_: str, close: str) -> int:
    """Index just past the bracket closing the one at `start`."""
    depth = 0
    for i in range(start, len(src)):
        if src[i] == open_:
            depth += 1
        elif src[i] == close:
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError(f"unbalanced {open_}{close} in the CUDA source")


_C_TYPES = {
    "float": "float32", "double": "float64", "__half": "float16", "half": "float16",
    "bool": "bool",
    "char": "int8", "signed char": "int8", "unsigned char": "uint8",
    "short": "int16", "short int": "int16", "signed short": "int16",
    "unsigned short": "uint16", "unsigned short int": "uint16",
    "int": "int32", "signed": "int32", "signed int": "int32",
    "unsigned": "uint32", "unsigned int": "uint32",
    "long": "int64", "long int": "int64", "signed long": "int64",
    "unsigned long": "uint64", "unsigned long int": "uint64",
    "long long": "int64", "long long int": "int64", "signed long long": "int64",
    "unsigned long long": "uint64", "unsigned long long int": "uint64",
    "int8_t": "int8", "uint8_t": "uint8", "int16_t": "int16", "uint16_t": "uint16",
    "int32_t": "int32", "uint32_t": "uint32", "int64_t": "int64", "uint64_t": "uint64",
    "size_t": "uint64", "ptrdiff_t": "int64", "void": None,
}
_QUALIFIERS = re.compile(r"\b(const|volatile|__restrict__|__restrict|restrict)\b")


class Param:
    """One kernel parameter: its C type, name, pointer depth and base dtype."""

    def __init__(self, text: str) -> None:
        text = " ".join(text.split())
        m = re.match(r"^(.*?)(\w+)\s*$", text)
        if not m or not m.group(1).strip():
            raise ValueError(f"cannot parse the kernel parameter {text!r}")
        self.ctype = m.group(1).strip()
        self.name = m.group(2)
        self.cast_type = " ".join(re.sub(r"\b(__restrict__|__restrict|restrict)\b", " ",
                                         self.ctype).split())
        self.pointer = self.ctype.count("*")
        base = " ".join(_QUALIFIERS.sub(" ", self.ctype.replace("*", " ")).split())
        self.base = base
        # const applies to the pointee when it comes before the last '*'
        head = self.ctype[:self.ctype.rfind("*")] if self.pointer else ""
        self.const_pointee = bool(self.pointer) and bool(re.search(r"\bconst\b", head))
        if base not in _C_TYPES:
            raise ValueError(f"the stand-in does not know the C type {base!r} (parameter "
                             f"{self.name!r})")
        self.dtype = None if _C_TYPES[base] is None else numpy.dtype(_C_TYPES[base])
        if self.dtype is None and not self.pointer:
            raise ValueError(f"parameter {self.name!r} has type void")

    def __repr__(self) -> str:
        return f"{self.ctype} {self.name}"


class KernelInfo:
    def __init__(self, name: str, params: List[Param], extern_c: bool, body: str) -> None:
        self.name = name
        self.params = params
        self.extern_c = extern_c
        self.body = body
        self.barriers = False


def _extern_c_spans(src: str) -> List[Tuple[int, int]]:
    spans = []
    for m in re.finditer(r'extern\s+"C"\s*\{', src):
        spans.append((m.end() - 1, _match(src, m.end() - 1, "{", "}")))
    return spans


def _functions(src: str, keyword: str) -> List[Tuple[str, str, str, int]]:
    """(name, parameter text, body, position) of each function defined with `keyword`."""
    found = []
    for m in re.finditer(r"\b" + keyword + r"\b", src):
        open_paren = src.find("(", m.end())
        stop = src.find(";", m.end())
        if open_paren < 0 or (0 <= stop < open_paren):
            continue  # a variable, not a function
        head = src[m.end():open_paren]
        if "{" in head or "=" in head:
            continue
        name_m = re.search(r"(\w+)\s*$", head)
        if not name_m:
            continue
        close_paren = _match(src, open_paren, "(", ")")
        rest = src[close_paren:]
        brace = re.match(r"\s*\{", rest)
        if not brace:
            continue  # a declaration
        body_start = close_paren + brace.end() - 1
        body_end = _match(src, body_start, "{", "}")
        found.append((name_m.group(1), src[open_paren + 1:close_paren - 1],
                      src[body_start:body_end], m.start()))
    return found


def _split_params(text: str) -> List[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p for p in parts if p.strip() and p.strip() != "void"]


def parse(source: str) -> Dict[str, KernelInfo]:
    """The kernels of `source`, by name."""
    src = _blank_comments(source)
    src = re.sub(r"__launch_bounds__\s*\([^)]*\)", lambda m: " " * len(m.group(0)), src)
    spans = _extern_c_spans(src)
    kernels: Dict[str, KernelInfo] = {}
    for name, params, body, pos in _functions(src, "__global__"):
        if re.search(r"\btemplate\s*<[^;{]*$", src[max(0, pos - 200):pos]):
            raise NotImplementedError(f"kernel {name}: template kernels (name_expressions) "
                                      f"are not emulated")
        extern_c = any(a <= pos < b for a, b in spans) or bool(
            re.search(r'extern\s+"C"\s*$', src[max(0, pos - 20):pos]))
        kernels[name] = KernelInfo(name, [Param(p) for p in _split_params(params)], extern_c,
                                   body)
    bodies = {name: body for name, _, body, _ in _functions(src, "__device__")}
    bodies.update({name: k.body for name, k in kernels.items()})
    barrier = {name: "__syncthreads" in body for name, body in bodies.items()}
    changed = True
    while changed:  # a function reaches a barrier if one it calls does
        changed = False
        for name, body in bodies.items():
            if not barrier[name] and any(barrier.get(callee) for callee in
                                         re.findall(r"\b(\w+)\s*\(", body) if callee != name):
                barrier[name] = changed = True
    for name, k in kernels.items():
        k.barriers = barrier[name]
    return kernels


_DYNAMIC_SHARED = re.compile(
    r"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s]*?)\s+(\w+)\s*\[\s*\]\s*;")
_STATIC_SHARED = re.compile(
    r"__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s]*?)\s+(\w+)\s*((?:\[[^\]]*\]\s*)*);")


def transform(source: str) -> str:
    """`source` with its __shared__ declarations rewritten for the emulator
    (comments blanked; every line stays where it was)."""
    src = _blank_comments(source)
    src = _DYNAMIC_SHARED.sub(
        lambda m: f"{m.group(1)}* {m.group(2)} = ({m.group(1)}*)thf_emu::dynamic_shared();", src)
    src = _STATIC_SHARED.sub(
        lambda m: (f"typedef {m.group(1)} thf_emu_{m.group(2)}_t{m.group(3).strip()}; "
                   f"static thf_emu::Shared<thf_emu_{m.group(2)}_t> thf_emu_{m.group(2)}_store; "
                   f"thf_emu_{m.group(2)}_t& {m.group(2)} = "
                   f"thf_emu_{m.group(2)}_store.claim(\"{m.group(2)}\");"), src)
    return src


def _launchers(kernels: Dict[str, KernelInfo]) -> str:
    out = ['\n// ---- launchers (generated by tests/cupy_standin/_emulator.py)', 'extern "C" {']
    for k in kernels.values():
        unpack = ", ".join(f"*({p.cast_type}*)a[{i}]" for i, p in enumerate(k.params))
        out.append(f"static void thf_emu_thunk_{k.name}(void** a) {{ {k.name}({unpack}); }}")
        out.append(
            f"int thf_emu_launch_{k.name}(void** a, unsigned gx, unsigned gy, unsigned gz, "
            f"unsigned bx, unsigned by, unsigned bz, size_t shmem, int order, char* err, "
            f"size_t errlen) {{ return thf_emu::launch(\"{k.name}\", thf_emu_thunk_{k.name}, a, "
            f"gx, gy, gz, bx, by, bz, shmem, {int(k.barriers)}, order, err, errlen); }}")
    out.append("}")
    return "\n".join(out) + "\n"


class CompileError(RuntimeError):
    pass


_libraries: Dict[str, Any] = {}


def compile_source(source: str, options: Sequence[str] = ()) -> Tuple[Any, Dict[str, KernelInfo]]:
    """(ctypes library, kernels) for CUDA `source`, compiled once per source
    and cached on disk."""
    kernels = parse(source)
    defines = [o for o in options if o.startswith("-D")]
    text = (HEADER + '#line 1 "kernel.cu"\n' + transform(source) + _launchers(kernels))
    compiler = find_compiler()
    if compiler is None:
        raise CompileError("the CuPy stand-in needs a C++ compiler (g++, c++ or clang++) on PATH")
    flags = ["-std=c++17", "-O1", "-fPIC", "-shared", "-fno-strict-aliasing", "-w"] + defines
    if platform.machine() in ("x86_64", "AMD64"):
        flags.append("-fcf-protection=none")  # the coroutine switch is not shadow-stack aware
    if os.environ.get("THINC_FAST_CUPY_STANDIN_UCONTEXT"):
        flags.append("-DTF_EMU_UCONTEXT")  # swapcontext instead of the x86-64 switch
    key = hashlib.sha256("\0".join([text, _version_of(compiler)] + flags).encode()).hexdigest()[:24]
    with _lock:
        lib = _libraries.get(key)
        if lib is not None:
            return lib, kernels
        folder = cache_dir()
        so = os.path.join(folder, f"kernels-{key}.so")
        if not os.path.exists(so):
            fd, tmp_cpp = tempfile.mkstemp(suffix=".cpp", dir=folder)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            tmp_so = tmp_cpp[:-4] + ".so"
            result = subprocess.run([compiler] + flags + ["-o", tmp_so, tmp_cpp],
                                    capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                os.unlink(tmp_cpp)
                raise CompileError(f"g++ could not compile the CUDA source for the CPU "
                                   f"stand-in:\n{result.stderr[-4000:]}")
            os.replace(tmp_so, so)
            os.replace(tmp_cpp, so[:-3] + ".cpp")  # kept beside it, for debugging
        lib = ctypes.CDLL(so)
        for k in kernels.values():
            fn = getattr(lib, f"thf_emu_launch_{k.name}")
            fn.restype = ctypes.c_int
            fn.argtypes = ([ctypes.c_void_p] + [ctypes.c_uint] * 6
                           + [ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t])
        _libraries[key] = lib
    return lib, kernels


# ---------------------------------------------------------------------- launch
def _launch_dims(value: Any, what: str) -> Tuple[int, int, int]:
    # CuPy's Function.__call__(self, tuple grid, tuple block, ...): a tuple is required
    if not isinstance(value, tuple):
        raise TypeError(f"Argument '{what}' has incorrect type (expected tuple, got "
                        f"{type(value).__name__})")
    if not 1 <= len(value) <= 3:
        raise ValueError(f"stand-in: {what} must have 1 to 3 dimensions, got {value!r} (CuPy "
                         f"ignores the ones after the third)")
    dims = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, numpy.integer)):
            raise TypeError(f"{what} dimensions must be ints, got {value!r}")
        dims.append(max(1, int(v)))  # as CuPy: max(1, d)
    while len(dims) < 3:
        dims.append(1)
    return dims[0], dims[1], dims[2]


def _scalar_dtype(arg: Any) -> Tuple[numpy.dtype, Any]:
    """(dtype, value) with which CuPy passes a non-array argument by value."""
    if isinstance(arg, numpy.ndarray):
        if arg.size != 1:
            raise TypeError(f"You are trying to pass a numpy.ndarray of shape {arg.shape} as a "
                            f"kernel parameter. Only numpy.ndarrays of size one can be passed by "
                            f"value. If you meant to pass a pointer to __global__ memory, you "
                            f"need to pass a cupy.ndarray instead.")
        return arg.dtype, arg.reshape(()).item()
    if type(arg) is bool:
        return numpy.dtype("bool"), arg
    if type(arg) is int:
        if arg >= 2 ** 63:
            return numpy.dtype("uint64"), arg
        return numpy.dtype("int64"), arg
    if type(arg) is float:
        return numpy.dtype("float64"), arg
    if type(arg) is complex:
        return numpy.dtype("complex128"), arg
    if isinstance(arg, numpy.generic):
        return arg.dtype, arg.item()
    raise TypeError(f"Unsupported type {type(arg)}")


def _fits(value: Any, dtype: numpy.dtype) -> bool:
    try:
        return numpy.array(value).astype(dtype).item() == value
    except (OverflowError, ValueError):
        return False


class Kernel:
    """A compiled kernel: ``kernel(grid, block, args, shared_mem=0, stream=None)``."""

    def __init__(self, lib: Any, info: KernelInfo) -> None:
        self.info = info
        self.name = info.name
        self._fn = getattr(lib, f"thf_emu_launch_{info.name}")

    def __repr__(self) -> str:
        return f"<stand-in kernel {self.name}({', '.join(map(repr, self.info.params))})>"

    def __call__(self, grid: Any, block: Any, args: Any, shared_mem: int = 0, stream: Any = None,
                 enable_cooperative_groups: bool = False) -> None:
        from . import _array_of  # the fake cupy.ndarray's backing numpy array, or None

        gx, gy, gz = _launch_dims(grid, "grid")
        bx, by, bz = _launch_dims(block, "block")
        if bx > MAX_BLOCK[0] or by > MAX_BLOCK[1] or bz > MAX_BLOCK[2] \
                or bx * by * bz > MAX_THREADS_PER_BLOCK:
            raise _driver_error(f"CUDA_ERROR_INVALID_VALUE: invalid argument (kernel {self.name}: "
                                f"block {(bx, by, bz)} exceeds CUDA's limits: x, y <= 1024, "
                                f"z <= 64, x*y*z <= 1024)")
        if gx > MAX_GRID[0] or gy > MAX_GRID[1] or gz > MAX_GRID[2]:
            raise _driver_error(f"CUDA_ERROR_INVALID_VALUE: invalid argument (kernel {self.name}: "
                                f"grid {(gx, gy, gz)} exceeds CUDA's limits)")
        if isinstance(shared_mem, bool) or not isinstance(shared_mem, (int, numpy.integer)) \
                or shared_mem < 0:
            raise TypeError(f"shared_mem must be a size_t, got {shared_mem!r}")
        if shared_mem > MAX_SHARED:
            raise _driver_error(f"CUDA_ERROR_INVALID_VALUE: invalid argument (kernel {self.name}: "
                                f"{shared_mem} bytes of dynamic shared memory, more than "
                                f"{MAX_SHARED} without cudaFuncSetAttribute)")
        if enable_cooperative_groups:
            raise NotImplementedError("stand-in: cooperative launches are not emulated")
        args = tuple(args)
        params = self.info.params
        if len(args) != len(params):
            raise EmulationError(f"kernel {self.name} takes {len(params)} arguments "
                                 f"({', '.join(map(repr, params))}), the launch passed "
                                 f"{len(args)}")
        slots: List[Any] = []   # keeps every value alive during the call
        pointers: List[int] = []
        arrays: List[Tuple[int, Param, numpy.ndarray]] = []
        for i, (param, arg) in enumerate(zip(params, args)):
            where = f"kernel {self.name}, argument {i} ({param!r})"
            host = _array_of(arg)
            if param.pointer:
                if arg is None:
                    slot = ctypes.c_void_p(0)
                    slots.append(slot)
                    pointers.append(ctypes.addressof(slot))
                    continue
                if host is None:
                    if isinstance(arg, numpy.ndarray):
                        raise EmulationError(f"{where}: got a numpy.ndarray; a pointer "
                                             f"parameter needs a cupy.ndarray (device memory)")
                    raise EmulationError(f"{where}: got {type(arg).__name__} {arg!r} for a "
                                         f"pointer (on a GPU: an illegal address)")
                if param.pointer == 1 and param.dtype is not None \
                        and param.dtype.itemsize > 1 and host.dtype != param.dtype:
                    raise EmulationError(f"{where}: got an array of dtype {host.dtype}, the kernel "
                                         f"reads {param.base} ({param.dtype})")
                if not host.flags.c_contiguous:
                    raise EmulationError(f"{where}: got a non-C-contiguous array (shape "
                                         f"{host.shape}, strides {host.strides}); the kernel "
                                         f"indexes it as contiguous")
                align = param.dtype.itemsize if param.dtype is not None else 1
                if host.ctypes.data % align:
                    raise _driver_error(f"CUDA_ERROR_MISALIGNED_ADDRESS: misaligned address "
                                        f"({where})")
                slot = ctypes.c_void_p(0)  # filled in below, once buffers are made
                slots.append(slot)
                pointers.append(ctypes.addressof(slot))
                arrays.append((i, param, host))
                continue
            if host is not None:
                raise EmulationError(f"{where}: got a cupy.ndarray for a scalar parameter "
                                     f"(CuPy passes its device pointer)")
            dtype, value = _scalar_dtype(arg)
            want = param.dtype
            ok = dtype == want or (dtype.kind in "iu" and want.kind in "iu"
                                   and dtype.itemsize == want.itemsize and _fits(value, want))
            if not ok:
                how = {"int64": "a Python int, which CuPy passes as int64",
                       "float64": "a Python float, which CuPy passes as double"}
                got = how.get(dtype.name, f"a {dtype.name} scalar") if type(arg) in (int, float) \
                    else f"a {dtype.name} value"
                raise EmulationError(f"{where}: got {got} ({dtype.itemsize} bytes); the kernel "
                                     f"reads {param.base} ({want.itemsize} bytes): on a GPU it "
                                     f"would read the wrong bytes")
            buf = numpy.array(value, dtype=want).reshape(1)
            slots.append(buf)
            pointers.append(buf.ctypes.data)
        with _lock:
            self._run(gx, gy, gz, bx, by, bz, int(shared_mem), slots, pointers, arrays)

    def _run(self, gx, gy, gz, bx, by, bz, shared_mem, slots, pointers, arrays) -> None:
        # fenced copies of the arrays; arguments that are the same memory share one copy
        buffers: Dict[Tuple[int, int], numpy.ndarray] = {}
        spans = []
        for _, _, host in arrays:
            spans.append((host.ctypes.data, host.ctypes.data + host.nbytes))
        distinct = sorted(set(spans))
        overlapping = any(b[0] < a[1] for a, b in zip(distinct, distinct[1:]))
        copies = []
        for (i, param, host), span in zip(arrays, spans):
            if overlapping:  # views of one array with different extents: no fences
                slots[i].value = host.ctypes.data
                continue
            key = span
            if key not in buffers:
                buf = numpy.empty(host.nbytes + 2 * PAD, dtype=numpy.uint8)
                buf[:PAD] = _FENCE
                buf[PAD + host.nbytes:] = _FENCE
                buf[PAD:PAD + host.nbytes] = host.reshape(-1).view(numpy.uint8)
                buffers[key] = buf
                copies.append((host, buf, []))
            for host_, buf, params in copies:
                if buf is buffers[key]:
                    params.append(param)
            slots[i].value = buffers[key].ctypes.data + PAD
        argv = (ctypes.c_void_p * max(1, len(pointers)))(*pointers)
        err = ctypes.create_string_buffer(1024)
        rc = self._fn(argv, gx, gy, gz, bx, by, bz, shared_mem, _ORDERS[_order], err, len(err))
        for host, buf, params in copies:
            n = host.nbytes
            if not (buf[:PAD] == _FENCE).all() or not (buf[PAD + n:] == _FENCE).all():
                names = ", ".join(p.name for p in params)
                before = int((buf[:PAD] != _FENCE).sum())
                after = int((buf[PAD + n:] != _FENCE).sum())
                raise EmulationError(f"kernel {self.name} wrote outside the array passed as "
                                     f"{names} ({host.dtype}, shape {host.shape}): {before} bytes "
                                     f"changed before it, {after} after it")
            if any(not p.const_pointee for p in params):
                host.reshape(-1).view(numpy.uint8)[...] = buf[PAD:PAD + n]
        if rc:
            raise EmulationError(err.value.decode(errors="replace"))


def _driver_error(message: str) -> Exception:
    from . import _driver_error_class

    return _driver_error_class()(message)
