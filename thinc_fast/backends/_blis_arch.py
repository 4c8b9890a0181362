"""Which blis kernels serve this CPU, and which serve each shape.

blis chooses one kernel configuration for the process, from cpuid, when it
first initialises. Its guesses fail on CPUs newer than the build (a Zen 4 or
Zen 5 EPYC reads as "zen2" or "generic") and in virtual machines (a Sapphire
Rapids Xeon under KVM reads as "haswell"), leaving AVX-512 idle. So the choice
here comes from the CPU's own feature flags:

- AVX-512 (avx512f/dq/bw/vl): "skx" for large products. skx has no
  small/skinny ("sup") kernels, so thin products (a dimension of a few rows,
  the output layer's 10 classes) go to "haswell", whose AVX2 sup kernels serve
  them 2-4x faster. numpy_ops runs both in one process through blis's expert
  interface (a context per call; blis builds the context of every
  configuration compiled in).
- AVX2 + FMA: blis's own choice when it is an AVX2 configuration (it knows the
  Intel/AMD cache sizes), else "haswell".
- aarch64 with NEON (asimd) or SVE: blis's choice unless it fell back to
  "generic", then "armsve" or "cortexa57".
- A user's ``BLIS_ARCH_TYPE`` wins (a configuration name is translated to the
  number blis 0.9 reads; it would read "haswell" as 0, i.e. skx), and then
  every product runs on it; unless blis cannot run it here (unknown, not
  built in, or instructions this CPU lacks), when it is dropped with a
  warning: blis would abort, or stop on an illegal instruction.

``configure()`` must run before blis is first imported: when it overrides
blis's guess it sets ``BLIS_ARCH_TYPE`` for blis to read at initialisation,
and numpy_ops removes the variable again once blis has read it, so that child
processes decide for themselves. ``info_lines()`` says what was chosen and why
(for ``thinc-fast info``).
"""
import ctypes
import importlib.machinery
import importlib.util
import sys
import os
import platform
from typing import Any, Dict, FrozenSet, List, Optional

# The BLIS versions whose expert interface src/include/blis_gemm.h declares:
# 0.9.0 inside cython-blis 1.0.x (Thinc 9.1), 0.7.0 inside cython-blis 1.3.x
# (Thinc 8.3, spaCy 3.8). Any other runs every product on blis's default.
EXPERT_BLIS_VERSIONS = ("0.9.0", "0.7.0")

_AVX512 = frozenset({"avx512f", "avx512dq", "avx512bw", "avx512vl"})
_AVX2 = frozenset({"avx2", "fma"})
_AVX2_CONFIGS = ("haswell", "zen", "zen2", "zen3")   # AVX2 kernels with sup kernels
_AVX512_CONFIGS = ("skx",)                          # AVX-512 panels, no sup kernels
_ARM_CONFIGS = ("armsve", "a64fx", "firestorm", "thunderx2", "cortexa57", "cortexa53")
# The CPU flags each configuration's kernels need: on a CPU without them blis
# stops on an illegal instruction (its knl kernels use AVX-512ER, which only
# Xeon Phi has; the AMD Bulldozer family's use FMA4).
_CONFIG_FLAGS = {"skx": _AVX512, "zen4": _AVX512, "zen5": _AVX512,
                 "knl": frozenset({"avx512f", "avx512er", "avx512pf"}),
                 "armsve": frozenset({"sve"}), "a64fx": frozenset({"sve"}),
                 **{name: _AVX2 for name in _AVX2_CONFIGS},
                 "sandybridge": frozenset({"avx"}), "penryn": frozenset({"ssse3"}),
                 **{name: frozenset({"avx", "fma4"})
                    for name in ("bulldozer", "piledriver", "steamroller", "excavator")}}

