#!/usr/bin/env python3
"""Run Thinc's own examples and notebooks under real Thinc and under thinc_fast.

Usage (from any directory):

    python tools/thinc_examples.py --thinc-repo ~/src/thinc          # a clone: work tree
    python tools/thinc_examples.py --thinc-repo thinc.git --rev v9.1.1  # or a git dir
    python tools/thinc_examples.py                  # from GitHub (explosion/thinc, master)
    python tools/thinc_examples.py --rev v9.1.1 --only 01_intro_model_definition_methods
    python tools/thinc_examples.py --list           # what would run, and why not the rest

Options: --only NAME... (a path under examples/, a file name with or
without its extension, a glob such as '05_*', or else any part of a name);
--all (also run the examples that the scan would skip); --timeout S per run
(default 300); --thinc-python PY, the interpreter whose `import thinc` is
the control, and --fast-python PY, the one that runs thinc_fast (both
default to this one); --threads N per run (default 1: the two runs go side
by side); --tail N lines of a failure's error (default 15); --no-patches
(run the examples exactly as Thinc has them, see PATCHES); --keep (keep the
temporary folder: converted notebooks and every run's stdout/stderr).

How it works. Nothing from Thinc is stored in this repository: the files
under Thinc's examples/ are read at run time, from the work tree or git dir
given with --thinc-repo (`git --git-dir DIR show REV:examples/FILE`, REV
default HEAD), or else downloaded from raw.githubusercontent.com (REV default
master). A notebook becomes one script: its code cells in order, each shell
escape (`!pip ...`) or line magic (`%pip ...`) turned into `pass`, and
`tqdm.notebook` read as plain `tqdm` (it needs Jupyter widgets). Each example
then runs twice, at once, in subprocesses with their own temporary working
folder:
  * the control: --thinc-python as it is, so `thinc` is the installed Thinc;
  * thinc_fast: --fast-python with a generated stand-in package `thinc` first
    on its path, whose import hook serves every `thinc.X` as the module
    `thinc_fast.X` (the STANDIN_INIT of tests/thinc_suite/run.py), and, when
    its kernels are built in place (`python setup.py build_ext --inplace`), this
    checkout's root next so that its thinc_fast is the one imported; otherwise
    the installed thinc_fast (`pip install .`) runs.
Each run reports which `thinc` it imported; a thinc_fast run that got real
Thinc (or a control that got the stand-in) is an error of the runner.
Packages that a run lacks and only decorate an example (IPython.display and
typer) are served by small stand-ins placed after site-packages, so an
installed copy wins. Both runs start with Python's and NumPy's global RNGs
seeded with 0 (torch's is left alone: seeding it is fix_random_seed's job).
Scripts run with the arguments in SCRIPT_ARGS (one table row per command
line), and both sides' copies get the PATCHES below: small edits where an
example no longer runs on today's NumPy under either thinc.

Before running, each example's source is scanned; it is skipped, with the
reason, when it needs a download (ml_datasets, from_pretrained weights, ...),
a GPU (cupy, require_gpu at top level), mypy (reveal_type), a module that
one of the interpreters lacks (transformers, tensorflow, mxnet, ...), or
does not use Thinc at all. --all runs them anyway.

The table classifies each example: OK (ran under both), FAIL (failed under
thinc_fast only: the last lines of its error follow the table), failed under
Thinc too (", differently" when the two errors differ: thinc_fast's then
follows the table too, as it may have stopped sooner), or skipped. Where the
runs print numbers, the last such line of each run is shown side by side.
Exit status: 1 when an example that ran under Thinc failed (or timed out)
under thinc_fast, 2 when the runner could not do its job (no examples, no
Thinc, a stand-in that does not import), 0 otherwise.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SUITE_RUNNER = REPO_ROOT / "tests" / "thinc_suite" / "run.py"
GITHUB_REPO = "explosion/thinc"
RAW_URL = "https://raw.githubusercontent.com/{repo}/{rev}/examples/{path}"
TREE_URL = "https://api.github.com/repos/{repo}/git/trees/{rev}?recursive=1"
# Used when GitHub's tree listing cannot be had (rate limit): the examples
# Thinc's master holds as of Thinc 9.1 (names only; their text is downloaded).
KNOWN_EXAMPLES = [
    "00_intro_to_thinc.ipynb", "01_intro_model_definition_methods.ipynb",
    "02_transformers_tagger_bert.ipynb", "03_pos_tagger_basic_cnn.ipynb",
    "03_textcat_basic_neural_bow.ipynb", "04_configure_gpu_memory.ipynb",
    "05_benchmarking_layers.ipynb", "05_visualizing_models.ipynb",
    "06_predicting_like_terms.ipynb", "bloom_embeddings.ipynb",
    "benchmarks/lstm_tagger.py", "benchmarks/mappers.py", "mnist.py",
    "transformers_tagger.py", "type_checking.py",
]
# Command lines for scripts whose main() does nothing useful bare, one row of
# the table each: lstm_tagger.py with no flag only prints "Skipping" for every
# backend, and given --pytorch with others, its PyTorchLSTM serves them all.
SCRIPT_ARGS = {
    "benchmarks/lstm_tagger.py": [["--numpy"], ["--generic"], ["--pytorch"]],
}
# Edits made to both sides' copy (--no-patches turns them off) where an
# example no longer runs on today's libraries whichever thinc it imports:
# {example: [(regex, replacement, why)]}. One that no longer matches is noted.
NUMPY_SCALAR = "NumPy >= 2.4 no longer converts a 1-element array to a scalar"
PATCHES = {
    "benchmarks/lstm_tagger.py": [
        (r"\bint\(length\)", "int(length.item())", NUMPY_SCALAR),
    ],
    "06_predicting_like_terms.ipynb": [
        (r"\bfloat\(y_guess\)", "float(y_guess.item())", NUMPY_SCALAR),
        (r"\bint\(y_answer\)", "int(y_answer.item())", NUMPY_SCALAR),
    ],
}

# ---------------------------------------------------------------------------
# The stand-in `thinc` for the thinc_fast runs.

def standin_source() -> tuple[str, str]:
    """(text of the stand-in thinc/__init__.py, where it came from): the one
    tests/thinc_suite/run.py writes for Thinc's test suite, so both runners
    serve `thinc` from thinc_fast the same way."""
    spec = importlib.util.spec_from_file_location("_thinc_suite_run", SUITE_RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.STANDIN_INIT, f"{SUITE_RUNNER.relative_to(REPO_ROOT)} STANDIN_INIT"


# ---------------------------------------------------------------------------
# Stand-ins for packages that only decorate an example; placed after
# site-packages by the bootstrap, so they serve only where nothing is installed.

SHIM_IPYTHON_INIT = '''\
"""Stand-in IPython for tools/thinc_examples.py: not a notebook."""


def get_ipython():
    return None
'''

SHIM_IPYTHON_DISPLAY = '''\
"""Stand-in IPython.display: display() prints a one-line summary."""


class _Shown:
    def __init__(self, data=None, url=None, filename=None, **kwargs):
        if data is None and filename is not None:
            with open(filename, "rb") as f:
                data = f.read()
        self.data = data if data is not None else url

    def __repr__(self):
        size = len(self.data) if hasattr(self.data, "__len__") else "?"
        return f"<{type(self).__name__}: {size} characters>"


class SVG(_Shown):
    pass


class HTML(_Shown):
    pass


class Markdown(_Shown):
    pass


class Image(_Shown):
    pass


class Javascript(_Shown):
    pass


def display(*objs, **kwargs):
    for obj in objs:
        text = repr(obj)
        print("[display]", text if len(text) <= 200 else text[:200] + "...")


def clear_output(wait=False):
    pass
'''

SHIM_TYPER = '''\
"""Stand-in typer for tools/thinc_examples.py: typer.run(main) with --flags."""
import inspect
import sys


def _convert(param, text):
    kind = type(param.default) if param.default not in (None, inspect.Parameter.empty) \\
        else param.annotation
    if kind in (int, float, str):
        return kind(text)
    if getattr(kind, "__name__", "") == "Path" or "Path" in str(kind):
        from pathlib import Path
        return Path(text)
    return text


def run(function):
    params = {p.name.replace("_", "-"): p
              for p in inspect.signature(function).parameters.values()}
    kwargs, args = {}, list(sys.argv[1:])
    while args:
        arg = args.pop(0)
        if not arg.startswith("--"):
            raise SystemExit(f"typer stand-in: unexpected argument {arg!r}")
        name, _, value = arg[2:].partition("=")
        if name.startswith("no-") and name[3:] in params:
            kwargs[params[name[3:]].name] = False
            continue
        if name not in params:
            raise SystemExit(f"typer stand-in: no option --{name}")
        param = params[name]
        if isinstance(param.default, bool) or param.annotation in (bool, "bool"):
            kwargs[param.name] = True
            continue
        if not value:
            value = args.pop(0)
        kwargs[param.name] = _convert(param, value)
    return function(**kwargs)


class Typer:  # enough for `app = typer.Typer(); @app.command()`
    def __init__(self, *args, **kwargs):
        self._command = None

    def command(self, *args, **kwargs):
        def register(function):
            self._command = function
            return function
        return register

    def __call__(self):
        return run(self._command)


def Option(default=None, *args, **kwargs):
    return default


def Argument(default=None, *args, **kwargs):
    return default
'''

# Runs one example: sys.argv = [bootstrap, report.json, shim dir, script, args...].
BOOTSTRAP = '''\
import atexit
import json
import os
import random
import runpy
import sys

_report, _shims, _script = sys.argv[1:4]
sys.path.append(_shims)  # after site-packages: installed packages win


def _which_thinc():
    thinc = sys.modules.get("thinc")
    info = {"thinc": getattr(thinc, "__file__", None),
            "version": getattr(thinc, "__version__", None),
            "thinc_fast": bool(getattr(thinc, "__thinc_fast__", False))}
    with open(_report, "w", encoding="utf8") as f:
        json.dump(info, f)


atexit.register(_which_thinc)
# The same draws on both sides for examples that never seed (06 draws its data
# with `random`). Not torch: seeding it is fix_random_seed's job, under test.
random.seed(0)
try:
    import numpy
    numpy.random.seed(0)
except ImportError:
    pass
sys.argv = [_script] + sys.argv[4:]
sys.path[0] = os.path.dirname(os.path.abspath(_script))  # as `python SCRIPT` has it
runpy.run_path(_script, run_name="__main__")
'''

PROBE = '''\
import importlib, importlib.util, json, sys
sys.path.append(sys.argv[1])
out = {"modules": {}}
for name in sys.argv[2:]:
    try:
        out["modules"][name] = importlib.util.find_spec(name) is not None
    except Exception:
        out["modules"][name] = False
try:
    import thinc
    import thinc.api
    out["thinc"] = [getattr(thinc, "__version__", "?"), thinc.__file__,
                    bool(getattr(thinc, "__thinc_fast__", False))]
except Exception as err:
    out["thinc"] = [None, f"{type(err).__name__}: {err}", False]
try:
    import thinc_fast
    out["thinc_fast"] = [thinc_fast.__version__, thinc_fast.__file__]
except Exception as err:
    out["thinc_fast"] = [None, f"{type(err).__name__}: {err}"]
print(json.dumps(out))
'''


class RunnerError(Exception):
    pass


# ---------------------------------------------------------------------------
# Where Thinc's examples come from.

class WorkTreeSource:
    def __init__(self, root: Path):
        self.root = root / "examples"
        self.description = f"{self.root} (work tree)"

    def list(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*")
                      if p.suffix in (".py", ".ipynb") and ".ipynb_checkpoints" not in p.parts)

    def read(self, path: str) -> str:
        return (self.root / path).read_text(encoding="utf8")


class GitSource:
    def __init__(self, git_dir: str, rev: str):
        self.git = ["git", "--git-dir", git_dir]
        self.rev = rev
        commit = self._git("rev-parse", "--verify", f"{rev}^{{commit}}").strip()
        self.description = f"{git_dir} (git) at {rev} = {commit[:12]}"

    def _git(self, *args: str) -> str:
        proc = subprocess.run(self.git + list(args), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RunnerError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def list(self) -> list[str]:
        names = self._git("ls-tree", "-r", "--name-only", self.rev, "--", "examples/")
        return sorted(n[len("examples/"):] for n in names.splitlines()
                      if n.endswith((".py", ".ipynb")) and ".ipynb_checkpoints" not in n)

    def read(self, path: str) -> str:
        return self._git("show", f"{self.rev}:examples/{path}")


class GitHubSource:
    def __init__(self, rev: str, repo: str = GITHUB_REPO):
        self.rev, self.repo = rev, repo
        self.description = f"https://github.com/{repo} at {rev} (downloaded)"

    def _get(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": "thinc_fast-examples"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            raise RunnerError(f"cannot download {url}: HTTP {err.code} {err.reason}"
                              + (f" (is {self.rev!r} a branch, tag or commit of "
                                 f"{self.repo}?)" if err.code == 404 else ""))
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise RunnerError(
                f"cannot download {url}: {reason}.\n  No network? Clone "
                f"https://github.com/{self.repo} elsewhere and pass --thinc-repo PATH "
                "(a work tree or a git dir).")

    def list(self) -> list[str]:
        try:
            tree = json.loads(self._get(TREE_URL.format(repo=self.repo, rev=self.rev)))
            names = [e["path"][len("examples/"):] for e in tree.get("tree", [])
                     if e.get("type") == "blob" and e["path"].startswith("examples/")
                     and e["path"].endswith((".py", ".ipynb"))]
            if names:
                return sorted(names)
        except (RunnerError, ValueError, KeyError):
            pass  # the API's rate limit: the raw downloads may still work
        return sorted(KNOWN_EXAMPLES)

    def read(self, path: str) -> str:
        return self._get(RAW_URL.format(repo=self.repo, rev=self.rev, path=path)).decode("utf8")


def open_source(repo: str | None, rev: str | None):
    if repo is None:
        return GitHubSource(rev or "master")
    path = Path(repo).expanduser().resolve()
    if not path.exists():
        raise RunnerError(f"--thinc-repo {repo}: no such folder")
    if (path / "examples").is_dir() and rev is None:
        return WorkTreeSource(path)
    proc = subprocess.run(["git", "-C", str(path), "rev-parse", "--absolute-git-dir"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RunnerError(f"--thinc-repo {repo} is neither a work tree with examples/ "
                          f"nor a git dir: {proc.stderr.strip()}")
    return GitSource(proc.stdout.strip(), rev or "HEAD")


# ---------------------------------------------------------------------------
# Notebooks to scripts, and what an example needs.

CELL_MAGICS_KEPT = {"time", "timeit", "capture", "prun"}  # run the cell's body


def notebook_to_script(text: str, name: str) -> tuple[str, list[str]]:
    """The notebook's code cells as one script, and notes on what was changed."""
    try:
        notebook = json.loads(text)
    except ValueError as err:
        raise RunnerError(f"{name}: not a notebook ({err})")
    lines, notes = [f"# {name}: code cells, converted by tools/thinc_examples.py"], []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        cell_lines = source.splitlines()
        if cell_lines and cell_lines[0].startswith("%%"):
            magic = cell_lines[0][2:].split()[0] if cell_lines[0][2:].split() else ""
            if magic not in CELL_MAGICS_KEPT:
                notes.append(f"cell {index}: %%{magic} cell dropped")
                continue
            cell_lines = cell_lines[1:]
        lines.append(f"# ---- cell {index} ----")
        for line in cell_lines:
            stripped = line.lstrip()
            if stripped.startswith(("!", "%")):
                indent = line[:len(line) - len(stripped)]
                lines.append(f"{indent}pass  # IPython: {stripped}")
                notes.append(f"cell {index}: dropped {stripped[:60]}")
            elif re.match(r"\s*from\s+tqdm\.notebook\s+import\b", line):
                lines.append(line.replace("tqdm.notebook", "tqdm", 1))
                notes.append(f"cell {index}: tqdm.notebook read as tqdm")
            else:
                lines.append(line)
    return "\n".join(lines) + "\n", notes


