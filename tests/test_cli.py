"""The thinc-fast command line, end to end in subprocesses."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy
import pytest
from cli_runner import cli
from configs import mlp_config


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
    cfg.write_text(mlp_config(
        [16], optimizer={"learn_rate": 0.01},
        before=f'[data]\n@datasets = "npz.v1"\npath = "{tmp_path / "data.npz"}"\n',
        after="[training]\nmax_epochs = 10\n"))
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
        if str(dst) == str(target) and ".new-" in str(src):  # moving the new folder in fails
            calls.append(dst)
            raise OSError("disk trouble")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk trouble"):
        write_model_dir(target, Config(), model, optimizer, {}, {"n": 2})
    monkeypatch.undo()
    assert len(calls) == 1
    assert json.loads((target / "meta.json").read_text()) == {"n": 1}
    assert os.listdir(tmp_path) == ["model-last"], "no temporary folder is left behind"
    write_model_dir(target, Config(), model, optimizer, {}, {"n": 3})
    assert json.loads((target / "meta.json").read_text()) == {"n": 3}


def test_workers_without_ray_say_which_extra_to_install(tmp_path):
    # runs with Ray installed or not: a module named ray that fails to import
    # stands first on the command's path, as when Ray is missing
    hide = tmp_path / "no_ray"
    hide.mkdir()
    (hide / "ray.py").write_text('raise ModuleNotFoundError("No module named \'ray\'", '
                                 'name="ray")\n')
    result = cli("train", "-q", "--workers", "2", "-o", tmp_path / "out", cwd=tmp_path,
                 check=False, path=[hide])
    assert result.returncode == 1
    assert ("Error: Distributed training needs Ray: pip install 'ray>=2.60,<3' (thinc_fast's "
            "[ray] extra)") in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "out").exists(), "nothing is written before the check"


def test_info_says_when_ray_is_installed_but_cannot_be_imported(tmp_path):
    """The ray line imports Ray rather than trusting the package metadata: an
    install that cannot be imported is named as such (with Ray absent, the line
    says how to install it)."""
    from importlib.metadata import PackageNotFoundError, version

    hide = tmp_path / "broken_ray"
    hide.mkdir()
    (hide / "ray.py").write_text('raise ImportError("libray_core.so: cannot open shared object")\n')
    line = [row for row in cli("info", cwd=tmp_path, path=[hide]).stdout.splitlines()
            if row.lstrip().startswith("ray:")]
    assert len(line) == 1, line
    try:
        installed = version("ray")
    except PackageNotFoundError:
        assert "not installed (pip install 'ray>=2.60,<3' (thinc_fast's [ray] extra))" in line[0]
    else:
        assert (f"ray {installed} is installed but cannot be imported (ImportError: "
                "libray_core.so: cannot open shared object); reinstall it") in line[0], line[0]


def test_errors_of_the_distributed_layer_are_shown_as_messages(tmp_path):
    ray = pytest.importorskip("ray")
    if getattr(ray, "__file__", None) is None:  # a folder named ray (Ray's /tmp/ray) in the cwd
        pytest.skip("'ray' imports as a namespace folder here, not the Ray package")
    result = cli("train", "-q", "--workers", "1", "--address", "127.0.0.1:9", cwd=tmp_path,
                 check=False)
    assert result.returncode == 1
    assert "Error: No Ray cluster answers at 127.0.0.1:9" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "RayUnavailableError" not in result.stderr


# ----------------------------------------------- data files: formats and checks
def write_npz(path, n=120, n_features=5, labels=None, **extra):
    rng = numpy.random.default_rng(1)
    X = rng.standard_normal((n, n_features)).astype("f")
    Y = (X[:, 0] > 0).astype("int64") if labels is None else labels
    numpy.savez(path, X=X, Y=Y, **extra)
    return path


def test_resume_refuses_settings_it_cannot_apply_and_says_what_can_change(tmp_path):
    """Item 7: a model setting changed on --resume would be overwritten by the checkpoint."""
    run = tmp_path / "run"
    cli("train", "-q", "-o", run, "--set", "training.max_epochs=1")
    before = snapshot(run)
    for args in (["--set", "model.*.hidden2.dropout=0.5"], ["--set", "data.dev_fraction=0.3"],
                 ["--set", "system.seed=4"], ["--set", "training.score=dev_loss"]):
        result = cli("train", "-q", "-o", run, "--resume", *args, check=False)
        assert result.returncode == 1, result.stdout
        assert f"--resume --set {args[1].split('=')[0]}: this setting cannot change when a run " \
               "resumes" in result.stderr
        assert "training.max_epochs, training.batch_size, training.eval_frequency, " \
               "training.patience, training.patience_min_steps, optimizer.*" in result.stderr
    for args, message in ((["--seed", "4"], "--seed cannot change when a run resumes"),
                          (["--data", tmp_path / "x.npz"], "--data cannot change when a run resumes")):
        result = cli("train", "-q", "-o", run, "--resume", *args, check=False)
        assert result.returncode == 1 and message in result.stderr
    assert snapshot(run) == before
    # what can change does apply: the optimizer's learning rate
    resumed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2",
                  "--set", "optimizer.learn_rate=0.0005")
    assert "Resumed" in resumed.stdout
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["learn_rate"] == 0.0005


@pytest.mark.parametrize("args,message", [
    (["--resume", "--overwrite", "-o", "run"], "--resume continues the run in --output and "
                                               "--overwrite starts it over: choose one"),
    (["--address", "127.0.0.1:6379"], "--address 127.0.0.1:6379 joins a Ray cluster to train on "
                                      "its workers: add --workers N"),
])
def test_options_that_do_not_go_together(tmp_path, args, message):
    result = cli("train", *args, cwd=tmp_path, check=False)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_a_data_file_given_as_config_says_how_to_pass_data(tmp_path):
    """Friction 1: it was a UnicodeDecodeError naming neither the file nor the fix."""
    data = write_npz(tmp_path / "data.npz")
    result = cli("train", data, check=False)
    assert result.returncode == 1 and "UnicodeDecodeError" not in result.stderr
    assert f"{data} is an .npz (zip) data file, not a config file" in result.stderr
    assert f"thinc-fast train --data {data}" in result.stderr


def test_train_with_data_then_evaluate_with_labels_covering_some_classes(tmp_path):
    """Friction 2 (--data) and 3 (evaluate: a subset of classes, rows said)."""
    rng = numpy.random.default_rng(3)
    X = rng.standard_normal((300, 6)).astype("f")
    y = numpy.digitize(X[:, 0], [-0.6, 0.0, 0.6]).astype("int64")  # 4 classes
    numpy.savez(tmp_path / "train.npz", X=X, Y=y)
    run = tmp_path / "run"
    out = cli("train", "-q", "--data", tmp_path / "train.npz", "-o", run,
              "--set", "training.max_epochs=8", "--set", "optimizer.learn_rate=0.01")
    assert "Done: 8 epochs" in out.stdout
    assert 'path = "' + str(tmp_path / "train.npz") in (run / "config.cfg").read_text()
    keep = y < 2  # only classes 0 and 1
    numpy.savez(tmp_path / "test.npz", X=X[keep][:50], Y=y[keep][:50])
    result = cli("evaluate", run, tmp_path / "test.npz")
    assert f"on all 50 rows of {tmp_path / 'test.npz'} ('X', 'Y')" in result.stdout
    accuracy = float(result.stdout.split("accuracy ")[1].split(",")[0])
    assert accuracy > 0.6
    numpy.savez(tmp_path / "both.npz", X=X[:40], Y=y[:40], X_dev=X[40:70], Y_dev=y[40:70])
    both = cli("evaluate", run, tmp_path / "both.npz").stdout
    assert "on all 40 rows" in both and "on all 30 rows" in both and "('X_dev', 'Y_dev')" in both
    numpy.savez(tmp_path / "more.npz", X=X[:5], Y=numpy.array([0, 1, 2, 3, 7]))
    more = cli("evaluate", run, tmp_path / "more.npz", check=False)
    assert more.returncode == 1
    assert "the labels need 8 classes, but the model predicts 4" in more.stderr
    hint = cli("train", "--set", f"data.path={tmp_path / 'train.npz'}", check=False)
    assert "to train on your own .npz file, use --data PATH" in hint.stderr


def test_load_model_rebuilds_a_cli_trained_model(tmp_path):
    """Friction 4: one documented call."""
    from thinc_fast.training import load_model

    run = tmp_path / "run"
    cli("train", "-q", "-o", run, "--set", "training.max_epochs=2")
    model = load_model(run)  # model-best of the run (or a model folder itself)
    from thinc_fast.datasets import digits

    _, _, dev_X, dev_Y = digits()
    accuracy = (model.predict(dev_X).argmax(1) == dev_Y.argmax(1)).mean()
    assert f"accuracy {accuracy:.4f}" in cli("evaluate", run).stdout
    last = load_model(run / "model-last")
    assert last.predict(dev_X[:3]).shape == (3, 10)
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    assert "from thinc_fast.training import load_model" in readme


def test_resuming_a_finished_run_says_so_and_changes_nothing(tmp_path):
    """Friction 5: it trained another epoch and overwrote model-last each time."""
    run = tmp_path / "run"
    first = cli("train", "-q", "-o", run, "--set", "training.max_epochs=30",
                "--set", "training.patience=1", "--set", "optimizer.learn_rate=0.05")
    assert "stopped early (patience)" in first.stdout
    before = snapshot(run)
    again = cli("train", "-q", "-o", run, "--resume")
    assert f"The run in {run} is finished: it stopped early at step" in again.stdout
    assert "raise the limit" in again.stdout and "Done" not in again.stdout
    assert snapshot(run) == before
    more = cli("train", "-q", "-o", run, "--resume", "--set", "training.patience=20")
    assert "Resumed" in more.stdout and "Done:" in more.stdout
    done = tmp_path / "done"
    cli("train", "-q", "-o", done, "--set", "training.max_epochs=1")
    again = cli("train", "-q", "-o", done, "--resume")
    assert "is finished: it completed max_epochs = 1 (45 steps)" in again.stdout


def test_nan_in_training_labels_is_reported_by_row_before_training(tmp_path):
    """Friction 6: it was a NaN gradient of 'parameter W of model relu'."""
    Y = numpy.eye(2, dtype="f")[numpy.arange(60) % 2]
    Y[[7, 31], 1] = numpy.nan
    data = write_npz(tmp_path / "nan.npz", n=60, labels=Y)
    result = cli("train", "--data", data, "-o", tmp_path / "run", check=False)
    assert result.returncode == 1
    assert f"{data}: 'Y' holds NaN in rows 7, 31 (2 rows)" in result.stderr, result.stderr
    assert not (tmp_path / "run").exists(), "refused before anything is written"


def test_early_stopping_can_follow_the_dev_loss(tmp_path):
    """Friction 8: the config chooses the score."""
    run = tmp_path / "run"
    out = cli("train", "-q", "-o", run, "--set", "training.score=dev_loss",
              "--set", "training.max_epochs=12", "--set", "training.patience=2",
              "--set", "optimizer.learn_rate=0.05")
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    best = min(rows, key=lambda r: r["dev_loss"])
    assert [r["best"] for r in rows] == [r["dev_loss"] < min([x["dev_loss"] for x in rows[:i]] or [1e9])
                                         for i, r in enumerate(rows)]
    assert f"best dev loss {best['dev_loss']:.4f} at step {best['step']}" in out.stdout
    assert json.loads((run / "model-best" / "meta.json").read_text())["step"] == best["step"]
    bad = cli("train", "--set", "training.score=accuracy", check=False)
    assert "score must be one of ['dev_acc', 'dev_loss'], got 'accuracy'" in bad.stderr


@pytest.mark.parametrize("make,message", [
    (lambda p: write_npz(p, n=0), "'X' has no rows"),
    (lambda p: write_npz(p, n=1), "has 1 row: too few to split into training and dev rows"),
    (lambda p: write_npz(p, n=4, labels=numpy.array([[1, 0], [0, -1], [1, 0], [0, 1]], "f")),
     "'Y' holds negative targets in rows 1 (1 row)"),
    (lambda p: write_npz(p, n=4, labels=numpy.array([[1, 0], [0, 0], [1, 0], [0, 0]], "f")),
     "'Y' has rows whose targets are all zero (no class): rows 1, 3 (2 rows)"),
    (lambda p: write_npz(p, n=10, X_dev=numpy.zeros((2, 5), "f"),
                         Y_dev=numpy.array([[1, 0], [numpy.nan, 0]], "f")),
     "'Y_dev' holds NaN in rows 1 (1 row)"),
])
def test_bad_data_files_are_refused_naming_file_array_and_rows(tmp_path, make, message):
    from thinc_fast.datasets import DataError, npz

    path = make(tmp_path / "data.npz")
    with pytest.raises(DataError) as err:
        npz(str(path))
    assert message in str(err.value) and str(path) in str(err.value)


def test_data_from_any_loader_is_checked_before_training():
    from thinc_fast.datasets import DataError, check_training_data

    X, Y = numpy.ones((4, 3), "f"), numpy.eye(2, dtype="f")[[0, 1, 0, 1]]
    nan_dev = Y.copy()
    nan_dev[2, 0] = numpy.nan
    with pytest.raises(DataError, match=r"cfg: \[data\] dev_Y \(dev rows\) holds NaN in rows 2 "):
        check_training_data((X, Y, X, nan_dev), "cfg")
    with pytest.raises(DataError, match=r"\[data\] gives no training rows"):
        check_training_data((X[:0], Y[:0], X, Y), "cfg")
    with pytest.raises(DataError, match=r"must give \(train_X, train_Y, dev_X, dev_Y\)"):
        check_training_data((X, Y), "cfg")


def test_metrics_rows_are_strict_json(tmp_path):
    from thinc_fast.training.output import append_metrics

    append_metrics(tmp_path / "m.jsonl", {"step": 1, "dev_loss": float("nan"),
                                          "loss": float("inf"), "dev_acc": 0.5})
    line = (tmp_path / "m.jsonl").read_text()
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c}")) == \
        {"step": 1, "dev_loss": None, "loss": None, "dev_acc": 0.5}


def test_a_width_interpolated_to_zero_is_refused_naming_the_layer(tmp_path):
    from thinc_fast.training import DEFAULT_CONFIG

    cfg = tmp_path / "zero.cfg"
    cfg.write_text("[vars]\nwidth = 0\n\n" + DEFAULT_CONFIG.replace("nO = 128", "nO = ${vars.width}"))
    result = cli("train", cfg, check=False)
    assert result.returncode == 1
    assert "Relu: nO must be a positive integer" in result.stderr and str(cfg) in result.stderr


def test_info_names_the_cpu_the_blis_choice_and_the_ray_path():
    out = cli("info").stdout
    for key in ("thinc_fast:", "numpy:", "blis:", "threads:", "gpu:", "ray:", "CPU:",
                "blis configuration:", "gemm:"):
        assert key in out, f"{key} missing from:\n{out}"


def test_a_data_file_error_names_the_file_not_the_config(tmp_path):
    """It began with "the default config: a value in the config was rejected",
    blaming the config for the data file's problem."""
    bad = tmp_path / "iris.csv"
    bad.write_text("sepal_length,sepal_width,label\n5.1,3.5,0\n")
    result = cli("train", "--data", bad, "-q", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {bad}: this is CSV text; expected an .npz archive")
    assert "config" not in result.stderr.splitlines()[0].split("trains with a text config")[0]
    assert "pickle" not in result.stderr


def test_the_banner_comes_after_the_checks_and_names_a_resume(tmp_path):
    bad = tmp_path / "bad.npz"
    numpy.savez(bad, X=numpy.zeros((1, 2)), Y=numpy.array([0]))
    refused = cli("train", "--data", bad, "-q", check=False)
    assert refused.returncode == 1 and refused.stdout == "", "only the error is printed"
    run = tmp_path / "run"
    cli("train", "-q", "-o", run, "--set", "training.max_epochs=1")
    resumed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2")
    from thinc_fast import __version__

    assert resumed.stdout.startswith(f"thinc-fast {__version__}: resuming the run in {run}\n")
    assert "the default config" not in resumed.stdout


def _npz_run(tmp_path, epochs=1):
    """A run trained from folder a/ on a/data.npz through a relative [data] path."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_npz(a / "data.npz")
    rng = numpy.random.default_rng(5)  # other data of the same shape
    X = rng.standard_normal((120, 5)).astype("f")
    numpy.savez(b / "data.npz", X=X, Y=(X[:, 1] > 0).astype("int64"))
    config = cli("init-config").stdout.replace('@datasets = "digits.v1"',
                                                '@datasets = "npz.v1"\npath = "data.npz"')
    (a / "run.cfg").write_text(config)
    cli("train", "run.cfg", "-q", "-o", "run", "--set", f"training.max_epochs={epochs}", cwd=a)
    return a, b, a / "run"


def test_resume_and_evaluate_refuse_other_data_naming_both(tmp_path):
    """Resumed from another folder, the relative path read b/data.npz: it trained
    on it (dev accuracy 0.865 -> 0.255), overwrote model-last, exit 0."""
    a, b, run = _npz_run(tmp_path)
    record = json.loads((run / "data.json").read_text())
    assert record["sources"] == {"path": str((a / "data.npz").resolve())}
    before = snapshot(run)
    resumed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2",
                  cwd=b, check=False)
    assert resumed.returncode == 1
    assert f"--resume: the run in {run} was trained on other data" in resumed.stderr
    assert f"[data] path: trained on {a / 'data.npz'}, now {b / 'data.npz'}" in resumed.stderr
    assert "--allow-other-data" in resumed.stderr
    assert snapshot(run) == before, "nothing written"
    scored = cli("evaluate", run, cwd=b, check=False)
    assert scored.returncode == 1 and "evaluate: the run in" in scored.stderr
    assert "thinc-fast evaluate RUN FILE" in scored.stderr
    assert "accuracy" in cli("evaluate", run, cwd=a).stdout
    assert "accuracy" in cli("evaluate", run, "--allow-other-data", cwd=b).stdout
    # the same path with changed content is refused too
    numpy.savez(a / "data.npz", X=numpy.load(b / "data.npz")["X"], Y=numpy.load(b / "data.npz")["Y"])
    changed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2",
                  cwd=a, check=False)
    assert changed.returncode == 1 and "(the same path, changed content)" in changed.stderr
    # on purpose: it goes on, and the record now names the data it trains on
    cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2",
        "--allow-other-data", cwd=b)
    assert json.loads((run / "data.json").read_text())["sources"]["path"] == \
        str((b / "data.npz").resolve())


def test_a_run_from_before_the_record_resumes_and_gets_one(tmp_path):
    a, _, run = _npz_run(tmp_path)
    (run / "data.json").unlink()
    cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2", cwd=a)
    assert (run / "data.json").is_file()


def test_the_data_fingerprint_follows_content_dtype_and_shape():
    from thinc_fast.training.provenance import data_fingerprint

    X = numpy.arange(12, dtype="f").reshape(3, 4)
    docs = [["a", "b"], ["c"]]
    base = data_fingerprint((X, X[:, 0], X, X[:, 0]))
    assert base == data_fingerprint((X.copy(), X[:, 0].copy(), X, X[:, 0]))
    assert base != data_fingerprint((X.astype("f8"), X[:, 0], X, X[:, 0]))
    assert base != data_fingerprint((X.reshape(4, 3), X[:, 0], X, X[:, 0]))
    assert base != data_fingerprint((X + 1, X[:, 0], X, X[:, 0]))
    assert data_fingerprint((docs, [0, 1])) != data_fingerprint(([["a"], ["b", "c"]], [0, 1]))


def test_resume_goes_on_from_model_best_when_model_last_was_never_saved(tmp_path):
    """A full disk at the first save: model-best (saved first) is complete,
    model-last is missing. --resume said the run "stopped before its first
    evaluation" and suggested --overwrite, which deletes model-best."""
    import shutil

    run = tmp_path / "run"
    cli("train", "-q", "-o", run, "--set", "training.max_epochs=1")
    shutil.rmtree(run / "model-last")
    resumed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2")
    assert "model-best is complete, so the run goes on from it (step 45)" in resumed.stdout
    assert "Resumed" in resumed.stdout and "at epoch 1, step 45" in resumed.stdout
    assert (run / "model-last" / "checkpoint.bin").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [45, 90]


def test_a_torn_last_metrics_line_does_not_block_resume(tmp_path):
    run = tmp_path / "run"
    cli("train", "-q", "-o", run, "--set", "training.max_epochs=1")
    metrics = run / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"epoch": 2, "step": 9')  # cut by a kill
    resumed = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=2")
    assert "Resumed" in resumed.stdout
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [row["step"] for row in rows] == [45, 90]
    metrics.write_text("garbage\n" + metrics.read_text())
    bad = cli("train", "-q", "-o", run, "--resume", "--set", "training.max_epochs=3",
              check=False)
    assert bad.returncode == 1
    assert f"{metrics}, line 1: not a metrics row ('garbage')" in bad.stderr


# a loss of one's own, registered as a plug-in (an entry point of the
# thinc_fast_losses group): SummedCrossentropy's gradient (so it trains the same
# bits) and 1000 times its value (so the reports show it was used)
PLUGIN_LOSS = '''
from thinc_fast.loss import SummedCrossentropy


class ThousandfoldCrossentropy(SummedCrossentropy):
    def __call__(self, guesses, truths):
        d_guesses, value = super().__call__(guesses, truths)
        return d_guesses, 1000.0 * value

    def get_loss(self, guesses, truths):
        return 1000.0 * super().get_loss(guesses, truths)


def make():
    return ThousandfoldCrossentropy()
'''


def test_a_loss_of_ones_own_reaches_train_and_evaluate(tmp_path):
    """[training.loss] names any registered loss: here one a plug-in package
    registers; train reports its values, and evaluate scores with it."""
    plugin = tmp_path / "plugin"
    (plugin / "thousandfold-0.1.dist-info").mkdir(parents=True)
    (plugin / "thousandfold-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thousandfold\nVersion: 0.1\n")
    (plugin / "thousandfold-0.1.dist-info" / "entry_points.txt").write_text(
        "[thinc_fast_losses]\nThousandfold.v1 = thousandfold:make\n")
    (plugin / "thousandfold.py").write_text(PLUGIN_LOSS)
    small = ["-q", "--set", "training.max_epochs=1", "--set", "model.*.hidden1.nO=16",
             "--set", "model.*.hidden2.nO=8"]
    cli("train", *small, "-o", tmp_path / "default")
    cfg = tmp_path / "own.cfg"
    cfg.write_text(cli("init-config").stdout.replace('"SummedCrossentropy.v1"',
                                                     '"Thousandfold.v1"'))
    cli("train", cfg, *small, "-o", tmp_path / "own", path=[plugin])
    rows = {name: json.loads((tmp_path / name / "metrics.jsonl").read_text().splitlines()[-1])
            for name in ("default", "own")}
    for key in ("loss", "dev_loss"):
        assert rows["own"][key] == pytest.approx(1000 * rows["default"][key], rel=1e-5), key
    assert rows["own"]["dev_acc"] == rows["default"]["dev_acc"]
    same = [load_params(tmp_path / name / "model-last" / "model.bin")
            for name in ("default", "own")]
    assert same[0].keys() == same[1].keys()
    assert all(same[0][k].tobytes() == same[1][k].tobytes() for k in same[0])
    scored = cli("evaluate", tmp_path / "own", path=[plugin]).stdout
    assert f"loss {rows['own']['dev_loss']:.4f} on the config's dev set" in scored, scored
    # without the plug-in the name is unknown: the error names the section
    missing = cli("train", cfg, *small, "-o", tmp_path / "again", check=False)
    assert missing.returncode == 1
    assert "[training.loss]" in missing.stderr and "Thousandfold.v1" in missing.stderr, \
        missing.stderr
    assert not (tmp_path / "again").exists()
