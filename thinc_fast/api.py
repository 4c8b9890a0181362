"""The public facade: everything a user imports comes from here."""
from .backends import NumpyOps, Ops, get_current_ops, get_ops, set_current_ops, use_ops
from .data import fix_random_seed, minibatch, to_categorical
from .initializers import glorot_uniform_init, he_normal_init, zero_init
from .layers import (Dropout, LayerNorm, Linear, Maxout, Relu, Softmax, chain, clone,
                     concatenate, noop, residual)
from .model import Model
from .optimizers import SGD, Adam, Optimizer

__all__ = [
    "Model", "Ops", "NumpyOps", "get_ops", "use_ops", "get_current_ops", "set_current_ops",
    "Linear", "Relu", "Softmax", "Dropout", "LayerNorm", "Maxout",
    "chain", "residual", "concatenate", "clone", "noop",
    "Adam", "SGD", "Optimizer",
    "minibatch", "to_categorical", "fix_random_seed",
    "glorot_uniform_init", "he_normal_init", "zero_init",
]
