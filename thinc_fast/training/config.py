"""The training config: the default, ``--set`` overrides, loading and validation.

``load_config`` reads a config file (or the default) and applies overrides;
``use_data_file`` points its ``[data]`` at an ``.npz`` file (``--data``);
``resolve_config`` builds it and checks the ``[training]`` settings;
``check_resume_overrides`` refuses ``--set`` keys a resumed run cannot change
(the other command-line checks are :class:`~thinc_fast.training.options.RunOptions`').
Every problem raises :class:`~thinc_fast.errors.UserError` naming the file,
the section and the key.

``[training]`` settings (:data:`TRAINING_SETTINGS`, one table: the default
config's ``[training]`` is written from it and ``resolve_config`` fills in and
checks every key with it): ``max_epochs``, ``batch_size`` (a number or a
schedule), ``eval_frequency`` (evaluate every N steps; 0: after each epoch),
``patience`` (stop after N evaluations without a better score; 0: never),
``patience_min_steps`` (but never sooner than N steps after the best score:
on small data an epoch is a few steps, and N evaluations alone would stop a
run that is still learning), ``score``, the dev score that picks
``model-best`` and drives patience: ``"dev_acc"`` (higher is better, the
default) or ``"dev_loss"`` (lower is better; an evaluation with the same
score as the best but a lower dev loss counts as better), and ``loss``, a
``[training.loss]`` block naming a registered loss (``@losses``; default
``"SummedCrossentropy.v1"``), which the loop, the dev evaluation and the Ray
workers all use. It must sum over the batch (see
:func:`thinc_fast.loss.summing_problem`).
"""
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..config import Config, ConfigValidationError, registry
from ..datasets.text import TEXT_LOADERS
from ..errors import DataError, UserError
from ..loss import Loss, summing_problem
from ..model import Model
from ..optimizers import Optimizer
from ..schedules import Schedule

# the dev scores early stopping and model-best can follow: name -> higher is better
SCORES = {"dev_acc": True, "dev_loss": False}


@dataclass(frozen=True)
class TrainingSetting:
    """One key of ``[training]``: its default, and `check`, which returns what
    is wrong with a value ("must be ..., got ...") or None when it is valid.
    A default that is a dict is a block (``[training.<name>]``) the registry
    builds."""

    name: str
    default: Any
    check: Callable[[Any], Optional[str]]


def _count(minimum: int) -> Callable[[Any], Optional[str]]:
    def check(value: Any) -> Optional[str]:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return f"must be an integer >= {minimum}, got {value!r}"
        return None

    return check


def _batch_size(value: Any) -> Optional[str]:
    if not isinstance(value, Schedule) and (isinstance(value, bool) or not isinstance(value, int)
                                            or value < 1):
        return f"must be a positive integer or a schedule, got {value!r}"
    return None


def _score(value: Any) -> Optional[str]:
    return None if value in SCORES else f"must be one of {sorted(SCORES)}, got {value!r}"


def _loss(value: Any) -> Optional[str]:
    problem = summing_problem(value)
    return None if problem is None else f"cannot be used for training: {problem}"


#: the ``[training]`` settings, in the default config's order, with their defaults
TRAINING_SETTINGS: Tuple[TrainingSetting, ...] = (
    TrainingSetting("max_epochs", 20, _count(1)),
    TrainingSetting("batch_size", 32, _batch_size),
    TrainingSetting("eval_frequency", 0, _count(0)),
    TrainingSetting("patience", 5, _count(0)),
    TrainingSetting("patience_min_steps", 200, _count(0)),
    TrainingSetting("score", "dev_acc", _score),
    TrainingSetting("loss", {"@losses": "SummedCrossentropy.v1"}, _loss),
)
#: name -> default of every ``[training]`` setting (read from TRAINING_SETTINGS)
TRAINING_DEFAULTS: Dict[str, Any] = {s.name: s.default for s in TRAINING_SETTINGS}


def _training_text() -> str:
    """The ``[training]`` section of the default config, from TRAINING_SETTINGS."""
    keys = "".join(f"{s.name} = {json.dumps(s.default)}\n" for s in TRAINING_SETTINGS
                   if not isinstance(s.default, dict))
    blocks = "".join(f"\n[training.{s.name}]\n"
                     + "".join(f"{k} = {json.dumps(v)}\n" for k, v in s.default.items())
                     for s in TRAINING_SETTINGS if isinstance(s.default, dict))
    return "[training]\n" + keys + blocks


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

""" + _training_text()

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
    """Build everything in `config` (its ``[training]`` completed with the
    defaults: `config` itself is unchanged); errors name the section and key.
    ``resolved["training"]`` holds every setting, checked, its ``loss`` built."""
    for section in ("model", "optimizer", "data"):
        if section not in config:
            raise UserError(f"{where}: missing section [{section}]")
    try:
        resolved = registry.resolve(_with_training_defaults(config))
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
    resolved["training"] = _check_training(resolved["training"], where)
    return resolved


def resolve_loss(config: Config, where: str) -> Loss:
    """The loss of `config`'s ``[training.loss]`` (the default when it has
    none), built and checked as ``resolve_config`` does, without building the
    rest: ``thinc-fast evaluate`` scores a trained model with its run's loss."""
    try:
        section = _with_training_defaults(config).interpolate()["training"]
        loss = registry.resolve({"training": {"loss": section["loss"]}})["training"]["loss"]
    except ConfigValidationError as err:
        raise UserError(f"{where}: invalid config.\n{err}") from None
    except (ValueError, TypeError) as err:
        raise UserError(f"{where}: a value in the config was rejected: {err}") from None
    problem = _loss(loss)
    if problem is not None:
        raise UserError(f"{where}: [training.loss] {problem}")
    return loss


def default_loss() -> Loss:
    """The loss a config without ``[training.loss]`` trains with (TRAINING_DEFAULTS)."""
    return resolve_loss(Config(), "the default [training.loss]")


def _with_training_defaults(config: Config) -> Config:
    """A copy of `config` whose ``[training]`` has every key of TRAINING_SETTINGS
    (the defaults where it has none), so that the registry builds the default
    loss like a configured one. `config` is not changed: a run's ``config.cfg``
    is written as it was given."""
    filled = Config(config)
    training = config.get("training")
    section = dict(training) if isinstance(training, dict) else {}
    for setting in TRAINING_SETTINGS:
        section.setdefault(setting.name, copy.deepcopy(setting.default))
    filled["training"] = section
    return filled


def _check_training(section: Dict[str, Any], where: str) -> Dict[str, Any]:
    """The [training] settings (defaults filled in), each checked."""
    unknown = set(section) - set(TRAINING_DEFAULTS)
    if unknown:
        raise UserError(f"{where}: section [training] has unknown keys {sorted(unknown)}; "
                        f"known: {sorted(TRAINING_DEFAULTS)}")
    for setting in TRAINING_SETTINGS:
        problem = setting.check(section[setting.name])
        if problem is not None:
            raise UserError(f"{where}: {_key(setting)} {problem}")
    return dict(section)


def _key(setting: TrainingSetting) -> str:
    """How errors name a setting: ``[training] max_epochs``, or the block ``[training.loss]``."""
    return (f"[training.{setting.name}]" if isinstance(setting.default, dict)
            else f"[training] {setting.name}")
