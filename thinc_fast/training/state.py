"""Where a training run stands: the loop's position, the best score, the loss window.

:class:`TrainState` is saved in every checkpoint (``extra["progress"]``) as
the JSON-able dict of ``to_dict`` and read back with ``from_dict``, so that a
resumed run continues bit for bit. The dict's keys are the ones checkpoints
have always used.
"""
import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy


@dataclass
class TrainState:
    """The training loop's state (everything the model and optimizer do not hold).

    epoch, step: finished epochs and steps. order, pos: this epoch's shuffled
    example order (None between epochs) and how far into it the loop is.
    best_score, best_step, bad_evals: the best dev score (``[training] score``:
    accuracy by default), its step, and evaluations since it (for patience);
    best_dev_loss: the dev loss at that evaluation, which breaks ties of
    the score (so a run whose accuracy plateaus while its dev loss still
    falls is improving). loss_sum, loss_n, examples: the
    summed training loss, its examples, and the examples seen since the last
    evaluation. batch_size_state: the batch-size schedule's state, when it
    is one (filled in when saving).
    """

    epoch: int = 0
    step: int = 0
    pos: int = 0
    order: Optional[numpy.ndarray] = None
    best_score: Optional[float] = None
    best_step: Optional[int] = None
    bad_evals: int = 0
    best_dev_loss: Optional[float] = None
    loss_sum: float = 0.0
    loss_n: int = 0
    examples: int = 0
    batch_size_state: Optional[Any] = None

    def record_step(self, n_examples: int, loss: float, n_train: int) -> None:
        """Count one step of `n_examples` with summed `loss`; an epoch ends at `n_train`."""
        self.loss_sum += loss
        self.loss_n += n_examples
        self.examples += n_examples
        self.pos += n_examples
        self.step += 1
        if self.pos >= n_train:
            self.epoch += 1
            self.order = None

    def mean_loss(self) -> float:
        """The mean training loss per example since the last evaluation."""
        return self.loss_sum / max(self.loss_n, 1)

    def record_eval(self, score: float, higher_is_better: bool = True,
                    dev_loss: Optional[float] = None) -> bool:
        """Start a new loss window and track the best `score`; True if it
        improved: a better score, or the same score with a lower `dev_loss`."""
        self.loss_sum, self.loss_n, self.examples = 0.0, 0, 0
        if self.best_score is None:
            improved = True
        elif score == self.best_score:
            improved = (dev_loss is not None and self.best_dev_loss is not None
                        and dev_loss < self.best_dev_loss)
        else:
            improved = score > self.best_score if higher_is_better else score < self.best_score
        if improved:
            self.best_score, self.best_step, self.bad_evals = score, self.step, 0
            self.best_dev_loss = dev_loss
        else:
            self.bad_evals += 1
        return improved

    def out_of_patience(self, patience: int, min_steps: int = 0) -> bool:
        """Early stop: `patience` evaluations without a better score and at
        least `min_steps` steps since the best one (patience 0: never)."""
        since = self.step - (self.best_step or 0)
        return bool(patience) and self.bad_evals >= patience and since >= min_steps

    def finished(self, max_epochs: int, patience: int, min_steps: int = 0) -> Optional[str]:
        """Why a run in this state has nothing left to do under these limits, or None."""
        if self.out_of_patience(patience, min_steps):
            return (f"it stopped early at step {self.step}: {self.bad_evals} evaluations and "
                    f"{self.step - (self.best_step or 0)} steps without a better score "
                    f"(patience = {patience}, patience_min_steps = {min_steps})")
        if self.epoch >= max_epochs and not self.loss_n:
            return f"it completed max_epochs = {max_epochs} ({self.step} steps)"
        return None

    def to_dict(self) -> Dict[str, Any]:
        """The state as JSON-able data (the checkpoint's ``progress``)."""
        data = dataclasses.asdict(self)
        data["order"] = None if self.order is None else [int(i) for i in self.order]
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TrainState":
        """Read what ``to_dict`` wrote (missing keys take their defaults)."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"the checkpoint's training state has unknown keys {sorted(unknown)}; "
                             f"known: {sorted(names)}")
        state = cls(**data)
        if state.order is not None:
            state.order = numpy.asarray(state.order)
        return state
