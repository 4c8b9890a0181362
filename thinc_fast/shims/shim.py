"""Shim: the base class of the wrappers around another framework's model.

A ``Model`` treats its shims (``model.shims``) as opaque sublayers: it does not
look inside them, but it passes them the optimizer in ``finish_update``, enters
their ``use_params``, moves them with ``to_gpu``/``to_cpu`` (``to_device``),
copies them with the model and stores their ``to_bytes()`` when it is saved.
Subclasses (``PyTorchShim``, ``TorchScriptShim``) fill in the framework part.
"""
from __future__ import annotations

import contextlib
import copy as _copy
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Union


class Shim:
    """An external model behind Thinc's interface.

    ``shim(inputs, is_train)`` returns ``(outputs, backprop)``; ``predict`` and
    ``begin_update`` are its inference and training forms. Every shim gets a
    process-wide unique ``id`` (a counter shared by all shims, separate from
    the model ids); optimizers key the state of a shim's parameters by
    ``(shim.id, parameter_name)``. ``cfg`` is a plain dict stored with the
    shim's bytes.
    """

    name = "shim"
    global_id: int = 0
    global_id_lock = threading.Lock()

    def __init__(self, model: Any, config: Optional[Dict[str, Any]] = None,
                 optimizer: Any = None) -> None:
        with Shim.global_id_lock:
            Shim.global_id += 1
            self.id = Shim.global_id
        self.cfg: Dict[str, Any] = dict(config) if config is not None else {}
        self._model = model
        self._optimizer = optimizer

    def __call__(self, inputs: Any, is_train: bool) -> Tuple[Any, Callable[..., Any]]:
        raise NotImplementedError

    def predict(self, fwd_args: Any) -> Any:
        """The output of an inference call (``self(fwd_args, is_train=False)``)."""
        return self(fwd_args, is_train=False)[0]

    def begin_update(self, fwd_args: Any) -> Tuple[Any, Callable[..., Any]]:
        """``(outputs, backprop)`` of a training call."""
        return self(fwd_args, is_train=True)

    def finish_update(self, optimizer: Any) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def use_params(self, params: Dict[Any, Any]):
        """Within the block, use `params` instead of the current weights (the
        base class has none to swap)."""
        yield

    def copy(self) -> "Shim":
        """A deep copy (it keeps this shim's ``id``)."""
        return _copy.deepcopy(self)

    def to_device(self, device_type: str, device_id: int) -> None:
        raise NotImplementedError

    def to_disk(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write ``to_bytes()`` to the file `path` (a str, a ``Path`` or any
        ``Path`` subclass with ``open``, or another ``os.PathLike``)."""
        with _as_path(path).open("wb") as file_:
            file_.write(self.to_bytes())

    def from_disk(self, path: Union[str, "os.PathLike[str]"]) -> "Shim":
        """``from_bytes`` of the contents of the file `path`; returns what
        ``from_bytes`` returns."""
        with _as_path(path).open("rb") as file_:
            data = file_.read()
        return self.from_bytes(data)

    def to_bytes(self) -> bytes:
        raise NotImplementedError

    def from_bytes(self, data: bytes) -> "Shim":
        raise NotImplementedError


def _as_path(path: Any) -> Any:
    """`path` itself when it can open files (a ``Path`` or a subclass, e.g. a
    cloud path), else ``Path(os.fspath(path))``."""
    if not isinstance(path, str) and callable(getattr(path, "open", None)):
        return path
    return Path(os.fspath(path))


__all__ = ["Shim"]
