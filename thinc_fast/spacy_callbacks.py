"""One config line that makes ``spacy train`` run on thinc_fast's kernels.

thinc_fast registers ``thinc_fast.use_ops.v1`` in spaCy's ``callbacks``
registry (through the ``spacy_callbacks`` entry point, so spaCy finds it with
nothing imported by hand). Put it in the ``[initialize]`` block of a training
config::

    [initialize]
    before_init = {"@callbacks": "thinc_fast.use_ops.v1"}

or, in the section form::

    [initialize.before_init]
    @callbacks = "thinc_fast.use_ops.v1"
    num_threads = null

``spacy train`` runs it before the pipeline's weights are allocated: every
model of the pipeline (and every model created later in the process) then runs
on :class:`thinc_fast.backends.thinc_backend.ThincFastOps`. spaCy does not read
``[initialize]`` when it loads a trained pipeline, so the saved pipeline loads
and predicts the same in a spaCy without thinc_fast (where it runs on Thinc's
NumpyOps). To predict on thinc_fast's kernels there, call
``thinc_fast.spacy_callbacks.use_thinc_fast(nlp)`` after ``spacy.load``.

The callback also works as ``[nlp] before_creation`` (then it only sets the
current ops, since no model exists yet), but a pipeline saved with that line
needs thinc_fast installed to load.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from .backends.thinc_backend import use_thinc_fast

__all__ = ["use_ops_callback", "use_thinc_fast"]


def use_ops_callback(num_threads: Optional[int] = None) -> Callable[[Any], Any]:
    """spaCy's ``thinc_fast.use_ops.v1``: a callback that takes the ``nlp``
    object (``[initialize] before_init``) or the Language class (``[nlp]
    before_creation``), switches to thinc_fast's Thinc backend with
    `num_threads` threads (None: the count as it stands, which unless
    ``thinc_fast.set_num_threads`` changed it is the CPUs this process may use,
    at most ``THINC_FAST_NUM_THREADS``), and returns what it was given."""
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                    or num_threads < 1):
        raise ValueError(f"thinc_fast.use_ops.v1: num_threads must be a positive integer or "
                         f"null, got {num_threads!r}")

    def switch(target: Any) -> Any:
        from thinc.api import get_current_ops

        from .backends import get_num_threads
        from .backends.thinc_backend import ThincFastOps

        result = use_thinc_fast(target, num_threads)
        if isinstance(get_current_ops(), ThincFastOps):
            threads = get_num_threads()
            plural = "s" if threads != 1 else ""
            print(f"thinc_fast: the pipeline runs on ThincFastOps ({threads} thread{plural})",
                  file=sys.stderr, flush=True)
        return result

    return switch
