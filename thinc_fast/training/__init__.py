"""``thinc-fast train``: the config, the output folder, the state and the loop.

- :mod:`.config`: the default config, ``--set`` overrides, loading and validation;
- :mod:`.output`: the run folder, its lock, atomic model folders, ``metrics.jsonl``,
  and :func:`load_model`, which rebuilds a trained model from its folder;
- :mod:`.state`: :class:`TrainState`, the loop's position as a dataclass;
- :mod:`.loop`: :func:`train` and :func:`evaluate`;
- :mod:`.labels`: a text model's label names, recorded in the run's config
  (:func:`load_labels`), and its predictions named (:func:`predict_labels`).

Each training step is :func:`thinc_fast.step.train_step`.
"""
from ..errors import TrainingInterrupted, UserError
from .config import (DEFAULT_CONFIG, SCORES, TRAINING_DEFAULTS, load_config, parse_overrides,
                     resolve_config)
from .labels import load_labels, predict_labels
from .loop import evaluate, train
from .output import (LOCK_FILE, RUN_MARKER, RunLock, create_output, find_model_dir, load_model,
                     prepare_output, recover_output, truncate_metrics, write_model_dir)
from .state import TrainState

__all__ = ["DEFAULT_CONFIG", "TRAINING_DEFAULTS", "SCORES", "RUN_MARKER", "LOCK_FILE", "UserError",
           "TrainingInterrupted", "TrainState", "RunLock", "parse_overrides", "load_config",
           "resolve_config", "prepare_output", "create_output", "write_model_dir",
           "recover_output", "find_model_dir", "load_model", "load_labels", "predict_labels",
           "truncate_metrics", "evaluate", "train"]
