#!/usr/bin/env python3
"""Run Thinc 9.1.1's own test suite against real Thinc and against thinc_fast.

Usage (works from any directory; the Python running it must have thinc_fast,
pytest, hypothesis and mock installed):

    python tests/thinc_suite/run.py                        # in-scope files: table
    python tests/thinc_suite/run.py --files test_loss.py --show-failures
    python tests/thinc_suite/run.py -k crossentropy -- -x  # -k and args after -- go to pytest
    python tests/thinc_suite/run.py --check                # CI gate, see known_failures.txt
    python tests/thinc_suite/run.py --write-known-failures # regenerate the list from a run

Options: --thinc-python PY (the interpreter whose `import thinc` is the control,
default this one) or --thinc-wheel thinc-9.1.1-*.whl (unpacked and put first on
the control's path); --timeout S per pytest run (default 600); --keep (keep and
print the temporary folder).

How it works. Nothing from Thinc is stored in this repository: at run time the
`thinc/tests/` folder of the installed Thinc is
  * run in place for the control (real thinc importable, no bytecode or cache
    written), and
  * copied to <tmp>/standin/thinc/tests/, next to a generated stand-in
    <tmp>/standin/thinc/__init__.py whose sys.meta_path finder serves every
    `thinc.X` (except `thinc.tests...`) as the module object `thinc_fast.X`.
    A module thinc_fast lacks raises ModuleNotFoundError, so the test file
    importing it is reported as a collection error.
Both runs are pytest subprocesses, run side by side, with rootdir = the tests
folder (so node ids match), cwd = the temporary folder, and a small plugin
that writes every test's outcome as JSON lines.

The scope is scope.txt (one test file a line, relative to thinc/tests/).
--check exits 1 when a test that passes under Thinc does not pass under
thinc_fast (fails, errors, is skipped or is not collected) and its node id is
not in known_failures.txt; listed tests that pass now are printed for pruning.
Exit status 2 means the runner itself could not do its job (no thinc 9.1.1,
a timeout, a control run that did not collect).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
THINC_VERSION = "9.1.1"
INSTALL_HINT = f"pip install thinc=={THINC_VERSION} pytest hypothesis mock"

STANDIN_INIT = '''\
"""Stand-in `thinc` written by thinc_fast's tests/thinc_suite/run.py:
`thinc.X` is the module `thinc_fast.X`; `thinc.tests` is Thinc's copied tests."""
import importlib
import importlib.abc
import importlib.util
import sys

import thinc_fast


class _ThincFastAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("thinc.") and fullname.split(".")[1] != "tests":
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None  # a throw-away module; exec_module swaps in the real one

    def exec_module(self, module):
        name = module.__name__
        target = "thinc_fast" + name[len("thinc"):]
        try:
            real = importlib.import_module(target)
        except ModuleNotFoundError as err:
            if err.name and (target == err.name or target.startswith(err.name + ".")):
                raise ModuleNotFoundError(
                    f"No module named {name!r} (thinc_fast has no {err.name!r})", name=name
                ) from None
            raise
        sys.modules[name] = real  # the import system returns sys.modules[name]


if not any(isinstance(f, _ThincFastAlias) for f in sys.meta_path):
    sys.meta_path.insert(0, _ThincFastAlias())

__version__ = thinc_fast.__version__
__thinc_fast__ = True
try:
    from thinc_fast.config import registry
except ImportError:
    pass
'''

PLUGIN = '''\
"""pytest plugin: one JSON line per collection error, collected item and test phase."""
import json
import os
import sys

_out = open(os.environ["THINC_SUITE_REPORT"], "a", encoding="utf8")

# Hypothesis tests run without shrinking (or explaining) a failing example: the
# test fails all the same, only its counterexample is not minimised. Loaded
# before the suite's conftest, whose own profile (Thinc's: no deadlines) takes
# these phases as its default. Where the installed Thinc's own tests fail (Thinc
# 9.1.1's test_compare_activations_to_torch under NumPy 2.4: 48 tests), shrinking
# took most of the run.
try:
    from hypothesis import Phase, settings
