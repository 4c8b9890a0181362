"""The error types of thinc_fast's command line and training, under one base class.

``thinc-fast`` catches :class:`ThincFastError` and shows it as one paragraph
(no traceback unless ``--verbose``); anything else is a bug and is shown with
its type name. Each class is also importable from where it was first defined
(``thinc_fast.training``, ``thinc_fast.distributed``).

Errors that are also a built-in kind subclass that kind too, so existing
``except ValueError`` / ``except RuntimeError`` code keeps catching them.
"""


class ThincFastError(Exception):
    """Base class: a problem explained by its message, shown without a traceback.

    ``exit_code`` is the command line's exit status for it."""

    exit_code = 1


class UserError(ThincFastError):
    """A problem with the user's input: config, command-line options, output folder."""


class TrainingInterrupted(UserError):
    """Training stopped on Ctrl-C (after saving ``model-last`` when there is an output)."""

    exit_code = 130


class DataError(ThincFastError, ValueError):
    """A data file that cannot be used (missing, unreadable, wrong shapes or values)."""


class InputDTypeError(TypeError, ValueError):
    """An array of the wrong kind of numbers for a layer (integers where floats
    are needed). A TypeError, and a ValueError as Thinc raises it there, so
    ``except`` clauses written for either catch it."""


class LabelRangeError(ValueError, IndexError):
    """A class label outside ``[0, n_classes)`` given to a loss. A ValueError,
    and an IndexError as Thinc's losses raise it."""


class RayUnavailableError(ThincFastError, RuntimeError):
    """Ray is not installed, or the cluster cannot be reached or used."""


class WorkerFailure(ThincFastError, RuntimeError):
    """More Ray workers failed than ``max_failures`` allows."""


__all__ = ["ThincFastError", "UserError", "TrainingInterrupted", "DataError",
           "RayUnavailableError", "WorkerFailure"]


def warn_at_caller(message: str, category: type = UserWarning) -> None:
    """Warn with the location of the first frame outside thinc_fast and
    Python's import machinery: the user's line that called, or imported,
    thinc_fast. A fixed ``stacklevel`` cannot name it for a warning raised
    while thinc_fast is being imported (it names ``<frozen importlib...>``)."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep

    def ours_or_import(name: str) -> bool:
        if "importlib" in name and "_bootstrap" in name:  # frozen or not (-X frozen_modules=off)
            return True
        return not name.startswith("<") and os.path.abspath(name).startswith(package)

    frame = sys._getframe(1)
    while frame is not None and ours_or_import(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:  # only thinc_fast and the import machinery on the stack
        warnings.warn(message, category, stacklevel=2)
        return
    registry = frame.f_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno,
                           module=frame.f_globals.get("__name__"), registry=registry)
