"""The training config: the default, ``--set`` overrides, loading and validation.

``load_config`` reads a config file (or the default) and applies overrides;
``resolve_config`` builds it and checks the ``[training]`` settings. Every
problem raises :class:`~thinc_fast.errors.UserError` naming the file, the
section and the key.
"""
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..config import Config, ConfigValidationError, registry
from ..errors import UserError
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
"""

TRAINING_DEFAULTS = {"max_epochs": 20, "batch_size": 32, "eval_frequency": 0, "patience": 5}


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
    for key in ("max_epochs", "eval_frequency", "patience"):
        value = training[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "max_epochs" else 0):
            raise UserError(f"{where}: [training] {key} must be an integer "
                            f">= {1 if key == 'max_epochs' else 0}, got {value!r}")
    size = training["batch_size"]
    if not isinstance(size, Schedule) and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise UserError(f"{where}: [training] batch_size must be a positive integer or a schedule, "
                        f"got {size!r}")
    return training
