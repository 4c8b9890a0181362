"""``cli(...)``: the ``thinc-fast`` command in a subprocess, for the tests that
run it (test_cli, test_text_models, test_text_workflow)."""
import os
import subprocess
import sys
import tempfile


def cli(*args, cwd=None, check=True, timeout=300, path=()):
    """``python -m thinc_fast ARGS`` outside the checkout (by default in the
    temporary folder), so that it imports the thinc_fast under test (the
    installed wheel in CI); with `check`, AssertionError with the output on a
    non-zero exit. path: folders put first on its PYTHONPATH (a plug-in's)."""
    env = None
    if path:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([*map(str, path), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-m", "thinc_fast", *map(str, args)],
                            cwd=cwd or tempfile.gettempdir(), capture_output=True, text=True,
                            timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result