# A product runs on the thin configuration when C has fewer than thin_rows rows
# or thin_cols columns (columns: along C's contiguous direction), or k < thin_k,
# or fewer than mid_cols columns and mid_rows rows, or fewer than thin_flops
# flops (2 m n k). The choice is made for the whole product, never per
# thread's tile, so the result is the same bits on any thread count. The rules
# depend on the BLIS version and on the CPU (how much faster its AVX-512 panels
# run than the AVX2 small/skinny kernels), so they are kept per (BLIS version,
# CPU kind) and were measured on each CPU named below; a CPU not measured gets
# the "default" kind.
#
# "default": an Intel Xeon (family 6 model 167, AVX-512 under KVM), C = A @ B^T,
# GFLOP/s haswell-sup / skx, 1 thread then 2 (BLIS 0.9.0): 32x288x64 81/45
# 111/60; 64x288x288 86/88 158/134; 128x288x96 80/102 150/132; 128x288x192
# 87/111 159/180; 600x288x64 84/146 163/217; k 128x10x512 91/79 75/56; the
# output layer 128x512x10 88/25 133/34. BLIS 0.7.0 (blis 1.3.x) has weaker sup
# kernels: skx won or tied everywhere but at a few columns (128x512x10: 34/27
# 47/37). Yet beside BLIS 0.7.0 no product goes to the thin context: its
# memory pools are sized for the context that last asked, and a product split
# over threads on skx right after one on haswell made blis abort ("bli_pool_
# finalize(): not all blocks were checked back in", Zen 5, 10x2000x512 after
# 10x2000x64; 0.9.0 does not). thin_cols 0 there, on every kind.
#
# "zen5": AMD EPYC family 26 (Zen 5: full-width AVX-512 datapath, 2 vCPUs).
# Every gemm of MLP and tok2vec steps at batches 16-2000 (benchmarks/
# gemm_sweep.py), haswell-sup runs on one thread (it is never split) at 25-140
# GFLOP/s, skx at up to 250 on one thread and 490 on two: the Xeon's rules sent
# the batch-96 step (96x784x512: 113 vs 354) and most batch-32/64 products to
# the slower kernels. sup still wins on tiny products (under ~1 MFLOP: 64x64x64
# 118 vs 90, 10x32x64 42 vs 14) and on thin outputs (128x512x10: 112 vs 57).
# BLIS 0.7.0's sup kernels lose to its skx panels on every shape there but
# 16-row, 10-column outputs (7 vs 6 GFLOP/s): every product runs on skx.
#
# Beside blis, thinc_fast's own dot-product kernel (src/include/dot_gemm.h: no
# packing, blocks of C in registers, a shuffle tree for the sums) takes
# A @ B^T products, a layer's forward pass: those with at most dot_rows rows,
# k >= dot_k and k >= dot_k_per_row x rows, and those of at most dot_cols
# columns (a thin output layer) with k >= dot_k, whatever the rows (dot_rows
# and dot_cols 0: never). gemm_sweep.py on "zen5", 2 threads, GFLOP/s (dot /
# best of blis): beside BLIS 0.9.0 32x784x64 346/131, 32x64x64 156/78,
# 128x288x288 353/299, 128x784x64 373/229, 256x288x96 411/301, 256x784x512
# 349/387 (loses); 600 rows mostly lose (600x512x512 331/433); thin outputs
# 128x512x10 260/114, 600x512x10 254/106. Beside BLIS 0.7.0 (spaCy's blis
# 1.3.x) alike: 32x784x64 387/135, 128x288x288 317/253, 600x512x10 270/89.
# Hence dot_rows 256, dot_k 64 on both. Its AVX2 build (3x4 blocks) against
# blis's haswell configuration, measured at 256 bits on the same Zen 5
# (BLIS_ARCH_TYPE=haswell, 2 threads): 32x784x64 237/173, 64x784x64 253/173,
# 128x288x288 230/175, 256x288x96 248/206, 600x784x64 260/220, 600x512x512
# 239/241; thin outputs lose (256x512x10 173/189): the "avx2" kind takes the
# dot rule without the thin-output part. On one thread it runs at 120-135
# GFLOP/s, 85-94% of the CPU's 256-bit peak. Beside BLIS 0.7.0's haswell it
# wins everywhere measured, up to 600 rows (32x784x64 249/117, 128x288x288
# 266/229, 600x288x288 263/230, 600x512x512 258/257) and most on thin
# outputs (128x512x10 187/64, 600x512x10 203/88): dot_rows 600, dot_cols 16.
# The short-k kernel's AVX2 build, the same way (2 threads, short-k /
# haswell): beside BLIS 0.9.0 it wins only at k = 10 (128x10x512 213/81,
# 600x10x512 233/86; it loses 0.7-1.0x elsewhere): smallk_k 16. Beside BLIS
# 0.7.0 also on input gradients up to 128 rows (32x288x96 203/58, 128x288x288
# 239/192, 128x512x784 230/234) and weight gradients with k <= 32 (64x32x784
# 163/128, 96x32x288 120/83), not at 512x32x512 (80/139) or k >= 128 with
# many columns (64x128x784 144/174): smallk_k 16, smallk_rows 128,
# smallk_trans_k 32.
#
# And its short-k kernel (src/include/smallk_gemm.h: no packing, 4 rows x 4
# vectors of C in registers) takes products with k <= smallk_k and B, C
# contiguous along n (weight gradients dY^T @ X at a small batch, input
# gradients through a narrow layer). On "zen5", one thread, GFLOP/s (short-k /
# blis), BLIS 0.9.0: 64x32x784 (dW, batch 32) 225/153, 32x64x784 258/143,
# 128x10x512 237/133, 10x32x64 89/43, 128x64x512 255/213, 600x32x288
# 247/216, but 512x128x784 206/242; BLIS 0.7.0 alike (128x64x512 208/211).
# The kernel has since learnt to walk B in panels that stay in L2, and its
# AVX-512 build to take 8 rows x 2 vectors per block for k > 16 (half the
# loads of B per multiply-add). Measured again on "zen5", 2 threads, short-k /
# blis large, GFLOP/s. Input gradients dY @ W (A contiguous along k): it
# wins from 32 rows to a few thousand (BLIS 0.9.0: 128x512x784 490/423,
# 300x288x288 493/232, 600x288x288 512/436, 2000x288x96 494/412, 600x288x96
# 409/283, 5000x512x2000 506/419; BLIS 0.7.0: 600x288x288 485/400, 2000x288x96
# 500/421) and loses at 20000x288x288 (437/465, A read from memory once per
# panel): smallk_rows 4096. Weight gradients dY^T @ X (A strided): it wins at
# up to 288 rows whatever the batch (288x600x288 493/382, 288x2000x288
# 493/389, 288x5000x288 443/381, 96x2000x288 476/346, 64x2000x512 351/337)
# and with more rows at a short batch (512x128x784 501/381, 512x600x512
# 497/457), not with both (512x700x512 436/459, 384x1000x512 392/465,
# 512x1000x512 372/459) nor at 200x128x300 (319/350): smallk_trans_rows 288
# with smallk_trans_k 8192, or m * k <= smallk_trans_area (512 x 600). Earlier,
# rows outermost and 4 x 4 blocks, it had lost beyond 64 rows either way.
# All 0 (off) where not measured.
_NO_DOT = {"dot_rows": 0, "dot_k": 256, "dot_k_per_row": 8, "dot_cols": 0, "smallk_k": 0,
           "smallk_rows": 0, "smallk_trans_rows": 0, "smallk_trans_k": 0, "smallk_trans_area": 0}