except ImportError:
    pass
else:
    settings.register_profile("thinc_suite_unshrunk", phases=[
        Phase.explicit, Phase.reuse, Phase.generate, Phase.target])
    settings.load_profile("thinc_suite_unshrunk")


def _write(**record):
    _out.write(json.dumps(record) + "\\n")
    _out.flush()


def _reason(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # skips: (path, line, message)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message.strip().splitlines()[0]
    lines = str(longrepr).strip().splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors or lines or [""])[-1]


def pytest_collectreport(report):
    if report.failed:
        _write(kind="collect", nodeid=report.nodeid, reason=_reason(report))


def pytest_collection_finish(session):
    for item in session.items:
        _write(kind="item", nodeid=item.nodeid)


def pytest_runtest_setup(item):
    # Every test starts from the same random state in both runs: some of Thinc's
    # tests draw unseeded weights and inputs and hold for most draws only (e.g.
    # "learns to output zeros" in layers/test_pytorch_wrapper.py fails ~1% of runs
    # under Thinc too), which would make the gate flaky.
    import importlib.util
    import random

    random.seed(0)
    try:
        import numpy
        numpy.random.seed(0)
    except ImportError:
        pass
    if "torch" in sys.modules or importlib.util.find_spec("torch") is not None:
        import torch
        torch.manual_seed(0)


def pytest_runtest_logreport(report):
    reason = _reason(report) if report.outcome != "passed" else ""
    _write(kind="test", nodeid=report.nodeid, when=report.when, outcome=report.outcome,
           reason=reason)


def pytest_sessionfinish(session, exitstatus):
    thinc = sys.modules.get("thinc")
    _write(kind="end", exitstatus=int(exitstatus),
           thinc=getattr(thinc, "__file__", None))
