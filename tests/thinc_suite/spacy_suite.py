#!/usr/bin/env python3
"""Run the installed spaCy's own tests with thinc_fast's Thinc backend turned
on as a user turns it on, side by side with a plain run of the same tests.

Usage (the Python running it must have spacy 3.8, thinc_fast, pytest,
hypothesis and mock installed):

    python tests/thinc_suite/spacy_suite.py               # spacy_scope.txt: table
    python tests/thinc_suite/spacy_suite.py --files parser --show-failures
    python tests/thinc_suite/spacy_suite.py --check       # exit 1 on any test lost

How it works. Nothing from spaCy is stored here: the installed spaCy's
`spacy/tests/` run in place, twice, as pytest subprocesses side by side (the
reporting plugin and table of run.py). The control run is spaCy as
installed. The backend run loads a plugin that calls
``thinc_fast.use_thinc_fast()`` before any test module is imported (what the
``thinc_fast.use_ops.v1`` callback does): the current ops become
``ThincFastOps``, Thinc's Optimizer takes the backend for NumPy arrays, and
``get_ops("cpu")`` gives the backend. The plugin counts the backend's kernel
calls (the run fails when none was made: the switch did not take) and the
tests that start with other current ops (a test before them changed them).

--check exits 1 when a test that passes in the control run does not pass
with the backend (no exceptions are listed).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_thinc_suite_run", HERE / "run.py")
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)

SUPPORTED = ("3.8",)

BACKEND_PLUGIN = '''\
"""pytest plugin: thinc_fast's Thinc backend on, as use_thinc_fast() turns it on."""
import json
import os

CALLS = {}
OFF = []  # tests that started with other current ops (a test of their own set them)
KERNELS = ("gemm", "maxout", "backprop_maxout", "seq2col", "gather_add", "scatter_add",
           "hash", "adam", "reduce_mean", "reduce_sum", "reduce_max")


def pytest_configure(config):
    from thinc_fast.backends.thinc_backend import ThincFastOps, use_thinc_fast

    for name in KERNELS:
        method = getattr(ThincFastOps, name)

        def counted(self, *args, _method=method, _name=name, **kwargs):
            CALLS[_name] = CALLS.get(_name, 0) + 1
            return _method(self, *args, **kwargs)

        setattr(ThincFastOps, name, counted)
    use_thinc_fast()


def pytest_runtest_setup(item):
    from thinc.api import get_current_ops
    from thinc_fast.backends.thinc_backend import ThincFastOps

    if not isinstance(get_current_ops(), ThincFastOps):
        OFF.append(item.nodeid)


def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["THINC_FAST_SPACY_CALLS"], "w") as out:
        json.dump({"calls": CALLS, "off": OFF}, out)
'''


def main(argv: list[str] | None = None) -> int:
    parser = suite.side_by_side_args(
        __doc__.split("\n\n")[0], "test files or folders under spacy/tests/ (default: "
        "spacy_scope.txt)", "exit 1 when a test passing in the control run does not pass",
        1200)
    return suite.run_in_temporary_folder(run, parser.parse_args(argv), "thinc_suite/spacy_suite")


def run(args, tmp: Path) -> int:
    env, found = suite.plugins_and_env(
        tmp, "_thinc_fast_spacy", BACKEND_PLUGIN,
        ["spacy", "thinc", "thinc_fast", "pytest", "hypothesis", "mock"])
    version, _minor, tests = suite.installed_tests(found, "spacy", SUPPORTED, "spaCy")
    files = args.files or suite.read_list(HERE / "spacy_scope.txt")
    missing = [f for f in files if not (tests / f).exists()]
    if missing:
        raise suite.RunnerError(f"spacy {version} has no tests/{', tests/'.join(missing)}")
    print(f"spaCy {version} (Thinc {found['thinc'][0]}): {tests}\n"
          f"thinc_fast {found['thinc_fast'][0]}: {Path(found['thinc_fast'][1]).parent}")
    (tmp / "pytest.ini").write_text("[pytest]\n")
    calls_file = tmp / "calls.json"
    paths = [str(tests / name) for name in files]
    commands = {
        "spacy": (suite.pytest_command(sys.executable, tmp, tests, args.keyword) + paths, env),
        "thinc_fast": (suite.pytest_command(sys.executable, tmp, tests, args.keyword,
                                            ("_thinc_fast_spacy",)) + paths,
                       dict(env, THINC_FAST_SPACY_CALLS=str(calls_file))),
    }
    results, times, timed_out = suite.run_side_by_side(commands, tmp, args.timeout)
    control, fast = results["spacy"], results["thinc_fast"]
    by_file = sorted({suite.file_of(n) for n in control["tests"]} |
                     {suite.file_of(n) for n in fast["tests"]})
    suite.print_table(by_file, control, fast, times,
                      labels=(f"spaCy {version}", f"spaCy {version} + ThincFastOps"))
    suite.require_reports(results, tmp, timed_out)
    record = json.loads(calls_file.read_text()) if calls_file.exists() else {}
    calls, off = record.get("calls", {}), record.get("off", [])
    print("backend kernel calls: " + (", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
                                      or "none"))
    print(f"tests that started on other current ops than ThincFastOps: {len(off)}"
          + (f" (first: {', '.join(off[:5])})" if off else ""))
    lost = suite.lost_tests(control, fast)
    if args.show_failures or args.check:
        for nodeid, (outcome, reason) in sorted(lost.items()):
            print(f"  {outcome}: {nodeid}: {reason[:300]}")
    control_passed = sum(1 for o, _ in control["tests"].values() if o == "passed")
    print(f"spaCy {version} with ThincFastOps: {control_passed - len(lost)} of {control_passed} "
          f"tests that pass as installed pass")
    if args.check and (lost or not calls.get("gemm")):
        if not calls.get("gemm"):
            print("the backend made no gemm call: use_thinc_fast() did not take")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
