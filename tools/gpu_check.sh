#!/usr/bin/env bash
# The GPU check of issue 29, in one command, on a machine with an NVIDIA GPU and
# no internet (everything it installs is carried in as wheels):
#
#   tools/gpu_check.sh WHEEL_DIR [OUT_DIR]
#
# WHEEL_DIR holds the thinc_fast wheel (tools/build_wheel.sh) and the wheels it
# needs: its dependencies, cupy-cuda12x (or cupy-cuda13x with EXTRA=cuda13x),
# pytest; optionally thinc==9.1.1 with hypothesis and mock (Thinc's test_ops)
# and a CUDA build of torch (the MLP comparison). On a machine with internet:
#   pip download -d wheels dist/thinc_fast-*.whl "cupy-cuda12x>=13" pytest \
#       "thinc==9.1.1" hypothesis mock torch        # (torch: the CUDA build)
# OUT_DIR (default ./gpu_check_out) gets a fresh venv, every step's log, and
# gpu_check.md: the table of results (also printed at the end).
#
# Steps (each one runs even when an earlier one failed; the exit status is 1
# if any step failed):
#   1. install: the wheel with its [cuda12x] extra, pytest, the optional extras
#   2. device: nvidia-smi, CuPy's view of the GPU, the kernels of kernels.cu
#      compiled by NVRTC (cupy.RawModule)
#   3. suite: the repository's tests/ against the installed wheel with
#      --cupy=real: every test that runs on the CPU stand-in for CuPy (the Ops
#      and sequence tests on CupyOps, every kernel with any launch shape, the
#      fused optimizer, the training comparisons with NumpyOps, the layers)
#      runs on the GPU instead, plus the GPU-only tests
#   4. seed loop: the README's digits MLP on the GPU (tools/gpu_seed_loop.py)
#   5. Thinc's backends/test_ops.py against thinc_fast (whose CupyOps it then
#      includes), beside real Thinc's run (tests/thinc_suite/run.py), if the
#      Thinc 9.1.1 wheel was carried in
#   6. benchmarks (tools/gpu_bench.py): fused Adam as a share of the measured
#      copy bandwidth (bar: 85%), gemm, MLP epochs against PyTorch CUDA (bar: 1.0x)
#
# Environment: PYTHON (default python3), EXTRA (default cuda12x),
# GPU_CHECK_PYTHON=/path/to/python to skip the venv and use an environment that
# already has everything, GPU_CHECK_PYTEST_ARGS (added to the suite's pytest
# command), GPU_CHECK_BENCH_ARGS (added to gpu_bench.py's), GPU_CHECK_STEPS (the
# step names to run, default "install device suite seed thinc bench").
set -uo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac
repo=$(cd "$(dirname "$0")/.." && pwd)
wheels=$(cd "$1" 2>/dev/null && pwd) || { echo "no such wheel folder: $1" >&2; exit 2; }
out=${2:-$PWD/gpu_check_out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
extra=${EXTRA:-cuda12x}
steps=${GPU_CHECK_STEPS:-install device suite seed thinc bench}
table="$out/gpu_check.md"
failed=0
: > "$out/steps.tsv"

want() { case " $steps " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# record STEP STATUS DETAIL: one row of the results table
record() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$out/steps.tsv"
    if [ "$2" = FAIL ]; then failed=1; fi
    echo "== $1: $2 $3"
}

# run STEP TIMEOUT CMD...: the command's output goes to OUT/STEP.log
run() {
    local step=$1 limit=$2
    shift 2
    echo "== $step: $*"
    timeout "$limit" "$@" > "$out/$step.log" 2>&1
    local rc=$?
    tail -n 5 "$out/$step.log"
    return $rc
}

# --------------------------------------------------------------- 1. install
if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
    py=$GPU_CHECK_PYTHON
    record install SKIP "using $py as it is"
else
    py="$out/venv/bin/python"
    if want install; then
        wheel=$(ls "$wheels"/thinc_fast-*.whl 2>/dev/null | sort -V | tail -n 1)
        if [ -z "$wheel" ]; then
            record install FAIL "no thinc_fast-*.whl in $wheels"
        else
            rm -rf "$out/venv"
            "${PYTHON:-python3}" -m venv "$out/venv"
            pip=("$out/venv/bin/pip" install -q --no-index --find-links "$wheels")
            if run install 1800 "${pip[@]}" "${wheel}[$extra]" pytest; then
                optional=""
                for pkg in "thinc==9.1.1" hypothesis mock torch; do
                    if "${pip[@]}" "$pkg" >> "$out/install.log" 2>&1; then
                        optional="$optional $pkg"
                    else
                        optional="$optional (no ${pkg%%=*})"
                    fi
                done
                record install PASS "$(basename "$wheel")[$extra], pytest;$optional"
            else
                record install FAIL "see install.log"
            fi
        fi
    fi
fi
if [ ! -x "$py" ] && ! command -v "$py" > /dev/null; then
    record setup FAIL "no Python at $py: nothing else can run"
    steps=""
fi

# ---------------------------------------------------------------- 2. device
if want device; then
    command -v nvidia-smi > /dev/null && nvidia-smi > "$out/nvidia-smi.txt" 2>&1
    if run device 900 "$py" - <<'EOF'
import time
import cupy
from thinc_fast import __version__
from thinc_fast.backends._cuda import KERNEL_NAMES, cuda_source_path, get_kernel
from thinc_fast.backends.cupy_ops import gpu_status

problem = gpu_status()
if problem is not None:
    raise SystemExit(f"no usable GPU: {problem}")
device = cupy.cuda.Device()
props = cupy.cuda.runtime.getDeviceProperties(device.id)
name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
print(f"thinc_fast {__version__}, CuPy {cupy.__version__}, CUDA runtime "
      f"{cupy.cuda.runtime.runtimeGetVersion()}, {name}, compute capability "
      f"{device.compute_capability}, {cupy.cuda.runtime.getDeviceCount()} device(s)")
start = time.perf_counter()
for kernel in KERNEL_NAMES:
    get_kernel(kernel)
print(f"NVRTC compiled the {len(KERNEL_NAMES)} kernels of {cuda_source_path()} in "
      f"{time.perf_counter() - start:.1f} s")
EOF
    then
        record device PASS "$(grep -m1 '^thinc_fast' "$out/device.log")"
    else
        record device FAIL "$(tail -n 1 "$out/device.log")"
    fi
fi

# ----------------------------------------------------------------- 3. suite
if want suite; then
    # from outside the checkout, so that the installed wheel is what runs (as CI)
    # shellcheck disable=SC2086
    (cd "$out" && run suite 5400 "$py" -m pytest "$repo/tests" -p no:cacheprovider -q \
        --cupy=real -rfEs --junitxml="$out/suite.xml" ${GPU_CHECK_PYTEST_ARGS:-})
    rc=$?
    summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|[0-9]+ (passed|failed|error)' "$out/suite.log" | tail -n 1)
    if [ $rc -eq 0 ]; then record suite PASS "$summary"; else record suite FAIL "${summary:-rc $rc}, see suite.log"; fi
fi

# ------------------------------------------------------------- 4. seed loop
if want seed; then
    if run seed 900 "$py" "$repo/tools/gpu_seed_loop.py"; then
        record seed PASS "$(tail -n 1 "$out/seed.log")"
    else
        record seed FAIL "$(tail -n 1 "$out/seed.log")"
    fi
fi

# ------------------------------------------------------ 5. Thinc's test_ops
if want thinc; then
    if "$py" -c "import thinc, sys; sys.exit(thinc.__version__ != '9.1.1')" 2> /dev/null; then
        (cd "$out" && run thinc 3600 "$py" "$repo/tests/thinc_suite/run.py" \
            --files backends/test_ops.py --show-failures)
        rc=$?
        summary=$(grep -iE 'thinc_fast|passed|failed' "$out/thinc.log" | tail -n 2 | tr '\n' ' ')
        if [ $rc -eq 0 ]; then record thinc PASS "$summary"; else record thinc FAIL "rc $rc: $summary"; fi
    else
        record thinc SKIP "Thinc 9.1.1 is not installed (carry its wheel, hypothesis and mock)"
    fi
fi

# ------------------------------------------------------------- 6. benchmarks
if want bench; then
    # shellcheck disable=SC2086
    if run bench 3600 "$py" "$repo/tools/gpu_bench.py" --out "$out" ${GPU_CHECK_BENCH_ARGS:-}; then
        record bench PASS "$(grep -m1 'fused Adam at' "$out/gpu_bench.md" | sed 's/^- //')"
    else
        record bench FAIL "see bench.log"
    fi
fi

# ------------------------------------------------------------------ the table
{
    echo "# GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n))"
    echo
    [ -s "$out/device.log" ] && { head -n 1 "$out/device.log"; echo; }
    echo "| step | result | detail |"
    echo "|---|---|---|"
    while IFS=$'\t' read -r step status detail; do
        echo "| $step | $status | ${detail//|//} |"
    done < "$out/steps.tsv"
    if [ -s "$out/gpu_bench.md" ]; then
        echo
        cat "$out/gpu_bench.md"
    fi
    echo
    echo "Logs: $out/*.log; suite results: $out/suite.xml"
} > "$table"
echo
cat "$table"
exit $failed
