"""The training loop behind ``thinc-fast train``: epochs, evaluation, checkpoints, resume.

Outputs in the run's folder:

- ``config.cfg``: the config the run uses (with ``--set`` overrides applied)
- ``model-last/`` and ``model-best/``: each a self-contained folder with
  ``config.cfg``, ``model.bin`` (the weights to use: the optimizer's parameter
  averages when it keeps them), ``checkpoint.bin`` (raw weights, optimizer,
  schedules, RNG and loop position, for resuming) and ``meta.json``; replaced
  atomically (built aside, then renamed)
- ``metrics.jsonl``: one JSON line per evaluation

``--resume`` restores ``model-last`` and continues bit for bit as if the run
had never stopped.
"""
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy

from ._io import atomic_write
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config, ConfigValidationError, registry
from .data import fix_random_seed
from .model import Model
from .optimizers import Optimizer
from .schedules import Schedule
from .util import crossentropy_sum

RUN_MARKER = ".thinc-fast-run"

DEFAULT_CONFIG = """\
[system]
seed = 0

[data]
@datasets = "digits.v1"
dev_fraction = 0.2
seed = 0

[model]
@layers = "chain.v1"

[model.*.hidden1]
@layers = "Relu.v1"
nO = 128

[model.*.hidden2]
@layers = "Relu.v1"
nO = 64
dropout = 0.1

[model.*.output]
@layers = "Softmax.v1"

[optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.002

[training]
max_epochs = 20
batch_size = 32
eval_frequency = 0
patience = 5
"""

TRAINING_DEFAULTS = {"max_epochs": 20, "batch_size": 32, "eval_frequency": 0, "patience": 5}


class UserError(Exception):
    """A problem with the user's input: shown as a message, without a traceback."""


# ----------------------------------------------------------------- config
def parse_overrides(items: List[str]) -> Dict[str, Any]:
    """``["training.max_epochs=2", ...]`` as ``{"training.max_epochs": 2}`` (JSON values,
    else strings)."""
    out: Dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or "." not in key or not key.replace(".", "").replace("_", "").replace("*", "").isalnum():
            raise UserError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. --set training.max_epochs=2")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def load_config(path: Optional[Path], overrides: Dict[str, Any]) -> Config:
    """The config at `path` (the default when None) with `overrides` applied."""
    if path is None:
        text, where = DEFAULT_CONFIG, "the default config"
    else:
        if not Path(path).is_file():
            raise UserError(f"Config file not found: {path}")
        text, where = Path(path).read_text(encoding="utf8"), str(path)
    try:
        config = Config().from_str(text, interpolate=False)
    except Exception as err:
        raise UserError(f"Could not parse {where}: {err}") from None
    for key, value in overrides.items():
        *sections, name = key.split(".")
        node: Any = config
        for part in sections:
            if not isinstance(node, dict) or part not in node:
                raise UserError(f"--set {key}: {where} has no section [{'.'.join(sections)}]")
            node = node[part]
        if not isinstance(node, dict) or name not in node:
            known = ", ".join(k for k in node if not k.startswith("@")) if isinstance(node, dict) else ""
            raise UserError(f"--set {key}: section [{'.'.join(sections)}] of {where} has no key "
                            f"{name!r} (its keys: {known or 'none'})")
        if isinstance(node[name], dict):
            raise UserError(f"--set {key}: {name!r} is a section, not a value")
        node[name] = value
    return config


def resolve_config(config: Config, where: str) -> Dict[str, Any]:
    """Build everything in `config`; errors name the section and key."""
    for section in ("model", "optimizer", "data"):
        if section not in config:
            raise UserError(f"{where}: missing section [{section}]")
    try:
        resolved = registry.resolve(config)
    except ConfigValidationError as err:
        raise UserError(f"{where}: invalid config.\n{err}") from None
    except (ValueError, TypeError) as err:
        raise UserError(f"{where}: a value in the config was rejected: {err}") from None
    if not isinstance(resolved["model"], Model):
        raise UserError(f"{where}: [model] must build a model (e.g. @layers = \"chain.v1\")")
    if not isinstance(resolved["optimizer"], Optimizer):
        raise UserError(f"{where}: [optimizer] must build an optimizer (e.g. @optimizers = \"Adam.v1\")")
    training = dict(TRAINING_DEFAULTS)
    training.update(resolved.get("training") or {})
    unknown = set(training) - set(TRAINING_DEFAULTS)
    if unknown:
        raise UserError(f"{where}: section [training] has unknown keys {sorted(unknown)}; "
                        f"known: {sorted(TRAINING_DEFAULTS)}")
    for key in ("max_epochs", "eval_frequency", "patience"):
        value = training[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "max_epochs" else 0):
            raise UserError(f"{where}: [training] {key} must be an integer "
                            f">= {1 if key == 'max_epochs' else 0}, got {value!r}")
    size = training["batch_size"]
    if not isinstance(size, Schedule) and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise UserError(f"{where}: [training] batch_size must be a positive integer or a schedule, "
                        f"got {size!r}")
    resolved["training"] = training
    return resolved


