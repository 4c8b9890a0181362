"""gemm on every path (per-shape contexts, each context forced, blis's default;
one thread or several, tiled in one or two dimensions) against float64 NumPy,
and the kernel choice per CPU. No timing here: benchmarks/compare.py times."""
import os
import platform
import textwrap
import threading
import time

import numpy
import pytest

import thinc_fast
from thinc_fast.backends import _blis_arch, numpy_ops
from thinc_fast.backends.numpy_ops import NumpyOps, gemm_config, gemm_options, set_gemm_options

rng = numpy.random.default_rng(7)
MODES = ["shape", "large", "thin", "default"]
# odd sizes, 1-row batches, thin outputs (10 classes), k = 1, the MLP step's shapes
SHAPES = [(1, 784, 64), (1, 1, 1), (3, 1, 5), (7, 33, 1), (10, 128, 512), (128, 512, 10),
          (128, 10, 512), (65, 130, 97), (128, 784, 96), (257, 64, 33)]


def randn(*shape):
    return rng.standard_normal(shape).astype("float32")


def reference(A, B, trans1, trans2, alpha=1.0, beta=0.0, C=None):
    a = (A.T if trans1 else A).astype("f8")
    b = (B.T if trans2 else B).astype("f8")
    out = alpha * (a @ b)
    if beta:
        out += beta * C.astype("f8")
    return out


def check(out, ref, k):
    tol = 1e-5 * max(1.0, float(numpy.sqrt(k)))
    numpy.testing.assert_allclose(out, ref, rtol=tol, atol=tol * 10)


@pytest.fixture
def options():
    """Restore gemm's options and thread count after a test changes them.
    Within the test every product the plan cuts is split (adaptive_split=0:
    the tiling tests must see their tiles); a test of the adaptive split turns
    it on."""
    before = gemm_options()
    threads = thinc_fast.get_num_threads()
    set_gemm_options(adaptive_split=0)
    yield set_gemm_options
    set_gemm_options(**before)
    thinc_fast.set_num_threads(threads)


def test_expert_interface_and_contexts_in_a_subprocess(helpers):
    """The context lookup runs in a child first: a wrong declaration or an
    unregistered configuration would crash the child, not the test run."""
    code = textwrap.dedent("""
        import numpy
        from thinc_fast.backends import numpy_ops, _blis_arch
        from thinc_fast.backends.numpy_ops import NumpyOps, set_gemm_options
        rng = numpy.random.default_rng(0)
        ops = NumpyOps()
        for mode in ("shape", "large", "thin", "default"):
            set_gemm_options(mode=mode)
            for m, k, n in ((128, 784, 512), (128, 512, 10), (10, 128, 512), (1, 5, 3)):
                A = rng.standard_normal((m, k)).astype("f")
                B = rng.standard_normal((n, k)).astype("f")
                out = ops.gemm(A, B, trans2=True)
                err = abs(out - A.astype("f8") @ B.T.astype("f8")).max()
                assert err < 1e-3, (mode, m, k, n, err)
        print(numpy_ops.gemm_config()["expert"])
        print("\\n".join(_blis_arch.info_lines()))
    """)
    run = helpers.run_python(code, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[0] in ("True", "False")
    assert "CPU:" in run.stdout and "blis configuration:" in run.stdout


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("trans1", [False, True])
@pytest.mark.parametrize("trans2", [False, True])
def test_every_path_matches_float64(options, mode, threads, trans1, trans2):
    options(mode=mode, min_flops=0, chunk_flops=0)  # split even the small ones
    thinc_fast.set_num_threads(threads)
    ops = NumpyOps()
    for m, k, n in SHAPES:
        A = randn(k, m) if trans1 else randn(m, k)
        B = randn(n, k) if trans2 else randn(k, n)
        check(ops.gemm(A, B, trans1=trans1, trans2=trans2),
              reference(A, B, trans1, trans2), k)
        C = randn(m, n)
        C0 = C.copy()
        ops.gemm(A, B, out=C, trans1=trans1, trans2=trans2, alpha=0.5, beta=1.0)
        check(C, reference(A, B, trans1, trans2, 0.5, 1.0, C0), k)
        ops.gemm(A, B, out=C, trans1=trans1, trans2=trans2, alpha=-1.0, beta=0.25)
        check(C, reference(A, B, trans1, trans2, -1.0, 0.25,
                           reference(A, B, trans1, trans2, 0.5, 1.0, C0)), k)


@pytest.mark.parametrize("mode", MODES)
def test_views_and_column_major_output(options, mode):
    options(mode=mode, min_flops=0, chunk_flops=0)
    thinc_fast.set_num_threads(2)
    ops = NumpyOps()
    big_a, big_b = randn(300, 200), randn(200, 300)
    A = big_a[1:257:2, 3:150]                   # strided rows, offset columns
    B = big_b[2:149, 5:290:3]                   # non-unit column stride
    out_big = numpy.zeros((130, 200), "float32")
    out = out_big[1:129, 7:7 + B.shape[1]]      # a window of a larger array
    ops.gemm(A, B, out=out)
    check(out, A.astype("f8") @ B.astype("f8"), A.shape[1])
    assert not out_big[0].any() and not out_big[:, :7].any(), "gemm wrote outside its view"
    # column-major operands and output, with beta
    Af, Bf = numpy.asfortranarray(randn(96, 70)), numpy.asfortranarray(randn(70, 81))
    Cf = numpy.asfortranarray(randn(96, 81))
    C0 = Cf.astype("f8")
    ops.gemm(Af, Bf, out=Cf, beta=1.0)
    check(Cf, Af.astype("f8") @ Bf.astype("f8") + C0, 70)
    # the layers' weight gradient: dW += dY.T @ X into a transposed view of a buffer
    dY, X = randn(128, 40), randn(128, 90)
    buf = numpy.zeros((90, 40), "float32")
    ops.gemm(dY, X, out=buf.T, trans1=True, beta=1.0)
    check(buf.T, dY.T.astype("f8") @ X.astype("f8"), 128)
    # a single row and a single column out of 2-D arrays
    x, W = randn(1, 300), randn(64, 300)
    check(ops.gemm(x, W, trans2=True), x.astype("f8") @ W.T.astype("f8"), 300)
    check(ops.gemm(W, x[:, :300].T.copy()), W.astype("f8") @ x.T.astype("f8"), 300)


@pytest.mark.parametrize("chunks_per_thread,align", [(1, 16), (2, 16), (4, 1), (3, 48)])
@pytest.mark.parametrize("threads", [2, 5])
@pytest.mark.parametrize("spin_us", [0, 100])
def test_tilings_cover_c_exactly_once(options, chunks_per_thread, align, threads, spin_us):
    """Grids of 1-D and 2-D tiles, more tiles than threads (workers asleep:
    spin_us=0), edges that are not multiples of the tile: every element of C is
    written once (beta=1 shows a double write)."""
    options(min_flops=0, chunk_flops=0, chunks_per_thread=chunks_per_thread, align=align,
            spin_us=spin_us)
    thinc_fast.set_num_threads(threads)
    ops = NumpyOps()
    for m, k, n in [(10, 64, 512), (512, 64, 10), (33, 17, 35), (1, 256, 1000), (1000, 8, 1),
                    (64, 64, 64), (130, 7, 129)]:
        A, B, C = randn(m, k), randn(k, n), randn(m, n)
        ref = A.astype("f8") @ B.astype("f8") + C.astype("f8")
        ops.gemm(A, B, out=C, beta=1.0)
        check(C, ref, k)


def test_plans_use_every_thread_and_two_dimensions_when_one_is_small(options):
    plan = numpy_ops._gemm_plan
    options(min_flops=0, chunk_flops=0, chunks_per_thread=1, align=16)
    assert plan(512, 512, 512, 2)[:2] in ((1, 2), (2, 1))
    assert plan(10, 512, 512, 2)[:2] == (1, 2)      # split the long side
    assert plan(512, 10, 512, 2)[:2] == (2, 1)
    pm, pn, mt, nt = plan(48, 48, 512, 8)            # too small for 8 tiles in one direction
    assert pm > 1 and pn > 1 and pm * pn >= 8
    assert plan(1, 1, 1, 1)[:2] == (1, 1)
    options(chunks_per_thread=2)
    assert plan(512, 512, 512, 2)[0] * plan(512, 512, 512, 2)[1] == 4   # workers asleep
    assert plan(512, 512, 512, 2, 1)[0] * plan(512, 512, 512, 2, 1)[1] == 2  # spinning
    options(min_flops=1e12)
    assert plan(512, 512, 512, 2)[:2] == (1, 1)      # below the threshold: one thread


@pytest.mark.parametrize("spin_us", [0, 100])
def test_concurrent_callers_and_many_threads(options, spin_us):
    """Three Python threads share the pool (a caller that finds it busy runs
    on its own thread); with spin_us=0 every job wakes sleeping workers."""
    options(min_flops=0, chunk_flops=0, spin_us=spin_us)
    thinc_fast.set_num_threads(4)
    ops = NumpyOps()
    A, B = randn(200, 300), randn(300, 150)
    ref = A.astype("f8") @ B.astype("f8")
    errors = []

    def work():
        try:
            for _ in range(30):
                check(ops.gemm(A, B), ref, 300)
        except AssertionError as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_threaded_gemm(helpers):
    """A child forked after the pool started has no workers: it must not wait for them."""
    code = textwrap.dedent("""
        import os, numpy, thinc_fast
        from thinc_fast.backends.numpy_ops import NumpyOps, set_gemm_options
        thinc_fast.set_num_threads(2)
        set_gemm_options(min_flops=0, chunk_flops=0, adaptive_split=0)
        ops = NumpyOps()
        A = numpy.ones((256, 256), "f"); B = numpy.ones((256, 256), "f")
        ops.gemm(A, B)                          # starts the pool
        pid = os.fork()
        if pid == 0:
            ok = bool((ops.gemm(A, B) == 256).all()) and bool((ops.gemm(A, B) == 256).all())
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert (ops.gemm(A, B) == 256).all()
        print("ok")
    """)
    run = helpers.run_python(code, timeout=120)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_while_another_thread_is_inside_gemm(helpers):
    """fork() while a thread (and the pool's worker) runs gemms: blis holds
    locks inside a call, and a child that copied one held hung in its first
    gemm (1-5 of 6 children before fork_guard.h). Every child must finish
    its gemm with the right numbers; a hung one is stopped by faulthandler."""
    code = textwrap.dedent("""
        import os, threading, time, numpy, thinc_fast
        from thinc_fast.backends.numpy_ops import NumpyOps, gemm_config
        thinc_fast.set_num_threads(2)
        ops = NumpyOps()
        A = numpy.ones((800, 400), "f"); B = numpy.ones((400, 600), "f")
        ops.gemm(A, B)                          # starts the pool
        stop = threading.Event()
        calls = [0]
        def busy():
            while not stop.is_set():
                ops.gemm(A, B)
                calls[0] += 1
        t = threading.Thread(target=busy); t.start()
        codes = []
        for i in range(10):
            time.sleep(0.02)
            pid = os.fork()
            if pid == 0:
                import faulthandler
                faulthandler.dump_traceback_later(60, exit=True)   # a hang: exit 1
                ok = bool((ops.gemm(A, B) == 400).all())
                os._exit(0 if ok else 3)
            codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        stop.set(); t.join()
        assert codes == [0] * 10, codes
        assert calls[0] > 0
        assert gemm_config()["blis_calls_now"] == 0
        print("ok")
    """)
    run = helpers.run_python(code, timeout=600)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-3000:]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_waits_until_no_thread_is_inside_blis(helpers):
    """The deterministic half of the test above: while another thread counts
    a blis call in (held for 1 s), fork() returns only after it went out."""
    code = textwrap.dedent("""
        import os, threading, time
        from thinc_fast.backends.numpy_ops import gemm_config
        from thinc_fast.backends.gemm import _hold_blis_call
        ended = []
        t = threading.Thread(target=lambda: ended.append(_hold_blis_call(1.0)))
        t.start()
        while gemm_config()["blis_calls_now"] == 0 and not ended:
            time.sleep(0.001)
        assert not ended, "the hold ended before the fork"
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        forked = time.monotonic()
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        t.join()
        assert forked >= ended[0], (forked, ended[0])
        assert gemm_config()["blis_calls_now"] == 0
        print("ok")
    """)
    run = helpers.run_python(code, timeout=300)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-3000:]