THIN_RULES = {
    ("0.9.0", "default"): {"thin_rows": 100, "thin_cols": 32, "thin_k": 16, "mid_rows": 256,
                           "mid_cols": 100, "thin_flops": 0.0, **_NO_DOT},
    ("0.7.0", "default"): {"thin_rows": 0, "thin_cols": 0, "thin_k": 0, "mid_rows": 0,
                           "mid_cols": 0, "thin_flops": 0.0, **_NO_DOT},
    ("0.9.0", "zen5"): {"thin_rows": 0, "thin_cols": 32, "thin_k": 0, "mid_rows": 0,
                        "mid_cols": 0, "thin_flops": 1e6,
                        "dot_rows": 256, "dot_k": 64, "dot_k_per_row": 0, "dot_cols": 16,
                        "smallk_k": 64, "smallk_rows": 4096, "smallk_trans_rows": 288,
                        "smallk_trans_k": 8192, "smallk_trans_area": 512 * 600},
    ("0.7.0", "zen5"): {"thin_rows": 0, "thin_cols": 0, "thin_k": 0, "mid_rows": 0,
                        "mid_cols": 0, "thin_flops": 0.0,
                        "dot_rows": 256, "dot_k": 64, "dot_k_per_row": 0, "dot_cols": 16,
                        "smallk_k": 64, "smallk_rows": 4096, "smallk_trans_rows": 288,
                        "smallk_trans_k": 8192, "smallk_trans_area": 512 * 600},
}
# "zen4": AMD EPYC family 25 model 17 (Zen 4, 2 vCPUs under KVM): AVX-512
# on two 256-bit FMA pipes (a zmm multiply-add takes both), so its FMA peak
# on zmm equals that on ymm, 117 GFLOP/s on one thread and 233 on two. blis
# detects zen2 there (0.9.0) or generic (0.7.0); its skx panels ran the
# step's products at 100-195 GFLOP/s on two threads, where thinc_fast's
# AVX-512 dot and short-k kernels ran most of them at 180-230 (80-98% of the
# peak): the Xeon's "default" rules, which send nearly all to blis, lost more
# than 10% on 206 of 240 shapes of gemm_sweep.py (geomean 0.65x the best
# kernel), Zen 5's rules 0.98x. Measured, 2 threads, GFLOP/s (ours / blis's
# better context; BLIS 0.9.0, then 0.7.0):
# - forward X @ W^T by dot products beyond Zen 5's 256 rows: 600x512x512
#   180/104 and 212/188, 600x784x512 195/131, 600x288x96 185/107 and 203/161,
#   1000x288x288 198/176 and 205/181, 1000x784x512 213/201 (0.7.0); at 2000
#   rows a tie (2000x512x512 181/178, 2000x288x288 179/190, 2000x784x64
#   201/181) but for k <= 96 (2000x96x288 154/183, 1000x64x64 88/116 beside
#   0.7.0): dot_rows 2048.
# - weight gradients dY^T @ X of 512 rows by the short-k kernel at any batch
#   (512x16x512 143/89, 512x128x512 182/153, 512x600x512 223/191, 512x1000x512
#   220/122, 512x2000x784 162/137; beside 0.7.0 512x1000x784 206/185, but
#   512x2000x512 124/173): smallk_trans_rows 512.
# - input gradients dY @ W by the short-k kernel up to 2000 rows
#   (2000x512x784 218/186, 1000x288x288 224/177 and 224/163), as on Zen 5.
# With these rules the sweep's chosen kernel was within 10% of the best on
# 292 of 300 shapes beside 0.9.0 (geomean 0.99x the best), 289 beside 0.7.0.
# The rest: k <= 96 at 600-2000 rows (above), and weight gradients into 300
# columns, which lost 11-30% until the short-k kernel's last columns were read
# by masked loads (200x600x300 135 -> 201, 200x2000x300 114 -> 178, against
# 106 and 101 on blis in the same run).
THIN_RULES[("0.9.0", "zen4")] = {**THIN_RULES[("0.9.0", "zen5")], "dot_rows": 2048,
                                 "smallk_trans_rows": 512}
THIN_RULES[("0.7.0", "zen4")] = {**THIN_RULES[("0.7.0", "zen5")], "dot_rows": 2048,
                                 "smallk_trans_rows": 512}

