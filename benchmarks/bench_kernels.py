"""asv benchmarks of the CPU kernels: time and peak memory.

Run offline against the installed package: ``asv run --python=same --quick``.
"""
import numpy

import thinc_fast
from thinc_fast.api import NumpyOps
from thinc_fast.backends.kernel_args import KernelScalars

ADAM_STEP = KernelScalars(lr_hat=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, avg_rate=0.1)


class Gemm:
    """float32 gemm through blis, split over the configured threads."""

    params = [[(128, 784, 512), (32, 784, 64), (128, 512, 10)], [False, True]]
    param_names = ["m_k_n", "trans2"]

    def setup(self, shape, trans2):
        m, k, n = shape
        rng = numpy.random.default_rng(0)
        self.ops = NumpyOps()
        self.A = rng.standard_normal((m, k)).astype("f")
        self.B = rng.standard_normal((n, k) if trans2 else (k, n)).astype("f")
        self.C = numpy.zeros((m, n), dtype="f")

    def time_gemm(self, shape, trans2):
        self.ops.gemm(self.A, self.B, out=self.C, trans2=trans2)

    def time_gemm_accumulate(self, shape, trans2):
        self.ops.gemm(self.A, self.B, out=self.C, trans2=trans2, beta=1.0)


class GemmStep:
    """Every gemm of one 784-512-512-10 training step at batch 128, with the
    transposes the layers use (W stored nO x nI): forward X @ W.T, input
    gradient dY @ W, weight gradient dW += dY.T @ X; 2 threads."""

    params = [["128x784x512 B^T", "128x512x512 B^T", "128x512x10 B^T", "128x10x512 -",
               "128x512x512 -", "128x512x784 -", "10x128x512 A^T", "512x128x512 A^T",
               "512x128x784 A^T"]]
    param_names = ["m_k_n_op"]

    def setup(self, case):
        dims, op = case.split()
        m, k, n = map(int, dims.split("x"))
        rng = numpy.random.default_rng(0)
        self.ops = NumpyOps()
        self.t1, self.t2, self.beta = op == "A^T", op == "B^T", 1.0 if op == "A^T" else 0.0
        self.A = rng.standard_normal((k, m) if self.t1 else (m, k)).astype("f")
        self.B = rng.standard_normal((n, k) if self.t2 else (k, n)).astype("f")
        self.C = numpy.zeros((m, n), dtype="f")
        self.before = thinc_fast.get_num_threads()
        thinc_fast.set_num_threads(2)

    def teardown(self, case):
        thinc_fast.set_num_threads(self.before)

    def time_gemm(self, case):
        self.ops.gemm(self.A, self.B, out=self.C, trans1=self.t1, trans2=self.t2, beta=self.beta)


class Elementwise:
    """The fused memory-bound kernels on a 128x512 batch."""

    def setup(self):
        rng = numpy.random.default_rng(0)
        self.ops = NumpyOps()
        self.X = rng.standard_normal((128, 512)).astype("f")
        self.Y = numpy.maximum(self.X, 0)
        self.dY = rng.standard_normal((128, 512)).astype("f")
        self.b = rng.standard_normal(512).astype("f")
        self.out = numpy.zeros(512, dtype="f")

    def time_bias_relu(self):
        self.ops.bias_relu(self.X, self.b)

    def time_backprop_relu(self):
        self.ops.backprop_relu(self.dY, self.Y)

    def time_softmax(self):
        self.ops.softmax(self.X)

    def time_inc_col_sums(self):
        self.ops.inc_col_sums(self.dY, self.out)


class FusedAdam:
    """One fused Adam step over a flat arena of 10M float32 parameters."""

    params = [[1, 2]]
    param_names = ["threads"]

    def setup(self, threads):
        n = 10_000_000
        rng = numpy.random.default_rng(0)
        self.ops = NumpyOps()
        self.w = rng.standard_normal(n).astype("f")
        self.g = rng.standard_normal(n).astype("f")
        self.m = numpy.zeros(n, "f")
        self.v = numpy.zeros(n, "f")
        self.avg = numpy.zeros(n, "f")
        self.before = thinc_fast.get_num_threads()
        thinc_fast.set_num_threads(threads)

    def teardown(self, threads):
        thinc_fast.set_num_threads(self.before)

    def time_adam_step(self, threads):
        self.ops.adam_step(self.w, self.g, self.m, self.v, self.avg, scalars=ADAM_STEP)

    def time_sum_of_squares(self, threads):
        self.ops.sum_of_squares(self.g)