def test_threadpoolctl_limits_gemm_threads(options):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    thinc_fast.set_num_threads(2)
    if not any(lib["user_api"] == "openmp" for lib in threadpoolctl.threadpool_info()):
        pytest.skip("built without OpenMP")
    before = gemm_config()["threads"]
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert gemm_config()["threads"] == 1
        A, B = randn(300, 200), randn(200, 100)
        check(NumpyOps().gemm(A, B), A.astype("f8") @ B.astype("f8"), 200)
    assert gemm_config()["threads"] == before


def test_set_gemm_options_validates(options):
    with pytest.raises(ValueError, match="mode"):
        set_gemm_options(mode="fast")
    with pytest.raises(ValueError, match="chunks_per_thread"):
        set_gemm_options(chunks_per_thread=0)
    with pytest.raises(ValueError, match="spin_us"):
        set_gemm_options(spin_us=-1)
    before = set_gemm_options(mode="large")
    assert gemm_config()["mode"] == "large" and before["mode"] == "shape"


# ------------------------------------------------------------- the choice
ALL = frozenset({"skx", "knl", "haswell", "zen", "zen2", "zen3", "generic", "cortexa57",
                 "armsve"})


@pytest.mark.parametrize("isa,detected,large,thin", [
    ("avx512", "haswell", "skx", "haswell"),   # Xeon under KVM
    ("avx512", "zen2", "skx", "haswell"),      # Zen 4
    ("avx512", "generic", "skx", "haswell"),   # Zen 5
    ("avx512", "skx", "skx", "haswell"),
    ("avx2", "zen2", "zen2", None),            # blis knows its AMD parts
    ("avx2", "haswell", "haswell", None),
    ("avx2", "generic", "haswell", None),
    ("neon", "generic", "cortexa57", None),
    ("sve", "generic", "armsve", None),
    ("neon", "thunderx2", "thunderx2", None),
    (None, "generic", "generic", None),
])
def test_choice_by_cpu_flags(isa, detected, large, thin):
    decision = _blis_arch.choose(isa, detected, ALL)
    assert (decision["large"], decision["thin"]) == (large, thin)
    assert detected in decision["reason"] or isa in decision["reason"].lower()


def test_choice_needs_the_configuration_compiled_in():
    assert _blis_arch.choose("avx512", "haswell", frozenset({"haswell"}))["large"] == "haswell"


@pytest.mark.parametrize("vendor,family,isa,kind", [
    ("AuthenticAMD", 26, "avx512", "zen5"),     # Zen 5 (family 0x1A)
    ("AuthenticAMD", 25, "avx512", "zen4"),     # Zen 4 (family 0x19 with AVX-512)
    ("AuthenticAMD", 25, "avx2", "avx2"),       # Zen 3 (family 0x19 too, no AVX-512)
    ("AuthenticAMD", 23, "avx2", "avx2"),       # Zen 1/2
    ("AuthenticAMD", 26, "avx2", "avx2"),       # AVX-512 hidden by the hypervisor: no skx
    ("GenuineIntel", 6, "avx2", "avx2"),
    ("GenuineIntel", 6, "avx512", "default"),
])
def test_thin_rules_per_cpu_kind(vendor, family, isa, kind):
    assert _blis_arch.cpu_kind(vendor, family, isa) == kind
    rules = _blis_arch.thin_rules("0.9.0", kind)
    assert set(rules) == {"thin_rows", "thin_cols", "thin_k", "mid_rows", "mid_cols", "thin_flops",
                          "dot_rows", "dot_k", "dot_k_per_row", "dot_cols", "smallk_k",
                          "smallk_rows", "smallk_trans_rows", "smallk_trans_k", "smallk_trans_area"}
    old_blis = _blis_arch.thin_rules("0.7.0", kind)
    if kind == "zen5":  # measured there: skx beats the sup kernels from about 1 MFLOP up
        assert rules["thin_rows"] == 0 and rules["thin_flops"] > 0
        assert rules["dot_rows"] == 256  # and the dot kernel beats blis up to 256 rows
        assert rules["smallk_k"] == 64 and rules["smallk_rows"] == 4096  # and the short-k kernel
        assert rules["smallk_trans_rows"] == old_blis["smallk_trans_rows"] == 288
        assert rules["smallk_trans_k"] == old_blis["smallk_trans_k"] == 8192
        assert rules["smallk_trans_area"] == old_blis["smallk_trans_area"] == 512 * 600
        assert rules["dot_cols"] == 16  # and the dot kernel takes thin outputs
        assert old_blis["dot_rows"] == 256 and old_blis["dot_cols"] == 16  # beside BLIS 0.7.0 too
    elif kind == "zen4":  # as Zen 5, but its dot and short-k kernels win on taller products
        for table, zen5 in ((rules, _blis_arch.thin_rules("0.9.0", "zen5")),
                            (old_blis, _blis_arch.thin_rules("0.7.0", "zen5"))):
            assert table["dot_rows"] == 2048 and table["smallk_trans_rows"] == 512
            assert {k: v for k, v in table.items() if k not in ("dot_rows", "smallk_trans_rows")} \
                == {k: v for k, v in zen5.items() if k not in ("dot_rows", "smallk_trans_rows")}
    elif kind == "avx2":  # the AVX2 dot kernel beats haswell, and on outputs of <= 32 columns
        assert rules["dot_rows"] == 256 and rules["dot_cols"] == 32 and rules["smallk_k"] == 16
        # and its short-k kernel beats haswell's packed kernels on small products
        assert (rules["smallk_rows"], rules["smallk_trans_rows"], rules["smallk_trans_k"],
                rules["smallk_trans_area"]) == (32, 288, 32, 20480)
        assert old_blis["dot_rows"] == 256 and old_blis["dot_cols"] == 32
        assert (old_blis["smallk_k"], old_blis["smallk_rows"], old_blis["smallk_trans_rows"],
                old_blis["smallk_trans_k"], old_blis["smallk_trans_area"]) == (16, 64, 128, 32, 20480)
        for version, table in (("0.9.0", rules), ("0.7.0", old_blis)):
            assert table["dot_k"] == 64 and table["dot_k_per_row"] == 0
        # BLIS 0.7.0: nothing thin; 0.9.0: what runs whole on the sup kernels
        # (under 4 MFLOP, at most 16 columns, k < 16), the rest split with sup off
        default = _blis_arch.THIN_RULES[("0.7.0", "default")]
        for name in ("thin_rows", "thin_cols", "thin_k", "mid_rows", "mid_cols", "thin_flops"):
            assert old_blis[name] == default[name] == 0
        assert (rules["thin_rows"], rules["thin_cols"], rules["thin_k"], rules["mid_rows"],
                rules["mid_cols"], rules["thin_flops"]) == (0, 16, 16, 0, 0, 4e6)
    else:
        assert rules["dot_rows"] == rules["dot_cols"] == rules["smallk_k"] == rules["smallk_rows"] == 0
        assert rules["smallk_trans_rows"] == rules["smallk_trans_area"] == 0
        assert old_blis["dot_rows"] == 0  # not measured beside BLIS 0.7.0
    # beside BLIS 0.7.0 nothing goes to the thin context (its pools abort when a
    # split product on the large context follows one on the thin context)
    assert not any(old_blis[name] for name in ("thin_rows", "thin_cols", "thin_k", "mid_rows",
                                                 "mid_cols", "thin_flops"))
    # an unknown BLIS version is read as 0.9.0, an unknown kind as the default
    assert _blis_arch.thin_rules("0.8.1", kind) == rules
    assert _blis_arch.thin_rules("0.7.0", "unknown") == _blis_arch.THIN_RULES[("0.7.0", "default")]


