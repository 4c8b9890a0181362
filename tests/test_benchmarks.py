"""The benchmark folder loads the two ways it is used: asv imports every module
in it as ``benchmarks.<name>`` before it runs anything (one module that fails to
import stops the whole suite: "Failed to build the project and import the
benchmark suite"), and people run ``python benchmarks/compare.py``. No timing
here: the numbers live in the benchmarks themselves."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"

pytestmark = pytest.mark.skipif(not (BENCHMARKS / "compare.py").exists(),
                                reason="the checkout's benchmarks/ folder is not beside tests/")


def _run(args, cwd):
    # outside the checkout, so that `thinc_fast` is the one under test (the
    # installed wheel in CI), not the source folder at the repository's root
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_asv_finds_the_suite_where_the_config_says():
    config = json.loads((REPO / "asv.conf.json").read_text())
    folder = REPO / config["benchmark_dir"]
    assert folder == BENCHMARKS and (folder / "__init__.py").exists()
    assert sorted(p.name for p in folder.glob("bench_*.py")), "no asv benchmark modules"


def test_every_benchmark_module_imports_as_asv_imports_it(tmp_path):
    (tmp_path / "benchmarks").symlink_to(BENCHMARKS, target_is_directory=True)
    code = ("import importlib, pkgutil, benchmarks\n"
            "names = [m.name for m in pkgutil.iter_modules(benchmarks.__path__)]\n"
            "for name in names:\n"
            "    importlib.import_module('benchmarks.' + name)\n"
            "print(' '.join(names))\n")
    result = _run(["-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    on_disk = {p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "__init__"}
    assert imported == on_disk


@pytest.mark.parametrize("script", ["gemm_sweep.py", "multihost.py"])  # compare.py: below
def test_the_scripts_start_when_run_as_files(tmp_path, script):
    result = _run([str(BENCHMARKS / script), "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")


def test_compare_names_the_rows_it_knows_when_given_another(tmp_path):
    # also: it starts when run as a file (its import of mlp_configs)
    result = _run([str(BENCHMARKS / "compare.py"), "--only", "gemm,nosuch"], tmp_path)
    assert result.returncode == 2
    assert "--only: unknown row(s) nosuch; the rows are gemm, gemm_step" in result.stderr
