#!/usr/bin/env python3
"""Run the installed Thinc's own tests (8.3.x or 9.1.x) with thinc_fast's Thinc
backend as the ops, side by side with a plain run of the same tests.

Usage (the Python running it must have thinc, thinc_fast, pytest, hypothesis
and mock installed):

    python tests/thinc_suite/backend.py                 # backend_scope.txt: table
    python tests/thinc_suite/backend.py --files backends/test_ops.py --show-failures
    python tests/thinc_suite/backend.py --check         # CI gate

How it works. Nothing from Thinc is stored here: the installed Thinc's
`thinc/tests/` run in place, twice, as pytest subprocesses side by side. The
control run is Thinc as installed. The backend run loads a small plugin that,
before any test module is imported, makes `thinc.api.NumpyOps` and
`thinc.backends.NumpyOps` name `ThincFastOps` (a subclass of Thinc's NumpyOps
that `get_ops("thinc_fast")` returns) and runs `use_thinc_fast()` (the current
ops, and the ops Thinc's Optimizer takes for NumPy arrays): every test that
builds `NumpyOps()`, a layer on the current ops or an optimizer runs on
thinc_fast's kernels. The plugin also checks that Thinc's `get_ops("thinc_fast")` finds the
backend through the entry point.

--check exits 1 when a test that passes under Thinc does not pass with the
backend and is not listed, for the running Thinc's minor version, in
backend_known_failures.txt (one `8.3 nodeid  # why` or `9.1 nodeid  # why` a
line): the tests that assert which class `get_ops("numpy")` returns, which the
substitution changes by design.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_thinc_suite_run", HERE / "run.py")
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)

SUPPORTED = ("8.3", "9.1")

BACKEND_PLUGIN = '''\
"""pytest plugin: Thinc's NumpyOps name serves thinc_fast's Thinc backend."""


def pytest_configure(config):
    import thinc.api
    import thinc.backends
    from thinc_fast.backends.thinc_backend import ThincFastOps

    found = type(thinc.api.get_ops("thinc_fast"))
    if found is not ThincFastOps:
        raise RuntimeError(f"get_ops('thinc_fast') gave {found}, not ThincFastOps: "
                           "is thinc_fast installed (its thinc_ops entry point)?")
    thinc.api.NumpyOps = ThincFastOps
    thinc.backends.NumpyOps = ThincFastOps
    # the current ops, and Thinc's Optimizer's ops for NumPy arrays (its fused Adam)
    from thinc_fast.backends.thinc_backend import use_thinc_fast

    use_thinc_fast()
'''


def known_failures(path: Path, minor: str) -> dict:
    """{nodeid: why} listed for Thinc `minor` ("8.3", "9.1")."""
    out = {}
    for line in suite.read_list(path):
        entry, _, why = line.partition("#")
        parts = entry.split()
        if len(parts) == 2 and parts[0] == minor:
            out[parts[1]] = why.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = suite.side_by_side_args(
        __doc__.split("\n\n")[0], "test files relative to thinc/tests/ (default: "
        "backend_scope.txt)", "exit 1 on a failure not in backend_known_failures.txt", 900)
    return suite.run_in_temporary_folder(run, parser.parse_args(argv), "thinc_suite/backend")


def run(args, tmp: Path) -> int:
    env, found = suite.plugins_and_env(tmp, "_thinc_fast_backend", BACKEND_PLUGIN,
                                       ["thinc", "thinc_fast", "pytest", "hypothesis", "mock"])
    version, minor, tests = suite.installed_tests(found, "thinc", SUPPORTED, "Thinc")
    files = args.files or suite.read_list(HERE / "backend_scope.txt")
    files = [f for f in files if (tests / suite.file_of(f)).exists()]
    print(f"Thinc {version}: {tests}\nthinc_fast {found['thinc_fast'][0]}: "
          f"{Path(found['thinc_fast'][1]).parent}")
    (tmp / "pytest.ini").write_text("[pytest]\n")
    paths = [str(tests / name) for name in files]
    commands = {
        label: (suite.pytest_command(sys.executable, tmp, tests, args.keyword, plugins) + paths,
                env)
        for label, plugins in (("thinc", ()), ("thinc_fast", ("_thinc_fast_backend",)))}
    results, times, timed_out = suite.run_side_by_side(commands, tmp, args.timeout)
    control, fast = results["thinc"], results["thinc_fast"]
    suite.print_table(files, control, fast, times,
                      labels=(f"Thinc {version}", f"Thinc {version} + ThincFastOps"))
    suite.require_reports(results, tmp, timed_out)
    lost = suite.lost_tests(control, fast)
    for nodeid in [n for n in lost if "[NumpyOps" in n]:
        # a test parametrized over the NumpyOps class runs as [ThincFastOps...]
        renamed = nodeid.replace("[NumpyOps", "[ThincFastOps")
        if fast["tests"].get(renamed, ("",))[0] == "passed":
            del lost[nodeid]
    known = known_failures(HERE / "backend_known_failures.txt", minor)
    unexpected = {k: v for k, v in lost.items() if k not in known}
    if args.show_failures or args.check:
        for nodeid, (outcome, reason) in sorted(lost.items()):
            mark = "known" if nodeid in known else "NEW"
            print(f"  [{mark}] {outcome}: {nodeid}: {reason[:200]}")
    passed = sum(1 for o, _ in fast["tests"].values() if o == "passed")
    control_passed = sum(1 for o, _ in control["tests"].values() if o == "passed")
    print(f"Thinc {version} with ThincFastOps: {control_passed - len(lost)} of {control_passed} "
          f"tests that pass under Thinc pass ({passed} passed in all); "
          f"{len(lost) - len(unexpected)} known, {len(unexpected)} unexpected")
    if args.check and unexpected:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