def test_loaded_thresholds_are_this_cpus_rules():
    config = gemm_config()
    if not config["thin"]:
        pytest.skip("no separate thin context on this CPU/blis")
    state = _blis_arch._state
    expected = _blis_arch.thin_rules(_blis_arch.blis_inner_version(), state["cpu_kind"])
    assert {key: config[key] for key in expected} == expected


@pytest.mark.parametrize("m,k,n,thin", [(128, 512, 10, True), (32, 64, 64, True),
                                        (96, 784, 512, False), (128, 10, 512, False)])
def test_thin_flops_rule_picks_the_context(options, m, k, n, thin):
    """With only the flops rule on, tiny products go to the thin context."""
    options(thin_rows=0, thin_cols=0, thin_k=0, mid_rows=0, mid_cols=0, thin_flops=1e6)
    expect_thin = 2.0 * m * n * k < 1e6
    assert numpy_ops._is_thin(m, n, k) == expect_thin
    options(thin_cols=32)
    assert numpy_ops._is_thin(m, n, k) == thin


def test_isa_class_from_flags():
    f = frozenset
    assert _blis_arch.isa_class(f("avx512f avx512dq avx512bw avx512vl avx2 fma".split()),
                                "x86_64") == "avx512"
    assert _blis_arch.isa_class(f("avx512f avx2 fma".split()), "x86_64") == "avx2"
    assert _blis_arch.isa_class(f("sse4_2".split()), "x86_64") is None
    assert _blis_arch.isa_class(f("asimd".split()), "aarch64") == "neon"
    assert _blis_arch.isa_class(f("asimd sve".split()), "aarch64") == "sve"


def test_isa_cap_hides_avx512_flags(monkeypatch):
    f = frozenset("avx512f avx512dq avx512bw avx512vl avx2 fma sse4_2".split())
    monkeypatch.delenv(_blis_arch.ISA_ENV, raising=False)
    assert _blis_arch.isa_cap() is None and _blis_arch.usable_flags(f) == f
    monkeypatch.setenv(_blis_arch.ISA_ENV, " AVX512 ")
    assert _blis_arch.isa_cap() == "avx512" and _blis_arch.usable_flags(f) == f
    monkeypatch.setenv(_blis_arch.ISA_ENV, "avx2")
    assert _blis_arch.usable_flags(f) == frozenset("avx2 fma sse4_2".split())
    assert _blis_arch.isa_class(_blis_arch.usable_flags(f), "x86_64") == "avx2"
    # a cap never adds what the CPU lacks
    assert _blis_arch.usable_flags(frozenset({"sse4_2"})) == frozenset({"sse4_2"})
    monkeypatch.setenv(_blis_arch.ISA_ENV, "avx3")
    with pytest.raises(ValueError, match=r"THINC_FAST_ISA='avx3'.*avx2, avx512"):
        _blis_arch.usable_flags(f)