DOWNLOAD_PATTERNS = [
    (re.compile(r"\bml_datasets\.(\w+)"), "ml_datasets.{0}"),
    (re.compile(r"^\s*(?:import|from)\s+ml_datasets\b", re.M), "ml_datasets"),
    (re.compile(r"\.from_pretrained\("), "pretrained weights (from_pretrained)"),
    (re.compile(r"\b(torchvision|tensorflow_datasets|keras)\.datasets\b"), "{0}.datasets"),
    (re.compile(r"\b(urlopen|urlretrieve|requests\.get|wget\.download|load_dataset)\("),
     "{0}"),
]
FRAMEWORKS = ("transformers", "tensorflow", "mxnet", "cupy", "jax")


def code_only(source: str) -> str:
    """The source less its whole-line comments (a `# pip install ...` is no use)."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))


def top_level(source: str) -> list[ast.stmt]:
    """The module-level statements, or [] when the source does not parse."""
    try:
        return ast.parse(source).body
    except SyntaxError:
        return []


def required_modules(source: str) -> list[str]:
    """Top-level names imported unconditionally (at module level, not under if/try/def)."""
    names = []
    for stmt in top_level(source):
        if isinstance(stmt, ast.Import):
            names += [alias.name.split(".")[0] for alias in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            names.append(stmt.module.split(".")[0])
    return sorted(set(n for n in names if n not in ("thinc", "__future__")))


def called_at_top(source: str, function: str) -> bool:
    for stmt in top_level(source):
        if isinstance(stmt, (ast.Expr, ast.Assign)) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == function:
                return True
    return False


def scan(source: str, available: dict[str, bool]) -> list[str]:
    """Why the example should not run here ([] when it can)."""
    code = code_only(source)
    reasons = []
    downloads = []
    for pattern, label in DOWNLOAD_PATTERNS:
        for match in pattern.finditer(code):
            item = label.format(*match.groups())
            if item not in downloads:
                downloads.append(item)
    if any(d.startswith("ml_datasets.") for d in downloads):  # the data sets say more
        downloads = [d for d in downloads if d != "ml_datasets"]
    if downloads:
        reasons.append("needs a download: " + ", ".join(downloads))
    modules = required_modules(source)
    gpu = [m for m in modules if m == "cupy"]
    if called_at_top(source, "require_gpu"):
        gpu.append("require_gpu()")
    if "/device:GPU" in code:
        gpu.append("a GPU device")
    if gpu:
        reasons.append("needs a GPU: " + ", ".join(gpu))
    if re.search(r"^reveal_type\(", code, re.M):
        reasons.append("needs mypy: a type-checking example (reveal_type), not a runtime one")
    missing = [m for m in modules if m != "cupy" and not available.get(m, True)
               and not (m == "ml_datasets" and downloads)]
    frameworks = [m for m in missing if m in FRAMEWORKS]
    others = [m for m in missing if m not in FRAMEWORKS]
    if frameworks:
        reasons.append("needs " + ", ".join(frameworks))
    if others:
        reasons.append("needs " + ", ".join(others) + " (not installed)")
    if not re.search(r"^\s*(?:import|from)\s+thinc\b", code, re.M):
        reasons.append("does not use thinc")
    return reasons


def apply_patches(name: str, text: str, notes: list) -> str:
    for pattern, replacement, why in PATCHES.get(name, []):
        text, count = re.subn(pattern, replacement, text)
        notes.append(f"patched: {replacement} ({why})" if count
                     else f"patch not applied: no {pattern!r} any more")
    return text


# ---------------------------------------------------------------------------
# Running.

@dataclass
class Side:
    label: str
    python: str
    env: dict


@dataclass
class Run:
    rc: int | None = None  # None: timed out
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    thinc: dict = field(default_factory=dict)


@dataclass
class Example:
    name: str  # the file under examples/, then its arguments if any
    script: Path | None = None
    args: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    skip: list = field(default_factory=list)
    runs: dict = field(default_factory=dict)
    status: str = ""


def checkout_is_built() -> bool:
    """Whether this checkout's thinc_fast has its compiled kernels beside its
    sources (``python setup.py build_ext --inplace``), so that it can be imported
    from the checkout itself."""
    backends = REPO_ROOT / "thinc_fast" / "backends"
    return any(backends.glob("numpy_ops.*.so")) or any(backends.glob("numpy_ops.*.pyd"))


def make_env(extra_path: list[str], threads: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT")}
    env["PYTHONPATH"] = os.pathsep.join(
        extra_path + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", PYTHONUNBUFFERED="1",
               MPLBACKEND="Agg", TQDM_DISABLE="1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    return env


def probe(side: Side, shims: Path, cwd: Path, modules: list[str]) -> dict:
    try:
        proc = subprocess.run([side.python, "-c", PROBE, str(shims)] + modules, env=side.env,
                              cwd=cwd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RunnerError(f"cannot run {side.python}: {err}")
    if proc.returncode != 0:
        raise RunnerError(f"{side.python} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_pair(example: Example, sides: list[Side], tmp: Path, bootstrap: Path, shims: Path,
             timeout: float) -> None:
    """Both runs of one example at once; fills example.runs."""
    procs = {}
    for side in sides:
        folder = tmp / "runs" / side.label / re.sub(r"[^\w.-]+", "_", example.name)
        (folder / "cwd").mkdir(parents=True)  # what the example writes goes there
        out, err = open(folder / "stdout.txt", "w"), open(folder / "stderr.txt", "w")
        cmd = [side.python, str(bootstrap), str(folder / "thinc.json"), str(shims),
               str(example.script)] + example.args
        proc = subprocess.Popen(cmd, env=side.env, cwd=folder / "cwd", stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        procs[side.label] = (proc, time.monotonic(), folder, out, err)
    pending = set(procs)
    try:
        while pending:
            time.sleep(0.1)
            for label in list(pending):
                proc, start, folder, out, err = procs[label]
                timed_out = False
                if proc.poll() is None and time.monotonic() - start > timeout:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    timed_out = True
                if proc.poll() is None:
                    continue
                pending.discard(label)
                out.close()
                err.close()
                run = Run(rc=None if timed_out else proc.returncode,
                          seconds=time.monotonic() - start,
                          stdout=(folder / "stdout.txt").read_text(errors="replace"),
                          stderr=(folder / "stderr.txt").read_text(errors="replace"))
                try:
                    run.thinc = json.loads((folder / "thinc.json").read_text())
                except (OSError, ValueError):
                    run.thinc = {}
                example.runs[label] = run
    finally:  # Ctrl-C: the runs are in sessions of their own, so end them here
        for label in pending:
            proc = procs[label][0]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def classify(example: Example) -> str:
    control, fast = example.runs["thinc"], example.runs["thinc_fast"]
    if fast.thinc.get("thinc") and not fast.thinc.get("thinc_fast"):
        return "ERROR: the thinc_fast run imported real Thinc"
    if control.thinc.get("thinc_fast"):
        return "ERROR: the Thinc run imported the stand-in"
    if control.rc == 0 and fast.rc == 0:
        return "OK"
    if control.rc == 0:
        return "FAIL: thinc_fast only" + (" (timeout)" if fast.rc is None else "")
    if fast.rc == 0:
        return "Thinc failed, thinc_fast OK" + (" (timeout)" if control.rc is None else "")
    if None in (control.rc, fast.rc):
        return "failed under Thinc too (timeout)"
    if error_tail(control, 1) != error_tail(fast, 1):  # thinc_fast may stop sooner
        return "failed under Thinc too, differently"
    return "failed under Thinc too"


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def last_number_line(run: Run) -> str:
    """The last printed line holding a digit (stdout; stderr only after a clean exit)."""
    for stream, tag in ((run.stdout, ""), (run.stderr if run.rc == 0 else "", " [stderr]")):
        for line in reversed(ANSI.sub("", stream).splitlines()):
            line = " ".join(line.split())
            if re.search(r"\d", line):
                return (line if len(line) <= 90 else line[:87] + "...") + tag
    return ""


def error_tail(run: Run, lines: int) -> list[str]:
    """The last `lines` lines of stderr, less the runner's own traceback frames."""
    text, kept, frame_indent = ANSI.sub("", run.stderr).rstrip().splitlines(), [], None
    for line in text:
        indent = len(line) - len(line.lstrip())
        if frame_indent is not None and indent > frame_indent:
            continue  # the source line and carets of a dropped frame
        frame_indent = None
        if re.match(r'\s*File "(<frozen runpy>|.*[/\\]bootstrap\.py)"', line):
            frame_indent = indent
            continue
        kept.append(line)
    if run.rc is None:
        return ["(timed out)"] + kept[-lines:]
    return kept[-lines:] or ["(no stderr; exit status %s)" % run.rc]


