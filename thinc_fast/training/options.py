"""The options of one training run (``thinc-fast train``'s), as one frozen record.

The command line builds a :class:`RunOptions` once and hands it down whole;
the keyword API :func:`thinc_fast.training.train` builds the same record from
its keywords. Options that do not go together are refused when the record is
made, before anything is read or written.

>>> RunOptions(output="run", workers=2).config_overrides()
{}
>>> RunOptions(seed=3, overrides={"training.max_epochs": 2}).config_overrides()
{'training.max_epochs': 2, 'system.seed': 3}
>>> RunOptions(resume=True, overwrite=True)
Traceback (most recent call last):
...
thinc_fast.errors.UserError: --resume continues the run in --output and --overwrite starts it over: choose one.
"""
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional

from ..about import __version__
from ..errors import UserError

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    """What ``thinc-fast train`` was asked to do (each field is the command-line
    option of the same name; ``show_progress`` is ``not --quiet``).

    config: the config file (None: the default config, an MLP on the digits).
    output: the run folder (None: nothing is saved). resume: continue the run
    in `output` from its model-last. overwrite: start over in an `output`
    that holds an earlier run. seed: the random seed (``[system] seed``).
    data: a data file to train on instead of the config's ``[data]``.
    overrides: ``--set`` values, ``{"section.key": value}``. workers: train
    data-parallel on this many Ray workers (0: in this process). address: the
    Ray cluster to join. on_failure: what to do when a worker dies
    (``"restart"`` or ``"shrink"``). allow_other_data: let `resume` go on
    with data that differ from what the run was trained on. show_progress:
    progress bars while training.
    """

    config: Optional[Path] = None
    output: Optional[Path] = None
    resume: bool = False
    overwrite: bool = False
    seed: Optional[int] = None
    data: Optional[Path] = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    workers: int = 0
    address: Optional[str] = None
    on_failure: str = "restart"
    allow_other_data: bool = False
    show_progress: bool = True

    def __post_init__(self) -> None:
        for name in ("config", "output", "data"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        # a read-only copy: the record cannot change under the run
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides or {})))
        self._check()

    def _check(self) -> None:
        """UserError for options that do not go together."""
        if self.resume and self.overwrite:
            raise UserError("--resume continues the run in --output and --overwrite starts it "
                            "over: choose one.")
        if self.address is not None and not self.workers:
            raise UserError(f"--address {self.address} joins a Ray cluster to train on its "
                            "workers: add --workers N (N >= 1), or leave --address out to train "
                            "in this process.")
        if self.resume and self.seed is not None:
            raise UserError("--seed cannot change when a run resumes: its random state is "
                            "restored from model-last/checkpoint.bin. Start a new run to use "
                            "another seed.")
        if self.resume and self.data is not None:
            raise UserError("--data cannot change when a run resumes: the run goes on with the "
                            "data in its config.cfg. Start a new run to train on other data.")

    def config_overrides(self) -> Dict[str, Any]:
        """The values to set in the config: ``--set``'s, and ``--seed`` as ``system.seed``."""
        out = dict(self.overrides)
        if self.seed is not None:
            out["system.seed"] = self.seed
        return out

    def banner(self) -> str:
        """The line ``thinc-fast train`` prints once the config, the data and the
        model have been checked: what it trains, and where it writes."""
        if self.resume:
            return f"thinc-fast {__version__}: resuming the run in {self.output}"
        what = str(self.config) if self.config else "the default config (MLP on the 8x8 digits)"
        if self.data is not None:
            what = f"{self.config or 'the default model'} on {self.data}"
        return (f"thinc-fast {__version__}: training {what}"
                + (f", writing to {self.output}" if self.output else
                   " (no --output: nothing is saved)"))
