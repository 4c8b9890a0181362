"""The run's output folder: checks before writing, atomic model folders, metrics.

A run folder holds a marker file (``.thinc-fast-run``), ``config.cfg``,
``metrics.jsonl`` and the model folders ``model-last/`` and ``model-best/``.
A model folder is built beside its target and swapped in with renames, so a
reader (or a crash) sees the old folder or the new one, never half of one.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

from ..checkpoint import save_checkpoint
from ..config import Config
from ..errors import UserError
from ..model import Model
from ..optimizers import Optimizer

RUN_MARKER = ".thinc-fast-run"


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
    """Create the folder (if needed) and mark it as a thinc-fast run."""
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


def append_metrics(path: Path, row: Dict[str, Any]) -> None:
    """Add one evaluation's row to ``metrics.jsonl``."""
    with open(path, "a", encoding="utf8") as f:
        f.write(json.dumps(row) + "\n")


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the rows after `step` (written after the checkpoint a resume starts from)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text(encoding="utf8").splitlines()
            if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep), encoding="utf8")