# ----------------------------------------------------------------- output
def prepare_output(output: Optional[Path], resume: bool, overwrite: bool) -> Optional[Path]:
    """Check the output folder (new, empty, or a run of ours to resume or
    overwrite) without writing anything."""
    if output is None:
        if resume:
            raise UserError("--resume needs --output, the folder of the run to continue")
        return None
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output} exists and is not a folder")
    ours = (output / RUN_MARKER).exists()
    contents = [p.name for p in output.iterdir()] if output.is_dir() else []
    if resume:
        if not ours or not (output / "model-last" / "checkpoint.bin").is_file():
            raise UserError(f"--resume: {output} holds no thinc-fast run with a model-last to continue")
        return output
    if contents and not ours:
        raise UserError(f"--output {output} is not empty and is not a thinc-fast run folder "
                        f"(it holds {', '.join(sorted(contents)[:5])}{'...' if len(contents) > 5 else ''}). "
                        "Choose a new or empty folder; nothing was written.")
    if ours and not overwrite:
        raise UserError(f"--output {output} already holds a thinc-fast run. Use --resume to continue "
                        "it, or --overwrite to start over in it.")
    return output


def create_output(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / RUN_MARKER).write_text("thinc-fast training run\n")


def write_model_dir(target: Path, config: Config, model: Model, optimizer: Optimizer,
                    extra: Dict[str, Any], meta: Dict[str, Any]) -> None:
    """Build the folder beside `target`, then swap it in with renames; on any
    failure the previous folder is put back."""
    parent = target.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=parent))
    old: Optional[Path] = None
    try:
        (tmp / "config.cfg").write_text(config.to_str(), encoding="utf8")
        save_checkpoint(tmp / "checkpoint.bin", model, optimizer, extra=extra)
        with model.use_params(optimizer.averages):
            model.to_disk(tmp / "model.bin")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf8")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
    except BaseException:
        if old is not None and not target.exists() and (old / target.name).exists():
            os.replace(old / target.name, target)
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def find_model_dir(path: Path) -> Path:
    """`path` itself if it is a model folder, else its model-best (or model-last)."""
    path = Path(path)
    if (path / "model.bin").is_file():
        return path
    for name in ("model-best", "model-last"):
        if (path / name / "model.bin").is_file():
            return path / name
    raise UserError(f"{path} is not a thinc-fast model folder (no model.bin, model-best or model-last)")


# --------------------------------------------------------------- metrics
def evaluate(model: Model, X: numpy.ndarray, Y: numpy.ndarray, batch_size: int = 1024) -> Tuple[float, float]:
    """(accuracy, mean cross-entropy) of `model` on one-hot `Y`."""
    correct, loss = 0, 0.0
    for start in range(0, len(X), batch_size):
        P = model.predict(X[start:start + batch_size])
        T = Y[start:start + batch_size]
        correct += int((P.argmax(axis=1) == T.argmax(axis=1)).sum())
        loss += crossentropy_sum(P, T)
    n = max(len(X), 1)
    return correct / n, loss / n


