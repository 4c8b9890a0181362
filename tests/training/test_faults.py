"""Faults while training, in subprocesses: Ctrl-C wherever it lands, two runs into
one folder, kill -9 during a folder swap, file modes. Each run is small (the digits, a few epochs) and bounded
in time."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy
import pytest

TIMEOUT = 60
# Runs the CLI with a fault injected: THF_SIGINT_AT_STEP=N sends SIGINT to the
# process right after step N; THF_KILL_AT_SWAP=N kills it (SIGKILL) between the
# two renames of the N-th replacement of an existing model-last;
# THF_KILL_AT_CHECKPOINT=N kills it while the N-th checkpoint is written.
DRIVER = r"""
import os, signal, sys
from pathlib import Path

sigint_at = int(os.environ.get("THF_SIGINT_AT_STEP", "0"))
kill_at_swap = int(os.environ.get("THF_KILL_AT_SWAP", "0"))
kill_at_checkpoint = int(os.environ.get("THF_KILL_AT_CHECKPOINT", "0"))
if sigint_at:
    import thinc_fast.training.loop as loop
    real_step, steps = loop.train_step, [0]
    def train_step(*args, **kwargs):
        result = real_step(*args, **kwargs)
        steps[0] += 1
        if steps[0] == sigint_at:
            os.kill(os.getpid(), signal.SIGINT)
        return result
    loop.train_step = train_step
if kill_at_swap:
    real_replace, swaps = os.replace, [0]
    def replace(src, dst):
        real_replace(src, dst)
        if Path(src).name == "model-last" and ".model-last.old-" in str(dst):
            swaps[0] += 1
            if swaps[0] == kill_at_swap:
                os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
if kill_at_checkpoint:
    import thinc_fast.checkpoint as checkpoint
    real_atomic, saves = checkpoint.atomic_write, [0]
    def atomic_write(path, data):
        saves[0] += 1
        if saves[0] == kill_at_checkpoint:
            Path(path).with_name("." + Path(path).name + ".partial.tmp").write_bytes(data[:100])
            os.kill(os.getpid(), signal.SIGKILL)
        return real_atomic(path, data)
    checkpoint.atomic_write = atomic_write
