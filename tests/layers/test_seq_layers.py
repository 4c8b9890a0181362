"""Sequence layers and combinators against plain NumPy
references that loop over the sequences: outputs, gradients, shapes, and
Thinc's errors for bad input."""
import numpy
import pytest
from numpy.testing import assert_allclose, assert_equal

from thinc_fast.api import (Linear, Model, NumpyOps, Padded, Ragged, add, array_getitem,
                            bidirectional, chain, expand_window, list2array, list2padded,
                            list2ragged, map_list, noop, padded2list, premap_ids, ragged2list,
                            reduce_first, reduce_last, reduce_max, reduce_mean, reduce_sum,
                            registry, remap_ids, remap_ids_v2, resizable, siamese,
                            strings2arrays, tuplify, uniqued, with_array, with_array2d,
                            with_cpu, with_flatten, with_flatten_v2, with_getitem, with_list,
                            with_padded, with_ragged, with_reshape)
from thinc_fast.layers.resizable import resize_linear_weighted, resize_model
from thinc_fast.layers.strings2arrays import murmurhash3_32

rng = numpy.random.default_rng(17)
OPS = NumpyOps()
LENGTHS = [3, 0, 5, 1, 4]


def seqs(lengths=LENGTHS, width=4):
    return [rng.standard_normal((n, width)).astype("f") for n in lengths]


def ragged(Xs):
    return Ragged(OPS.flatten(Xs), OPS.asarray1i([len(x) for x in Xs]))


def linear(nO, nI):
    model = Linear(nO, nI).initialize()
    model.set_param("W", rng.standard_normal((nO, nI)).astype("f"))
    model.set_param("b", rng.standard_normal(nO).astype("f"))
    return model


def affine(model, X):
    return X.astype("float64") @ model.get_param("W").T.astype("float64") + model.get_param("b")


def check_affine_per_sequence(model, layer, Xs):
    """`model` gives a list with `layer` (a Linear) applied to each sequence
    of `Xs`, and the gradients ``dY @ W``; returns the backprop and the dYs."""
    Ys, backprop = model(Xs, is_train=True)
    assert isinstance(Ys, list) and [len(Y) for Y in Ys] == [len(X) for X in Xs]
    for X, Y in zip(Xs, Ys):
        assert_allclose(Y, affine(layer, X), rtol=1e-5, atol=1e-5)
    dYs = [rng.standard_normal(Y.shape).astype("f") for Y in Ys]
    dXs = backprop(dYs)
    for dY, dX in zip(dYs, dXs):
        assert_allclose(dX, dY.astype("float64") @ layer.get_param("W"), rtol=1e-5, atol=1e-5)
    return backprop, dYs


def has_ops(*names):
    return all(hasattr(OPS, name) for name in names)


needs_padded = pytest.mark.skipif(not has_ops("list2padded", "padded2list"),
                                  reason="ops.list2padded/padded2list not in this backend yet")
needs_reduce = pytest.mark.skipif(
    not has_ops("reduce_sum", "reduce_mean", "reduce_max", "reduce_first", "reduce_last"),
    reason="ops.reduce_* not in this backend yet")
needs_seq2col = pytest.mark.skipif(not has_ops("seq2col", "backprop_seq2col"),
                                   reason="ops.seq2col not in this backend yet")


# ------------------------------------------------------------------ helpers
def scale_layer(name, factor):
    """A parameter-free layer for any array type: Y = factor * X, dX = factor * dY."""
    def forward(model, X, is_train):
        return X * factor, lambda dY: dY * factor
    return Model(name, forward)


def similarity_layer():
    """(v1, v2) -> row-wise dot product, as an (n, 1) column."""
    def forward(model, V, is_train):
        v1, v2 = V

        def backprop(d):
            return d * v2, d * v1
        return (v1 * v2).sum(axis=1, keepdims=True), backprop
    return Model("dot", forward, dims={"nO": 1})


# a batch of sequences in each form a wrapper takes: (pack a list, unpack to a list)
FORMS = {
    "list": (lambda Xs: Xs, lambda Ys: Ys),
    "ragged": (ragged, lambda Xr: OPS.unflatten(Xr.data, Xr.lengths)),
    "padded": (lambda Xs: OPS.list2padded(Xs), lambda Xp: OPS.padded2list(Xp)),
    "tuple": (lambda Xs: astuple(OPS.list2padded(Xs)), lambda X: OPS.padded2list(Padded(*X))),
}


def astuple(Xp):
    return (Xp.data, Xp.size_at_t, Xp.lengths, Xp.indices)


