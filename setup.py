"""Build script: the list of Cython extensions and their compiler flags.

Metadata lives in pyproject.toml. The flags are safe for every CPU of the
target architecture (no -march=native): -O3 with -fno-math-errno lets the
compiler vectorise sqrtf in the fused Adam loop, -fopenmp-simd honours the
`omp simd` pragmas of src/include/stream_loops.h, and the loops there are built
for baseline x86-64, x86-64-v3 and x86-64-v4 with the best chosen at load time
(gcc's target_clones). -fopenmp (when the compiler has it) runs the prange
loops on several threads; auditwheel bundles the OpenMP runtime in wheels.
The modules include NumPy's C API headers (a build requirement, as Cython and
blis are).
"""
import glob
import os
import subprocess
import sys
import sysconfig
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup


def openmp_flags():
    """(compile, link) flags for OpenMP when the compiler has it, else none:
    without OpenMP the prange loops run on one thread. THINC_FAST_OPENMP=0
    turns it off."""
    if os.environ.get("THINC_FAST_OPENMP", "1") == "0" or sys.platform == "win32":
        return [], []
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
        cmd = cc.split() + ["-fopenmp", src, "-o", os.path.join(tmp, "omp")]
        try:
            ok = subprocess.run(cmd, capture_output=True).returncode == 0
        except OSError:
            ok = False
    return (["-fopenmp"], ["-fopenmp"]) if ok else ([], [])


OMP_COMPILE, OMP_LINK = openmp_flags()
if sys.platform == "win32":
    COMPILE_ARGS = ["/O2", "/fp:precise"]
else:
    COMPILE_ARGS = ["-O3", "-g0", "-fno-math-errno", "-fopenmp-simd", "-Wno-unused-function"] + OMP_COMPILE

# The CPU kernels, one extension per engine (cimports between them go through
# the .pxd files): gemm owns the worker pool and the blis state (static in
# worker_pool.h and blis_gemm.h, so one module only); the others run their
# loops on that pool through gemm.pxd.
KERNEL_MODULES = ["gemm", "stream_kernels", "seq_kernels", "numpy_ops"]

EXTENSIONS = [
    Extension(
        f"thinc_fast.backends.{name}",
        [f"thinc_fast/backends/{name}.pyx"],
        include_dirs=["src/include", numpy.get_include()],
        # the C headers the kernels are written in: a change to one rebuilds
        # every module (without this, setuptools rebuilt only on .pyx changes)
        depends=sorted(glob.glob("src/include/*.h")),
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=OMP_LINK,
    )
    for name in KERNEL_MODULES
]


def build_jobs():
    """How many modules to compile at once (setuptools' build_ext runs them on
    threads): one per CPU this process may use, at most one per module
    (THINC_FAST_BUILD_JOBS overrides). gcc takes 15-30 s a module at -O3 with
    the ISA clones; on two cores a build from scratch takes about 60 s instead of 100.
    Cython's translation (a few seconds) stays serial: its parallel mode starts
    processes, which under the spawn and forkserver start methods (Python 3.14's
    default on Linux) would run this script again."""
    wanted = os.environ.get("THINC_FAST_BUILD_JOBS", "")
    if wanted.strip().isdigit() and int(wanted) > 0:
        return int(wanted)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(len(KERNEL_MODULES), cpus or 1))


JOBS = build_jobs()

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        compiler_directives={"language_level": "3"},
    ),
    # setuptools' own `build_ext -j`: a -j on the command line still wins
    options={"build_ext": {"parallel": JOBS}},
)