from thinc_fast.cli import main
main(sys.argv[1:])
"""
SMALL = ["--set", "model.*.hidden1.nO=24", "--set", "model.*.hidden2.nO=16"]


def cli(*args, env=None, check=True, umask=None):
    result = subprocess.run([sys.executable, "-c", DRIVER, *map(str, args)],
                            cwd=tempfile.gettempdir(), capture_output=True, text=True,
                            timeout=TIMEOUT, env=dict(os.environ, **(env or {})),
                            preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def params(path):
    with numpy.load(path, allow_pickle=False) as data:
        return {k: data[k].tobytes() for k in data.files if k != "__header__"}


def metrics(run):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "examples_per_s"} for row in rows]


def assert_same_run(a, b):
    assert metrics(a) == metrics(b)
    for folder in ("model-last", "model-best"):
        assert params(a / folder / "model.bin") == params(b / folder / "model.bin"), folder
        meta_a = json.loads((a / folder / "meta.json").read_text())
        meta_b = json.loads((b / folder / "meta.json").read_text())
        assert meta_a == meta_b, folder


def hidden(run):
    return sorted(p.name for p in run.iterdir() if p.name.startswith(".")
                  and p.name not in (".thinc-fast-run", ".thinc-fast.lock"))


# ------------------------------------------------- 3. Ctrl-C wherever it lands
SETTINGS = {
    # epoch = 45 steps; patience 2 stops this run early (at step 315)
    "per epoch": ["--set", "training.max_epochs=9", "--set", "training.patience=2",
                  "--set", "optimizer.learn_rate=0.02"],
    "every 20 steps": ["--set", "training.max_epochs=3", "--set", "training.eval_frequency=20",
                       "--set", "training.patience=3", "--set", "optimizer.learn_rate=0.02"],
}


@pytest.fixture(scope="module")
def straight_runs(tmp_path_factory):
    """The uninterrupted runs, once per setting."""
    out = {}
    for name, settings in SETTINGS.items():
        run = tmp_path_factory.mktemp("straight") / "run"
        cli("train", "-q", "-o", run, *SMALL, *settings)
        out[name] = run
    return out


@pytest.mark.parametrize("setting,step", [
    ("per epoch", 135),       # the step that ends an epoch: its evaluation is due
    ("per epoch", 100),       # mid-epoch
    ("every 20 steps", 60),   # an eval_frequency step
    ("every 20 steps", 90),   # an epoch's end between evaluations
])
def test_ctrl_c_anywhere_then_resume_equals_the_uninterrupted_run(tmp_path, straight_runs,
                                                                   setting, step):
    run = tmp_path / "run"
    stopped = cli("train", "-q", "-o", run, *SMALL, *SETTINGS[setting],
                  env={"THF_SIGINT_AT_STEP": str(step)}, check=False)
    assert stopped.returncode == 130, stopped.stderr
    # friction 7: not an error; says the run is saved and how to go on
    assert "Error" not in stopped.stderr and "--verbose" not in stopped.stderr
    assert f"Interrupted at step {step}. The run is saved in {run}" in stopped.stderr
    assert f"thinc-fast train --resume --output {run}" in stopped.stderr
    assert json.loads((run / "model-last" / "meta.json").read_text())["step"] == step
    resumed = cli("train", "-q", "-o", run, "--resume")
    assert "Resumed" in resumed.stdout
    assert_same_run(run, straight_runs[setting])


# ------------------------------------------------ 5. one run per folder, locked
def _wait_for(predicate, what, proc=None):
    deadline = time.time() + TIMEOUT
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.communicate()}")
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _start(*args):
    return subprocess.Popen([sys.executable, "-c", DRIVER, *map(str, args)],
                            cwd=tempfile.gettempdir(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("lock_file", ["kept", "deleted"])
def test_a_second_run_into_a_busy_folder_is_refused(tmp_path, lock_file):
    """"deleted": the lock was on the lock file only; deleted while a run held
    it, a second run took a new one, and its start-up deleted the first run's
    in-progress folder. The folder itself is locked now."""
    run = tmp_path / "run"
    first = _start("train", "-q", "-o", run, *SMALL, "--set", "training.max_epochs=100000",
                   "--set", "training.patience=0")
    try:
        _wait_for(lambda: (run / "model-last" / "meta.json").exists(), "model-last", first)
        if lock_file == "deleted":
            (run / ".thinc-fast.lock").unlink()
        holder = f"(pid {first.pid} " if lock_file == "kept" else "(another process)"
        for extra in ([], ["--overwrite"], ["--resume"]):
            second = cli("train", "-q", "-o", run, *extra, check=False)
            assert second.returncode == 1
            assert f"--output {run} is in use by another thinc-fast run {holder}" \
                in second.stderr, second.stderr
            assert "Traceback" not in second.stderr
        assert (run / "model-last" / "meta.json").exists(), "the first run's folder is intact"
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=TIMEOUT)
    assert first.returncode == 130
    steps = [row["step"] for row in metrics(run)]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), "one run's rows only"
    if lock_file == "deleted":
        return
    assert (run / ".thinc-fast.lock").read_text() == "", "released on exit"
    # released: the run can be resumed now
    cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=1",
        "--set", "training.patience=0")


def test_two_new_runs_started_together_into_one_folder(tmp_path):
    run = tmp_path / "run"
    args = ["train", "-q", "-o", run, *SMALL, "--set", "training.max_epochs=100000",
            "--set", "training.patience=0"]
    procs = [_start(*args), _start(*args)]
    try:
        _wait_for(lambda: any(p.poll() is not None for p in procs), "one run to be refused")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        outputs = [proc.communicate(timeout=TIMEOUT) for proc in procs]
    codes = sorted(proc.returncode for proc in procs)
    assert codes == [1, 130], outputs
    refused = outputs[[p.returncode for p in procs].index(1)][1]
    # the holder's pid is named once it has written it; a run refused in the
    # instant between the holder's lock and that write says "another process"
    assert ("is in use by another thinc-fast run (pid " in refused
            or "is in use by another thinc-fast run (another process)" in refused), refused


def test_a_stale_lock_is_taken_over_and_reported(tmp_path):
    run = tmp_path / "run"
    cli("train", "-q", "-o", run, *SMALL, "--set", "training.max_epochs=1")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, signal, sys; from pathlib import Path; "
         "from thinc_fast.training import RunLock; RunLock.acquire(Path(sys.argv[1])); "
         "print('locked', flush=True); os.kill(os.getpid(), signal.SIGKILL)", str(run)],
        stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
    holder.communicate(timeout=TIMEOUT)
    assert holder.returncode == -signal.SIGKILL
    assert f"pid {holder.pid} " in (run / ".thinc-fast.lock").read_text()
    resumed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2")
    assert f"the lock on {run} was left by a run that ended without releasing it (pid " \
        f"{holder.pid} " in resumed.stdout


# -------------------------------------------- 6. kill -9 during a folder swap
def test_kill_between_the_two_renames_of_a_swap_is_recovered(tmp_path):
    settings = [*SMALL, "--set", "training.max_epochs=4", "--set", "training.patience=0"]
    straight = tmp_path / "straight"
    cli("train", "-q", "-o", straight, *settings)
    run = tmp_path / "run"
    killed = cli("train", "-q", "-o", run, *settings, env={"THF_KILL_AT_SWAP": "2"}, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert not (run / "model-last").exists()
    left = hidden(run)
    assert any(n.startswith(".model-last.old-") for n in left), left
    assert any(n.startswith(".model-last.new-") for n in left), left
    resumed = cli("train", "-q", "-o", run, "--resume")
    assert f"Recovered {run / 'model-last'}" in resumed.stdout
    assert hidden(run) == []
    assert_same_run(run, straight)


def test_leftovers_of_killed_saves_are_removed(tmp_path):
    settings = [*SMALL, "--set", "training.max_epochs=3", "--set", "training.patience=0"]
    run = tmp_path / "run"
    cli("train", "-q", "-o", run, *settings, "--set", "training.max_epochs=1")
    for _ in range(2):
        killed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=3",
                     env={"THF_KILL_AT_CHECKPOINT": "1"}, check=False)
        assert killed.returncode == -signal.SIGKILL
        assert any(n.startswith(".model-") for n in hidden(run)), hidden(run)
    resumed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=3")
    assert "Removed" in resumed.stdout and hidden(run) == []
    straight = tmp_path / "straight"
    cli("train", "-q", "-o", straight, *settings)
    assert_same_run(run, straight)


# ----------------------------------------------------------------- 8. modes
@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask 022", "umask 002"])
def test_saved_files_respect_the_umask(tmp_path, umask):
    run = tmp_path / "run"
    cli("train", "-q", "-o", run, *SMALL, "--set", "training.max_epochs=1", umask=umask)
    paths = [run, *run.rglob("*")]
    for path in paths:
        mode = path.stat().st_mode & 0o777
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == expected, f"{path}: {oct(mode)}, expected {oct(expected)}"


def test_a_file_system_without_locks_is_noted_not_fatal(tmp_path, monkeypatch):
    import errno
    import fcntl

    from thinc_fast.training import RunLock

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    lock = RunLock.acquire(tmp_path)
    assert lock.unsupported and "No locks available" in lock.unsupported
    lock.release()

