"""``thinc-fast train``: the config, the output folder, the state and the loop.

- :mod:`.options`: :class:`RunOptions`, the options of one run (``thinc-fast train``'s);
- :mod:`.config`: the ``[training]`` settings table, the default config, ``--set``
  overrides, loading and validation;
- :mod:`.output`: the run folder (:class:`RunFolder`, its one owner), its lock,
  atomic model folders, ``metrics.jsonl``, and :func:`load_model`, which
  rebuilds a trained model from its folder;
- :mod:`.state`: :class:`TrainState`, the loop's position as a dataclass;
- :mod:`.loop`: :func:`train` (keywords), :func:`run_training` (a RunOptions) and
  :func:`evaluate`;
- :mod:`.labels`: a text model's label names, recorded in the run's config
  (:func:`load_labels`), and its predictions named (:func:`predict_labels`).

Each training step is :func:`thinc_fast.step.train_step`, with the loss of
``[training.loss]``.
"""
from ..errors import TrainingInterrupted, UserError
from .config import (DEFAULT_CONFIG, SCORES, TRAINING_DEFAULTS, TRAINING_SETTINGS, load_config,
                     parse_overrides, resolve_config, resolve_loss)
from .labels import load_labels, predict_labels
from .loop import evaluate, run_training, train
from .options import RunOptions
from .output import (LOCK_FILE, RUN_MARKER, RunFolder, RunLock, create_output, find_model_dir,
                     load_model, prepare_output, recover_output, truncate_metrics,
                     write_model_dir)
from .state import TrainState

__all__ = ["DEFAULT_CONFIG", "TRAINING_DEFAULTS", "TRAINING_SETTINGS", "SCORES", "RUN_MARKER",
           "LOCK_FILE", "UserError", "TrainingInterrupted", "TrainState", "RunOptions",
           "RunFolder", "RunLock", "parse_overrides", "load_config", "resolve_config",
           "resolve_loss", "prepare_output", "create_output", "write_model_dir",
           "recover_output", "find_model_dir", "load_model", "load_labels", "predict_labels",
           "truncate_metrics", "evaluate", "run_training", "train"]