# ------------------------------------------------------------------- loop
def train(config_path: Optional[Path] = None, output: Optional[Path] = None, *,
          overrides: Optional[Dict[str, Any]] = None, resume: bool = False,
          overwrite: bool = False, seed: Optional[int] = None, workers: int = 0,
          address: Optional[str] = None, on_failure: str = "restart",
          show_progress: bool = True, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Train from a config; returns a summary. See the module docstring for outputs.

    workers > 0 trains data-parallel on Ray (a local cluster, or the one at
    `address`): each global batch of ``batch_size * workers`` examples is split
    between the workers."""
    if workers:
        from .distributed.ray import _import_ray

        try:
            _import_ray()
        except RuntimeError as err:
            raise UserError(str(err)) from None
    overrides = dict(overrides or {})
    if seed is not None:
        overrides["system.seed"] = seed
    out = prepare_output(output, resume, overwrite)
    if resume:
        assert out is not None
        config = load_config(out / "config.cfg", overrides)
        where = str(out / "config.cfg")
        if config_path is not None:
            log("Resuming: using the run's own config.cfg (CONFIG is ignored; --set applies).")
    else:
        config = load_config(config_path, overrides)
        where = str(config_path) if config_path else "the default config"
    resolved = resolve_config(config, where)
    training = resolved["training"]
    run_seed = int(config.get("system", {}).get("seed", 0))
    model: Model = resolved["model"]
    optimizer: Optimizer = resolved["optimizer"]
    try:
        train_X, train_Y, dev_X, dev_Y = resolved["data"]
    except (TypeError, ValueError):
        raise UserError(f"{where}: [data] must give (train_X, train_Y, dev_X, dev_Y)") from None
    fix_random_seed(run_seed)
    try:
        model.initialize(X=train_X[:5], Y=train_Y[:5])
    except ValueError as err:
        raise UserError(f"{where}: the model does not fit the data: {err}") from None
    batch_size = training["batch_size"]
    progress = {"epoch": 0, "step": 0, "pos": 0, "order": None, "best_score": None,
                "best_step": None, "bad_evals": 0, "loss_sum": 0.0, "loss_n": 0, "examples": 0,
                "batch_size_state": None}
    if resume:
        assert out is not None
        extra = load_checkpoint(out / "model-last" / "checkpoint.bin", model, optimizer)
        progress.update(extra["progress"])
        if isinstance(batch_size, Schedule) and progress["batch_size_state"]:
            batch_size.set_state(progress["batch_size_state"])
    # Ray workers start as copies of this (possibly restored) model and optimizer
    do_step, trainer = _make_stepper(model, optimizer, train_X, train_Y, config, workers, address,
                                     on_failure, log, seed=run_seed)
    if out is not None and not resume:
        create_output(out)
        (out / "config.cfg").write_text(config.to_str(), encoding="utf8")
        (out / "metrics.jsonl").write_text("")
    if resume:
        assert out is not None
        _truncate_metrics(out / "metrics.jsonl", progress["step"])
        if overrides:
            atomic_write(out / "config.cfg", config.to_str().encode("utf8"))
        log(f"Resumed {out} at epoch {progress['epoch']}, step {progress['step']}.")

    n_train = len(train_X)
    max_epochs, eval_frequency, patience = (training["max_epochs"], training["eval_frequency"],
                                            training["patience"])
    table = _Table(log)
    bar = None
    last_eval = time.perf_counter()
    stopped_early = False

    def save(which: List[str], meta: Dict[str, Any]) -> None:
        if out is None:
            return
        state = dict(progress)
        state["order"] = None if state["order"] is None else list(map(int, state["order"]))
        if isinstance(batch_size, Schedule):
            state["batch_size_state"] = batch_size.get_state()
        for name in which:
            write_model_dir(out / name, config, model, optimizer, {"progress": state}, meta)

    def run_eval() -> bool:
        nonlocal last_eval
        with model.use_params(optimizer.averages):
            accuracy, dev_loss = evaluate(model, dev_X, dev_Y)
        now = time.perf_counter()
        row = {"epoch": progress["epoch"], "step": progress["step"],
               "loss": progress["loss_sum"] / max(progress["loss_n"], 1),
               "dev_loss": dev_loss, "dev_acc": accuracy, "learn_rate": optimizer.learn_rate,
               "examples_per_s": progress["examples"] / max(now - last_eval, 1e-9)}
        progress.update(loss_sum=0.0, loss_n=0, examples=0)
        last_eval = now
        improved = progress["best_score"] is None or accuracy > progress["best_score"]
        if improved:
            progress.update(best_score=accuracy, best_step=progress["step"], bad_evals=0)
        else:
            progress["bad_evals"] += 1
        row["best"] = improved
        if bar is not None:
            bar.clear()
        table.row(row)
        if out is not None:
            with open(out / "metrics.jsonl", "a", encoding="utf8") as f:
                f.write(json.dumps(row) + "\n")
        save(["model-last", "model-best"] if improved else ["model-last"],
             {"epoch": progress["epoch"], "step": progress["step"], "dev_acc": accuracy,
              "dev_loss": dev_loss})
        return patience > 0 and progress["bad_evals"] >= patience

    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    # Ctrl-C stops training at the next step boundary, so that model-last is a
    # consistent state (a second Ctrl-C interrupts at once).
    stop_requested = []

    def on_sigint(signum: int, frame: Any) -> None:
        if stop_requested:
            raise KeyboardInterrupt
        stop_requested.append(True)

    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGINT, on_sigint)
    try:
        while progress["epoch"] < max_epochs and not stopped_early:
            if progress["order"] is None:
                order = numpy.arange(n_train)
                numpy.random.shuffle(order)
                progress["order"], progress["pos"] = order, 0
            order = numpy.asarray(progress["order"])
            if show_progress and tqdm is not None:
                bar = tqdm(total=n_train, initial=progress["pos"], desc=f"epoch {progress['epoch'] + 1}",
                           unit="ex", leave=False, dynamic_ncols=True, disable=None)
            while progress["pos"] < n_train:
                size = next(batch_size) if isinstance(batch_size, Schedule) else batch_size
                size = max(1, int(size)) * max(1, workers)
                idx = order[progress["pos"]:progress["pos"] + size]
                progress["loss_sum"] += do_step(idx)
                progress["loss_n"] += len(idx)
                progress["examples"] += len(idx)
                progress["pos"] += len(idx)
                progress["step"] += 1
                if bar is not None:
                    bar.update(len(idx))
                if progress["pos"] >= n_train:
                    progress["epoch"] += 1
                    progress["order"] = None
                if stop_requested:
                    raise KeyboardInterrupt
                if eval_frequency and progress["step"] % eval_frequency == 0:
                    stopped_early = run_eval()
                    if stopped_early:
                        break
            if bar is not None:
                bar.close()
                bar = None
            if not eval_frequency and not stopped_early:
                stopped_early = run_eval()
        if progress["loss_n"] and not stopped_early:
            run_eval()  # steps since the last evaluation: evaluate and save them too
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        model.zero_grads()
        save(["model-last"], {"epoch": progress["epoch"], "step": progress["step"], "interrupted": True})
        where_saved = f" model-last saved in {out}." if out is not None else ""
        raise UserError(f"Interrupted at step {progress['step']}.{where_saved}") from None
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        if trainer is not None:
            trainer.shutdown()
    summary = {"best_dev_acc": progress["best_score"], "best_step": progress["best_step"],
               "steps": progress["step"], "epochs": progress["epoch"], "stopped_early": stopped_early,
               "output": str(out) if out is not None else None,
               "worker_events": list(trainer.events) if trainer is not None else []}
    return summary


def _make_stepper(model: Model, optimizer: Optimizer, train_X: numpy.ndarray,
                  train_Y: numpy.ndarray, config: Config, workers: int, address: Optional[str],
                  on_failure: str, log: Callable[[str], None], seed: int = 0):
    """A function running one training step on a batch of indices (returning
    the batch's summed cross-entropy), and the Ray trainer behind it, if any."""
    if workers:
        from .distributed import RayTrainer, RayUnavailableError

        try:
            trainer = RayTrainer(config.to_str(), model, optimizer, train_X, train_Y, workers,
                                 address=address, on_failure=on_failure, seed=seed, log=log)
        except RayUnavailableError as err:
            raise UserError(str(err)) from None
        log(f"Training on {workers} Ray workers ({trainer.threads} thread(s) each).")
        return trainer.step, trainer

    def step(idx: numpy.ndarray) -> float:
        Xb, Yb = train_X[idx], train_Y[idx]
        Yh, backprop = model.begin_update(Xb)
        backprop(Yh - Yb)
        model.finish_update(optimizer)
        optimizer.step_schedules()
        return crossentropy_sum(Yh, Yb)

    return step, None


def _truncate_metrics(path: Path, step: int) -> None:
    if not path.exists():
        return
    keep = [line for line in path.read_text(encoding="utf8").splitlines()
            if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep), encoding="utf8")


class _Table:
    """The metrics table: a header once, then one row per evaluation."""

    COLUMNS = [("epoch", 5, "{:d}"), ("step", 7, "{:d}"), ("loss", 8, "{:.4f}"),
               ("dev_loss", 8, "{:.4f}"), ("dev_acc", 7, "{:.4f}"), ("learn_rate", 10, "{:.2e}"),
               ("examples_per_s", 9, "{:.0f}")]
    TITLES = {"examples_per_s": "ex/s", "learn_rate": "lr"}

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.started = False

    def row(self, values: Dict[str, Any]) -> None:
        if not self.started:
            header = "  ".join(self.TITLES.get(name, name).rjust(width) for name, width, _ in self.COLUMNS)
            self.log(header + "  best")
            self.log("-" * (len(header) + 6))
            self.started = True
        cells = "  ".join(fmt.format(values[name]).rjust(width) for name, width, fmt in self.COLUMNS)
        self.log(cells + ("     *" if values.get("best") else ""))