# "avx2": every product on blis's AVX2 configuration (haswell, zen*), plus
# thinc_fast's kernels where their AVX2 builds measured faster (see above).
# BLIS 0.9.0 has float small/skinny ("sup") kernels there, and a split
# product's tiles could round differently from the whole on them
# (blis_gemm.h), so the thin rules say which products run whole on one thread
# with sup and which run split on the packed kernels with sup off. Measured on
# the Zen 5 at 256 bits (THINC_FAST_ISA=avx2), GFLOP/s sup on one thread /
# packed on two: 32x784x64 122/101, 32x288x96 121/109, 64x64x64 117/72 (under
# ~4 MFLOP sup wins), 200x100x60 123/137, 16x784x512 96/109, 48x512x512
# 125/186, 64x512x784 128/206, 512x64x512 (A^T) 106/210, 128x512x48 133/161;
# on one thread 128x512x10 sup 87 / packed 41: hence thin_flops 4e6 and
# thin_cols 16, no row rule. The short-k kernel's AVX2 build (since it walks
# B in L2 panels) against that, 2 threads, GFLOP/s short-k / blis as above:
# input gradients dY @ W win at 32 rows (32x64x784 198/122, 32x288x96
# 203/119, 32x512x784 215/193), are mixed at 64 (64x64x784 223/208, 64x512x512
# 200/212) and lose from 128 (128x512x784 204/229, 600x64x288 217/242);
# weight gradients dY^T @ X win at k (the batch) <= 32 up to 288 rows
# (64x32x784 225/180, 96x32x288 214/157, 288x32x288 237/212, not 512x32x784
# 195/232) and at m x k <= 8192 (output dW 10x128x512 213/113, 64x128x784
# 235/218; 128x128x784 236/242 and 64x600x288 178/216 lose): smallk_rows 32,
# smallk_trans_rows 288 with smallk_trans_k 32, smallk_trans_area 8192.
#
# Then measured on a real AVX2 CPU, a Zen 3 (AMD EPYC family 25 model 1, 2
# vCPUs, blis detecting zen2 in BLIS 0.9.0 and generic in 0.7.0, where
# thinc_fast runs haswell), after the dot kernel's AVX2 build learnt
# near-equal column blocks for thin products (dot_gemm.h), 2 threads,
# medians of 5 interleaved rounds, GFLOP/s (the better of blis's contexts /
# ours; BLIS 0.9.0, then 0.7.0):
# - outputs of up to 32 columns, at any batch, by dot products: 600x512x10
#   56/108, 2000x512x10 51/104, 5000x288x10 44/97, 600x288x17 61/113,
#   600x288x32 77/100, 1000x512x24 65/90, 2000x64x16 53/63; 0.7.0 alike
#   (1000x512x24 47/73, 5000x288x10 27/62). At 50 columns it was mixed
#   (2000x288x50 77/84), at 64 lost (2000x288x64 108/94, 2000x96x64 103/81):
#   dot_cols 32 (Zen 5 at 256 bits had measured only 256x512x10, 189/173,
#   before the near-equal blocks).
# - an output layer's weight gradient at a large batch by the short-k
#   kernel: 10x2000x512 51/72 and 50/72, 64x600x64 65/88 and 59/86, not
#   96x600x288 (107/94, 107/80) nor 64x2000x64 (89/72): smallk_trans_area
#   20480 (m x k, 10 rows up to a batch of 2048) beside both BLIS versions.
# - beside BLIS 0.7.0, input gradients dY @ W of 128 rows lose on the
#   short-k kernel (128x288x288 106/89, 128x512x784 123/88) where Zen 5 at
#   256 bits had them win or tie (239/192, 230/234); at 64 rows a tie
#   (93/90): smallk_rows 64.
# - beside BLIS 0.7.0, forward products of more than 256 rows back on blis
#   (dot_rows 256, as beside 0.9.0; it was 600): spaCy's tok2vec shape
#   600x288x288 ran at 122-129/101-114 on 2 threads, 83-85/69 on one, and in
#   compare.py's spaCy row at 82 against NumPy's 123; 600x96x288 81/58. At
#   256 rows the dot kernel still won (256x288x288 72/85). (The Zen 5 at 256
#   bits, with twice the Zen 3's load bandwidth, had 600x288x288 at 230/263:
#   the Zen 3's two 256-bit loads a cycle are those of most AVX2 CPUs.)
# Products these rules do not reach were within the noise of this VM (5-15%
# from one round to the next).
THIN_RULES[("0.9.0", "avx2")] = {**THIN_RULES[("0.9.0", "default")], "thin_rows": 0,
                                 "thin_cols": 16, "thin_k": 16, "mid_rows": 0, "mid_cols": 0,
                                 "thin_flops": 4e6, "dot_rows": 256,
                                 "dot_k": 64, "dot_k_per_row": 0, "dot_cols": 32, "smallk_k": 16,
                                 "smallk_rows": 32, "smallk_trans_rows": 288,
                                 "smallk_trans_k": 32, "smallk_trans_area": 20480}
THIN_RULES[("0.7.0", "avx2")] = {**THIN_RULES[("0.7.0", "default")], "dot_rows": 256,
                                 "dot_k": 64, "dot_k_per_row": 0, "dot_cols": 32,
                                 "smallk_k": 16, "smallk_rows": 64, "smallk_trans_rows": 128,
                                 "smallk_trans_k": 32, "smallk_trans_area": 20480}


def cpu_kind(vendor: str, family: int, isa: Optional[str]) -> str:
    """Which measured rule set of THIN_RULES serves this CPU: "zen5" for AMD
    family 26 (0x1A) and later with AVX-512, "zen4" for AMD family 25 (0x19)
    with AVX-512 (Zen 4; Zen 3, also family 25, has no AVX-512), "avx2" for
    any x86 CPU whose widest vectors are AVX2 (Zen 1-3, Intel before AVX-512,
    or AVX-512 hidden by a hypervisor), else "default"."""
    if vendor == "AuthenticAMD" and family >= 26 and isa == "avx512":
        return "zen5"
    if vendor == "AuthenticAMD" and family == 25 and isa == "avx512":
        return "zen4"
    if isa == "avx2":
        return "avx2"
    return "default"