def test_isa_cap_runs_every_kernel_on_avx2_in_a_subprocess(helpers):
    """THINC_FAST_ISA=avx2 on an AVX-512 CPU: blis's AVX2 configuration, the
    AVX2 builds of the dot and short-k kernels, the ymm peak; every kernel kind
    still matches float64, on one thread and on two."""
    code = textwrap.dedent("""
        import numpy, thinc_fast
        from thinc_fast.backends import numpy_ops, _blis_arch, gemm
        from thinc_fast.backends.numpy_ops import NumpyOps
        rng = numpy.random.default_rng(0)
        ops = NumpyOps()
        kinds = set()
        for threads in (1, 2):
            thinc_fast.set_num_threads(threads)
            for m, k, n, t1, t2 in ((128, 784, 512, False, True), (128, 512, 10, False, True),
                                    (128, 10, 512, False, False), (10, 128, 512, True, False),
                                    (512, 128, 784, True, False), (600, 288, 288, False, False)):
                A = rng.standard_normal((k, m) if t1 else (m, k)).astype("f")
                B = rng.standard_normal((n, k) if t2 else (k, n)).astype("f")
                out = ops.gemm(A, B, trans1=t1, trans2=t2)
                a64 = A.T.astype("f8") if t1 else A.astype("f8")
                b64 = B.T.astype("f8") if t2 else B.astype("f8")
                err = abs(out - a64 @ b64).max()
                assert err < 1e-4 * k ** 0.5 * 4, (m, k, n, err)
                kinds.add(gemm._gemm_kind(m, n, k, t2, t1))
        # the same bits on any thread count on the AVX2 configuration too (its
        # small/skinny kernels are not handed tiles: blis_gemm.h)
        numpy_ops.set_gemm_options(min_flops=0, chunk_flops=0)
        for m, k, n, t1, t2 in ((32, 784, 64, False, False), (60, 512, 512, False, False),
                                (40, 300, 200, False, False), (700, 288, 288, True, False),
                                (700, 288, 288, False, True), (128, 784, 512, False, False)):
            A = rng.standard_normal((k, m) if t1 else (m, k)).astype("f")
            B = rng.standard_normal((n, k) if t2 else (k, n)).astype("f")
            outs = []
            for threads in (1, 2, 3):
                thinc_fast.set_num_threads(threads)
                outs.append(ops.gemm(A, B, trans1=t1, trans2=t2))
            assert all((o == outs[0]).all() for o in outs[1:]), (m, k, n, t1, t2)
        peak = numpy_ops.fma_peak(1, seconds=0.002, repeats=1)
        sup_off = numpy_ops.gemm_config().get("large_sup_off")
        assert sup_off or _blis_arch.blis_inner_version() != "0.9.0" or not numpy_ops.gemm_config()["expert"]
        print(_blis_arch.isa_cap(), _blis_arch.configure()["choice"], gemm._vector_isa(),
              peak and peak["width"], ",".join(sorted(kinds)), bool(sup_off))
        print("\\n".join(_blis_arch.info_lines()))
    """)
    env = dict(os.environ, THINC_FAST_ISA="avx2")
    env.pop("BLIS_ARCH_TYPE", None)
    run = helpers.run_python(code, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    cap, large, vec, width, kinds, sup_off = run.stdout.splitlines()[0].split()
    assert cap == "avx2"
    flags = _blis_arch.cpu_flags()
    if {"avx2", "fma"} <= flags and platform.machine() in ("x86_64", "AMD64"):
        assert large != "skx" and int(vec) <= 3 and width == "8", run.stdout
        assert "-> AVX2 (THINC_FAST_ISA=avx2)" in run.stdout
        if sup_off == "True":
            assert "small/skinny kernels only for thin products" in run.stdout
    run = helpers.run_python("import thinc_fast", env=dict(env, THINC_FAST_ISA="avx-512"))
    assert run.returncode != 0 and "THINC_FAST_ISA='avx-512'" in run.stderr


def test_numpy_blas_names_the_kernels():
    blas = _blis_arch.numpy_blas()
    assert set(blas) >= {"name", "version", "core", "threads", "coretype_env"}
    assert blas["coretype_env"] == (os.environ.get("OPENBLAS_CORETYPE") or None)
    if _blis_arch._loaded_libraries("openblas"):  # NumPy's wheels bundle OpenBLAS
        assert isinstance(blas["core"], str) and blas["core"]
        assert blas["threads"] >= 1
    line = _blis_arch.numpy_blas_line(dict(name="scipy-openblas", version="0.3.31", core="Haswell",
                                           threads=2, coretype_env="Haswell"))
    assert line == "scipy-openblas 0.3.31, Haswell kernels (OPENBLAS_CORETYPE=Haswell), 2 threads"
    line = _blis_arch.numpy_blas_line(dict(name=None, version=None, core="Zen", threads=1,
                                           coretype_env=None))
    assert line == "unknown, Zen kernels, 1 thread"


def test_info_lines_name_the_cpu_and_the_choice():
    lines = _blis_arch.info_lines()
    assert lines[0].startswith("CPU: ")
    assert any(line.startswith("blis configuration: ") for line in lines)
    assert any(line.startswith("gemm: ") for line in lines)
    assert "CPU: " in _blis_arch.summary()


@pytest.mark.parametrize("value", ["haswell", "3"])
def test_users_blis_arch_type_wins(value, helpers):
    state = _blis_arch._state
    if _blis_arch._unusable_arch(value, state["names"], state["registered"], _blis_arch.cpu_flags()):
        pytest.skip("blis cannot run haswell here (no AVX2, or not built in)")
    """A name is translated to blis's number (blis 0.9 would read "haswell" as 0,
    skx), and thinc_fast's products run on the configuration named. BLIS 0.7.0
    (blis 1.3.x) does not read the variable for its own default: there only
    thinc_fast's products follow it."""
    code = textwrap.dedent("""
        import numpy
        from thinc_fast.backends import _blis_arch, numpy_ops
        A = numpy.ones((64, 64), "f")
        assert (numpy_ops.NumpyOps().gemm(A, A) == 64).all()
        print(_blis_arch.active_arch())
        print(_blis_arch.configure()["source"])
        print(_blis_arch.blis_inner_version())
        print(numpy_ops.gemm_config()["expert"] and _blis_arch._state["gemm"]["large"])
    """)
    env = dict(os.environ, BLIS_ARCH_TYPE=value)
    run = helpers.run_python(code, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    active, source, inner, ours = run.stdout.split()
    assert source == "user"
    if inner != "0.7.0":
        assert active == "haswell"
    if ours != "False":  # the expert interface loaded: our products on haswell
        assert ours == "haswell"


def _unrunnable_blis_archs():
    """BLIS_ARCH_TYPE values blis cannot run here: a name it does not know, a
    configuration it was not built with, one whose kernels this CPU lacks."""
    names, registered = _blis_arch._state["names"], _blis_arch._state["registered"]
    flags = _blis_arch.cpu_flags()
    values = ["bogus"]
    values += [n for n in ("zen3", "knc") if n in names and n not in registered][:1]
    if "knl" in registered and flags and "avx512er" not in flags:
        values.append("knl")  # Xeon Phi only: an illegal instruction anywhere else
    if "skx" in registered and flags and "avx512f" not in flags:
        values.append(str(names["skx"]))  # by number: AVX-512 on an AVX2 CPU
    return values


@pytest.mark.parametrize("value,blis_first",
                         [(v, False) for v in _unrunnable_blis_archs()] + [("bogus", True)])
def test_a_blis_arch_type_blis_cannot_run_here_is_named_and_ignored(value, blis_first, helpers):
    """blis itself aborts, or stops on an illegal instruction, at its first
    gemm under such a value; thinc_fast warns, naming it and the values that
    work, drops it and chooses as without it, also when blis was imported
    first (as Thinc and spaCy import it)."""
    if not _blis_arch._state.get("names"):
        pytest.skip("this blis cannot be asked for its configurations")
    code = textwrap.dedent(f"""
        import numpy
        {"import blis.py" if blis_first else ""}
        import thinc_fast.api
        from thinc_fast.backends import _blis_arch
        A = numpy.ones((64, 64), "f")
        assert (thinc_fast.api.NumpyOps().gemm(A, A) == 64).all()
        print(_blis_arch.configure()["source"], str(_blis_arch.active_arch()))
    """)
    run = helpers.run_python(code, env=dict(os.environ, BLIS_ARCH_TYPE=value), timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"RuntimeWarning: thinc_fast: BLIS_ARCH_TYPE={value!r}" in run.stderr, run.stderr
    assert "unset it, or name one of: " in run.stderr
    source, active = run.stdout.split()
    state = _blis_arch._state
    assert source != "user" and active in state["registered"] | {"None"}
    if blis_first and _blis_arch._unusable_arch(active, state["names"], state["registered"],
                                                _blis_arch.cpu_flags()):
        assert "had read it already" in run.stderr  # blis's own gemm would still fail


def test_our_override_does_not_leak_into_child_processes():
    if _blis_arch._state.get("source") == "thinc_fast":
        assert "BLIS_ARCH_TYPE" not in os.environ or os.environ["BLIS_ARCH_TYPE"] != str(
            _blis_arch._state["names"].get(_blis_arch._state["large"]))


def test_the_c_fast_path_leaves_odd_inputs_to_the_general_path():
    """Read-only outputs, other byte orders, subclasses, general strides, wrong
    shapes: the same answers and errors as before the fast path."""
    ops = NumpyOps()
    A, B = randn(9, 7), randn(7, 5)
    ref = A.astype("f8") @ B.astype("f8")
    out = numpy.zeros((9, 5), "float32")
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.gemm(A, B, out=out)
    check(ops.gemm(A.astype(">f4"), B.astype(">f4")), ref, 7)
    check(ops.gemm(A.view(numpy.matrix), B), ref, 7)
    general = numpy.lib.stride_tricks.as_strided(randn(40), shape=(9, 7), strides=(12, 8))
    check(ops.gemm(general, B), general.astype("f8") @ B.astype("f8"), 7)
    with pytest.raises(ValueError, match="inner dimensions"):
        ops.gemm(A, B, trans2=True)
    with pytest.raises(ValueError, match=r"expected \(9, 5\)"):
        ops.gemm(A, B, out=numpy.zeros((5, 9), "float32"))
    with pytest.raises(ValueError, match="beta"):
        ops.gemm(A, B, beta=1.0)
    assert ops.gemm(numpy.zeros((0, 7), "f"), B).shape == (0, 5)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_workers_on_the_callers_cpu_leave_it_the_work(helpers):
    """Pinned to one CPU, the workers share it with the caller: they move if
    they can, else leave the tiles to the caller; the results stay right."""
    code = textwrap.dedent("""
        import os, numpy, thinc_fast
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        from thinc_fast.backends.numpy_ops import NumpyOps, gemm_config, set_gemm_options
        thinc_fast.set_num_threads(2)
        set_gemm_options(min_flops=0, chunk_flops=0, adaptive_split=0)
        ops = NumpyOps()
        rng = numpy.random.default_rng(0)
        A = rng.standard_normal((200, 64)).astype("f"); B = rng.standard_normal((64, 300)).astype("f")
        ref = A.astype("f8") @ B.astype("f8")
        for _ in range(200):
            assert abs(ops.gemm(A, B) - ref).max() < 1e-3
        c = gemm_config()
        assert c["pool_jobs"] > 0 and c["pool_tiles_by_workers"] == 0, c
        print("ok")
    """)
    run = helpers.run_python(code, timeout=120)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]


@pytest.mark.parametrize("gap_us,expected", [
    (0, 100), (40, 100),        # jobs back to back: the base poll
    (300, 600), (900, 1800),    # spaCy's loop: twice the usual gap
    (1500, 2000),               # capped at the maximum
    (2500, 100), (1e6, 100),    # rarer than the maximum: sleep soon
])
def test_spin_budget_rule(gap_us, expected):
    assert numpy_ops._spin_budget_us(100, 2000, gap_us) == expected
    assert numpy_ops._spin_budget_us(0, 2000, gap_us) == 0, "spin_us=0: never poll"
    assert numpy_ops._spin_budget_us(100, 0, gap_us) == 100, "spin_max_us=0: the base only"


def test_spin_budget_follows_the_gaps(options):
    """Jobs a few hundred microseconds apart raise the usual gap the workers
    poll for; back-to-back jobs bring it down again."""
    options(min_flops=0, spin_us=100, spin_max_us=2000)
    thinc_fast.set_num_threads(2)
    ops = NumpyOps()
    a = numpy.ones((128, 128), dtype="float32")  # not thin: split over the pool
    for _ in range(40):
        ops.gemm(a, a)
        time.sleep(0.0004)
    spaced = gemm_config()["pool_gap_us"]
    close = []
    for _ in range(3):  # a preemption just before the end of a burst can lift one reading
        for _ in range(200):
            ops.gemm(a, a)
        close.append(gemm_config()["pool_gap_us"])
    assert spaced >= 300, spaced  # sleeps never return early
    assert min(close) < spaced, (close, spaced)


def test_hog_signs_rule():
    """A long wait for a worker's chunk is a sign at once; polling workers that
    take no chunk twice in a row (once in a short job is a daemon's blip) or
    once in a job of 100 us or more, and only in jobs long enough for a running
    worker to look (20 us); sleeping workers that miss a job are no sign
    (waking takes tens of microseconds)."""
    seen = numpy_ops._hog_seen
    assert seen([(900, 500, True, 1)]) == [True]
    assert seen([(300, 100, True, 1), (300, 0, True, 3)]) == [False, False]
    assert seen([(50, 0, True, 0), (50, 0, True, 1), (50, 0, True, 0)]) == [False] * 3
    assert seen([(50, 0, True, 0), (50, 0, True, 0), (50, 0, True, 0)]) == [False, True, True]
    assert seen([(300, 0, False, 0), (300, 0, False, 0)]) == [False, False]
    # tiny jobs neither count nor break a run
    assert seen([(5, 0, True, 0), (5, 0, True, 0), (5, 0, True, 0)]) == [False] * 3
    assert seen([(50, 0, True, 0), (5, 0, True, 0), (50, 0, True, 0)]) == [False, False, True]
    # a long job (>= 100 us) that polling workers missed is a sign by itself
    assert seen([(300, 0, True, 0)]) == [True]
    assert seen([(50, 0, True, 0), (50, 0, True, 1)]) == [False, False]


def test_fma_peak_probe():
    """The peak probe runs on the CPU's widest FMA width; the result is a rate."""
    flags = _blis_arch.usable_flags()  # less AVX-512 under THINC_FAST_ISA=avx2
    one = numpy_ops.fma_peak(1, seconds=0.005, repeats=1)
    if not ({"avx2", "fma"} <= flags or "avx512f" in flags):
        assert one is None
        return
    assert one["threads"] == 1 and one["gflops"] > 0
    assert one["width"] == (16 if "avx512f" in flags else 8)
    two = numpy_ops.fma_peak(2, seconds=0.005, repeats=1)
    assert two["threads"] == 2 and two["gflops"] > 0
    with pytest.raises(ValueError, match="threads must be >= 1"):
        numpy_ops.fma_peak(0)


@pytest.fixture
def array_cache():
    before = numpy_ops.array_cache_info()["limit"]
    yield numpy_ops.set_array_cache
    numpy_ops.set_array_cache(before / 2**20)


def test_reused_empty_never_hands_out_live_memory(array_cache):
    """A block goes back to the cache only when the array and every view of it
    are gone; what a live view holds is never overwritten by a new array."""
    array_cache(64)
    a = numpy_ops.reused_empty((1000, 288))
    assert a.shape == (1000, 288) and a.dtype == numpy.float32
    assert a.flags.c_contiguous and a.flags.writeable
    a[:] = 7.0
    view = a[100:110]
    del a
    b = numpy_ops.reused_empty((1000, 288))  # cannot be a's block: `view` holds it
    b[:] = -1.0
    assert (view == 7.0).all()
    hits = numpy_ops.array_cache_info()["hits"]
    del view, b
    c = numpy_ops.reused_empty((1000, 288))
    assert numpy_ops.array_cache_info()["hits"] == hits + 1, "a freed block is reused"
    c[:] = 1.0
    assert c.sum() == 1000 * 288
    small = numpy_ops.reused_empty(10, "int32")  # NumPy's own memory below 1 MiB
    assert small.dtype == numpy.int32 and type(small.base) is numpy.ndarray
    assert small.ctypes.data % 64 == 0 and c.ctypes.data % 64 == 0  # both on a cache line


@pytest.mark.parametrize("shape", [(), (0,), (3,), (5, 7), (2, 3, 4), (0, 5), (1000, 600)])
@pytest.mark.parametrize("dtype", ["float32", "int32", "float64", "uint8"])
def test_aligned_arrays_start_on_a_cache_line(shape, dtype):
    """What NumpyOps allocates (alloc, its kernels' outputs, gemm's output)
    starts on a 64-byte boundary: C-ordered, writable, of the dtype and
    shape asked, zero-filled when asked, and owning no memory twice (the
    block is the array's base, freed with it)."""
    for zeros in (False, True):
        a = numpy_ops.aligned_empty(shape, dtype, zeros)
        assert a.shape == shape and a.dtype == numpy.dtype(dtype)
        assert a.flags.c_contiguous and a.flags.writeable
        assert a.size == 0 or a.ctypes.data % 64 == 0  # (an empty one has no data)
        assert a.base.nbytes - a.nbytes < 64
        if zeros:
            assert not a.any()
        b = NumpyOps().alloc(shape, dtype=dtype, zeros=zeros)
        assert b.shape == shape and b.dtype == numpy.dtype(dtype)
        assert b.size == 0 or b.ctypes.data % 64 == 0
        if zeros:
            assert not b.any()
    with pytest.raises(ValueError, match="negative dimensions"):
        numpy_ops.aligned_empty((3, -1))


def test_gemm_outputs_and_the_arena_start_on_a_cache_line():
    """gemm's new outputs, every tensor of a model's parameter arena (each at
    a multiple of 16 floats from its start) and the kernels' outputs start on
    a 64-byte boundary, so the next product reads whole cache lines."""
    from thinc_fast.api import Relu, Softmax, chain
    ops = NumpyOps()
    for m, k, n in [(32, 64, 10), (128, 784, 512), (3, 5, 7)]:
        assert ops.gemm(randn(m, k), randn(n, k), trans2=True).ctypes.data % 64 == 0
        assert ops.gemm(randn(m, k), randn(k, n)).ctypes.data % 64 == 0
    model = chain(Relu(37), Softmax(10))
    model.initialize(X=randn(4, 29), Y=numpy.zeros((4, 10), "f"))
    for node in model.walk():
        for name in node.param_names:
            assert node.get_param(name).ctypes.data % 64 == 0, (node.name, name)
    Y = model.predict(randn(9, 29))
    assert Y.ctypes.data % 64 == 0
    X, lengths = randn(20, 8), numpy.array([5, 15], "int32")
    outputs = [ops.seq2col(X, 1), ops.backprop_relu(X, X), ops.softmax(X), ops.gelu(X),
               ops.reduce_sum(X, lengths), ops.reduce_max(X, lengths)[0],
               ops.backprop_reduce_mean(X[:2], lengths)]
    for i, out in enumerate(outputs):
        assert out.ctypes.data % 64 == 0, i


def test_aligned_empty_keeps_numpys_other_dtypes():
    """References start as None, other byte orders and strings keep their
    dtype (NumPy's path); shapes may be lists or ints."""
    objects = numpy_ops.aligned_empty(3, object)
    assert objects.dtype == object and all(x is None for x in objects)
    assert numpy_ops.aligned_empty([2, 2], ">f4").dtype == numpy.dtype(">f4")
    assert numpy_ops.aligned_empty((2,), "U3", zeros=True).tolist() == ["", ""]
    big = numpy_ops.aligned_empty((1024, 1024), zeros=True)  # NumPy's lazily zeroed pages
    assert big.ctypes.data % 64 == 0 and not big[::97, ::89].any()


def test_array_cache_stays_in_bounds(array_cache):
    array_cache(2)  # MiB
    arrays = [numpy_ops.reused_empty((n, 1000)) for n in (300, 400, 500, 600, 700)]
    del arrays
    info = numpy_ops.array_cache_info()
    assert info["bytes"] <= 2 * 2**20 and info["blocks"] <= 32
    array_cache(0)
    assert numpy_ops.array_cache_info()["bytes"] == 0
    off = numpy_ops.reused_empty((700, 1000))  # off: NumPy's memory (aligned_empty)
    assert type(off.base) is numpy.ndarray and off.ctypes.data % 64 == 0
    with pytest.raises(ValueError, match="limit_mb must be >= 0"):
        array_cache(-1)


@pytest.mark.parametrize("m,k,n", [(600, 288, 96), (32, 784, 64), (60, 512, 512),
                                   (40, 300, 200), (128, 512, 10), (10, 128, 512),
                                   (128, 10, 512), (700, 288, 288), (33, 65, 17)])
@pytest.mark.parametrize("trans", ["-", "A^T", "B^T"])
def test_same_bits_on_any_thread_count(options, m, k, n, trans):
    """The kernel is chosen for the whole product and thin products are not
    split, so 1, 2 and 4 threads give the same bits (shapes around the thin
    thresholds, where a tile's own shape would pick the other kernel)."""
    options(min_flops=0, chunk_flops=0)
    rng = numpy.random.default_rng(m * 7 + n)
    a = rng.standard_normal((k, m) if trans == "A^T" else (m, k)).astype("float32")
    b = rng.standard_normal((n, k) if trans == "B^T" else (k, n)).astype("float32")
    ops = NumpyOps()
    outs = []
    for threads in (1, 2, 4):
        thinc_fast.set_num_threads(threads)
        outs.append(ops.gemm(a, b, trans1=trans == "A^T", trans2=trans == "B^T"))
    numpy.testing.assert_array_equal(outs[1], outs[0])
    numpy.testing.assert_array_equal(outs[2], outs[0])


def test_the_engines_names_stay_importable_from_numpy_ops():
    """numpy_ops.pyx keeps the NumpyOps class; the engines beside it (gemm,
    stream_kernels, seq_kernels) hold the rest, and every name importable from
    numpy_ops before the split still is, as the same object."""
    import inspect

    from thinc_fast.backends import gemm, seq_kernels, stream_kernels
    from thinc_fast.backends.ops import Ops

    for name in ("set_gemm_options", "gemm_config", "_is_thin", "_hog_seen", "_gemm_plan",
                 "_spin_budget_us", "reused_empty", "array_cache_info", "set_array_cache",
                 "default_num_threads", "set_num_threads", "get_num_threads",
                 "thinc_cblas_sgemm_address", "MAX_THREADS_PER_CPU"):
        assert getattr(numpy_ops, name) is getattr(gemm, name), name
    for name in ("fma_peak", "stream_triad"):
        assert getattr(numpy_ops, name) is getattr(stream_kernels, name), name
    assert numpy_ops._set_seq_min_work is seq_kernels._set_seq_min_work
    assert NumpyOps.adam_step is stream_kernels.adam_step
    # the activations: one table, each method with the signature of Ops's
    assert len(numpy_ops._ACTIVATIONS) == 9
    for name in numpy_ops._ACTIVATIONS:
        for method in (name, f"backprop_{name}"):
            ours, base = getattr(NumpyOps, method), getattr(Ops, method)
            assert inspect.signature(ours) == inspect.signature(base), method
            assert f":meth:`Ops.{method}`" in ours.__doc__, method


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_stream_triad_on_the_pool(threads):
    before = thinc_fast.get_num_threads()
    thinc_fast.set_num_threads(threads)
    try:
        rng = numpy.random.default_rng(1)
        b, c = rng.standard_normal((2, 100_003)).astype("f")
        a = numpy.empty_like(b)
        numpy_ops.stream_triad(a, b, c, 0.5)
        numpy.testing.assert_allclose(a, b + numpy.float32(0.5) * c, rtol=1e-6, atol=1e-7)
        with pytest.raises(ValueError, match="differ in length"):
            numpy_ops.stream_triad(a[:-1], b, c, 0.5)
    finally:
        thinc_fast.set_num_threads(before)


# ------------------------------------------------------------- the dot kernel
def _vector_isas():
    """The builds of the vector kernels (short-k and dot) this CPU runs, the
    best one first."""
    best = numpy_ops._vector_isa()
    if best < 0:  # not chosen yet: one call chooses
        NumpyOps().gemm(randn(4, 2), randn(2, 16))
        best = numpy_ops._vector_isa()
    return [isa for isa in (4, 3, 0) if isa <= best]


@pytest.fixture
def vector_isa():
    """Restore the vector kernels' build after a test forces one."""
    before = numpy_ops._vector_isa()
    yield numpy_ops._vector_isa
    numpy_ops._vector_isa(before)


DOT_SHAPES = [(1, 1, 1), (3, 5, 7), (4, 4, 256), (5, 9, 300), (17, 10, 784), (32, 64, 784),
              (33, 67, 513), (128, 12, 1024), (14, 13, 40)]


def all_to_dot(options):
    options(dot_rows=1 << 20, dot_k=1, dot_k_per_row=0)


@pytest.mark.parametrize("m,n,k", DOT_SHAPES)
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)])
def test_dot_kernel_matches_float64(options, vector_isa, m, n, k, alpha, beta):
    """A @ W^T by dot products on every build this CPU runs (AVX-512 4x4
    blocks, AVX2 3x4, baseline 2x4): full blocks and the edges (the last rows
    and columns, the last k % width steps), alpha and beta, against float64."""
    all_to_dot(options)
    assert numpy_ops._gemm_kind(m, n, k, trans2=True) == "dot"
    A, W, C = randn(m, k), randn(n, k), randn(m, n)
    for isa in _vector_isas():
        vector_isa(isa)
        out = NumpyOps().gemm(A, W, out=C.copy(), trans2=True, alpha=alpha, beta=beta)
        check(out, reference(A, W, False, True, alpha, beta, C), k)


