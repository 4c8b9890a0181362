"""The training config: the default, ``--set`` overrides, loading and validation.

``load_config`` reads a config file (or the default) and applies overrides;
``use_data_file`` points its ``[data]`` at an ``.npz`` file (``--data``);
``resolve_config`` builds it and checks the ``[training]`` settings;
``check_options`` and ``check_resume_overrides`` refuse command-line options
that do not go together. Every problem raises
:class:`~thinc_fast.errors.UserError` naming the file, the section and the key.

``[training]`` settings: ``max_epochs``, ``batch_size`` (a number or a
schedule), ``eval_frequency`` (evaluate every N steps; 0: after each epoch),
``patience`` (stop after N evaluations without a better score; 0: never),
``patience_min_steps`` (but never sooner than N steps after the best score:
on small data an epoch is a few steps, and N evaluations alone would stop a
run that is still learning) and ``score``, the dev score that picks
``model-best`` and drives patience: ``"dev_acc"`` (higher is better, the
default) or ``"dev_loss"`` (lower is better). An evaluation with the same
score as the best but a lower dev loss counts as better.
"""
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..config import Config, ConfigValidationError, registry
from ..datasets.text import TEXT_LOADERS
from ..errors import DataError, UserError
from ..model import Model
from ..optimizers import Optimizer
from ..schedules import Schedule

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
patience_min_steps = 200
score = "dev_acc"
"""

TRAINING_DEFAULTS = {"max_epochs": 20, "batch_size": 32, "eval_frequency": 0, "patience": 5,
                     "patience_min_steps": 200, "score": "dev_acc"}
# the dev scores early stopping and model-best can follow: name -> higher is better
SCORES = {"dev_acc": True, "dev_loss": False}
# what --set may change when a run resumes (the rest is restored from the checkpoint)
RESUMABLE = ("training.max_epochs", "training.batch_size", "training.eval_frequency",
             "training.patience", "training.patience_min_steps", "optimizer.")


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
        except (ValueError, RecursionError) as err:  # a 5000-digit number; deep nesting
            raise UserError(f"--set {key}: the value cannot be read ({err})") from None
    return out


def check_options(*, resume: bool, overwrite: bool, workers: int, address: Optional[str],
                  seed: Optional[int], data: Optional[Path]) -> None:
    """UserError for command-line options that do not go together."""
    if resume and overwrite:
        raise UserError("--resume continues the run in --output and --overwrite starts it over: "
                        "choose one.")
    if address is not None and not workers:
        raise UserError(f"--address {address} joins a Ray cluster to train on its workers: add "
                        "--workers N (N >= 1), or leave --address out to train in this process.")
    if resume and seed is not None:
        raise UserError("--seed cannot change when a run resumes: its random state is restored "
                        "from model-last/checkpoint.bin. Start a new run to use another seed.")
    if resume and data is not None:
        raise UserError("--data cannot change when a run resumes: the run goes on with the data "
                        "in its config.cfg. Start a new run to train on other data.")


def check_resume_overrides(overrides: Dict[str, Any]) -> None:
    """UserError for a ``--set`` that cannot apply to a resumed run: the model,
    the data and the random state come from the checkpoint (a changed model
    setting would be overwritten by it, changed data would not match its place
    in the epoch), and changing the score would compare different numbers."""
    for key in overrides:
        if not key.startswith(RESUMABLE) or key.startswith("optimizer.@"):
            allowed = ", ".join(k + "*" if k.endswith(".") else k for k in RESUMABLE)
            raise UserError(
                f"--resume --set {key}: this setting cannot change when a run resumes (the "
                "model, its data and its random state are restored from "
                "model-last/checkpoint.bin, so the new value would not be used). On --resume, "
                f"--set can change: {allowed} (the optimizer's hyperparameters, e.g. "
                "optimizer.learn_rate). To change it, start a new run (a new --output, or "
                "--overwrite).")


def use_data_file(config: Config, path: Path) -> None:
    """Point the config's ``[data]`` at the ``.npz`` file `path` (``--data``),
    keeping its ``dev_fraction`` and ``seed``. A ``.jsonl`` or ``.conllu`` file
    is read by its text loader (``TEXT_LOADERS``), keeping the config's other
    settings of that loader."""
    old = config.get("data") or {}
    section: Dict[str, Any] = {"@datasets": "npz.v1", "path": str(path)}
    loader = TEXT_LOADERS.get(Path(path).suffix.lower())
    if loader is not None:
        same = old.get("@datasets") == loader
        section = {**(old if same else {}), "@datasets": loader, "path": str(path)}
    for key in ("dev_fraction", "seed"):
        if key in old:
            section[key] = old[key]
    config["data"] = section


def load_config(path: Optional[Path], overrides: Dict[str, Any]) -> Config:
    """The config at `path` (the default when None) with `overrides` applied."""
    if path is None:
        text, where = DEFAULT_CONFIG, "the default config"
    else:
        if not Path(path).is_file():
            raise UserError(f"Config file not found: {path}")
        text, where = _read_config_text(Path(path)), str(path)
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
            hint = ("; to train on your own .npz file, use --data PATH"
                    if sections == ["data"] and name == "path" else "")
            raise UserError(f"--set {key}: section [{'.'.join(sections)}] of {where} has no key "
                            f"{name!r} (its keys: {known or 'none'}){hint}")
        if isinstance(node[name], dict):
            raise UserError(f"--set {key}: {name!r} is a section, not a value")
        node[name] = value
    return config


def _read_config_text(path: Path) -> str:
    """The text of config file `path`; a clear UserError for a data file or other binary."""
    data = path.read_bytes()
    kind = None
    if data[:4] == b"PK\x03\x04":
        kind = "an .npz (zip) data file"
    elif data[:6] == b"\x93NUMPY":
        kind = "an .npy data file"
    else:
        try:
            return data.decode("utf8")
        except UnicodeDecodeError:
            kind = "not text"
    raise UserError(f"{path} is {kind}, not a config file. CONFIG is a training config (write "
                    f"one with: thinc-fast init-config my.cfg). To train on a data file, pass it "
                    f"with --data: thinc-fast train --data {path} --output run")


def resolve_config(config: Config, where: str) -> Dict[str, Any]:
    """Build everything in `config`; errors name the section and key."""
    for section in ("model", "optimizer", "data"):
        if section not in config:
            raise UserError(f"{where}: missing section [{section}]")
    try:
        resolved = registry.resolve(config)
    except ConfigValidationError as err:
        raise UserError(f"{where}: invalid config.\n{err}") from None
    except DataError as err:  # the data file's own problem: the message names the file
        raise UserError(str(err)) from None
    except (ValueError, TypeError) as err:
        raise UserError(f"{where}: a value in the config was rejected: {err}") from None
    if not isinstance(resolved["model"], Model):
        raise UserError(f"{where}: [model] must build a model (e.g. @layers = \"chain.v1\")")
    if not isinstance(resolved["optimizer"], Optimizer):
        raise UserError(f"{where}: [optimizer] must build an optimizer (e.g. @optimizers = \"Adam.v1\")")
    resolved["training"] = _check_training(resolved.get("training") or {}, where)
    return resolved


def _check_training(section: Dict[str, Any], where: str) -> Dict[str, Any]:
    """The [training] settings with defaults filled in, each checked."""
    training = dict(TRAINING_DEFAULTS)
    training.update(section)
    unknown = set(training) - set(TRAINING_DEFAULTS)
    if unknown:
        raise UserError(f"{where}: section [training] has unknown keys {sorted(unknown)}; "
                        f"known: {sorted(TRAINING_DEFAULTS)}")
    for key in ("max_epochs", "eval_frequency", "patience", "patience_min_steps"):
        value = training[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "max_epochs" else 0):
            raise UserError(f"{where}: [training] {key} must be an integer "
                            f">= {1 if key == 'max_epochs' else 0}, got {value!r}")
    if training["score"] not in SCORES:
        raise UserError(f"{where}: [training] score must be one of {sorted(SCORES)}, "
                        f"got {training['score']!r}")
    size = training["batch_size"]
    if not isinstance(size, Schedule) and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise UserError(f"{where}: [training] batch_size must be a positive integer or a schedule, "
                        f"got {size!r}")
    return training