def thin_rules(inner_version: Optional[str], kind: str) -> Dict[str, Any]:
    """The thin-product thresholds for a BLIS version and a CPU kind (a BLIS
    version not in the table is treated as 0.9.0, a kind as "default")."""
    version = inner_version if inner_version in EXPERT_BLIS_VERSIONS else "0.9.0"
    return dict(THIN_RULES.get((version, kind), THIN_RULES[(version, "default")]))


_state: Dict[str, Any] = {}


def _blis_path() -> Optional[str]:
    """The file of blis's extension module, found without importing blis
    (importing ``blis`` initialises it, and then BLIS_ARCH_TYPE is read)."""
    spec = importlib.util.find_spec("blis")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "cy" + suffix)
            if os.path.exists(path):
                return path
    return None


def _blis_library() -> Optional[ctypes.CDLL]:
    path = _blis_path()
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)  # loading runs no blis code; bli_init comes with `import blis`
    except OSError:
        return None


def _arch_name(lib: ctypes.CDLL, arch_id: int) -> Optional[str]:
    lib.bli_arch_string.restype = ctypes.c_char_p
    name = lib.bli_arch_string(arch_id)
    return name.decode() if name else None


def _arch_names(lib: Optional[ctypes.CDLL]) -> Dict[str, int]:
    """blis's configuration names and their arch_t numbers."""
    names: Dict[str, int] = {}
    if lib is None or not hasattr(lib, "bli_arch_string"):
        return names
    for arch_id in range(64):
        name = _arch_name(lib, arch_id)
        if name is None:
            break
        names[name] = arch_id
    return names


def _registered(lib: Optional[ctypes.CDLL], names: Dict[str, int]) -> FrozenSet[str]:
    """The configurations compiled into this blis (their context init functions exist)."""
    if lib is None:
        return frozenset()
    return frozenset(n for n in names if hasattr(lib, f"bli_cntx_init_{n}"))


def _cpuinfo() -> Dict[str, str]:
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first CPU is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_flags() -> FrozenSet[str]:
    """The CPU feature flags from /proc/cpuinfo ("flags" on x86, "Features" on ARM)."""
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("Features") or "").split())


ISA_ENV = "THINC_FAST_ISA"
_ISA_CAPS = {"avx512": frozenset(), "avx2": _AVX512}  # the flags each cap hides


def isa_cap() -> Optional[str]:
    """The cap ``THINC_FAST_ISA`` puts on the vector instructions thinc_fast's
    gemm uses: "avx2" keeps an AVX-512 CPU on its AVX2 (256-bit) kernels (blis's
    AVX2 configuration, the AVX2 builds of the dot and short-k kernels, the FMA
    peak measured on ymm registers), e.g. to measure the AVX2 path or to avoid
    a CPU's AVX-512 clock penalty; "avx512" (or unset) lets it use the widest
    the CPU has. A cap never adds instructions the CPU lacks. The elementwise
    kernels (Adam, activations) still pick their build by the CPU: they are
    bound by memory, not by the vector width."""
    value = os.environ.get(ISA_ENV, "").strip().lower()
    if not value:
        return None
    if value not in _ISA_CAPS:
        raise ValueError(f"{ISA_ENV}={os.environ[ISA_ENV]!r} is not a vector instruction set "
                         f"thinc_fast can cap its kernels at: use one of "
                         f"{', '.join(sorted(_ISA_CAPS))}, or unset it for the widest the CPU runs")
    return value


def usable_flags(flags: Optional[FrozenSet[str]] = None) -> FrozenSet[str]:
    """The CPU's feature flags less those ``THINC_FAST_ISA`` hides (see isa_cap)."""
    flags = cpu_flags() if flags is None else flags
    cap = isa_cap()
    return flags - _ISA_CAPS[cap] if cap else flags


def cpu_model() -> str:
    """The CPU's name, vendor and family/model numbers, as far as the OS says."""
    info = _cpuinfo()
    name = info.get("model name") or info.get("Model") or platform.processor() or "unknown CPU"
    extra = []
    if info.get("vendor_id"):
        extra.append(info["vendor_id"])
    if info.get("cpu family") and info.get("model"):
        extra.append(f"family {info['cpu family']} model {info['model']}")
    if info.get("CPU part"):
        extra.append(f"part {info['CPU part']}")
    return name + (f" ({', '.join(extra)})" if extra else "")


def isa_class(flags: FrozenSet[str], machine: Optional[str] = None) -> Optional[str]:
    """"avx512", "avx2", "sve", "neon" or None: the widest vector ISA blis has kernels for."""
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64", "i386", "i686"):
        if _AVX512 <= flags:
            return "avx512"
        if _AVX2 <= flags:
            return "avx2"
        return None
    if machine in ("aarch64", "arm64"):
        if "sve" in flags:
            return "sve"
        return "neon"  # NEON (asimd) is part of ARMv8-A
    return None


def choose(isa: Optional[str], detected: Optional[str], registered: FrozenSet[str]) -> Dict[str, Any]:
    """The configuration for large products and the one for thin ones, and why.

    Pure: from the ISA class, blis's own detection and the configurations this
    blis has, so tests can check every CPU kind."""
    large, thin, reason = detected, None, f"blis's own detection ({detected})"
    if isa == "avx512" and "skx" in registered:
        if detected != "skx":
            large = "skx"
            reason = f"the CPU has AVX-512 (avx512f/dq/bw/vl) but blis detected {detected}"
        else:
            reason = "blis detected skx, which the CPU's AVX-512 runs"
    elif isa in ("avx512", "avx2"):
        if detected not in _AVX2_CONFIGS + _AVX512_CONFIGS and "haswell" in registered:
            large = "haswell"
            reason = f"the CPU has AVX2 and FMA but blis detected {detected}"
        else:
            reason = f"blis detected {detected}, which serves the CPU's {isa.upper()}"
    elif isa in ("sve", "neon") and detected == "generic":
        for name in (("armsve",) if isa == "sve" else ()) + ("cortexa57",):
            if name in registered:
                large = name
                reason = f"the CPU has {isa.upper()} but blis detected generic"
                break
    if large in _AVX512_CONFIGS and isa == "avx512" and "haswell" in registered:
        thin = "haswell"
    return {"large": large, "thin": thin, "reason": reason}