def test_dot_kernel_reads_views_with_a_leading_dimension(options):
    """Rows of A and W that are views into wider arrays (lda, ldw > k) and a
    C that is a view into a wider array."""
    all_to_dot(options)
    A_big, W_big, C_big = randn(40, 900), randn(70, 800), numpy.zeros((40, 90), "f")
    A, W, C = A_big[:, 3:787], W_big[:, 10:794], C_big[:, 5:75]
    out = NumpyOps().gemm(A, W, out=C, trans2=True)
    check(out, reference(A, W, False, True), 784)
    assert not C_big[:, :5].any() and not C_big[:, 75:].any()


@pytest.mark.parametrize("align", [16, 1, 3])
@pytest.mark.parametrize("m,n,k", [(61, 150, 784), (600, 10, 512), (13, 17, 70)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.7, 0.5)])
def test_dot_kernel_same_bits_on_any_thread_count(options, vector_isa, align, m, n, k,
                                                  alpha, beta):
    """Each element of C sums its products in an order fixed by the whole
    product, whatever the tiling (tile edges are kept at multiples of the
    build's block, 4 or 12, even when `align` is not): the same bits on 1 to 4
    threads, on every build; also for a thin output (10 columns, 600 rows),
    which the dot kernel takes at any batch. With alpha and beta not 0 or 1
    too: a column stored by the scalar path (a 5-wide block's fifth, a thin
    block's) rounds alpha * sum and beta * C as the vector path does (13x17x70
    had differed in the last place between thread counts)."""
    all_to_dot(options)
    options(min_flops=0, chunk_flops=0, align=align)
    A, W, C = randn(m, k), randn(n, k), randn(m, n)
    for isa in _vector_isas():
        vector_isa(isa)
        results = []
        for threads in (1, 2, 3, 4):
            thinc_fast.set_num_threads(threads)
            results.append(NumpyOps().gemm(A, W, out=C.copy(), trans2=True, alpha=alpha,
                                           beta=beta))
        for other in results[1:]:
            numpy.testing.assert_array_equal(other, results[0])
        check(results[0], reference(A, W, False, True, alpha, beta, C), k)


