"""Before/after: benchmarks/compare.py's thinc_fast rows for two installs.

    python tools/ab_compare.py BEFORE_PYTHON AFTER_PYTHON [--pairs 4] [--only adam,mlp_big,mlp_small]

Each python is an interpreter with a thinc_fast installed (e.g. a venv holding
the old wheel and one holding the new). compare.py runs in one process per
install, alternating A B B A A B ... so that a shared machine's noise hits both
alike; it runs from outside the checkout, so each side imports its installed
package. Prints every run's thinc_fast medians, then per row, for each side,
the median over runs of compare.py's medians and the minimum over runs of its
minima, and after/before of each (< 1 means the new one is faster). On a
machine shared with other work the minima are the steadier figure.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

COMPARE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "compare.py")
ROW = re.compile(r"^  (thinc_fast(?: \([^)]*\))?)\s+([\d.]+)(us|ms|s)\s+([\d.]+)-([\d.]+)\s")
SCALE = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def run_once(python, only, rounds):
    """{row title / contestant: (median, min) seconds} from one compare.py run."""
    with tempfile.TemporaryDirectory() as cwd:  # not the checkout: import the installed package
        out = subprocess.run([python, os.path.abspath(COMPARE), "--only", only, "--rounds", str(rounds)],
                             cwd=cwd, capture_output=True, text=True, check=True).stdout
    rows, title = {}, None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            title = line.split(" (triad")[0]
        m = ROW.match(line)
        if m and title:
            unit = SCALE[m.group(3)]
            rows[f"{title} / {m.group(1)}"] = (float(m.group(2)) * unit, float(m.group(4)) * unit)
    return out.splitlines()[0], rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--pairs", type=int, default=4, help="runs per side")
    p.add_argument("--rounds", type=int, default=3, help="compare.py --rounds")
    p.add_argument("--only", default="adam,mlp_big,mlp_small", help="compare.py --only")
    args = p.parse_args()
    sides = {"before": args.before, "after": args.after}
    results = {"before": [], "after": []}
    for i in range(args.pairs):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        for side in order:
            head, rows = run_once(sides[side], args.only, args.rounds)
            results[side].append(rows)
            print(f"run {i + 1} {side:<6} " + "; ".join(f"{k}: {v[0] * 1e3:.2f} ms" for k, v in rows.items()),
                  flush=True)
    print()
    print(f"{'row (ms)':<64} {'median: before':>14} {'after':>9} {'a/b':>6}"
          f" {'min: before':>12} {'after':>9} {'a/b':>6}")
    for key in results["before"][0]:
        bm = statistics.median(r[key][0] for r in results["before"])
        am = statistics.median(r[key][0] for r in results["after"])
        bl = min(r[key][1] for r in results["before"])
        al = min(r[key][1] for r in results["after"])
        print(f"{key[:64]:<64} {bm * 1e3:>14.2f} {am * 1e3:>9.2f} {am / bm:>6.3f}"
              f" {bl * 1e3:>12.2f} {al * 1e3:>9.2f} {al / bl:>6.3f}")


if __name__ == "__main__":
    sys.exit(main())