def configure() -> Dict[str, Any]:
    """Decide blis's configuration before blis initialises (once); returns the decision:
    choice (the configuration of large products), thin (of thin ones, or None),
    source ("user", "thinc_fast" or "blis"), detected (blis's own guess), reason."""
    if _state:
        return public_state()
    lib = _blis_library()
    names = _arch_names(lib)
    registered = _registered(lib, names)
    detected = None
    if lib is not None and hasattr(lib, "bli_cpuid_query_id"):
        lib.bli_cpuid_query_id.restype = ctypes.c_int
        detected = _arch_name(lib, lib.bli_cpuid_query_id())
    flags = cpu_flags()
    isa = isa_class(usable_flags(flags))
    _state.update(detected=detected, isa=isa, flags=flags, names=names, env_set=False,
                  registered=registered,
                  gemm=None, early="blis" in sys.modules)
    info = _cpuinfo()
    try:
        family = int(info.get("cpu family", "0"))
    except ValueError:
        family = 0
    kind = cpu_kind(info.get("vendor_id", ""), family, isa)
    _state.update(thin_rules(_inner_version(lib), kind), cpu_kind=kind)
    user = os.environ.get("BLIS_ARCH_TYPE", "").strip()
    problem = _unusable_arch(user, names, registered, flags) if user else None
    if problem:
        from ..errors import warn_at_caller

        del os.environ["BLIS_ARCH_TYPE"]
        late = ""
        if _state["early"]:  # blis was imported first: it may have read the value already
            active = active_arch()
            if active is None or _unusable_arch(active, names, registered, flags):
                late = (f"; but blis, imported before thinc_fast, had read it already ({active}), "
                        "and its own gemm (Thinc's NumpyOps) runs on it: unset it before "
                        "Python starts")
        warn_at_caller(f"thinc_fast: BLIS_ARCH_TYPE={user!r} {problem}, on which blis's kernels "
                       "would abort or stop on an illegal instruction; thinc_fast's gemm "
                       "ignores it and chooses as without it (unset it, or name one of: "
                       f"{', '.join(usable_archs(names, registered, flags))}){late}",
                       RuntimeWarning)
        user = ""
    if user:
        name = _arch_by_value(user, names)
        if user in names:  # blis 0.9 reads the variable with strtol: a name reads as 0 (skx)
            os.environ["BLIS_ARCH_TYPE"] = str(names[user])
        _state.update(source="user", large=name or user, thin=None,
                      reason=f"BLIS_ARCH_TYPE={user} set by the user (every product runs on it)")
    else:
        decision = choose(isa, detected, registered)
        _state.update(decision, source="blis" if decision["large"] == detected else "thinc_fast")
        if _state["source"] == "thinc_fast" and decision["large"] in names and not _state["early"]:
            os.environ["BLIS_ARCH_TYPE"] = str(names[decision["large"]])
            _state["env_set"] = True
    return public_state()


def _unusable_arch(user: str, names: Dict[str, int], registered: FrozenSet[str],
                   flags: FrozenSet[str]) -> Optional[str]:
    """Why blis cannot run the configuration `user` (a name or blis's number
    for one) names on this CPU, or None when it can or when this blis cannot
    be asked (no names: an unknown build)."""
    if not names or not registered:
        return None
    try:
        if int(user) < 0:
            return None  # blis's "choose for yourself"
    except ValueError:
        pass
    name = _arch_by_value(user, names)
    if name is None:
        return "names no configuration blis knows"
    if name not in registered:
        return f"names {name!r}, which this blis was not built with"
    need = _CONFIG_FLAGS.get(name, frozenset())
    if flags and not need <= flags:
        return f"names {name!r}, whose kernels need {', '.join(sorted(need - flags))}, which this CPU lacks"
    return None


def _arch_by_value(value: str, names: Dict[str, int]) -> Optional[str]:
    """The configuration a BLIS_ARCH_TYPE value names: a name, or blis's number
    for one (read as blis reads it: "03" is 3); None when it names none."""
    if value in names:
        return value
    try:
        number = int(value)
    except ValueError:
        return None
    return next((n for n, i in names.items() if i == number), None)


def usable_archs(names: Dict[str, int], registered: FrozenSet[str],
                 flags: FrozenSet[str]) -> List[str]:
    """The configurations this blis has that this CPU can run, by name."""
    return sorted(n for n in registered if _unusable_arch(n, names, registered, flags) is None)


def public_state() -> Dict[str, Any]:
    return {"choice": _state.get("large"), "thin": _state.get("thin"),
            "source": _state.get("source"), "detected": _state.get("detected"),
            "reason": _state.get("reason")}