@pytest.mark.parametrize("m,k", [(37, 300), (128, 512)])
def test_dot_kernel_thin_and_wide_orders_give_the_same_bits(options, vector_isa, m, k):
    """Up to 16 columns the dot kernel walks rows outer (a block of A's rows
    meets all of W in L1) in column blocks of near-equal width (AVX2 and SSE:
    up to 4, 10 as 4 + 3 + 3, 9 as 3 + 3 + 3; AVX-512 where n is not a
    multiple of 4: up to 5, 10 as 5 + 5, 13 as 5 + 4 + 4), wider products
    columns outer in blocks of 4 and one narrower last block; each element's
    lanes fold the same way in any block: the
    columns a thin product shares with a wide one (the same rows of W first)
    come out bit for bit the same, on every build."""
    all_to_dot(options)
    thinc_fast.set_num_threads(1)
    A, W = randn(m, k), randn(24, k)
    for isa in _vector_isas():
        vector_isa(isa)
        # 24 columns: columns outer, 4x4 blocks (AVX-512 at k >= 512: 5 + 5 + 5 + 5 + 4)
        wide = NumpyOps().gemm(A, W, trans2=True)
        # thin: rows outer; remainders of 0, 2, 3, 1 columns (one column alone is
        # a column-major C, which the driver computes transposed: not compared)
        for n in (16, 15, 13, 10, 9, 7, 6, 5):
            thin = NumpyOps().gemm(A, numpy.ascontiguousarray(W[:n]), trans2=True)
            assert thin.tobytes() == numpy.ascontiguousarray(wide[:, :n]).tobytes(), (isa, n)
        check(wide, reference(A, W, False, True), k)


def _placed(values, offset, ld=None):
    """A copy of `values` (2-d) whose first row starts `offset` floats past a
    64-byte boundary, its rows `ld` floats apart."""
    m, k = values.shape
    ld = ld or k
    block = numpy_ops.aligned_empty(m * ld + offset + 16)
    out = block[offset:offset + m * ld].reshape(m, ld)[:, :k]
    out[...] = values
    assert (out.ctypes.data - block.ctypes.data) == 4 * offset
    return out


@pytest.mark.parametrize("m,n,k", [(64, 150, 784), (128, 10, 512), (100, 7, 33), (65, 40, 100),
                                   (200, 16, 1000), (64, 5, 3000)])
def test_dot_kernel_same_bits_wherever_the_rows_start(options, vector_isa, m, n, k):
    """When neither operand's rows start on 64-byte boundaries, the kernel
    copies W's rows to aligned scratch (dot_gemm.h): the values and their
    lanes along k are the same, so the result must be bit for bit that of
    aligned operands, thin or wide, k a multiple of 16 or not, rows further
    apart than k, and for W too long to copy (k = 3000) -- on every build."""
    all_to_dot(options)
    thinc_fast.set_num_threads(1)
    A, W = randn(m, k), randn(n, k)
    for isa in _vector_isas():
        vector_isa(isa)
        expected = NumpyOps().gemm(_placed(A, 0), _placed(W, 0), trans2=True)
        check(expected, reference(A, W, False, True), k)
        for off_a, off_w, pad in [(4, 4, 0), (1, 3, 0), (8, 0, 0), (0, 12, 0), (4, 8, 5)]:
            got = NumpyOps().gemm(_placed(A, off_a, k + pad), _placed(W, off_w, k + pad),
                                  trans2=True)
            numpy.testing.assert_array_equal(got, expected, err_msg=f"{off_a}, {off_w}, {pad}")


@pytest.mark.parametrize("m,n,k,kind", [(32, 64, 784, "dot"), (16, 10, 288, "dot"),
                                        (64, 512, 512, "dot"), (64, 512, 288, "large"),
                                        (200, 64, 784, "large"), (32, 512, 128, "large")])
def test_dot_rule_by_rows_and_k(options, m, n, k, kind):
    """Zen 5's rule: at most 128 rows, k >= 256 and k >= 8 x rows; never for
    a product whose W is not contiguous along k (no B^T)."""
    options(thin_rows=0, thin_cols=0, thin_k=0, mid_rows=0, mid_cols=0, thin_flops=0,
            dot_rows=128, dot_k=256, dot_k_per_row=8, dot_cols=0, smallk_k=0, smallk_rows=0,
            smallk_trans_rows=0, smallk_trans_area=0)
    assert numpy_ops._gemm_kind(m, n, k, trans2=True) == kind
    assert numpy_ops._gemm_kind(m, n, k, trans2=False) == "large"
    options(dot_rows=0)
    assert numpy_ops._gemm_kind(m, n, k, trans2=True) == "large"


@pytest.mark.parametrize("m,n,k,kind", [(128, 10, 512, "dot"), (2000, 10, 512, "dot"),
                                        (600, 16, 288, "dot"), (128, 10, 64, "large"),
                                        (600, 17, 512, "large")])
def test_dot_rule_for_thin_outputs(options, m, n, k, kind):
    """Zen 5's rule for thin outputs: at most 16 columns and k >= 256 go to the
    dot kernel whatever the rows (an output layer's forward pass)."""
    options(thin_rows=0, thin_cols=0, thin_k=0, mid_rows=0, mid_cols=0, thin_flops=0,
            dot_rows=128, dot_k=256, dot_k_per_row=8, dot_cols=16, smallk_k=0, smallk_rows=0,
            smallk_trans_rows=0, smallk_trans_area=0)
    assert numpy_ops._gemm_kind(m, n, k, trans2=True) == kind
    options(dot_cols=0)
    assert numpy_ops._gemm_kind(m, n, k, trans2=True) == "large"


def test_dot_options_validate(options):
    with pytest.raises(ValueError, match="dot_rows must be >= 0"):
        set_gemm_options(dot_rows=-1)
    with pytest.raises(ValueError, match="dot_k must be >= 1"):
        set_gemm_options(dot_k=0)
    # every value is checked before any is set: a refused call changes nothing
    before = gemm_options()
    with pytest.raises(ValueError, match="align must be >= 1"):
        set_gemm_options(dot_rows=7, thin_cols=3, align=0)
    assert gemm_options() == before
    with pytest.raises(TypeError, match="unknown option.*'dot_row'"):
        set_gemm_options(dot_row=7)


# Shapes for the short-k kernel (smallk_gemm.h): full 4-row x 4-vector
# blocks, single vectors, the scalar column edge, the last m % 4 rows, k = 1.
# Rows go 4 at a time, the last 5 or 6 as one block, 7 as 4 + 3, 1-3 as one
# (AVX-512 with k > 16: up to 8 rows a block, balanced, and 9 or 10 as one).
SMALLK_SHAPES = [(64, 784, 32), (32, 784, 64), (128, 512, 10), (10, 64, 32), (7, 16, 1),
                 (5, 100, 3), (33, 79, 17), (1, 16, 64), (6, 40, 9), (2, 33, 5), (11, 48, 20),
                 (3, 17, 2), (9, 64, 60), (10, 83, 40), (9, 50, 20)]


@pytest.mark.parametrize("m,n,k", SMALLK_SHAPES)
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)])
@pytest.mark.parametrize("trans1", [False, True])
def test_smallk_kernel_matches_float64(options, vector_isa, m, n, k, alpha, beta, trans1):
    """A @ B with a short k on every build this CPU runs (AVX-512, AVX2,
    baseline), A as stored or transposed (a weight gradient dY^T @ X), alpha
    and beta, against float64; every build gives the same bits."""
    options(smallk_k=64, smallk_rows=0, smallk_cols=16, dot_rows=0)
    A = randn(k, m) if trans1 else randn(m, k)
    B, C = randn(k, n), randn(m, n)
    if n >= 16:
        assert numpy_ops._gemm_kind(m, n, k) == "smallk"
    outs = []
    for isa in _vector_isas():
        vector_isa(isa)
        outs.append(NumpyOps().gemm(A, B, out=C.copy(), trans1=trans1, alpha=alpha, beta=beta))
        check(outs[-1], reference(A, B, trans1, False, alpha, beta, C), k)


@pytest.mark.parametrize("align", [16, 1, 3])
def test_smallk_kernel_same_bits_on_any_thread_count(options, align):
    """Every element of C is one chain of multiply-adds over k whatever block
    or edge it falls in: the same bits on 1 to 4 threads and any tiling."""
    options(smallk_k=64, smallk_cols=16, dot_rows=0, min_flops=0, chunk_flops=0, align=align)
    A, B = randn(61, 40), randn(40, 1001)
    results = []
    for threads in (1, 2, 3, 4):
        thinc_fast.set_num_threads(threads)
        results.append(NumpyOps().gemm(A, B))
        results.append(NumpyOps().gemm(A.T.copy(), B, trans1=True))
    for other in results[1:]:
        numpy.testing.assert_array_equal(other, results[0])
    check(results[0], reference(A, B, False, False), 40)