def cell(run: Run) -> str:
    state = "timeout" if run.rc is None else ("ok" if run.rc == 0 else f"rc={run.rc}")
    return f"{state:>7} {run.seconds:6.1f}s"


def print_table(examples: list[Example], tail: int) -> None:
    width = max(len(e.name) for e in examples) + 1
    rw = max([len(e.status) for e in examples if not e.skip] + [6])
    rule = "-" * (width + rw + 33)
    print(f"\n{'example':{width}} {'result':{rw}} {'Thinc':>15} {'thinc_fast':>15}")
    print(rule)
    for ex in examples:
        if ex.skip:
            print(f"{ex.name:{width}} skipped: {'; '.join(ex.skip)}")
            continue
        control, fast = ex.runs["thinc"], ex.runs["thinc_fast"]
        print(f"{ex.name:{width}} {ex.status:{rw}} {cell(control):>15} {cell(fast):>15}")
        for note in ex.notes:
            if note.startswith(("patch", "run despite")):
                print(f"{'':{width}}   {note}")
        left, right = last_number_line(control), last_number_line(fast)
        if left or right:
            same = "  (same)" if left == right else ""
            print(f"{'':{width}}   last line, Thinc:      {left or '-'}")
            print(f"{'':{width}}   last line, thinc_fast: {right or '-'}{same}")
    print(rule)
    groups = [("ran OK under both", lambda st: st == "OK"),
              ("failed under thinc_fast only", lambda st: st.startswith("FAIL")),
              ("failed under Thinc too", lambda st: st.startswith("failed under Thinc")),
              ("failed under Thinc only", lambda st: st.startswith("Thinc failed")),
              ("runner errors", lambda st: st.startswith("ERROR"))]
    summary = [f"{sum(1 for ex in examples if not ex.skip and test(ex.status))} {label}"
               for label, test in groups]
    summary = summary[:3] + [part for part in summary[3:] if not part.startswith("0 ")]
    print(", ".join(summary + [f"{sum(1 for ex in examples if ex.skip)} skipped"]))

    failed = [ex for ex in examples if not ex.skip and ex.status != "OK"]
    for ex in failed:
        control, fast = ex.runs["thinc"], ex.runs["thinc_fast"]
        print(f"\n== {ex.name}: {ex.status}")
        if ex.status.startswith("FAIL") or ex.status.endswith("differently"):
            if control.rc != 0:
                print(f"   Thinc: {error_tail(control, 1)[-1]}")
            print("   thinc_fast's error (last lines of stderr):")
            print("".join(f"     {line}\n" for line in error_tail(fast, tail)), end="")
        else:
            for label, run in (("Thinc", control), ("thinc_fast", fast)):
                if run.rc != 0:
                    print(f"   {label}: {error_tail(run, 1)[-1]}")
        if ex.status.startswith("ERROR"):
            print(f"   Thinc run: {control.thinc}\n   thinc_fast run: {fast.thinc}")