def gemm_plan() -> Dict[str, Any]:
    """What numpy_ops loads: configuration names, their arch_t numbers, thresholds."""
    configure()
    names = _state.get("names", {})
    registered = _state.get("registered", frozenset())
    large, thin = _state.get("large"), _state.get("thin")
    # only configurations compiled into this blis: BLIS 0.7.0 cannot be asked
    # whether one is registered, and reading an unregistered context crashes
    return {"large": large, "large_id": names.get(large) if large in registered else None,
            "thin": thin, "thin_id": names.get(thin) if thin in registered else None,
            "thin_rows": _state["thin_rows"], "thin_cols": _state["thin_cols"],
            "thin_k": _state["thin_k"], "mid_rows": _state["mid_rows"],
            "mid_cols": _state["mid_cols"], "thin_flops": _state["thin_flops"],
            "dot_rows": _state["dot_rows"], "dot_k": _state["dot_k"],
            "dot_k_per_row": _state["dot_k_per_row"], "dot_cols": _state["dot_cols"],
            "smallk_k": _state["smallk_k"],
            "smallk_rows": _state["smallk_rows"], "smallk_trans_rows": _state["smallk_trans_rows"],
            "smallk_trans_k": _state["smallk_trans_k"],
            "smallk_trans_area": _state["smallk_trans_area"]}


def after_blis_init() -> None:
    """Make blis read BLIS_ARCH_TYPE now (it reads it at its first query, not at
    bli_init), then drop the value we set, so child processes choose afresh."""
    active_arch()
    if _state.get("env_set"):
        names = _state.get("names", {})
        if os.environ.get("BLIS_ARCH_TYPE") == str(names.get(_state.get("large"))):
            del os.environ["BLIS_ARCH_TYPE"]
        _state["env_set"] = False


EXPERT_FUNCTIONS = ("bli_sgemm_ex", "bli_init_once", "bli_gks_lookup_id", "bli_gks_lookup_nat_cntx",
                    "bli_info_get_version_str", "bli_info_get_int_type_size",
                    "bli_rntm_init_from_global")


def expert_functions() -> Optional[List[Optional[int]]]:
    """The addresses of the blis functions src/include/blis_gemm.h declares (in
    that order; None for one missing), from the loaded blis library; None
    without blis. numpy_ops calls them through those declarations."""
    lib = _blis_library()
    if lib is None:
        return None
    out: List[Optional[int]] = []
    for name in EXPERT_FUNCTIONS:
        fn = getattr(lib, name, None)
        out.append(ctypes.cast(fn, ctypes.c_void_p).value if fn is not None else None)
    return out


def record_gemm_setup(status: Dict[str, Any]) -> None:
    """numpy_ops reports what it loaded (expert interface, contexts)."""
    _state["gemm"] = dict(status)


def active_arch() -> Optional[str]:
    """The configuration blis uses by default in this process (after it was imported)."""
    lib = _blis_library()
    if lib is None or not hasattr(lib, "bli_arch_query_id"):
        return None
    lib.bli_arch_query_id.restype = ctypes.c_int
    return _arch_name(lib, lib.bli_arch_query_id())


def _inner_version(lib: Optional[ctypes.CDLL]) -> Optional[str]:
    if lib is None or not hasattr(lib, "bli_info_get_version_str"):
        return None
    lib.bli_info_get_version_str.restype = ctypes.c_char_p
    return lib.bli_info_get_version_str().decode()


def blis_inner_version() -> Optional[str]:
    """The BLIS version inside the installed blis package ("0.9.0", "0.7.0"), or None."""
    return _inner_version(_blis_library())


def blis_version() -> str:
    try:
        from importlib.metadata import version

        package = version("blis")
    except Exception:  # pragma: no cover - metadata missing
        package = "?"
    inner = blis_inner_version()
    return f"blis {package}" + (f" (BLIS {inner})" if inner else "")


def _thin_rule() -> str:
    parts = [f"{label} < {_state[key]}" for label, key in
             (("C rows", "thin_rows"), ("C columns", "thin_cols"), ("k", "thin_k"))
             if _state[key] > 0]
    if _state.get("mid_cols") and _state.get("mid_rows"):
        parts.append(f"(columns < {_state['mid_cols']} and rows < {_state['mid_rows']})")
    if _state.get("thin_flops"):
        parts.append(f"2mnk < {_state['thin_flops']:.3g} flops")
    return " or ".join(parts) or "never"


def _dot_rule() -> str:
    if not _state.get("dot_rows"):
        return ""
    cols = (f" (or at most {_state['dot_cols']} columns and k >= {_state['dot_k']})"
            if _state.get("dot_cols") else "")
    k = (f"max({_state['dot_k']}, {_state['dot_k_per_row']} x rows)" if _state.get("dot_k_per_row")
         else str(_state["dot_k"]))
    return (f"; A @ B^T with at most {_state['dot_rows']} rows and k >= {k}{cols} by "
            f"thinc_fast's dot kernel")


def _smallk_rule() -> str:
    if not (_state.get("smallk_k") or _state.get("smallk_rows")
            or _state.get("smallk_trans_rows")):
        return ""
    trans = (f", or at most {_state['smallk_trans_rows']} rows and k <= "
             f"{_state['smallk_trans_k']} with A strided" if _state.get("smallk_trans_rows")
             and _state.get("smallk_trans_k") else "")
    if _state.get("smallk_trans_area"):
        trans += f" (or m * k <= {_state['smallk_trans_area']})" if trans else (
            f", or m * k <= {_state['smallk_trans_area']} with A strided")
    rows = (f", or at most {_state['smallk_rows']} rows with A contiguous along k"
            if _state.get("smallk_rows") else "")
    return (f"; B and C contiguous along n with k <= {_state['smallk_k']}{rows}{trans}, "
            f"by thinc_fast's short-k kernel")


