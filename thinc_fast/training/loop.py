"""The training loop behind ``thinc-fast train``: epochs, evaluation, checkpoints, resume.

Outputs in the run's folder (see :mod:`thinc_fast.training.output`):

- ``config.cfg``: the config the run uses (with ``--set`` overrides applied)
- ``model-last/`` and ``model-best/``: each a self-contained folder with
  ``config.cfg``, ``model.bin`` (the weights to use: the optimizer's parameter
  averages when it keeps them), ``checkpoint.bin`` (raw weights, optimizer,
  schedules, RNG and loop position, for resuming) and ``meta.json``; replaced
  atomically (built aside, then renamed)
- ``metrics.jsonl``: one JSON line per evaluation

``--resume`` restores ``model-last`` and continues bit for bit as if the run
had never stopped, wherever it was stopped (Ctrl-C is taken at a step boundary,
after the evaluation due at that step). A run writes its folder holding the
folder's lock; on resume it first repairs what a kill during a save left
(:class:`~thinc_fast.training.output.RunFolder` owns the folder). The run's
options are one :class:`~thinc_fast.training.options.RunOptions`. Before
training, the data is checked (:func:`~thinc_fast.datasets.check_training_data`).
Each step is :func:`thinc_fast.step.train_step` (or its data-parallel split on
Ray) with the config's ``[training.loss]`` (default
:class:`~thinc_fast.loss.SummedCrossentropy`), built once by
:func:`~thinc_fast.training.config.resolve_config`.
"""
import dataclasses
import shlex
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy

from ..checkpoint import load_checkpoint
from ..config import Config
from ..data import fix_random_seed
from ..datasets import check_training_data
from ..errors import TrainingInterrupted, UserError
from ..loss import Loss
from ..model import Model
from ..optimizers import Optimizer
from ..schedules import Schedule
from ..step import train_step
from .batching import check_fit, count_correct, fit_hint, take
from .config import (SCORES, check_resume_overrides, default_loss, load_config, resolve_config,
                     use_data_file)
from .labels import record_labels
from .options import RunOptions
from .output import RunFolder
from .provenance import check_same_data, data_fingerprint, data_sources
from .state import TrainState


def evaluate(model: Model, X: numpy.ndarray, Y: numpy.ndarray, batch_size: int = 1024,
             loss: Optional[Loss] = None) -> Tuple[float, float]:
    """(accuracy, mean loss per example) of `model` on one-hot `Y`; the loss is
    ``loss.get_loss`` summed over the batches (default: the default
    ``[training.loss]``, the summed cross-entropy; a run passes its own).
    X and Y may be lists (documents); the accuracy is over rows: examples, or
    tokens when Y holds one array per document (a tagger)."""
    loss = default_loss() if loss is None else loss
    correct, rows, total = 0, 0, 0.0
    for start in range(0, len(X), batch_size):
        P = model.predict(X[start:start + batch_size])
        T = Y[start:start + batch_size]
        batch_correct, batch_rows = count_correct(P, T)  # rows: examples, or a tagger's tokens
        correct, rows = correct + batch_correct, rows + batch_rows
        total += float(loss.get_loss(P, T))
    return correct / max(rows, 1), total / max(len(X), 1)


