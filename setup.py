"""Build script: the list of Cython extensions and their compiler flags.

Metadata lives in pyproject.toml. The flags are safe for every CPU of the
target architecture (no -march=native): -O3 with -fno-math-errno lets the
compiler vectorise sqrtf in the fused Adam loop, and -fopenmp-simd honours the
`omp simd` pragmas of src/include/tf_loops.h without linking an OpenMP runtime.
"""
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

if sys.platform == "win32":
    COMPILE_ARGS = ["/O2", "/fp:precise"]
else:
    COMPILE_ARGS = ["-O3", "-fno-math-errno", "-fopenmp-simd", "-Wno-unused-function"]

EXTENSIONS = [
    Extension(
        "thinc_fast.backends.numpy_ops",
        ["thinc_fast/backends/numpy_ops.pyx"],
        include_dirs=["src/include"],
        extra_compile_args=COMPILE_ARGS,
    ),
]

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        compiler_directives={"language_level": "3"},
    ),
)