def _loaded_libraries(part: str) -> List[str]:
    """Paths of the shared libraries this process has mapped whose file name
    contains `part` (Linux: /proc/self/maps; elsewhere none)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if part in line}
    except OSError:
        return []
    return sorted(p for p in paths if part in os.path.basename(p) and os.path.exists(p))


def numpy_blas() -> Dict[str, Any]:
    """NumPy's BLAS as loaded now: its name and version (NumPy's build record),
    and for OpenBLAS the kernel set it runs ("core": OpenBLAS picks one by the
    CPU at load time unless ``OPENBLAS_CORETYPE`` names one) and its threads.
    Benchmarks name it beside every ratio against NumPy: OpenBLAS on its
    Haswell kernels runs an AVX-512 CPU at half its vector width."""
    import numpy

    found: Dict[str, Any] = {"name": None, "version": None, "core": None, "threads": None,
                             "coretype_env": os.environ.get("OPENBLAS_CORETYPE") or None}
    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        found.update(name=blas.get("name"), version=blas.get("version"))
    except Exception:  # older NumPy, or a build without the record
        pass
    for path in _loaded_libraries("openblas"):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", "_64", ""):
                corename = getattr(lib, f"{prefix}get_corename{suffix}", None)
                if corename is None:
                    continue
                corename.restype = ctypes.c_char_p
                found["core"] = (corename() or b"").decode(errors="replace") or None
                threads = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                if threads is not None:
                    threads.restype = ctypes.c_int
                    found["threads"] = threads()
                return found
    return found


def numpy_blas_line(blas: Optional[Dict[str, Any]] = None) -> str:
    """numpy_blas() in words, e.g. "scipy-openblas 0.3.31, Haswell kernels
    (OPENBLAS_CORETYPE=Haswell), 2 threads"."""
    blas = numpy_blas() if blas is None else blas
    text = " ".join(str(v) for v in (blas["name"], blas["version"]) if v) or "unknown"
    if blas["core"]:
        text += f", {blas['core']} kernels"
        if blas["coretype_env"]:
            text += f" (OPENBLAS_CORETYPE={blas['coretype_env']})"
    if blas["threads"]:
        text += f", {blas['threads']} thread{'s' if blas['threads'] != 1 else ''}"
    return text


_SHOWN_FLAGS = ("avx512f", "avx512dq", "avx512bw", "avx512vl", "avx2", "fma", "asimd", "sve")


def summary() -> str:
    """One line: the CPU and the blis choice (benchmarks print it first)."""
    configure()
    gemm = _state.get("gemm") or {}
    large = gemm.get("large") or _state.get("large")
    thin = gemm.get("thin")
    per_shape = f" large / {thin} thin ({_thin_rule()})" if thin else ""
    return (f"CPU: {cpu_model()}; {blis_version()}: {large}{per_shape}{_dot_rule()}{_smallk_rule()} "
            f"[{_state.get('source')}: {_state.get('reason')}]")


def info_lines() -> List[str]:
    """What ``thinc-fast info`` prints about the CPU and blis: the CPU model, the
    flags found, the configuration chosen per shape and why."""
    configure()
    flags = _state.get("flags", frozenset())
    shown = [f for f in _SHOWN_FLAGS if f in flags]
    isa = _state.get("isa")
    gemm = _state.get("gemm") or {}
    lines = [
        f"CPU: {cpu_model()}",
        f"CPU flags: {' '.join(shown) or 'none of ' + '/'.join(_SHOWN_FLAGS)}"
        f" -> {isa.upper() if isa else 'no vector ISA blis has kernels for'}"
        + (f" ({ISA_ENV}={isa_cap()})" if isa_cap() else ""),
        f"{blis_version()}; blis's own detection: {_state.get('detected')}",
        f"blis configuration: {_state.get('large')} ({_state.get('source')}: {_state.get('reason')})",
    ]
    if _state.get("early"):
        lines.append(f"blis was imported before thinc_fast: its process-wide default stays "
                     f"{active_arch()}")
    if not gemm:
        lines.append("gemm: not loaded yet")
    elif not gemm.get("expert"):
        lines.append(f"gemm: blis's basic interface on its default configuration ({gemm.get('large')}); "
                     f"per-shape choice off (expert interface not loaded, code {gemm.get('load_code')}: "
                     f"needs BLIS {' or '.join(EXPERT_BLIS_VERSIONS)}, found {blis_inner_version()})")
    elif gemm.get("thin"):
        lines.append(f"gemm: large products on {gemm.get('large')}, thin ones ({_thin_rule()}; "
                     f"rules for {_state.get('cpu_kind')} CPUs; "
                     f"decided for the whole product) on {gemm.get('thin')}, whose small/skinny kernels "
                     f"{gemm.get('large')} lacks")
    else:
        lines.append(f"gemm: every product on {gemm.get('large')}")
        if (gemm.get("large_sup_off") and gemm.get("large") in _AVX2_CONFIGS
                and _thin_rule() != "never"):
            lines.append(f"gemm: blis's small/skinny kernels only for thin products ({_thin_rule()}), "
                         f"whole on one thread; the rest on its packed kernels, whole or split "
                         f"(the same bits on any thread count)")
    if gemm.get("expert") and _dot_rule():
        lines.append(f"gemm: {_dot_rule()[2:]}")
    if gemm and _smallk_rule():
        lines.append(f"gemm: {_smallk_rule()[2:]}")
    return lines