def train(config_path: Optional[Path] = None, output: Optional[Path] = None, *,
          overrides: Optional[Dict[str, Any]] = None, resume: bool = False,
          overwrite: bool = False, seed: Optional[int] = None, workers: int = 0,
          address: Optional[str] = None, on_failure: str = "restart",
          show_progress: bool = True, log: Callable[[str], None] = print,
          data: Optional[Path] = None, banner: Optional[str] = None,
          allow_other_data: bool = False) -> Dict[str, Any]:
    """Train from a config; returns a summary. See the module docstring for outputs.

    The keywords are the options of ``thinc-fast train`` (see
    :class:`~thinc_fast.training.options.RunOptions`, which they build;
    :func:`run_training` takes one directly).

    data: an ``.npz`` file to train on instead of the config's ``[data]``
    (``npz.v1``; ``--data``). A resumed run that has nothing left to do under
    its limits (``max_epochs``, ``patience``) says so and changes nothing:
    the summary's ``finished`` holds why.

    workers > 0 trains data-parallel on Ray (a local cluster, or the one at
    `address`): each global batch of ``batch_size * workers`` examples is split
    between the workers.

    banner: a line to log once the config, the data and the model have been
    checked (so a run refused at once prints only its error).

    allow_other_data: let ``resume`` go on with data that differ from what
    the run was trained on (see :mod:`thinc_fast.training.provenance`)."""
    options = RunOptions(config=config_path, output=output, resume=resume, overwrite=overwrite,
                         seed=seed, data=data, overrides=overrides or {}, workers=workers,
                         address=address, on_failure=on_failure,
                         allow_other_data=allow_other_data, show_progress=show_progress)
    return run_training(options, log=log, banner=banner)


def run_training(options: RunOptions, *, log: Callable[[str], None] = print,
                 banner: Optional[str] = None) -> Dict[str, Any]:
    """Train as `options` say (``thinc-fast train``); returns the summary
    :func:`train` describes. banner: a line to log once everything is checked."""
    if options.workers:
        from ..distributed.ray import import_ray

        import_ray()  # fail before anything is built or written
    folder = RunFolder.open(options.output, resume=options.resume, overwrite=options.overwrite,
                            log=log)
    try:
        run = _Run.start(options, folder, log=log, banner=banner)
        stopped_early = run.finished is not None and "stopped early" in run.finished
        if run.finished is None:
            try:
                stopped_early = run.loop(options.show_progress)
            finally:
                if run.trainer is not None:
                    run.trainer.shutdown()
    finally:
        folder.release()
    state = run.state
    return {"best_dev_acc": state.best_score if run.score == "dev_acc" else None,
            "score": run.score, "best_score": state.best_score, "best_step": state.best_step,
            "steps": state.step, "epochs": state.epoch, "stopped_early": stopped_early,
            "finished": run.finished, "why": run.why_it_stopped(stopped_early),
            "output": str(run.out) if run.out is not None else None,
            "worker_events": list(run.trainer.events) if run.trainer is not None else []}