'''


class RunnerError(Exception):
    pass


def probe(python: str, env: dict, cwd: str, modules: list[str]) -> dict:
    """Import `modules` in `python`: {module: [version, file] or [None, error]}."""
    code = (
        "import importlib, json, sys\nout = {}\n"
        f"for name in {modules!r}:\n"
        "    try:\n        m = importlib.import_module(name)\n"
        "        out[name] = [getattr(m, '__version__', '?'), getattr(m, '__file__', None)]\n"
        "    except Exception as e:\n        out[name] = [None, f'{type(e).__name__}: {e}']\n"
        "print(json.dumps(out))\n"
    )
    try:
        proc = subprocess.run([python, "-c", code], env=env, cwd=cwd, capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RunnerError(f"cannot run {python}: {err}")
    if proc.returncode != 0:
        raise RunnerError(f"{python} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def side_by_side_args(description: str, files_help: str, check_help: str,
                      timeout: float) -> argparse.ArgumentParser:
    """The options of the side-by-side runners (backend.py, spacy_suite.py):
    --files, -k, --show-failures, --check, --timeout."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", help=files_help)
    parser.add_argument("-k", dest="keyword", help="passed to pytest -k")
    parser.add_argument("--show-failures", action="store_true")
    parser.add_argument("--check", action="store_true", help=check_help)
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds per pytest run")
    return parser


def run_in_temporary_folder(run, args, name: str, keep: bool = False) -> int:
    """``run(args, tmp)`` in a fresh temporary folder, removed afterwards
    unless `keep`; a RunnerError is printed (prefixed with `name`) and gives
    exit status 2."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{name.replace('/', '_')}-"))
    try:
        return run(args, tmp)
    except RunnerError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2
    finally:
        if keep:
            print(f"temporary folder kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def installed_tests(found: dict, package: str, supported: tuple, name: str) -> tuple:
    """(version, "major.minor", its tests folder) of `package` as probed in
    `found`; RunnerError unless its minor version is one of `supported`."""
    version, where = found[package]
    minor = ".".join(str(version).split(".")[:2])
    if minor not in supported:
        raise RunnerError(f"{package} {version}: the backend is tested with {name} "
                          f"{' and '.join(supported)}")
    return version, minor, Path(where).parent / "tests"


def plugins_and_env(tmp: Path, plugin_name: str, plugin_text: str,
                    modules: list[str]) -> tuple:
    """Write the reporting plugin and `plugin_text` (as module `plugin_name`)
    under <tmp>/plugins, and check that this Python imports `modules` there:
    returns (environment, {module: [version, file]})."""
    plugins = tmp / "plugins"
    plugins.mkdir()
    (plugins / "_thinc_suite_report.py").write_text(PLUGIN)
    (plugins / f"{plugin_name}.py").write_text(plugin_text)
    env = clean_env([str(plugins)])
    found = probe(sys.executable, env, str(tmp), modules)
    for name, (version, where) in found.items():
        if version is None:
            raise RunnerError(f"{sys.executable} cannot import {name} ({where})")
    return env, found


def clean_env(extra_path: list[str]) -> dict:
    """The environment of a run: our folders first on the path, then the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join(extra_path + [p for p in os.environ.get(
        "PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    return env


def parse_report(path: Path) -> dict:
    """{'tests': {nodeid: (outcome, reason)}, 'collect': {nodeid: reason}, 'end': {...}}"""
    items, phases, collect, end = [], defaultdict(list), {}, None
    if path.exists():
        for line in path.read_text(encoding="utf8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut short by a timeout
            if rec["kind"] == "item":
                items.append(rec["nodeid"])
            elif rec["kind"] == "test":
                phases[rec["nodeid"]].append(rec)
            elif rec["kind"] == "collect":
                collect[rec["nodeid"]] = rec["reason"]
            elif rec["kind"] == "end":
                end = rec
    tests = {}
    for nodeid in items + [n for n in phases if n not in items]:
        outcome, reason = "not run", "did not run (timeout or crash?)"
        for rec in phases.get(nodeid, []):
            if rec["outcome"] == "failed":
                kind = "failed" if rec["when"] == "call" else "error"
                if outcome not in ("failed", "error"):
                    outcome, reason = kind, rec["reason"]
            elif rec["outcome"] == "skipped" and outcome not in ("failed", "error"):
                outcome, reason = "skipped", rec["reason"]
            elif rec["outcome"] == "passed" and outcome == "not run":
                outcome, reason = "passed", ""
        tests[nodeid] = (outcome, reason)
    return {"tests": tests, "collect": collect, "end": end}


def file_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def read_list(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thinc-python", default=sys.executable,
                        help="Python whose installed thinc is the control (default: this one)")
    parser.add_argument("--thinc-wheel", help="a thinc-9.1.1 wheel to use as the control")
    parser.add_argument("--files", nargs="+", help="test files relative to thinc/tests/ "
                        "(default: scope.txt)")
    parser.add_argument("-k", dest="keyword", help="passed to pytest -k")
    parser.add_argument("--show-failures", action="store_true",
                        help="list tests that pass under Thinc but not under thinc_fast")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 on a failure that is not in known_failures.txt")
    parser.add_argument("--known-failures", default=str(HERE / "known_failures.txt"))
    parser.add_argument("--write-known-failures", action="store_true",
                        help="rewrite --known-failures from this run's failures")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per pytest run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    args = parser.parse_args(argv)
    return run_in_temporary_folder(run, args, "thinc_suite", keep=args.keep)


def run(args, tmp: Path) -> int:
    (tmp / "plugin").mkdir()
    (tmp / "plugin" / "_thinc_suite_report.py").write_text(PLUGIN)
    plugin_path = str(tmp / "plugin")

    # 1. Find Thinc 9.1.1 and its tests.
    control_path = [plugin_path]
    if args.thinc_wheel:
        with zipfile.ZipFile(args.thinc_wheel) as wheel:
            wheel.extractall(tmp / "wheel")
        control_path.append(str(tmp / "wheel"))
    control_env = clean_env(control_path)
    found = probe(args.thinc_python, control_env, str(tmp),
                  ["thinc", "pytest", "hypothesis", "mock"])
    if found["thinc"][0] is None:
        raise RunnerError(f"{args.thinc_python} cannot import thinc ({found['thinc'][1]}): "
                          f"{INSTALL_HINT}")
    version, thinc_file = found["thinc"]
    if version != THINC_VERSION:
        raise RunnerError(f"found thinc {version} at {thinc_file}, need {THINC_VERSION}: "
                          f"{INSTALL_HINT}")
    for dep in ("pytest", "hypothesis", "mock"):
        if found[dep][0] is None:
            raise RunnerError(f"{args.thinc_python} lacks {dep}: {INSTALL_HINT}")
    thinc_tests = Path(thinc_file).parent / "tests"
    if not (thinc_tests / "conftest.py").exists():
        raise RunnerError(f"{thinc_tests} holds no tests (a thinc build without them?)")

    # 2. The stand-in package with a copy of the tests.
    standin = tmp / "standin"
    shutil.copytree(thinc_tests, standin / "thinc" / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (standin / "thinc" / "__init__.py").write_text(STANDIN_INIT)
    fast_env = clean_env([str(standin), plugin_path])
    found = probe(sys.executable, fast_env, str(tmp),
                  ["thinc_fast", "thinc", "pytest", "hypothesis", "mock"])
    for dep in ("thinc_fast", "pytest", "hypothesis", "mock"):
        if found[dep][0] is None:
            raise RunnerError(f"{sys.executable} cannot import {dep} ({found[dep][1]}): "
                              "pip install -e . pytest hypothesis mock")
    if found["thinc"][0] is None or not found["thinc"][1].startswith(str(standin)):
        raise RunnerError(f"the stand-in thinc does not import: {found['thinc']}")
    print(f"Thinc {THINC_VERSION}: {thinc_tests.parent}\n"
          f"thinc_fast {found['thinc_fast'][0]}: {Path(found['thinc_fast'][1]).parent}")

    # 3. Both pytest runs, side by side.
    files = args.files or read_list(HERE / "scope.txt")
    for name in files:
        if not (thinc_tests / file_of(name)).exists():
            raise RunnerError(f"no test file {name} in {thinc_tests}")
    (tmp / "pytest.ini").write_text("[pytest]\n")
    runs = {"thinc": (args.thinc_python, control_env, thinc_tests),
            "thinc_fast": (sys.executable, fast_env, standin / "thinc" / "tests")}
    commands = {}
    for label, (python, env, tests) in runs.items():
        cmd = pytest_command(python, tmp, tests, args.keyword)
        commands[label] = (cmd + args.pytest_args + [str(tests / name) for name in files], env)
    results, times, timed_out = run_side_by_side(commands, tmp, args.timeout)

    # 4. Report.
    control, fast = results["thinc"], results["thinc_fast"]
    print_table(files, control, fast, times)
    problems = []
    for label in timed_out:
        problems.append(f"the {label} run passed the {args.timeout:.0f} s timeout")
    if control["end"] is None and not timed_out:
        problems.append("the thinc run ended without a report:\n" +
                        (tmp / "thinc.log").read_text()[-3000:])
    if fast["end"] is None and not timed_out:
        print("the thinc_fast run ended without a report (crashed?):\n" +
              (tmp / "thinc_fast.log").read_text()[-3000:])
    if fast["end"] and not str(fast["end"]["thinc"]).startswith(str(standin)):
        problems.append(f"the thinc_fast run imported {fast['end']['thinc']}")
    if control["collect"]:
        problems.append("the thinc run had collection errors: " + "; ".join(
            f"{k}: {v}" for k, v in control["collect"].items()))

    lost = lost_tests(control, fast)  # {nodeid: (outcome, reason)}
    if args.show_failures:
        print_failures(lost, control)
    if problems:  # no list to write or check against an incomplete control
        sys.stdout.flush()
        for problem in problems:
            print(f"thinc_suite: {problem}", file=sys.stderr)
        return 2
    if args.write_known_failures:
        write_known(Path(args.known_failures), lost)
    if args.check:
        return check(Path(args.known_failures), lost, control, fast, files,
                     args.keyword is None and not args.pytest_args)
    return 0


def pytest_command(python: str, tmp: Path, tests: Path, keyword: str | None,
                   plugins: tuple = ()) -> list:
    """A pytest run of Thinc's tests folder `tests` that reports through the plugin."""
    cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           "-p", "_thinc_suite_report"]
    for plugin in plugins:
        cmd += ["-p", plugin]
    cmd += ["-c", str(tmp / "pytest.ini"), "--continue-on-collection-errors",
            f"--rootdir={tests}", "--hypothesis-seed=0"]
    return cmd + (["-k", keyword] if keyword else [])


def run_side_by_side(commands: dict, tmp: Path, timeout: float):
    """Start every {label: (command, env)} at once in `tmp` (pytest runs with the
    report plugin writing <tmp>/<label>.jsonl), wait, kill any past `timeout`
    seconds; returns ({label: parsed report}, {label: seconds}, [timed-out labels])."""
    procs, results, times, timed_out = {}, {}, {}, []
    for label, (cmd, env) in commands.items():
        env = dict(env, THINC_SUITE_REPORT=str(tmp / f"{label}.jsonl"))
        log = open(tmp / f"{label}.log", "w")
        procs[label] = (subprocess.Popen(cmd, env=env, cwd=tmp, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True),
                        time.monotonic(), log)
    while len(times) < len(procs):
        time.sleep(0.05)
        for label, (proc, start, log) in procs.items():
            if label in times:
                continue
            if proc.poll() is None and time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                timed_out.append(label)
            if proc.poll() is not None:
                times[label] = time.monotonic() - start
                log.close()
                results[label] = parse_report(tmp / f"{label}.jsonl")
    times = {label: times[label] for label in commands}  # in the commands' order
    return results, times, timed_out


def require_reports(results: dict, tmp: Path, timed_out: list) -> None:
    """RunnerError (after the end of its log) for a run of `results` that
    ended without its final report: it crashed or passed the timeout."""
    for label, result in results.items():
        if result["end"] is None:
            print((tmp / f"{label}.log").read_text()[-3000:])
            raise RunnerError(f"the {label} run ended without a report"
                              + (" (timeout)" if label in timed_out else ""))


def lost_tests(control: dict, fast: dict) -> dict:
    """Tests passing under Thinc that do not pass under thinc_fast, with why."""
    lost = {}
    for nodeid, (outcome, _) in sorted(control["tests"].items()):
        if outcome != "passed":
            continue
        got, reason = fast["tests"].get(nodeid, ("not collected", ""))
        if got == "not collected":
            reason = fast["collect"].get(file_of(nodeid), "not collected")
        if got != "passed":
            lost[nodeid] = (got, reason)
    return lost


def counts(result: dict, name: str) -> list:
    c = defaultdict(int)
    for nodeid, (outcome, _) in result["tests"].items():
        if file_of(nodeid) == file_of(name) and nodeid.startswith(name):
            c["coll"] += 1
            c[{"passed": "pass", "failed": "fail", "skipped": "skip"}.get(outcome, "err")] += 1
    c["err"] += sum(1 for k in result["collect"] if file_of(k) == file_of(name))
    return [c[k] for k in ("coll", "pass", "fail", "skip", "err")]


def print_table(files, control, fast, times, labels=None) -> None:
    width = max([len(f) for f in files] + [5])
    head = f"{'coll':>5} {'pass':>5} {'fail':>5} {'skip':>5} {'err':>4}"
    left, right = labels or ("Thinc " + THINC_VERSION, "thinc_fast")
    print(f"\n{'':{width}} | {left:^28} | {right:^28}")
    print(f"{'file':{width}} | {head} | {head}")
    print("-" * (width + 64))
    total = [[0] * 5, [0] * 5]
    for name in files:
        row = [counts(control, name), counts(fast, name)]
        for t, r in zip(total, row):
            t[:] = [a + b for a, b in zip(t, r)]
        print(f"{name:{width}} | " + " | ".join(" ".join(
            f"{n:>{w}}" for n, w in zip(r, (5, 5, 5, 5, 4))) for r in row))
    print("-" * (width + 64))
    print(f"{'TOTAL':{width}} | " + " | ".join(" ".join(
        f"{n:>{w}}" for n, w in zip(r, (5, 5, 5, 5, 4))) for r in total))
    print("run time: " + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in times.items())
          + " (side by side)\n")


def print_failures(lost: dict, control: dict) -> None:
    print(f"{len(lost)} tests pass under Thinc but not under thinc_fast:")
    by_file = defaultdict(list)
    for nodeid, (outcome, reason) in lost.items():
        by_file[file_of(nodeid)].append((nodeid, outcome, reason))
    for name, rows in by_file.items():
        if all(outcome == "not collected" for _, outcome, _ in rows):
            print(f"  {name}: NOT COLLECTED ({len(rows)} tests): {rows[0][2]}")
            continue
        for nodeid, outcome, reason in rows:
            print(f"  {nodeid}  [{outcome}] {reason[:200]}")
    broken = [(n, r) for n, (o, r) in control["tests"].items() if o in ("failed", "error")]
    if broken:
        print(f"\n{len(broken)} tests fail under Thinc itself (not compared):")
        for nodeid, reason in broken:
            print(f"  {nodeid}  {reason[:200]}")


def short_reason(nodeid: str, outcome: str, reason: str) -> str:
    reason = re.sub(r" \(/[^)]*\)", "", " ".join(reason.split()))  # no file paths
    if outcome == "not collected":
        return f"{file_of(nodeid)} not collected: {reason}"
    return f"{outcome}: {reason[:100].strip()}"


def write_known(path: Path, lost: dict) -> None:
    groups = defaultdict(list)
    for nodeid, (outcome, reason) in lost.items():
        groups[short_reason(nodeid, outcome, reason)].append(nodeid)
    lines = ["# Tests that pass under Thinc 9.1.1 but may fail under thinc_fast today.",
             "# One node id a line (relative to thinc/tests/), grouped by reason. The gate",
             "# (tests/thinc_suite/run.py --check) fails on any other such test; remove",
             "# lines as tests start passing (--check lists them).", ""]
    for reason in sorted(groups, key=lambda r: (-len(groups[r]), r)):
        lines.append(f"# {reason} ({len(groups[reason])})")
        lines += sorted(groups[reason]) + [""]
    path.write_text("\n".join(lines))
    print(f"wrote {len(lost)} node ids in {len(groups)} groups to {path}")


def check(path: Path, lost: dict, control: dict, fast: dict, files: list,
          everything_ran: bool) -> int:
    known = set(read_list(path))
    new = {n: v for n, v in lost.items() if n not in known}
    selected = [n for n in known if any(file_of(n) == file_of(f) for f in files)]
    fixed = sorted(n for n in selected if fast["tests"].get(n, ("",))[0] == "passed")
    stale = sorted(n for n in selected if control["tests"].get(n, ("",))[0] != "passed"
                   and (n in control["tests"] or everything_ran))
    if fixed:
        print(f"{len(fixed)} tests in {path.name} pass now; remove them from the list:")
        print("".join(f"  {n}\n" for n in fixed))
    if stale:
        print(f"{len(stale)} tests in {path.name} do not pass (or exist) under Thinc here:")
        print("".join(f"  {n}\n" for n in stale))
    if new:
        print(f"FAIL: {len(new)} tests pass under Thinc but not under thinc_fast and are "
              f"not in {path.name}:")
        for nodeid, (outcome, reason) in new.items():
            print(f"  {nodeid}  [{outcome}] {reason[:200]}")
        return 1
    print(f"OK: every test that passes under Thinc passes under thinc_fast, "
          f"{len(lost)} known exceptions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
