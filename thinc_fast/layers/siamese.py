"""siamese: encode two inputs with one layer and compare them with another."""

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..util import get_width


@builtin("layers", "siamese.v1")
def siamese(layer: Model, similarity: Model) -> Model:
    """``siamese(f, sim)((X1, X2)) == sim((f(X1), f(X2)))``; backprop returns
    ``(dX1, dX2)``. The encoder's weights are shared (both calls add to its
    gradients). Unlike Thinc, an encoder whose ``nI`` is unset is accepted
    (``initialize`` sets it)."""
    return Model(f"siamese({layer.name}, {similarity.name})", forward, init=init,
                 layers=[layer, similarity],
                 dims={"nI": layer.maybe_get_dim("nI"), "nO": similarity.maybe_get_dim("nO")})


def forward(model: Model, X1_X2: Tuple[Any, Any], is_train: bool) -> Tuple[Any, Callable]:
    encoder, similarity = model.layers
    X1, X2 = X1_X2
    vec1, bp_vec1 = encoder(X1, is_train)
    vec2, bp_vec2 = encoder(X2, is_train)
    output, bp_output = similarity((vec1, vec2), is_train)

    def backprop(d_output: Any) -> Tuple[Any, Any]:
        d_vec1, d_vec2 = bp_output(d_output)
        return bp_vec1(d_vec1), bp_vec2(d_vec2)

    return output, backprop


def init(model: Model, X: Optional[Tuple[Any, Any]] = None, Y: Any = None) -> None:
    encoder, similarity = model.layers
    if X is not None:
        if encoder.has_dim("nI") is not False:
            encoder.set_dim("nI", get_width(X[1]))
        encoder.initialize(X=X[0])
        X = (encoder.predict(X[0]), encoder.predict(X[1]))
    similarity.initialize(X=X, Y=Y)
    if encoder.has_dim("nI"):
        model.set_dim("nI", encoder.get_dim("nI"), force=True)
    if similarity.has_dim("nO"):
        model.set_dim("nO", similarity.get_dim("nO"), force=True)