class _Run:
    """One training run: what the config built, the output folder, the state."""

    def __init__(self, config: Config, resolved: Dict[str, Any], folder: RunFolder,
                 state: TrainState, log: Callable[[str], None]) -> None:
        self.config = config
        self.folder = folder
        self.out = folder.path
        self.state = state
        self.log = log
        self.model: Model = resolved["model"]
        self.optimizer: Optimizer = resolved["optimizer"]
        self.train_X, self.train_Y, self.dev_X, self.dev_Y = resolved["data"]
        training = resolved["training"]
        self.batch_size = training["batch_size"]
        self.max_epochs = training["max_epochs"]
        self.eval_frequency = training["eval_frequency"]
        self.patience = training["patience"]
        self.patience_min_steps = training["patience_min_steps"]
        self.score = training["score"]
        self.loss: Loss = training["loss"]  # [training.loss], for the steps and the dev set
        self.finished: Optional[str] = None  # why a resumed run has nothing left to do
        self.trainer: Any = None
        self.workers = 0
        self.shards = 0  # shards per global batch when training on Ray workers
        self.table = _Table(log)
        self.bar: Any = None
        self.last_eval = time.perf_counter()

    @classmethod
    def start(cls, options: RunOptions, folder: RunFolder, *, log: Callable[[str], None],
              banner: Optional[str] = None) -> "_Run":
        """Load and check the config, the data and the model, restore a resumed
        run, then claim and prepare `folder` (opened, and already locked when
        it holds a run: see :class:`RunFolder`)."""
        overrides = options.config_overrides()
        resume = options.resume
        if resume:
            config = load_config(folder.config_file, overrides)
            check_resume_overrides(overrides)
            where = str(folder.config_file)
            if options.config is not None:
                log("Resuming: using the run's own config.cfg (CONFIG is ignored; --set applies).")
        else:
            config = load_config(options.config, overrides)
            where = str(options.config) if options.config else "the default config"
            if options.data is not None:
                use_data_file(config, options.data)
        resolved = resolve_config(config, where)
        # as the loader gave them (evaluate fingerprints the same, unchecked)
        fingerprint = data_fingerprint(resolved["data"])
        sources = data_sources(dict(config.get("data", {})))
        record_labels(config)  # a text model's label names, saved with the run
        resolved["data"] = check_training_data(resolved["data"], where)
        train_X, train_Y, _, _ = resolved["data"]
        if resume and not options.allow_other_data:
            check_same_data(folder.data_record(), fingerprint, sources, "--resume", folder.path)
        run_seed = int(config.get("system", {}).get("seed", 0))
        fix_random_seed(run_seed)
        try:
            resolved["model"].initialize(X=train_X[:5], Y=train_Y[:5])
            check_fit(resolved["model"], train_X[:5], train_Y[:5])  # documents: form and width
        except ValueError as err:
            hint = fit_hint(train_X, str(err))
            if hint:  # the fix first; the model's own words after it
                raise UserError(f"{where}: {hint}. (The model said: {err})") from None
            raise UserError(f"{where}: the model does not fit the data: {err}") from None
        if banner:
            log(banner)
        state = TrainState()
        plan = None
        if resume:
            assert folder.path is not None
            extra = load_checkpoint(folder.path / "model-last" / "checkpoint.bin",
                                    resolved["model"], resolved["optimizer"])
            state = TrainState.from_dict(extra["progress"])
            plan = extra.get("data_parallel")  # fixed for the run: see thinc_fast.distributed
            batch_size = resolved["training"]["batch_size"]
            if isinstance(batch_size, Schedule) and state.batch_size_state:
                batch_size.set_state(state.batch_size_state)
        run = cls(config, resolved, folder, state, log)
        if resume:
            run.finished = state.finished(run.max_epochs, run.patience, run.patience_min_steps)
            if run.finished is not None:
                best = (f" Its best {run.score} is {state.best_score:.4f}, at step "
                        f"{state.best_step}." if state.best_score is not None else "")
                log(f"The run in {folder.path} is finished: {run.finished}.{best} Nothing was "
                    "changed. To train it further, raise the limit, e.g. --resume --set "
                    "training.max_epochs=N (or training.patience=N).")
                return run
        folder.claim()  # a new or empty folder: lock it and look again, before any write
        # Ray workers start as copies of this (possibly restored) model and optimizer
        run.connect_workers(options.workers, options.address, options.on_failure, run_seed, plan)
        folder.prepare(config, fingerprint, sources, step=state.step,
                       rewrite_config=bool(overrides), other_data=options.allow_other_data)
        if resume:
            log(f"Resumed {folder.path} at epoch {state.epoch}, step {state.step}.")
        return run

    def why_it_stopped(self, stopped_early: bool) -> str:
        """Why the run ended, and which setting trains longer."""
        state = self.state
        if stopped_early:
            return (f"{state.finished(self.max_epochs, self.patience, self.patience_min_steps)}. "
                    "To train longer: --set training.patience=0 (no early stop), or raise "
                    "training.patience / training.patience_min_steps")
        if state.best_step is not None and state.best_step == state.step:
            return (f"it completed max_epochs = {self.max_epochs} with the dev score still "
                    "improving at the last evaluation: more epochs may help "
                    f"(--set training.max_epochs={2 * self.max_epochs})")
        return f"it completed max_epochs = {self.max_epochs}"

    def connect_workers(self, workers: int, address: Optional[str], on_failure: str,
                        seed: int, plan: Optional[Dict[str, Any]] = None) -> None:
        """With workers > 0, start the Ray trainer that runs every step; `plan`:
        the shards and threads a resumed data-parallel run was started with."""
        if not workers:
            if plan:
                raise UserError(f"This run was trained on Ray workers with {plan['shards']} "
                                "shards per batch; resume it with --workers N (N dividing "
                                f"{plan['shards']}) to continue it exactly.")
            return
        from ..distributed import Plan, RayTrainer

        size = 0 if isinstance(self.batch_size, Schedule) else int(self.batch_size)
        self.trainer = RayTrainer(self.config.to_str(), self.model, self.optimizer, self.train_X,
                                  self.train_Y, workers, address=address, on_failure=on_failure,
                                  seed=seed, log=self.log, loss=self.loss, shard_size=size,
                                  plan=Plan.from_dict(plan) if plan else None,
                                  step=self.state.step)
        self.workers = workers
        self.shards = self.trainer.plan.shards
        self.log(f"Training on {workers} Ray workers ({self.trainer.threads} thread(s) each, "
                 f"{self.shards} shards per batch, gradients: {self.trainer.exchange}).")

    # ---------------------------------------------------------------- steps
    def step(self, idx: numpy.ndarray) -> float:
        """One step on the examples `idx`; returns the batch's summed loss."""
        if self.trainer is not None:
            return self.trainer.step(idx)
        return train_step(self.model, self.optimizer, take(self.train_X, idx),
                          take(self.train_Y, idx), self.loss).loss

    def next_batch_size(self) -> int:
        size = next(self.batch_size) if isinstance(self.batch_size, Schedule) else self.batch_size
        return max(1, int(size)) * max(1, self.shards)

    def next_steps(self, order: numpy.ndarray, n_train: int) -> List[Tuple[int, float]]:
        """The next step in-process, or on Ray workers the next steps (up to the
        trainer's chunk_steps, never past an evaluation or the epoch's end);
        (examples, summed loss) of each."""
        state = self.state
        if self.trainer is None:
            idx = order[state.pos:state.pos + self.next_batch_size()]
            return [(len(idx), self.step(idx))]
        batches: List[numpy.ndarray] = []
        pos, step = state.pos, state.step
        while pos < n_train and len(batches) < self.trainer.chunk_steps:
            batches.append(order[pos:pos + self.next_batch_size()])
            pos, step = pos + len(batches[-1]), step + 1
            if self.eval_frequency and step % self.eval_frequency == 0:
                break
        losses = self.trainer.run(batches, state.step)
        return [(len(idx), loss) for idx, loss in zip(batches, losses)]

    def loop(self, show_progress: bool) -> bool:
        """Train until max_epochs or patience; returns whether it stopped early.
        Ctrl-C stops at the next step boundary, saves model-last and raises
        TrainingInterrupted (a second Ctrl-C interrupts at once)."""
        state = self.state
        n_train = len(self.train_X)
        stopped_early = False
        self.last_eval = time.perf_counter()
        stop_requested: List[bool] = []

        def on_sigint(signum: int, frame: Any) -> None:
            if stop_requested:
                raise KeyboardInterrupt
            stop_requested.append(True)

        previous_handler = None
        if threading.current_thread() is threading.main_thread():
            previous_handler = signal.signal(signal.SIGINT, on_sigint)
        try:
            while state.epoch < self.max_epochs and not stopped_early:
                if state.order is None:
                    order = numpy.arange(n_train)
                    numpy.random.shuffle(order)
                    state.order, state.pos = order, 0
                order = numpy.asarray(state.order)
                self.open_bar(show_progress, n_train)
                while state.pos < n_train:
                    for n_examples, loss in self.next_steps(order, n_train):
                        state.record_step(n_examples, loss, n_train)
                        if self.bar is not None:
                            self.bar.update(n_examples)
                    # the evaluation due at this step comes before a stop: Ctrl-C here
                    # must not lose it (the resumed run would stop elsewhere)
                    if self.eval_frequency and state.step % self.eval_frequency == 0:
                        stopped_early = self.evaluate_and_save()
                    elif not self.eval_frequency and state.pos >= n_train:
                        stopped_early = self.evaluate_and_save()  # the epoch's evaluation
                    if stopped_early:
                        break
                    if stop_requested and state.finished(self.max_epochs, self.patience,
                                                         self.patience_min_steps) is None:
                        raise KeyboardInterrupt
                self.close_bar()
            if state.loss_n and not stopped_early:
                self.evaluate_and_save()  # steps since the last evaluation: evaluate and save them too
        except KeyboardInterrupt:
            self.close_bar()
            self.model.zero_grads()
            self.save(["model-last"], {"epoch": state.epoch, "step": state.step, "interrupted": True})
            if self.out is None:
                raise TrainingInterrupted(f"Interrupted at step {state.step}. Nothing was saved "
                                          "(no --output).") from None
            raise TrainingInterrupted(
                f"Interrupted at step {state.step}. The run is saved in {self.out} (model-last "
                "holds everything to go on from this step). Continue it with:\n"
                f"  thinc-fast train --resume --output {shlex.quote(str(self.out))}"
                + (f" --workers {self.workers}" if self.workers else "")) from None
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
        return stopped_early

    # ------------------------------------------------------ evaluate, save
    def evaluate_and_save(self) -> bool:
        """Score the dev set, log and save; True when patience has run out."""
        state = self.state
        if self.trainer is not None:
            self.trainer.sync_driver()  # the workers' parameters into self.model
        with self.model.use_params(self.optimizer.averages):
            accuracy, dev_loss = evaluate(self.model, self.dev_X, self.dev_Y, loss=self.loss)
        now = time.perf_counter()
        row = {"epoch": state.epoch, "step": state.step, "loss": state.mean_loss(),
               "dev_loss": dev_loss, "dev_acc": accuracy, "learn_rate": self.optimizer.learn_rate,
               "examples_per_s": state.examples / max(now - self.last_eval, 1e-9)}
        self.last_eval = now
        score = accuracy if self.score == "dev_acc" else dev_loss
        improved = state.record_eval(score, higher_is_better=SCORES[self.score],
                                     dev_loss=dev_loss)
        row["best"] = improved
        if self.bar is not None:
            self.bar.clear()
        self.table.row(row)
        self.folder.append_metrics(row)
        # model-best first: model-last, the point a resume starts from, is written last
        self.save(["model-best", "model-last"] if improved else ["model-last"],
                  {"epoch": state.epoch, "step": state.step, "dev_acc": accuracy,
                   "dev_loss": dev_loss})
        return state.out_of_patience(self.patience, self.patience_min_steps)

    def save(self, which: List[str], meta: Dict[str, Any]) -> None:
        """Write the model folders named in `which` (when there is an output)."""
        if self.out is None:
            return
        state = self.state
        if isinstance(self.batch_size, Schedule):
            state = dataclasses.replace(state, batch_size_state=self.batch_size.get_state())
        extra: Dict[str, Any] = {"progress": state.to_dict()}
        if self.trainer is not None:
            self.trainer.sync_driver()
            extra["data_parallel"] = self.trainer.plan.to_dict()
        self.folder.save(which, self.config, self.model, self.optimizer, extra, meta)

    # ------------------------------------------------------------- progress
    def open_bar(self, show_progress: bool, n_train: int) -> None:
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover
            return
        if show_progress:
            self.bar = tqdm(total=n_train, initial=self.state.pos,
                            desc=f"epoch {self.state.epoch + 1}", unit="ex", leave=False,
                            dynamic_ncols=True, disable=None)

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