@pytest.mark.parametrize("trans1", [False, True])
def test_smallk_kernel_last_columns_same_bits_as_full_blocks(options, vector_isa, trans1):
    """The last n % VW columns (masked loads and stores) give the bits those
    columns get inside full blocks of a wider product, with alpha and beta
    not 0 or 1 too (the epilogue rounds alpha * sum and beta * C, then adds:
    a multiply-add fused one way in the blocks and another in the edge had
    differed in the last place), on every build; the AVX-512 and AVX2 builds
    give the same bits (the baseline SSE build has no fused multiply-add)."""
    options(smallk_k=1 << 20, smallk_cols=16, dot_rows=0, min_flops=1e12)
    rng = numpy.random.default_rng(11)
    m, k = 13, 70
    A = rng.standard_normal((k, m) if trans1 else (m, k)).astype("f")
    B, C = randn(k, 320), randn(m, 320)
    assert numpy_ops._gemm_kind(m, 300, k, trans1=trans1) == "smallk"
    results = []
    for isa in _vector_isas():
        vector_isa(isa)
        wide = NumpyOps().gemm(A, B, out=C.copy(), trans1=trans1, alpha=0.7, beta=0.5)
        for n in (300, 305, 313):
            narrow = NumpyOps().gemm(A, numpy.ascontiguousarray(B[:, :n]),
                                     out=numpy.ascontiguousarray(C[:, :n]), trans1=trans1,
                                     alpha=0.7, beta=0.5)
            assert narrow.tobytes() == numpy.ascontiguousarray(wide[:, :n]).tobytes(), (isa, n)
        if isa > 0:
            results.append(wide)
        check(wide, reference(A, B, trans1, False, 0.7, 0.5, C), k)
    for other in results[1:]:
        numpy.testing.assert_array_equal(other, results[0])


@pytest.mark.parametrize("k", [17, 128, 600])
def test_smallk_kernel_output_layer_rows_same_bits_as_in_taller_products(options, vector_isa, k):
    """The AVX-512 build takes 9 or 10 rows with k > 16 (an output layer's
    weight gradient dY^T @ X) as one block, its accumulators in two arrays;
    taller products cut their rows into other blocks (the AVX2 build: 4 + 5
    or 4 + 6 rows up to 10, balanced blocks of up to 6 above). Each element is the
    same chain over k in any block: the rows a 9- or 10-row product shares
    with a 20- or 37-row one come out bit for bit the same, on every build,
    including the single vectors and the last columns (n = 83)."""
    options(smallk_k=1024, smallk_trans_rows=64, smallk_trans_k=1024, smallk_cols=16, dot_rows=0)
    dY, X = randn(k, 37), randn(k, 83)
    for isa in _vector_isas():
        vector_isa(isa)
        for tall in (20, 37):
            whole = NumpyOps().gemm(dY[:, :tall], X, trans1=True)
            for rows in (9, 10):
                assert numpy_ops._gemm_kind(rows, 83, k, trans1=True) == "smallk"
                part = NumpyOps().gemm(numpy.ascontiguousarray(dY[:, :rows]), X, trans1=True)
                assert part.tobytes() == whole[:rows].tobytes(), (isa, tall, rows)
            check(whole, reference(dY[:, :tall], X, True, False), k)


def test_smallk_kernel_reads_views_with_a_leading_dimension(options):
    """B and C as views into wider arrays (row strides > n), A transposed."""
    options(smallk_k=64, smallk_cols=16, dot_rows=0)
    A_big, B_big, C_big = randn(30, 50), randn(30, 900), numpy.zeros((50, 800), "f")
    A, B, C = A_big[:, 2:42], B_big[:, 7:791], C_big[3:43, 5:789]
    out = NumpyOps().gemm(A, B, out=C, trans1=True)
    check(out, reference(A, B, True, False), 30)
    assert not C_big[:3].any() and not C_big[43:].any() and not C_big[:, :5].any()


@pytest.mark.parametrize("m,n,k,kind", [(64, 784, 32, "smallk"), (128, 512, 10, "smallk"),
                                        (128, 512, 64, "smallk"), (512, 784, 128, "smallk"),
                                        (128, 10, 64, "thin"), (64, 512, 512, "smallk"),
                                        (4096, 512, 512, "smallk"), (4097, 512, 512, "large")])
def test_smallk_rule_by_k_rows_and_columns(options, m, n, k, kind):
    """Zen 5's rule: at least 16 columns, B and C contiguous along n (so never
    for A @ B^T), and k <= 64 or at most 4096 rows of an A contiguous along k;
    both 0 turn it off."""
    options(thin_rows=0, thin_cols=32, thin_k=0, mid_rows=0, mid_cols=0, thin_flops=0,
            dot_rows=0, smallk_k=64, smallk_rows=4096, smallk_trans_rows=0, smallk_cols=16,
            smallk_trans_area=0)
    assert numpy_ops._gemm_kind(m, n, k) == kind
    assert numpy_ops._gemm_kind(m, n, k, trans2=True) != "smallk"
    options(smallk_k=0, smallk_rows=0)
    assert numpy_ops._gemm_kind(m, n, k) != "smallk"


@pytest.mark.parametrize("m,n,k,kind", [(10, 512, 128, "smallk"), (288, 512, 8192, "smallk"),
                                        (288, 512, 8193, "large"), (289, 512, 1100, "large"),
                                        (512, 784, 600, "smallk"), (512, 784, 601, "large"),
                                        (600, 512, 513, "large"), (10, 512, 64, "smallk")])
def test_smallk_rule_for_a_strided_a(options, m, n, k, kind):
    """A weight gradient dY^T @ X (A strided): at most smallk_trans_rows rows
    and k <= smallk_trans_k, or m * k <= smallk_trans_area (0: only
    k <= smallk_k); A contiguous along k goes by smallk_rows alone."""
    options(thin_rows=0, thin_cols=32, thin_k=0, mid_rows=0, mid_cols=0, thin_flops=0,
            dot_rows=0, smallk_k=64, smallk_rows=4096, smallk_trans_rows=288, smallk_cols=16,
            smallk_trans_k=8192, smallk_trans_area=512 * 600)
    assert numpy_ops._gemm_kind(m, n, k, trans1=True) == kind
    assert numpy_ops._gemm_kind(m, n, k) == "smallk"
    options(smallk_trans_area=0)
    assert numpy_ops._gemm_kind(m, n, k, trans1=True) == (
        "smallk" if m <= 288 and k <= 8192 or k <= 64 else "large")
    options(smallk_rows=0, smallk_trans_rows=0, smallk_trans_area=0)
    assert numpy_ops._gemm_kind(m, n, k) == ("smallk" if k <= 64 else "large")
    options(smallk_trans_k=0)
    assert numpy_ops._gemm_kind(m, n, k, trans1=True) == ("smallk" if k <= 64 else "large")


@pytest.mark.parametrize("m,n,k", [(32, 512, 512), (61, 300, 200), (1, 784, 1000),
                                   (128, 784, 512), (250, 1300, 300), (7, 70, 5000)])
def test_smallk_kernel_long_k_matches_float64(options, m, n, k):
    """The kernel takes a long k too (input gradients dY @ W), walking B in
    panels of columns (several here: 128x512x784, 250x300x1300; one column
    block each at k = 5000): the edge columns' 64-step chunks of k, against
    float64, and the same bits split over threads."""
    options(smallk_k=0, smallk_rows=256, smallk_cols=16, dot_rows=0)
    assert numpy_ops._gemm_kind(m, n, k) == "smallk"
    A, B, C = randn(m, k), randn(k, n), randn(m, n)
    out = NumpyOps().gemm(A, B, out=C.copy(), alpha=0.5, beta=1.0)
    check(out, reference(A, B, False, False, 0.5, 1.0, C), k)
    thinc_fast.set_num_threads(1)
    one = NumpyOps().gemm(A, B)
    options(min_flops=0, chunk_flops=0)
    for threads in (2, 3):
        thinc_fast.set_num_threads(threads)
        numpy.testing.assert_array_equal(NumpyOps().gemm(A, B), one)


@pytest.mark.parametrize("nchunks,threads", [(2, 2), (3, 2), (5, 3), (12, 2), (13, 2), (40, 3)])
def test_pool_runs_every_chunk_exactly_once(nchunks, threads):
    """Every chunk of every job runs once, whoever takes it: the caller's first
    chunk is published already claimed, workers count theirs in their own
    line and the caller waits for that count (worker_pool.h). Jobs back to
    back, as gemm's tiles and the optimizer's steps come."""
    numpy_ops.set_num_threads(threads)
    try:
        counts, by_workers = numpy_ops._pool_run_counted(nchunks, threads, 400, spin=3000)
    finally:
        numpy_ops.set_num_threads(None)
    numpy.testing.assert_array_equal(counts, numpy.ones_like(counts))
    assert 0 <= by_workers <= counts.size - 400  # chunk 0 of each job is the caller's


def test_pool_threads_take_their_own_chunks_first():
    """Home chunks (worker_pool.h): in a job of up to 12 chunks each thread
    takes those with its own index modulo the thread count first, then the
    others from the last; a job cut the same way gives each thread the same
    chunks call after call. Bigger jobs hand chunks out in order."""
    pick = numpy_ops._pool_pick
    assert pick(2, 1, [], 0) == 0 and pick(2, 1, [], 1) == 1
    assert pick(2, 1, [0], 1) == 1 and pick(2, 1, [1], 0) == 0
    assert pick(4, 1, [0], 0) == 2 and pick(4, 1, [], 1) == 1 and pick(4, 1, [1], 1) == 3
    assert pick(4, 1, [0, 2], 0) == 3        # own chunks done: steal from the last
    assert pick(4, 1, [0, 2, 3], 0) == 1 and pick(4, 1, [0, 1, 2, 3], 0) == -1
    assert pick(3, 2, [], 2) == 2 and pick(3, 2, [2], 2) == 1 and pick(8, 3, [], 3) == 3
    assert pick(12, 1, list(range(11)), 0) == 11
    assert pick(20, 1, 5, 1) == 5 and pick(20, 1, 20, 0) == -1


