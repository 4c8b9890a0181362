"""The fused optimizer steps' arguments for the kernel tests (test modules
import it by name: pytest's ``pythonpath`` holds the tests folder)."""
from thinc_fast.backends.kernel_args import KernelScalars


def step_kw(learn_rate=None, grad_scale=1.0, segments=None, **scalars):
    """The fused steps' arguments from keywords: the scalars folded into the
    KernelScalars record (`learn_rate` is SGD's lr_hat), the clipping factors
    and segments as they are."""
    if learn_rate is not None:
        scalars["lr_hat"] = learn_rate
    return dict(scalars=KernelScalars(**scalars), grad_scale=grad_scale, segments=segments)