# ---------------------------------------------------------------------------

def select(names: list[str], only: list[str] | None) -> list[str]:
    if not only:
        return names
    chosen = []
    for pattern in only:
        pattern = pattern.removeprefix("examples/")
        hits = [n for n in names if pattern in (n, Path(n).name, Path(n).stem,
                                                  str(Path(n).with_suffix("")))]
        hits = hits or [n for n in names if fnmatch.fnmatch(n, pattern)
                        or fnmatch.fnmatch(Path(n).name, pattern)]
        hits = hits or [n for n in names if pattern in n]  # a part of the name
        if not hits:
            raise RunnerError(f"--only {pattern}: no such example; there are:\n  "
                              + "\n  ".join(names))
        chosen += [h for h in hits if h not in chosen]
    return [n for n in names if n in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See the top of this file for details.")
    parser.add_argument("--thinc-repo", metavar="PATH",
                        help="a Thinc clone: work tree or git dir (default: download "
                        "from GitHub)")
    parser.add_argument("--rev", help="branch, tag or commit (default: HEAD for a git "
                        "dir, the files on disk for a work tree, master on GitHub)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="examples to run")
    parser.add_argument("--all", action="store_true",
                        help="run the examples the scan would skip as well")
    parser.add_argument("--list", action="store_true",
                        help="list the examples and what the scan says; run nothing")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run")
    parser.add_argument("--thinc-python", default=sys.executable, metavar="PY",
                        help="Python whose installed thinc is the control")
    parser.add_argument("--fast-python", default=sys.executable, metavar="PY",
                        help="Python that runs thinc_fast (this checkout's is put first)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP/BLAS threads per run (default 1)")
    parser.add_argument("--tail", type=int, default=15,
                        help="lines of error shown for a thinc_fast failure")
    parser.add_argument("--no-patches", action="store_true",
                        help="run the examples exactly as Thinc has them (see PATCHES)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="thinc_examples-"))
    try:
        return run(args, tmp)
    except RunnerError as err:
        print(f"thinc_examples: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nthinc_examples: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"temporary folder kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: Path) -> int:
    source = open_source(args.thinc_repo, args.rev)
    names = select(source.list(), args.only)
    if not names:
        raise RunnerError(f"no examples found in {source.description}")

    # The examples, as scripts on disk.
    (tmp / "examples").mkdir()
    examples = []
    for name in names:
        text, notes = source.read(name), []
        if name.endswith(".ipynb"):
            text, notes = notebook_to_script(text, name)
        if not args.no_patches:
            text = apply_patches(name, text, notes)
        script = tmp / "examples" / re.sub(r"\.ipynb$", ".py", name)
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text, encoding="utf8")
        for argv in SCRIPT_ARGS.get(name, [[]]):
            examples.append(Example(name=" ".join([name] + argv), script=script,
                                    args=list(argv), notes=list(notes)))

    # The two sides: the control as it is; thinc_fast behind the stand-in.
    shims = tmp / "shims"
    (shims / "IPython").mkdir(parents=True)
    (shims / "IPython" / "__init__.py").write_text(SHIM_IPYTHON_INIT)
    (shims / "IPython" / "display.py").write_text(SHIM_IPYTHON_DISPLAY)
    (shims / "typer.py").write_text(SHIM_TYPER)
    standin_text, standin_origin = standin_source()
    (tmp / "standin" / "thinc").mkdir(parents=True)
    (tmp / "standin" / "thinc" / "__init__.py").write_text(standin_text)
    bootstrap = tmp / "bootstrap.py"
    bootstrap.write_text(BOOTSTRAP)
    # this checkout's thinc_fast when its kernels are built in place, else the installed one
    # (after `pip install .` the checkout's folder has no compiled kernels to import)
    checkout = [str(REPO_ROOT)] if checkout_is_built() else []
    sides = [Side("thinc", args.thinc_python, make_env([], args.threads)),
             Side("thinc_fast", args.fast_python,
                  make_env([str(tmp / "standin"), *checkout], args.threads))]

    modules = sorted(set(m for ex in examples for m in required_modules(ex.script.read_text())))
    found = {side.label: probe(side, shims, tmp, modules) for side in sides}
    control, fast = found["thinc"], found["thinc_fast"]
    if control["thinc"][0] is None:
        raise RunnerError(f"{args.thinc_python} cannot import thinc: {control['thinc'][1]}")
    if control["thinc"][2]:
        raise RunnerError(f"{args.thinc_python}'s thinc is a thinc_fast stand-in "
                          f"({control['thinc'][1]})")
    if fast["thinc_fast"][0] is None:
        raise RunnerError(f"{args.fast_python} cannot import thinc_fast: "
                          f"{fast['thinc_fast'][1]}; install it (pip install . in "
                          "this checkout) or build its kernels in place (python setup.py "
                          "build_ext --inplace)")
    if not fast["thinc"][2] or not str(fast["thinc"][1]).startswith(str(tmp / "standin")):
        raise RunnerError(f"the stand-in thinc does not import under {args.fast_python}: "
                          f"{fast['thinc'][1]}")
    available = {m: control["modules"].get(m, False) and fast["modules"].get(m, False)
                 for m in modules}
    print(f"examples:   {source.description}\n"
          f"Thinc:      {control['thinc'][0]} at {Path(control['thinc'][1]).parent} "
          f"({args.thinc_python})\n"
          f"thinc_fast: {fast['thinc_fast'][0]} at {Path(fast['thinc_fast'][1]).parent} "
          f"({args.fast_python}), served as thinc by {standin_origin}\n"
          f"each run: timeout {args.timeout:.0f} s, {args.threads} thread(s), "
          "both sides at once")

    for ex in examples:
        ex.skip = scan(ex.script.read_text(), available)
        if args.all and ex.skip:
            ex.notes.append("run despite: " + "; ".join(ex.skip))
            ex.skip = []
    if args.list:
        width = max(len(ex.name) for ex in examples) + 1
        for ex in examples:
            print(f"{ex.name:{width}} " + ("skip: " + "; ".join(ex.skip) if ex.skip
                                           else "run"))
            for note in ex.notes:
                print(f"{'':{width}}   {note}")
        return 0

    for ex in examples:
        if ex.skip:
            continue
        print(f"running {ex.name} ...", end="", flush=True)
        run_pair(ex, sides, tmp, bootstrap, shims, args.timeout)
        ex.status = classify(ex)
        times = ", ".join(f"{label} {ex.runs[label].seconds:.1f} s"
                          for label in ("thinc", "thinc_fast"))
        print(f" {ex.status} ({times})", flush=True)

    print_table(examples, args.tail)
    lost = [ex for ex in examples if ex.status.startswith("FAIL")]
    if any(ex.status.startswith("ERROR") for ex in examples):
        return 2
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