def check_wrapped(model, Xs, form, ref, ref_backprop):
    """`model` on the sequences `Xs` as one batch of FORMS[form]: the output
    and the gradient come back in that form and match `ref(Xs)` and
    `ref_backprop(dYs)` sequence by sequence."""
    pack, unpack = FORMS[form]
    X = pack(Xs)
    Y, backprop = model(X, is_train=True)
    assert type(Y) is type(X)
    Ys = unpack(Y)
    assert [len(Y_i) for Y_i in Ys] == [len(X_i) for X_i in Xs]
    for Y_i, expected in zip(Ys, ref(Xs)):
        assert_allclose(Y_i, expected, rtol=1e-5, atol=1e-5)
    dYs = [rng.standard_normal(X_i.shape).astype("f") for X_i in Xs]
    dX = backprop(pack(dYs))
    assert type(dX) is type(X)
    for dX_i, expected in zip(unpack(dX), ref_backprop(dYs)):
        assert_allclose(dX_i, expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ combinators
def test_tuplify_outputs_and_summed_gradient():
    X = rng.standard_normal((6, 4)).astype("f")
    a, b, c = linear(3, 4), linear(2, 4), scale_layer("x2", 2.0)
    model = tuplify(a, b, c)
    assert model.name == "tuple(linear, linear, x2)"
    Ys, backprop = model(X, is_train=True)
    assert isinstance(Ys, tuple) and len(Ys) == 3
    assert_allclose(Ys[0], affine(a, X), rtol=1e-5, atol=1e-5)
    assert_allclose(Ys[1], affine(b, X), rtol=1e-5, atol=1e-5)
    assert_allclose(Ys[2], 2 * X)
    dYs = tuple(rng.standard_normal(Y.shape).astype("f") for Y in Ys)
    kept = tuple(d.copy() for d in dYs)
    dX = backprop(dYs)
    ref = (dYs[0].astype("float64") @ a.get_param("W") + dYs[1] @ b.get_param("W")
           + 2 * dYs[2])
    assert_allclose(dX, ref, rtol=1e-5, atol=1e-5)
    for d, k in zip(dYs, kept):
        assert_equal(d, k)  # the caller's gradients are not written to


def test_tuplify_noop_does_not_alias():
    X = numpy.ones((2, 3), dtype="f")
    Ys, backprop = tuplify(noop(), noop())(X, is_train=True)
    assert Ys[0] is X and Ys[1] is X
    dY0 = numpy.ones((2, 3), dtype="f")
    dX = backprop((dY0, dY0))
    assert_equal(dX, 2 * numpy.ones((2, 3)))
    assert_equal(dY0, numpy.ones((2, 3)))


@pytest.mark.parametrize("n_args", [0, 1])
def test_tuplify_needs_two_layers(n_args):
    with pytest.raises(TypeError):
        tuplify(*[noop()] * n_args)


def test_tuplify_initialize_gives_each_layer_its_Y():
    X = numpy.zeros((2, 5), dtype="f")
    model = tuplify(Linear(), Linear())
    model.initialize(X=X, Y=(numpy.zeros((2, 3), dtype="f"), numpy.zeros((2, 7), dtype="f")))
    assert [layer.get_dim("nO") for layer in model.layers] == [3, 7]
    assert model.get_dim("nI") == 5


def test_add_sums_outputs_and_gradients():
    X = rng.standard_normal((5, 4)).astype("f")
    a, b, c = linear(3, 4), linear(3, 4), linear(3, 4)
    model = add(add(a, b), c)
    assert model.name == "add" and len(model.layers) == 3
    Y, backprop = model(X, is_train=True)
    assert_allclose(Y, affine(a, X) + affine(b, X) + affine(c, X), rtol=1e-5, atol=1e-5)
    dY = rng.standard_normal(Y.shape).astype("f")
    dX = backprop(dY)
    W = a.get_param("W") + b.get_param("W") + c.get_param("W")
    assert_allclose(dX, dY.astype("float64") @ W, rtol=1e-5, atol=1e-5)
    assert_allclose(a.get_grad("W"), dY.T.astype("float64") @ X, rtol=1e-5, atol=1e-5)


def test_add_does_not_write_into_the_input():
    X = numpy.ones((2, 3), dtype="f")
    Y, backprop = add(noop(), noop())(X, is_train=True)
    assert_equal(Y, 2 * numpy.ones((2, 3)))
    assert_equal(X, numpy.ones((2, 3)))
    dY = numpy.ones((2, 3), dtype="f")
    assert_equal(backprop(dY), 2 * dY)
    assert_equal(dY, numpy.ones((2, 3)))


def test_add_initialize_and_errors():
    X = numpy.zeros((2, 4), dtype="f")
    model = add(Linear(), Linear())
    model.initialize(X=X, Y=numpy.zeros((2, 6), dtype="f"))
    assert model.get_dim("nO") == 6 and model.get_dim("nI") == 4
    with pytest.raises(TypeError):
        add()
    with pytest.raises(TypeError):
        add(noop())
    with pytest.raises(ValueError, match="layer 1"):
        add(linear(3, 4), linear(2, 4))(X, is_train=False)


def test_map_list():
    Xs = seqs()
    layer = linear(2, 4)
    backprop, dYs = check_affine_per_sequence(map_list(layer), layer, Xs)
    with pytest.raises(ValueError, match="expected 5 gradients"):
        backprop(dYs[:2])


def test_siamese_shares_the_encoder():
    enc = linear(3, 4)
    model = siamese(enc, similarity_layer())
    assert model.name == "siamese(linear, dot)"
    X1 = rng.standard_normal((5, 4)).astype("f")
    X2 = rng.standard_normal((5, 4)).astype("f")
    Y, backprop = model((X1, X2), is_train=True)
    v1, v2 = affine(enc, X1), affine(enc, X2)
    assert_allclose(Y, (v1 * v2).sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-4)
    d = rng.standard_normal(Y.shape).astype("f")
    dX1, dX2 = backprop(d)
    W = enc.get_param("W").astype("float64")
    assert_allclose(dX1, (d * v2) @ W, rtol=1e-4, atol=1e-4)
    assert_allclose(dX2, (d * v1) @ W, rtol=1e-4, atol=1e-4)
    # both calls add to the one encoder's gradient
    assert_allclose(enc.get_grad("W"), (d * v2).T @ X1 + (d * v1).T @ X2, rtol=1e-4, atol=1e-4)


def test_siamese_initialize():
    model = siamese(Linear(3), similarity_layer())
    X = numpy.zeros((2, 6), dtype="f")
    model.initialize(X=(X, X))
    assert model.get_dim("nI") == 6 and model.get_dim("nO") == 1


# ------------------------------------------------------------- with_array
@pytest.mark.parametrize("pad", [0, 2])
def test_with_array_list(pad):
    Xs = seqs()
    layer = linear(3, 4)
    model = with_array(layer, pad=pad)
    assert model.get_dim("nO") == 3 and model.get_dim("nI") == 4
    assert model.name == "with_array(linear)"
    check_affine_per_sequence(model, layer, Xs)


def test_with_array_ragged_and_array():
    Xs = seqs()
    layer = linear(3, 4)
    model = with_array(layer)
    Xr = ragged(Xs)
    Yr, backprop = model(Xr, is_train=True)
    assert isinstance(Yr, Ragged)
    assert_equal(Yr.lengths, LENGTHS)
    assert_allclose(Yr.data, affine(layer, Xr.data), rtol=1e-5, atol=1e-5)
    dY = rng.standard_normal(Yr.data.shape).astype("f")
    dXr = backprop(Ragged(dY, Yr.lengths))
    assert isinstance(dXr, Ragged)
    assert_allclose(dXr.data, dY.astype("float64") @ layer.get_param("W"), rtol=1e-5, atol=1e-5)
    Y = model.predict(Xr.data)
    assert_allclose(Y, affine(layer, Xr.data), rtol=1e-5, atol=1e-5)


def test_with_array_initialize_infers_dims():
    Xs = [numpy.zeros((2, 5), dtype="f"), numpy.zeros((3, 5), dtype="f")]
    Ys = [numpy.zeros((2, 7), dtype="f"), numpy.zeros((3, 7), dtype="f")]
    model = with_array(Linear())
    model.initialize(X=Xs, Y=Ys)
    assert model.get_dim("nI") == 5 and model.get_dim("nO") == 7


@needs_padded
def test_with_array2d_padded():
    Xs = seqs([3, 5, 1])
    layer = linear(2, 4)
    Xp = OPS.list2padded(Xs)
    model = with_array2d(layer)
    Yp, backprop = model(Xp, is_train=True)
    assert isinstance(Yp, Padded)
    assert Yp.data.shape == Xp.data.shape[:2] + (2,)
    assert_allclose(Yp.data, affine(layer, Xp.data.reshape(-1, 4)).reshape(Yp.data.shape),
                    rtol=1e-5, atol=1e-5)
    dY = rng.standard_normal(Yp.data.shape).astype("f")
    dXp = backprop(Padded(dY, Yp.size_at_t, Yp.lengths, Yp.indices))
    assert isinstance(dXp, Padded) and dXp.data.shape == Xp.data.shape
    assert_allclose(dXp.data, dY.astype("float64") @ layer.get_param("W"), rtol=1e-5, atol=1e-5)


@needs_padded
def test_with_array_padded_gives_the_layer_the_3d_data():
    Xp = OPS.list2padded(seqs([3, 5, 1]))
    Yp, backprop = with_array(scale_layer("x3", 3.0))(Xp, is_train=True)
    assert isinstance(Yp, Padded)
    assert_allclose(Yp.data, 3 * Xp.data)
    assert_equal(Yp.size_at_t, Xp.size_at_t)
    dXp = backprop(Yp)
    assert_allclose(dXp.data, 9 * Xp.data, rtol=1e-6)


def test_with_array2d_ragged_3d_data():
    data = rng.standard_normal((6, 2, 2)).astype("f")
    Xr = Ragged(data, OPS.asarray1i([2, 4]))
    seen = []

    def forward(model, X, is_train):
        seen.append(X.shape)
        return X, lambda dY: dY

    Yr, backprop = with_array2d(Model("id", forward))(Xr, is_train=True)
    assert seen == [(6, 4)]
    dXr = backprop(Yr)
    assert dXr.dataXd.shape == (6, 2, 2)


# ----------------------------------------------------------- with_padded
def cumsum_padded_layer():
    """A Padded layer that depends on time: Y[t, b] = sum of X[:t+1, b]."""
    def forward(model, Xp, is_train):
        assert isinstance(Xp, Padded)

        def backprop(dYp):
            dX = numpy.flip(numpy.cumsum(numpy.flip(dYp.data, 0), axis=0), 0)
            return Padded(numpy.ascontiguousarray(dX), dYp.size_at_t, dYp.lengths, dYp.indices)
        return Padded(numpy.cumsum(Xp.data, axis=0), Xp.size_at_t, Xp.lengths,
                      Xp.indices), backprop
    return Model("cumsum", forward)


def ref_cumsum(Xs):
    return [numpy.cumsum(X.astype("float64"), axis=0) for X in Xs]


def ref_cumsum_backprop(dYs):
    return [numpy.flip(numpy.cumsum(numpy.flip(dY, 0), axis=0), 0) for dY in dYs]


@needs_padded
@pytest.mark.parametrize("form", ["list", "ragged", "tuple"])
def test_with_padded_forms(form):
    check_wrapped(with_padded(cumsum_padded_layer()), seqs([3, 5, 1, 4]), form, ref_cumsum,
                  ref_cumsum_backprop)


def test_with_padded_3d_array():
    X = rng.standard_normal((4, 3, 2)).astype("f")  # (steps, batch, width)
    model = with_padded(cumsum_padded_layer())
    Y, backprop = model(X, is_train=True)
    assert_allclose(Y, numpy.cumsum(X, axis=0), rtol=1e-5)
    dY = rng.standard_normal(X.shape).astype("f")
    assert_allclose(backprop(dY), numpy.flip(numpy.cumsum(numpy.flip(dY, 0), 0), 0), rtol=1e-5)


# ------------------------------------------------------------- with_list
def cumsum_list_layer():
    def forward(model, Xs, is_train):
        assert isinstance(Xs, list)
        return ref_cumsum(Xs), ref_cumsum_backprop
    return Model("cumsum_list", forward)


def test_with_list_ragged():
    check_wrapped(with_list(cumsum_list_layer()), seqs(), "ragged", ref_cumsum,
                  ref_cumsum_backprop)


@needs_padded
def test_with_list_padded():
    check_wrapped(with_list(cumsum_list_layer()), seqs([2, 4, 1]), "padded", ref_cumsum,
                  ref_cumsum_backprop)


# ----------------------------------------------------------- with_ragged
def centre_ragged_layer():
    """A Ragged layer that uses the lengths: each sequence minus its mean row."""
    def forward(model, Xr, is_train):
        assert isinstance(Xr, Ragged)
        Xs = OPS.unflatten(Xr.data, Xr.lengths)
        Y = OPS.flatten([X - X.mean(axis=0) if len(X) else X for X in Xs])

        def backprop(dYr):
            dYs = OPS.unflatten(dYr.data, dYr.lengths)
            return Ragged(OPS.flatten([d - d.mean(axis=0) if len(d) else d for d in dYs]),
                          dYr.lengths)
        return Ragged(Y, Xr.lengths), backprop
    return Model("centre", forward)


def ref_centre(Xs):
    return [X - X.mean(axis=0) if len(X) else X for X in Xs]


def test_with_ragged_list_and_tuple():
    Xs = seqs()
    model = with_ragged(centre_ragged_layer())
    check_wrapped(model, Xs, "list", ref_centre, ref_centre)
    Xr = ragged(Xs)
    (Y, lengths), backprop = model((Xr.data, Xr.lengths), is_train=True)
    assert_allclose(Y, OPS.flatten(ref_centre(Xs)), rtol=1e-5, atol=1e-5)
    dX, dlengths = backprop((Xr.data, Xr.lengths))
    assert_equal(dlengths, LENGTHS)


@needs_padded
def test_with_ragged_padded():
    check_wrapped(with_ragged(centre_ragged_layer()), seqs([2, 4, 1]), "padded", ref_centre,
                  ref_centre)


# ------------------------------------------------- with_flatten, getitem, reshape
def test_with_flatten_v1_splits_rows():
    table = rng.standard_normal((10, 3)).astype("f")

    def forward(model, ids, is_train):
        model.attrs["seen"] = list(ids)

        def backprop(dY):
            return dY * 2
        return table[ids], backprop

    model = with_flatten(Model("lookup", forward))
    X = [[1, 2, 3], [4], [], [5, 6]]
    Ys, backprop = model(X, is_train=True)
    assert model.layers[0].attrs["seen"] == [1, 2, 3, 4, 5, 6]
    assert [len(Y) for Y in Ys] == [3, 1, 0, 2]
    for ids, Y in zip(X, Ys):
        assert_equal(Y, table[ids])
    dXs = backprop(Ys)
    assert [len(d) for d in dXs] == [3, 1, 0, 2]
    assert_equal(dXs[3], 2 * table[[5, 6]])
    assert model(([]), is_train=False)[0] == []


def test_with_flatten_v1_stacks_a_list_output_into_arrays():
    """A layer that maps a list of row vectors to a list (as Thinc's
    xp.split does it): the pieces are arrays, and the gradient too."""
    def forward(model, X, is_train):
        return [2 * x for x in X], lambda dY: [3 * d for d in dY]

    rows = rng.standard_normal((3, 4)).astype("f")
    model = with_flatten(Model("double", forward))
    Ys, backprop = model([[rows[0], rows[1]], [rows[2]]], is_train=True)
    assert all(isinstance(Y, numpy.ndarray) for Y in Ys)
    assert_equal(Ys[0], 2 * rows[:2])
    assert_equal(Ys[1], 2 * rows[2:])
    dXs = backprop([numpy.ones_like(Y) for Y in Ys])
    assert [d.shape for d in dXs] == [(2, 4), (1, 4)]
    assert_equal(dXs[0], numpy.full((2, 4), 3, dtype="f"))


def test_with_flatten_v2():
    def forward(model, X, is_train):
        return [v + 1 for v in X], lambda dY: [v + 2 for v in dY]

    model = with_flatten_v2(Model("plus_one", forward))
    Y, backprop = model([[1, 2, 3], [4, 5], [], [6, 7, 8]], is_train=True)
    assert Y == [[2, 3, 4], [5, 6], [], [7, 8, 9]]
    assert backprop([[1, 2, 3], [4, 5], [], [6, 7, 8]]) == [[3, 4, 5], [6, 7], [], [8, 9, 10]]


def test_with_getitem():
    a = rng.standard_normal((2, 4)).astype("f")
    b = rng.standard_normal((2, 4)).astype("f")
    layer = linear(3, 4)
    model = with_getitem(1, layer)
    Y, backprop = model((a, b), is_train=True)
    assert Y[0] is a
    assert_allclose(Y[1], affine(layer, b), rtol=1e-5, atol=1e-5)
    dY1 = rng.standard_normal((2, 3)).astype("f")
    dX = backprop((a, dY1))
    assert dX[0] is a
    assert_allclose(dX[1], dY1.astype("float64") @ layer.get_param("W"), rtol=1e-5, atol=1e-5)


def test_with_reshape_nO_differs_from_nI():
    layer = linear(5, 3)
    model = with_reshape(layer)
    X = rng.standard_normal((2, 4, 3)).astype("f")
    model.initialize(X=X)
    assert model.get_dim("nI") == 3 and model.get_dim("nO") == 5
    Y, backprop = model(X, is_train=True)
    assert Y.shape == (2, 4, 5)
    assert_allclose(Y, affine(layer, X.reshape(-1, 3)).reshape(2, 4, 5), rtol=1e-5, atol=1e-5)
    dY = rng.standard_normal(Y.shape).astype("f")
    dX = backprop(dY)
    assert dX.shape == X.shape
    assert_allclose(dX, (dY.reshape(-1, 5).astype("float64") @ layer.get_param("W"))
                    .reshape(X.shape), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expects a 3d array"):
        model(X[0], is_train=False)


# ---------------------------------------------------------- conversions
def check_inverse(Y, backprop, inverse, Xs):
    """`Y` and `backprop`, a conversion layer's output for the list `Xs`: its
    backprop of `Y` and the `inverse` layer give the sequences back, and the
    inverse's backprop gives `Y`'s form and data again (returned)."""
    for dX, X in zip(backprop(Y), Xs):
        assert_equal(dX, X)
    Ys, inverse_backprop = inverse(Y, is_train=True)
    for Y_i, X in zip(Ys, Xs):
        assert_equal(Y_i, X)
    dY = inverse_backprop(Ys)
    assert type(dY) is type(Y)
    assert_equal(dY.data, Y.data)
    return dY


def test_list2array_and_list2ragged_and_ragged2list():
    Xs = seqs()
    Y, backprop = list2array()(Xs, is_train=True)
    assert_equal(Y, numpy.concatenate(Xs))
    assert [d.shape for d in backprop(Y)] == [X.shape for X in Xs]
    Yr, backprop = list2ragged()(Xs, is_train=True)
    assert isinstance(Yr, Ragged)
    assert_equal(Yr.data, numpy.concatenate(Xs))
    assert_equal(Yr.lengths, LENGTHS)
    dYr = check_inverse(Yr, backprop, ragged2list(), Xs)
    assert_equal(dYr.lengths, LENGTHS)


def test_conversions_of_an_empty_batch():
    Y, backprop = list2array()([], is_train=True)
    assert Y.shape == (0, 0) and backprop(Y) == []
    Yr, backprop = list2ragged()([], is_train=True)
    assert Yr.data.shape == (0, 0) and len(Yr) == 0
    assert ragged2list()(Yr, is_train=False)[0] == []


def test_ragged2list_keeps_dataXd_shape():
    Xr = Ragged(rng.standard_normal((5, 2, 3)).astype("f"), OPS.asarray1i([2, 3]))
    Ys, _ = ragged2list()(Xr, is_train=False)
    assert [Y.shape for Y in Ys] == [(2, 2, 3), (3, 2, 3)]


@needs_padded
def test_list2padded_and_padded2list():
    Xs = seqs([2, 5, 3])
    Yp, backprop = list2padded()(Xs, is_train=True)
    assert isinstance(Yp, Padded)
    assert Yp.data.shape == (5, 3, 4)
    assert_equal(Yp.lengths, [5, 3, 2])
    assert_equal(Yp.indices, [1, 2, 0])
    assert_equal(Yp.size_at_t, [3, 3, 2, 1, 1])
    for b, i in enumerate(Yp.indices):
        assert_equal(Yp.data[:len(Xs[i]), b], Xs[i])
    check_inverse(Yp, backprop, padded2list(), Xs)


def test_array_getitem():
    X = rng.standard_normal((4, 5)).astype("f")
    model = array_getitem((slice(None), slice(None, -1)))
    assert model.name == "array-getitem"
    Y, backprop = model(X, is_train=True)
    assert_equal(Y, X[:, :-1])
    dX = backprop(Y)
    assert dX.shape == X.shape and dX.dtype == X.dtype
    assert_equal(dX[:, :-1], X[:, :-1])
    assert_equal(dX[:, -1], 0)


def test_strings2arrays_matches_murmurhash():
    words = ["hello", "world", "", "héllo", "a longer token with spaces"]
    Ys, backprop = strings2arrays()([words, words[:2], []], is_train=True)
    assert [Y.shape for Y in Ys] == [(5, 1), (2, 1), (0, 1)]
    assert all(Y.dtype == numpy.uint64 for Y in Ys)
    assert int(Ys[0][0, 0]) == 613153351  # murmurhash.hash_unicode("hello")
    expected = [murmurhash3_32(w.encode("utf8")) % 2 ** 64 for w in words]
    assert Ys[0][:, 0].tolist() == expected
    assert murmurhash3_32("world".encode()) < 0 and expected[1] > 2 ** 63  # wraps as Thinc's
    assert backprop(Ys) == []


def test_murmurhash3_32_against_the_compiled_one():
    murmurhash = pytest.importorskip("murmurhash")
    for word in ["", "a", "ab", "abc", "abcd", "abcde", "naïve ünïcode ✓", "x" * 41]:
        assert murmurhash3_32(word.encode("utf8")) == murmurhash.hash_unicode(word)
        assert murmurhash3_32(word.encode("utf8"), 7) == murmurhash.hash_unicode(word, seed=7)


# ---------------------------------------------------------------- reduce
REDUCE_LENGTHS = [3, 1, 5, 2]


def reduce_refs(kind, Xs):
    if kind == "sum":
        return numpy.stack([X.sum(axis=0) for X in Xs])
    if kind == "mean":
        return numpy.stack([X.mean(axis=0) for X in Xs])
    if kind == "max":
        return numpy.stack([X.max(axis=0) for X in Xs])
    if kind == "first":
        return numpy.stack([X[0] for X in Xs])
    return numpy.stack([X[-1] for X in Xs])


def reduce_backprop_refs(kind, Xs, dY):
    out = []
    for X, d in zip(Xs, dY):
        dX = numpy.zeros(X.shape)
        if kind == "sum":
            dX[:] = d
        elif kind == "mean":
            dX[:] = d / len(X)
        elif kind == "max":
            dX[X.argmax(axis=0), numpy.arange(X.shape[1])] = d
        elif kind == "first":
            dX[0] = d
        else:
            dX[-1] = d
        out.append(dX)
    return numpy.concatenate(out)


REDUCERS = {"sum": reduce_sum, "mean": reduce_mean, "max": reduce_max, "first": reduce_first,
            "last": reduce_last}


@needs_reduce
@pytest.mark.parametrize("kind", sorted(REDUCERS))
def test_reduce_against_loops(kind):
    Xs = seqs(REDUCE_LENGTHS, width=6)
    model = REDUCERS[kind]()
    assert model.name == f"reduce_{kind}"
    Y, backprop = model(ragged(Xs), is_train=True)
    assert Y.shape == (4, 6) and Y.dtype == numpy.float32
    assert_allclose(Y, reduce_refs(kind, Xs), rtol=1e-5, atol=1e-6)
    dY = rng.standard_normal(Y.shape).astype("f")
    dXr = backprop(dY)
    assert isinstance(dXr, Ragged)
    assert_equal(dXr.lengths, REDUCE_LENGTHS)
    assert_allclose(dXr.data, reduce_backprop_refs(kind, Xs, dY), rtol=1e-5, atol=1e-6)


@needs_reduce
@pytest.mark.parametrize("kind", sorted(REDUCERS))
def test_reduce_backprop_errors_as_thinc(kind):
    model = REDUCERS[kind]()
    Y, backprop = model(ragged(seqs(REDUCE_LENGTHS)), is_train=True)
    with pytest.raises(ValueError, match=r"Shape mismatch in backprop. Y: \(4, 4\), dY: \(3, 4\)"):
        backprop(Y[:-1])
    with pytest.raises(ValueError, match="Type mismatch in backprop. Y: float32, dY: float64"):
        backprop(Y.astype("float64"))


@pytest.mark.parametrize("kind", sorted(REDUCERS))
def test_reduce_needs_ragged(kind):
    with pytest.raises(TypeError, match=f"reduce_{kind}.*expects a Ragged"):
        REDUCERS[kind]()(numpy.zeros((3, 2), dtype="f"), is_train=False)


@needs_reduce
def test_reduce_sum_and_mean_of_an_empty_sequence_are_zero():
    Xs = seqs([2, 0, 3])
    for kind in ("sum", "mean"):
        Y = REDUCERS[kind]().predict(ragged(Xs))
        assert_equal(Y[1], 0)


@needs_reduce
@pytest.mark.parametrize("kind", ["max", "first", "last"])
def test_reduce_max_first_last_refuse_an_empty_sequence(kind):
    with pytest.raises(ValueError, match="lengths must be > 0"):
        REDUCERS[kind]().predict(ragged(seqs([2, 0, 3])))


# --------------------------------------------------------- expand_window
def ref_windows(X, nW):
    n, d = X.shape
    out = numpy.zeros((n, (2 * nW + 1) * d))
    for i in range(n):
        for k, j in enumerate(range(i - nW, i + nW + 1)):
            if 0 <= j < n:
                out[i, k * d:(k + 1) * d] = X[j]
    return out


def ref_windows_backprop(dY, nW, d):
    n = dY.shape[0]
    dX = numpy.zeros((n, d))
    for i in range(n):
        for k, j in enumerate(range(i - nW, i + nW + 1)):
            if 0 <= j < n:
                dX[j] += dY[i, k * d:(k + 1) * d]
    return dX


@needs_seq2col
@pytest.mark.parametrize("nW", [1, 2])
def test_expand_window_array(nW):
    X = rng.standard_normal((6, 3)).astype("f")
    Y, backprop = expand_window(nW)(X, is_train=True)
    assert_allclose(Y, ref_windows(X, nW))
    dY = rng.standard_normal(Y.shape).astype("f")
    assert_allclose(backprop(dY), ref_windows_backprop(dY, nW, 3), rtol=1e-5, atol=1e-6)


@needs_seq2col
@pytest.mark.parametrize("nW", [1, 2])
def test_expand_window_ragged_stops_at_sequence_ends(nW):
    Xs = seqs([3, 1, 4], width=2)
    Yr, backprop = expand_window(nW)(ragged(Xs), is_train=True)
    assert isinstance(Yr, Ragged)
    assert_allclose(Yr.data, numpy.concatenate([ref_windows(X, nW) for X in Xs]))
    dYs = [rng.standard_normal((len(X), (2 * nW + 1) * 2)).astype("f") for X in Xs]
    dXr = backprop(ragged(dYs))
    ref = numpy.concatenate([ref_windows_backprop(d, nW, 2) for d in dYs])
    assert_allclose(dXr.data, ref, rtol=1e-5, atol=1e-6)


def test_expand_window_empty_and_bad_size():
    Y, _ = expand_window(1)(numpy.zeros((0, 4), dtype="f"), is_train=False)
    assert Y.shape == (0, 12)
    with pytest.raises(ValueError, match="window_size"):
        expand_window(-1)


# ---------------------------------------------------------------- uniqued
def lookup_layer(nO=3, nV=10):
    """An embedding table looked up by column 0: what uniqued usually wraps."""
    table = rng.standard_normal((nV, nO)).astype("f")

    def forward(model, X, is_train):
        ids = X[:, 0].astype("int64")

        def backprop(dY):
            model.attrs["d_table"] = numpy.zeros_like(table)
            numpy.add.at(model.attrs["d_table"], ids, dY)
            return numpy.ones(X.shape, dtype="f")
        return table[ids], backprop

    return Model("lookup", forward, dims={"nO": nO}), table


def test_uniqued_same_output_and_table_gradient():
    layer, table = lookup_layer()
    model = uniqued(layer, column=0)
    assert model.name == "uniqued(lookup)"
    X = numpy.array([[3, 0], [1, 1], [3, 2], [3, 3], [7, 4]], dtype="uint64")
    Y, backprop = model(X, is_train=True)
    assert_equal(Y, table[[3, 1, 3, 3, 7]])
    dY = rng.standard_normal(Y.shape).astype("f")
    dX = backprop(dY)
    ref = numpy.zeros_like(table)
    numpy.add.at(ref, [3, 1, 3, 3, 7], dY)
    assert_allclose(layer.attrs["d_table"], ref, rtol=1e-6)
    # Thinc's un-uniquing: each row gets its key's input gradient over its count
    assert_allclose(dX[:, 0], [1 / 3, 1, 1 / 3, 1 / 3, 1])
    model.initialize()
    assert model.get_dim("nO") == 3


def test_uniqued_passes_tiny_batches_through():
    layer, table = lookup_layer()
    Y, _ = uniqued(layer)(numpy.array([[4]], dtype="uint64"), is_train=False)
    assert_equal(Y, table[[4]])


# ------------------------------------------------------- remap / premap
KEYS = numpy.array([4, 2, 6, 1, 8, 7, 9, 3, 30])
MAPPER = {int(k): i for i, k in enumerate(KEYS)}


def test_remap_ids_v1_v2_premap_ids_agree_with_dict_lookups():
    queries = numpy.array([4, 5, 30, 1, 100, 2])
    ref = numpy.array([MAPPER.get(int(q), 99) for q in queries]).reshape(-1, 1)
    for model in (remap_ids(MAPPER, default=99), remap_ids_v2(MAPPER, default=99),
                  premap_ids(MAPPER, default=99)):
        Y, backprop = model(queries, is_train=False)
        assert Y.shape == (6, 1)
        assert_equal(Y, ref)
    Y, _ = remap_ids(MAPPER, default=99, dtype="int64")(list(queries), is_train=False)
    assert Y.dtype == numpy.int64


def test_remap_ids_strings_and_columns():
    table = {"a": 1, "b": 2}
    Y, backprop = remap_ids(table)(["a", "c", "b"], is_train=True)
    assert_equal(Y.ravel(), [1, 0, 2])
    assert backprop(Y) == []
    X = numpy.zeros((len(KEYS), 3), dtype="int64")
    X[:, 2] = KEYS
    for model in (remap_ids_v2(MAPPER, column=2), premap_ids(MAPPER, column=2)):
        Y, backprop = model(X, is_train=True)
        assert_equal(Y.ravel(), numpy.arange(len(KEYS)))
        assert backprop(Y).shape in ((len(KEYS), 1), X.shape)
    Y, backprop = premap_ids(MAPPER)(KEYS, is_train=True)
    assert backprop(Y).shape == KEYS.shape


def test_remap_and_premap_errors_as_thinc():
    with pytest.raises(ValueError, match="'mapping table' not set"):
        remap_ids_v2()(numpy.array([1, 2]), is_train=False)
    with pytest.raises(ValueError, match="mapping_table has to be of type Mapping\\[int, int\\]"):
        premap_ids({"a": 1})
    with pytest.raises(ValueError, match="Mapping\\[int, int\\]"):
        premap_ids({1: 2.5})


def test_premap_ids_table_updates_and_serializes():
    model = premap_ids({5: 1, 3: 2}, default=-1)
    table = model.attrs["mapping_table"]
    assert table[5] == 1 and table[4] is None and len(table) == 2 and 3 in table
    table[4] = 7
    table[5] = 9
    assert_equal(model.predict(numpy.array([3, 4, 5, 6])).ravel(), [2, 7, 9, -1])
    empty = premap_ids({}, default=3)
    assert_equal(empty.predict(numpy.array([1, 2])).ravel(), [3, 3])
    other = premap_ids({1: 1}, default=-1)
    other.from_dict(model.to_dict())  # the table goes through serialize_attr (msgpack)
    assert_equal(other.predict(numpy.array([3, 4, 5, 6])).ravel(), [2, 7, 9, -1])


# ------------------------------------------------------------- resizable
def test_resize_keeps_weights_and_fills_new_rows():
    X = rng.standard_normal((3, 4)).astype("f")
    model = resizable(Linear(2, 4), resize_layer=lambda layer, n: resize_linear_weighted(
        layer, n, fill_defaults={"b": -1.0}))
    model.initialize(X=X)
    W, b = model.layers[0].get_param("W").copy(), model.layers[0].get_param("b").copy()
    Y_old = model.predict(X)
    resize_model(model, 5)
    layer = model.layers[0]
    assert layer.get_dim("nO") == 5 and layer.get_param("W").shape == (5, 4)
    assert_equal(layer.get_param("W")[:2], W)
    assert_equal(layer.get_param("W")[2:], 0)
    assert_equal(layer.get_param("b")[:2], b)
    assert_equal(layer.get_param("b")[2:], -1.0)
    Y_new = model.predict(X)
    assert_allclose(Y_new[:, :2], Y_old, rtol=1e-6)
    assert_allclose(Y_new[:, 2:], -1.0)
    assert resize_model(model, 5).layers[0] is layer  # same nO: unchanged


def test_resize_linear_weighted_unset_dims():
    layer = Linear()
    assert resize_linear_weighted(layer, 4) is layer and layer.get_dim("nO") == 4
    assert resize_linear_weighted(layer, 6) is layer and layer.get_dim("nO") == 6
    with pytest.raises(ValueError, match="leaf layer"):
        resize_linear_weighted(chain(Linear(), Linear()), 3)


# --------------------------------------------------------- bidirectional
@needs_padded
def test_bidirectional_reads_each_sequence_backwards():
    Xs = seqs([3, 5, 1], width=2)
    Xp = OPS.list2padded(Xs)
    model = bidirectional(cumsum_padded_layer(), cumsum_padded_layer())
    assert model.name == "bicumsum"
    Yp, backprop = model(Xp, is_train=True)
    assert Yp.data.shape == Xp.data.shape[:2] + (4,)
    Ys = OPS.padded2list(Yp)
    for X, Y in zip(Xs, Ys):
        X = X.astype("float64")
        suffix = numpy.flip(numpy.cumsum(numpy.flip(X, 0), axis=0), 0)
        assert_allclose(Y[:, :2], numpy.cumsum(X, axis=0), rtol=1e-5, atol=1e-6)
        assert_allclose(Y[:, 2:], suffix, rtol=1e-5, atol=1e-6)
    # backprop is the adjoint of the forward on the live steps
    dYs = [rng.standard_normal((len(X), 4)).astype("f") for X in Xs]
    dXs = OPS.padded2list(backprop(OPS.list2padded(dYs)))
    for X, dY, dX in zip(Xs, dYs, dXs):
        ref = (numpy.flip(numpy.cumsum(numpy.flip(dY[:, :2], 0), 0), 0)
               + numpy.cumsum(dY[:, 2:], axis=0))
        assert_allclose(dX, ref, rtol=1e-5, atol=1e-5)


def test_bidirectional_copies_the_layer_when_given_one():
    layer = cumsum_padded_layer()
    model = bidirectional(layer)
    assert model.layers[0] is layer and model.layers[1] is not layer
    with pytest.raises(TypeError, match="expects a Padded"):
        model(numpy.zeros((2, 2, 2), dtype="f"), is_train=False)


# -------------------------------------------------------------- with_cpu
def test_with_cpu_passes_through_on_the_cpu():
    layer = linear(3, 4)
    model = with_cpu(layer, NumpyOps())
    X = rng.standard_normal((2, 4)).astype("f")
    Y, backprop = model(X, is_train=True)
    assert_allclose(Y, affine(layer, X), rtol=1e-5, atol=1e-5)
    assert backprop(numpy.ones_like(Y)).shape == X.shape


# --------------------------------------------------------------- registry
@pytest.mark.parametrize("name", [
    "tuplify.v1", "add.v1", "siamese.v1", "with_array.v1", "with_array2d.v1", "with_padded.v1",
    "with_list.v1", "with_ragged.v1", "with_flatten.v1", "with_flatten.v2", "with_getitem.v1",
    "with_reshape.v1", "list2array.v1", "list2ragged.v1", "ragged2list.v1", "list2padded.v1",
    "padded2list.v1", "strings2arrays.v1", "reduce_sum.v1", "reduce_mean.v1", "reduce_max.v1",
    "reduce_first.v1", "reduce_last.v1", "expand_window.v1", "uniqued.v1", "remap_ids.v1",
    "remap_ids.v2", "premap_ids.v1", "resizable.v1", "bidirectional.v1", "with_cpu.v1"])
def test_registered_under_thincs_name(name):
    assert callable(registry.layers.get(name))


@needs_reduce
def test_config_builds_a_reduction_model():
    from thinc_fast.api import Config
    config = Config().from_str("""
    [model]
    @layers = "chain.v1"

    [model.*.a]
    @layers = "list2ragged.v1"

    [model.*.b]
    @layers = "reduce_mean.v1"
    """)
    model = registry.resolve(config)["model"]
    Xs = seqs([2, 3])
    assert_allclose(model.predict(Xs), numpy.stack([X.mean(axis=0) for X in Xs]), rtol=1e-6)