def test_adaptive_split_ignores_split_calls_no_worker_helped():
    """A split call that no worker took a chunk of (a sleeping worker woke too
    late) timed one thread, not a split: the first 16 of a streak go untimed,
    and in a burst the other way (the class runs alone) they do not count in
    the burst, which lasts until a worker comes; past 16 the workers are not
    coming and every call counts until one helps again (adapt_split.h)."""
    helped = numpy_ops._split_helped
    assert helped(True, [0, 0, 2, 0]) == ([False, False, True, False], 4)
    # exploring from alone: the two unhelped calls step back, the burst goes on
    assert helped(False, [0, 0, 1], calls=252) == ([False, False, True], 253)
    # past 16 in a row: every call counts, a burst keeps its length
    assert helped(True, [0] * 18) == ([False] * 16 + [True, True], 18)
    assert helped(False, [0] * 18) == ([False] * 16 + [True, True], 2)
    # a helped call ends the streak
    assert helped(True, [0] * 16 + [1, 0]) == ([False] * 16 + [True, False], 18)


def test_adaptive_split_rule():
    """Split or not (adapt_split.h): both ways in turn until each has 8 samples,
    then the current way unless the other is 1.1x faster, and the other way
    in bursts of 4 calls in every 256; averages are means of the first 8 samples, then moving,
    a sample over twice the average counted as twice it."""
    settle, way, update = numpy_ops._split_settle, numpy_ops._split_way, numpy_ops._split_update
    # warming up: a burst each way (3 timed calls), the way with fewer samples
    # next, split first
    assert settle(0.0, 0.0, 0, 0, False) is True
    assert settle(5.0, 1.0, 3, 4, True) is True    # the split burst is not over
    assert settle(5.0, 1.0, 3, 6, True) is False and settle(1.0, 5.0, 7, 7, False) is False
    assert settle(1.0, 5.0, 6, 6, False) is True and settle(1.0, 5.0, 6, 7, True) is True
    assert settle(1.0, 5.0, 6, 8, True) is False   # split warm: alone's turn
    # warming up, the first call of a burst (it goes the other way) is not timed
    assert way(3, 3, False, 7, last=True) == (False, False)
    assert way(3, 3, False, 8, last=False) == (False, True)
    # warm: switch only for a margin of 1.1
    assert settle(1.0, 1.05, 8, 8, True) is True      # alone 5% faster: keep splitting
    assert settle(1.0, 1.2, 8, 8, True) is False      # alone 20% faster: stop
    assert settle(1.05, 1.0, 8, 8, False) is False
    assert settle(1.2, 1.0, 8, 8, False) is True
    # the other way for 4 calls in a row in every 256, once warm; the first of
    # them and the first call back are not timed (their data sit in the other
    # way's caches)
    calls = [way(8, 8, True, c) for c in range(520)]
    splits = [s for s, _ in calls]
    assert [c for c in range(520) if not splits[c]] == [252, 253, 254, 255, 508, 509, 510, 511]
    assert [c for c in range(520) if not calls[c][1]] == [252, 256, 508, 512]
    assert [c for c in range(256) if way(8, 8, False, c)[0]] == [252, 253, 254, 255]
    assert all(way(3, 8, True, c) == (True, True) for c in range(512))  # not warm: no exploring
    assert all(way(3, 8, True, c, last=False) == (True, c == 0) for c in range(8))
    # averages
    assert update(0.0, 0, 4.0) == 4.0 and update(4.0, 1, 2.0) == 3.0
    assert update(1.0, 20, 1.8) == pytest.approx(1.1)
    assert update(1.0, 20, 100.0) == pytest.approx(1.125)  # clipped at twice the average


def test_a_burst_the_other_way_measures_it_afresh():
    """Once warm, the 3 timed calls of a burst the other way replace that
    way's average by their own mean, and the way changes only after the
    last of them: one burst recovers from a stale figure (a class that
    settled alone on bad early split samples), where blending 3 samples into
    a moving average of about 8 needed two or three bursts (adapt_split.h)."""
    record = numpy_ops._split_record
    burst = [(True, 1.0)] * 3
    # alone (2.0 ns a unit) after split samples that read 3.0: the burst at 1.0 wins
    assert record(2.0, 3.0, 20, 20, False, burst) == (2.0, 1.0, True)
    # not before the burst's last timed call
    assert record(2.0, 3.0, 20, 20, False, burst[:2]) == (2.0, 1.0, False)
    # a burst within the 1.1 margin keeps the way; its mean stays as the figure
    alone, split, splits = record(2.0, 3.0, 20, 20, False, [(True, 1.9)] * 3)
    assert (alone, splits) == (2.0, False) and split == pytest.approx(1.9)
    # a sample over twice the burst's mean so far counts as twice it
    assert record(2.0, 3.0, 20, 20, False, [(True, 1.0), (True, 9.0), (True, 1.0)])[1] == \
        pytest.approx((1.0 + 2.0 + 1.0) / 3)
    # and the first over twice the figure before the burst (a preemption)
    assert record(2.0, 1.0, 20, 20, False, [(True, 5.0), (True, 1.0), (True, 1.0)]) == \
        pytest.approx((2.0, (2.0 + 1.0 + 1.0) / 3, True))
    # the way it runs is averaged as before (a moving average over about 8)
    alone, split, splits = record(2.0, 3.0, 20, 20, False, [(False, 1.0)])
    assert alone == pytest.approx(2.0 + (1.0 - 2.0) / 8) and split == 3.0 and not splits
    # the other way, while warming up, is averaged as before too
    assert record(1.0, 3.0, 2, 3, True, [(False, 2.0)])[0] == pytest.approx(1.0 + 1.0 / 3)


@pytest.mark.parametrize("threads", [2, 3])
def test_adaptive_split_changes_no_bits(options, threads):
    """With the adaptive split on, products that are split or run alone as
    their class's measurements say give the bits of one thread and of the
    split without it, and the classes record both ways."""
    ops = NumpyOps()
    rng = numpy.random.default_rng(7)
    shapes = [(64, 300, 200, False), (32, 784, 64, True), (96, 512, 512, False)]
    operands = []
    for m, k, n, trans2 in shapes:
        A = rng.standard_normal((m, k)).astype("f")
        B = rng.standard_normal((n, k) if trans2 else (k, n)).astype("f")
        operands.append((A, B, trans2))
    options(min_flops=0, chunk_flops=0)
    thinc_fast.set_num_threads(1)
    alone = [ops.gemm(A, B, trans2=t) for A, B, t in operands]
    thinc_fast.set_num_threads(threads)
    split = [ops.gemm(A, B, trans2=t) for A, B, t in operands]
    options(adaptive_split=1)
    # 160 rounds: split calls no worker helped go untimed (the first 16 of a
    # streak), so on a loaded machine 8 split samples take more than 8 calls
    for _ in range(160):
        for (A, B, t), one, two in zip(operands, alone, split):
            out = ops.gemm(A, B, trans2=t)
            assert out.tobytes() == one.tobytes() == two.tobytes()
    stats = numpy_ops.split_stats()
    assert stats and all(s["threads"] == gemm_config()["threads"] for s in stats)
    assert all(s["samples_alone"] >= 8 and s["samples_split"] >= 8 for s in stats), stats
    assert {s["kind"] for s in stats} <= {"large", "dot", "smallk"}
    assert gemm_config()["adaptive_split"] == 1


@pytest.mark.parametrize("threads", [2, 3])
def test_adaptive_split_of_pool_loops_changes_no_bits(options, threads):
    """Pool loops (here fused Adam over 200,000 values) also run split or alone
    as their class measured: every step gives the bits of one thread, and the
    loop's class records both ways under a "loop N" kind."""
    from thinc_fast.backends.kernel_args import KernelScalars

    ops = NumpyOps()
    rng = numpy.random.default_rng(8)
    n = 200_000
    start = [rng.standard_normal(n).astype("f") for _ in range(3)]
    grads = [rng.standard_normal(n).astype("f") * 0.1 for _ in range(24)]
    k = KernelScalars(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8)

    def run():
        w, m, v = (a.copy() for a in start)
        v = numpy.abs(v)
        for g in grads:
            ops.adam_step(w, g.copy(), m, v, scalars=k)
        return w, m, v

    thinc_fast.set_num_threads(1)
    one = run()
    thinc_fast.set_num_threads(threads)
    options(adaptive_split=1)
    # 7 x 24 calls: split calls no worker helped go untimed (the first 16 of a
    # streak), so on a loaded machine 8 split samples take more than 8 calls
    for _ in range(7):
        for got, want in zip(run(), one):
            assert got.tobytes() == want.tobytes()
    loops = [s for s in numpy_ops.split_stats() if s["kind"].startswith("loop")]
    assert loops, numpy_ops.split_stats()
    assert any(s["samples_alone"] >= 8 and s["samples_split"] >= 8 for s in loops), loops
    assert all(s["threads"] == threads for s in loops), loops


def test_contended_poll_options(options):
    """The poll after signs of another thread on the workers' CPUs and the
    check that finds such threads are options, shown by gemm_config with the
    count of polls the check cut short."""
    options(contended_spin_us=50, share_check=0)
    c = gemm_config()
    assert c["contended_spin_us"] == 50.0 and c["share_check"] == 0
    assert isinstance(c["pool_shared_polls"], int) and c["pool_shared_polls"] >= 0
    options(contended_spin_us=0, share_check=1)
    c = gemm_config()
    assert c["contended_spin_us"] == 0.0 and c["share_check"] == 1
    with pytest.raises(ValueError, match="contended_spin_us must be >= 0"):
        set_gemm_options(contended_spin_us=-1)
