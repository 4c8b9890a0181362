"""The thinc-fast command line, end to end in subprocesses."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy
import pytest


def cli(*args, cwd=None, check=True, timeout=300):
    # Run outside the checkout, so that `python -m` imports the installed package.
    result = subprocess.run([sys.executable, "-m", "thinc_fast", *map(str, args)],
                            cwd=cwd or tempfile.gettempdir(), capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def load_params(path):
    with numpy.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files if k != "__header__"}


def test_train_default_evaluate_and_outputs(tmp_path):
    out = tmp_path / "run"
    result = cli("train", "--quiet", "-o", out, "--set", "training.max_epochs=4")
    assert "dev_acc" in result.stdout and "Done: 4 epochs" in result.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["dev_acc"] > 0.9, rows[-1]
    for folder in ("model-last", "model-best"):
        assert {"config.cfg", "model.bin", "checkpoint.bin", "meta.json"} <= set(os.listdir(out / folder))
    assert "max_epochs = 4" in (out / "config.cfg").read_text()
    evaluated = cli("evaluate", out)
    best = max(r["dev_acc"] for r in rows)
    assert f"accuracy {best:.4f}" in evaluated.stdout


def test_resume_matches_an_uninterrupted_run_bit_for_bit(tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    settings = ["--set", "training.patience=0", "--seed", "3"]
    cli("train", "-q", "-o", full, "--set", "training.max_epochs=4", *settings)
    cli("train", "-q", "-o", split, "--set", "training.max_epochs=2", *settings)
    resumed = cli("train", "-q", "-o", split, "--resume", "--set", "training.max_epochs=4")
    assert "Resumed" in resumed.stdout
    a = load_params(full / "model-last" / "model.bin")
    b = load_params(split / "model-last" / "model.bin")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key
    rows_a = [json.loads(x) for x in (full / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (split / "metrics.jsonl").read_text().splitlines()]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "examples_per_s"} for r in rows]
    assert strip(rows_a) == strip(rows_b)


def test_init_config_then_train_it(tmp_path):
    cfg = tmp_path / "my.cfg"
    cli("init-config", cfg)
    text = cfg.read_text()
    assert '@datasets = "digits.v1"' in text
    cfg.write_text(text.replace("max_epochs = 20", "max_epochs = 1"))
    assert "Done: 1 epochs" in cli("train", cfg, "-q").stdout


def test_train_on_an_npz_file_and_evaluate_it(tmp_path):
    rng = numpy.random.default_rng(0)
    X = rng.standard_normal((300, 5)).astype("f")
    y = (X[:, 0] > 0).astype("int64")
    numpy.savez(tmp_path / "data.npz", X=X, Y=y)
    cfg = tmp_path / "npz.cfg"
    cfg.write_text(f"""
[data]
@datasets = "npz.v1"
path = "{tmp_path / 'data.npz'}"

[model]
@layers = "chain.v1"

[model.*.hidden]
@layers = "Relu.v1"
nO = 16

[model.*.out]
@layers = "Softmax.v1"

[optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.01

[training]
max_epochs = 10
""")
    cli("train", cfg, "-q", "-o", tmp_path / "run")
    result = cli("evaluate", tmp_path / "run", tmp_path / "data.npz")
    accuracy = float(result.stdout.split("accuracy ")[1].split(",")[0])
    assert accuracy > 0.9


BAD_INPUTS = [
    (["--set", "training.epochs=2"], "no key 'epochs'"),
    (["--set", "nosuch.key=2"], "no section [nosuch]"),
    (["--set", "training.max_epochs=0"], "max_epochs must be an integer >= 1"),
    (["--set", "optimizer.learn_rate=-1"], "learn_rate"),
    (["missing.cfg"], "Config file not found: missing.cfg"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS)
def test_bad_input_exits_nonzero_with_a_message(tmp_path, args, message):
    result = cli("train", *args, cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_config_files_name_file_section_and_key(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text('[model]\n@layers = "Reluu.v1"\n[optimizer]\n@optimizers = "Adam.v1"\n'
                   '[data]\n@datasets = "digits.v1"\n')
    result = cli("train", bad, check=False)
    assert result.returncode == 1
    assert str(bad) in result.stderr and "[model]" in result.stderr and "Reluu.v1" in result.stderr
    broken = tmp_path / "broken.cfg"
    broken.write_text("[model\nnot a config")
    result = cli("train", broken, check=False)
    assert result.returncode == 1 and f"Could not parse {broken}" in result.stderr
    verbose = cli("train", broken, "--verbose", check=False)
    assert "Traceback" in verbose.stderr


def test_bad_data_file_names_file_and_key(tmp_path):
    numpy.savez(tmp_path / "bad.npz", X=numpy.zeros(10, "f"), Y=numpy.zeros(10, "i"))
    cfg = tmp_path / "c.cfg"
    cfg.write_text(f'[data]\n@datasets = "npz.v1"\npath = "{tmp_path / "bad.npz"}"\n'
                   '[model]\n@layers = "Softmax.v1"\n[optimizer]\n@optimizers = "Adam.v1"\n')
    result = cli("train", cfg, check=False)
    assert result.returncode == 1
    assert "bad.npz" in result.stderr and "'X' must be a 2d numeric array" in result.stderr


def test_existing_folders_are_never_clobbered(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = cli("train", "-o", foreign, check=False)
    assert result.returncode == 1 and "not a thinc-fast run folder" in result.stderr
    assert snapshot(foreign) == {"notes.txt": b"mine"}
    run = tmp_path / "run"
    cli("train", "-q", "-o", run, "--set", "training.max_epochs=1")
    before = snapshot(run)
    again = cli("train", "-o", run, check=False)
    assert again.returncode == 1 and "--resume" in again.stderr
    bad = cli("train", "-o", run, "--resume", "--set", "training.bogus=1", check=False)
    assert bad.returncode == 1 and "no key 'bogus'" in bad.stderr
    assert snapshot(run) == before


def test_ctrl_c_leaves_a_usable_model_last(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "thinc_fast", "train", "-q", "-o", str(out),
                             "--set", "training.max_epochs=100000", "--set", "training.patience=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.time() + 120
    while not (out / "model-last" / "model.bin").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Interrupted at step" in stderr
    assert "accuracy" in cli("evaluate", out / "model-last").stdout
    # Ctrl-C stops at a step boundary: resuming gives exactly the uninterrupted run
    epoch = json.loads((out / "model-last" / "meta.json").read_text())["epoch"]
    target = epoch + 2
    cli("train", "-q", "-o", out, "--resume", "--set", f"training.max_epochs={target}")
    straight = tmp_path / "straight"
    cli("train", "-q", "-o", straight, "--set", f"training.max_epochs={target}",
        "--set", "training.patience=0")
    a = load_params(out / "model-last" / "model.bin")
    b = load_params(straight / "model-last" / "model.bin")
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


def test_batch_size_schedule_and_mid_epoch_evaluation_resume_exactly(tmp_path):
    cfg = tmp_path / "sched.cfg"
    from thinc_fast.training import DEFAULT_CONFIG

    cfg.write_text(DEFAULT_CONFIG.replace("batch_size = 32\n", "") .replace(
        "eval_frequency = 0", "eval_frequency = 7") + """
[training.batch_size]
@schedules = "compounding.v1"
start = 8
stop = 64
compound = 1.1
""")
    full, split = tmp_path / "full", tmp_path / "split"
    cli("train", cfg, "-q", "-o", full, "--set", "training.max_epochs=3", "--set", "training.patience=0")
    cli("train", cfg, "-q", "-o", split, "--set", "training.max_epochs=2", "--set", "training.patience=0")
    rows = [json.loads(x) for x in (split / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows]
    assert steps[:3] == [7, 14, 21] and steps[-1] % 7 != 0, "a final evaluation saves the last steps"
    cli("train", "-q", "-o", split, "--resume", "--set", "training.max_epochs=3")
    a = load_params(full / "model-last" / "model.bin")
    b = load_params(split / "model-last" / "model.bin")
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


def test_a_failed_model_folder_swap_keeps_the_previous_folder(tmp_path, monkeypatch):
    from thinc_fast.api import Adam, Config, Relu, Softmax, chain
    from thinc_fast.training import write_model_dir

    model = chain(Relu(4), Softmax()).initialize(X=numpy.zeros((2, 3), "f"),
                                                 Y=numpy.eye(2, dtype="f"))
    optimizer = Adam(0.1)
    target = tmp_path / "model-last"
    write_model_dir(target, Config(), model, optimizer, {}, {"n": 1})
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # moving the new folder in fails
            raise OSError("disk trouble")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk trouble"):
        write_model_dir(target, Config(), model, optimizer, {}, {"n": 2})
    monkeypatch.undo()
    assert json.loads((target / "meta.json").read_text()) == {"n": 1}
    assert os.listdir(tmp_path) == ["model-last"], "no temporary folder is left behind"
    write_model_dir(target, Config(), model, optimizer, {}, {"n": 3})
    assert json.loads((target / "meta.json").read_text()) == {"n": 3}


def test_errors_of_the_distributed_layer_are_shown_as_messages(tmp_path):
    pytest.importorskip("ray")
    result = cli("train", "-q", "--workers", "1", "--address", "127.0.0.1:9", cwd=tmp_path,
                 check=False)
    assert result.returncode == 1
    assert "Error: No Ray cluster answers at 127.0.0.1:9" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "RayUnavailableError" not in result.stderr
