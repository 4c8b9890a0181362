"""Embedding, sparse, attention and recurrent layers:
Embed, HashEmbed, SparseLinear (v1, v2), ParametricAttention (v1, v2),
MultiSoftmax, LSTM, PyTorchLSTM, and Dropout/concatenate/residual over Ragged,
Padded and lists. Outputs against plain NumPy references (loops over keys,
sequences and timesteps; the hash functions written out on Python ints),
gradients against those references or against central finite differences of
their float64 versions, shapes, registry names and errors. Where Thinc 9.1.1 is
installed, the layers also give Thinc's outputs for the same tables and seeds."""
import numpy
import pytest
from numpy.testing import assert_allclose, assert_equal

from thinc_fast.api import (LSTM, SGD, Dropout, Embed, HashEmbed, Linear, Model, MultiSoftmax,
                            NumpyOps, Padded, ParametricAttention, ParametricAttention_v2,
                            PyTorchLSTM, Ragged, Relu, SparseLinear, SparseLinear_v2,
                            concatenate, fix_random_seed, registry, residual,
                            with_padded)
from thinc_fast.layers.parametricattention_v2 import KEY_TRANSFORM_REF

rng = numpy.random.default_rng(170)
OPS = NumpyOps()
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

try:
    import torch
except ImportError:  # pragma: no cover - torch is a dev dependency
    torch = None
has_torch = torch is not None


# ------------------------------------------------------------ references
def rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def fmix64(k):
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    k ^= k >> 33
    return k


def murmur3_x64_128_u64(key, seed):
    """MurmurHash3_x64_128 of the 8 little-endian bytes of `key`: 4 uint32."""
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed
    k1 = (key * c1) & M64
    k1 = (rotl64(k1, 31) * c2) & M64
    h1 ^= k1
    h1 ^= 8
    h2 ^= 8
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    h1, h2 = fmix64(h1), fmix64(h2)
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    return [h1 & M32, h1 >> 32, h2 & M32, h2 >> 32]


def murmur3_x86_32_u64(key, seed):
    """MurmurHash3_x86_32 of the 8 little-endian bytes of `key`."""
    def rotl32(x, r):
        return ((x << r) | (x >> (32 - r))) & M32

    h = seed
    for k in (key & M32, key >> 32):
        k = (k * 0xCC9E2D51) & M32
        k = (rotl32(k, 15) * 0x1B873593) & M32
        h ^= k
        h = (rotl32(h, 13) * 5 + 0xE6546B64) & M32
    h ^= 8
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def ragged(lengths, width):
    data = rng.standard_normal((sum(lengths), width)).astype("f")
    return Ragged(data, numpy.asarray(lengths, dtype="int32"))


def sigmoid64(x):
    return 1.0 / (1.0 + numpy.exp(-x))


# ----------------------------------------------------------------- Embed
def test_embed_rows_and_scattered_gradient():
    model = Embed(5, 7).initialize()
    E = model.get_param("E")
    assert E.shape == (7, 5) and E.dtype == numpy.float32
    assert -0.1 <= E.min() and E.max() < 0.1  # uniform_init
    ids = numpy.asarray([3, 0, 3, 6, 3], dtype="uint64")
    Y, backprop = model(ids, is_train=True)
    assert_equal(Y, E[ids.astype(int)])
    dY = rng.standard_normal(Y.shape).astype("f")
    dX = backprop(dY)
    assert dX.shape == (5,) and dX.dtype.kind == "i" and not dX.any()
    ref = numpy.zeros((7, 5))
    for i, row in enumerate(ids):
        ref[row] += dY[i]
    assert_allclose(model.get_grad("E"), ref, rtol=1e-6, atol=1e-6)


def test_embed_column_reads_one_column():
    model = Embed(4, 10, column=1).initialize()
    assert model.name == "ints-getitem>>embed" and model.attrs["column"] == 1
    X = numpy.asarray([[0, 9], [5, 2], [1, 9]], dtype="int32")
    Y, backprop = model(X, is_train=True)
    E = model.layers[1].get_param("E")
    assert_equal(Y, E[[9, 2, 9]])
    dX = backprop(numpy.ones_like(Y))
    assert dX.shape == X.shape
    assert_allclose(model.layers[1].get_grad("E")[9], 2 * numpy.ones(4))


def test_embed_nO_from_sample_output_and_custom_initializer():
    model = Embed(nV=3, initializer=lambda ops, shape: ops.alloc(shape) + 2)
    model.initialize(Y=numpy.zeros((2, 6), dtype="f"))
    assert model.get_dim("nO") == 6
    assert_equal(model.get_param("E"), numpy.full((3, 6), 2.0))


def test_embed_dropout_masks_whole_columns_while_training():
    model = Embed(64, 4, dropout=0.5).initialize()
    ids = numpy.asarray([0, 1, 2, 3, 0], dtype="int64")
    E = model.get_param("E")
    assert_equal(model.predict(ids), E[ids])
    Y, backprop = model(ids, is_train=True)
    kept = Y[0] != 0
    assert 0 < kept.sum() < 64
    assert_allclose(Y[:, kept], 2 * E[ids][:, kept], rtol=1e-6)
    assert not Y[:, ~kept].any()
    backprop(numpy.ones_like(Y))
    assert not model.get_grad("E")[:, ~kept].any()
    assert_allclose(model.get_grad("E")[0, kept], 4.0)  # id 0 twice, scaled by 2


def test_embed_errors():
    model = Embed(3, 5).initialize()
    with pytest.raises(IndexError, match="out of range"):
        model.predict(numpy.asarray([1, 5], dtype="int32"))
    with pytest.raises(IndexError, match="out of range"):
        model.predict(numpy.asarray([-1], dtype="int32"))
    with pytest.raises(TypeError, match="integer ids"):
        model.predict(numpy.asarray([1.0, 2.0]))
    with pytest.raises(ValueError, match="column="):
        model.predict(numpy.zeros((2, 2), dtype="int32"))
    with pytest.raises(ValueError, match="nV"):
        Embed(3).initialize()
    Y, backprop = model(numpy.asarray([1, 2], dtype="int32"), is_train=True)
    with pytest.raises(ValueError, match="shape"):
        backprop(numpy.zeros((3, 3), dtype="f"))


def test_embed_empty_batch():
    model = Embed(3, 5, column=0).initialize()
    Y, backprop = model(numpy.zeros((0, 2), dtype="uint64"), is_train=True)
    assert Y.shape == (0, 3)
    assert backprop(Y).shape == (0, 2)


# ------------------------------------------------------------- HashEmbed
def test_hash_matches_murmurhash3_reference():
    ids = numpy.asarray([0, 1, 2 ** 63 + 5, M64, 1234567890123], dtype="uint64")
    for seed in (0, 7, 2 ** 32 - 1):
        ref = [murmur3_x64_128_u64(int(i), seed) for i in ids]
        assert_equal(OPS.hash(ids, seed), numpy.asarray(ref, dtype="uint32"))


def test_hashembed_sums_four_hashed_rows():
    model = HashEmbed(6, 13, seed=5).initialize()
    assert model.get_param("E").shape == (13, 6)
    assert model.get_dim("nV") == 13 and model.attrs["seed"] == 5
    ids = numpy.asarray([1, 99, 2 ** 40, 1], dtype="uint64")
    E = model.get_param("E").astype("float64")
    rows = [[h % 13 for h in murmur3_x64_128_u64(int(i), 5)] for i in ids]
    Y, backprop = model(ids, is_train=True)
    assert_allclose(Y, [E[r].sum(axis=0) for r in rows], rtol=1e-6, atol=1e-6)
    dY = rng.standard_normal(Y.shape).astype("f")
    assert_equal(backprop(dY), numpy.zeros(4, dtype="int32"))
    ref = numpy.zeros((13, 6))
    for i, r in enumerate(rows):
        for row in r:
            ref[row] += dY[i]
    assert_allclose(model.get_grad("E"), ref, rtol=1e-5, atol=1e-6)


def test_hashembed_seed_defaults_to_model_id_and_changes_buckets():
    model = HashEmbed(8, 50)
    assert model.attrs["seed"] == model.id
    a = HashEmbed(8, 1000, seed=1).initialize()
    b = HashEmbed(8, 1000, seed=2).initialize()
    b.set_param("E", a.get_param("E"))
    ids = numpy.arange(20, dtype="uint64")
    assert not numpy.allclose(a.predict(ids), b.predict(ids))


def test_hashembed_column_signed_ids_and_empty_batch():
    model = HashEmbed(4, 20, seed=3, column=1).initialize()
    inner = model.layers[1]
    assert model.attrs["column"] == 1 and inner.attrs["seed"] == 3
    X = numpy.asarray([[0, -1], [0, 7]], dtype="int64")
    ref = inner.predict(X[:, 1].astype("uint64"))  # negative ids wrap to uint64, as in Thinc
    assert_equal(model.predict(X), ref)
    Y, backprop = inner(numpy.zeros((0,), dtype="uint64"), is_train=True)
    assert Y.shape == (0, 4)
    assert backprop(Y).shape == (0,)


def test_hashembed_dropout_and_errors():
    model = HashEmbed(32, 10, seed=0, dropout=0.5).initialize()
    ids = numpy.arange(6, dtype="uint64")
    Y = model(ids, is_train=True)[0]
    assert 0 < (Y[0] != 0).sum() < 32
    assert_equal(model.predict(ids) != 0, numpy.ones((6, 32), dtype=bool))
    with pytest.raises(TypeError, match="integer ids"):
        model.predict(numpy.ones(3, dtype="f"))
    with pytest.raises(TypeError):
        HashEmbed(4)  # nV is required, as in Thinc


def test_hashembed_gives_thincs_vectors_for_the_same_table():
    thinc = pytest.importorskip("thinc.api")
    ref = thinc.HashEmbed(8, 97, seed=11).initialize()
    model = HashEmbed(8, 97, seed=11).initialize()
    model.set_param("E", ref.get_param("E"))
    ids = rng.integers(0, 2 ** 63, size=40, dtype="uint64")
    assert_equal(model.predict(ids), ref.predict(ids))


# ----------------------------------------------------------- SparseLinear
def sparse_reference(W, b, keys, values, lengths, nO, length, v1):
    """Thinc's C loop, on Python ints: scores and (dW, db) for d_scores."""
    offsets = numpy.concatenate([[0], numpy.cumsum(lengths)])

    def positions(key):
        out = []
        for seed in (0, 1):
            h = murmur3_x86_32_u64(int(key), seed)
            h = h & (length - 1) if v1 else h % length
            out.append([h + c if v1 else c * length + h for c in range(nO)])
        return out

    scores = numpy.tile(b.astype("float64"), (len(lengths), 1))
    for e in range(len(lengths)):
        for i in range(offsets[e], offsets[e + 1]):
            for pos in positions(keys[i]):
                scores[e] += W.astype("float64")[pos] * values[i]

    def grads(d_scores):
        dW = numpy.zeros(W.shape)
        for e in range(len(lengths)):
            for i in range(offsets[e], offsets[e + 1]):
                for pos in positions(keys[i]):
                    for c in range(nO):
                        dW[pos[c]] += d_scores[e, c] * values[i]
        return dW, d_scores.sum(axis=0)

    return scores, grads


@pytest.mark.parametrize("layer,v1", [(SparseLinear, True), (SparseLinear_v2, False)])
def test_sparse_linear_against_the_loop(layer, v1):
    nO, length = 3, 64
    model = layer(nO, length=length).initialize()
    assert model.name == "sparse_linear" and model.attrs["v1_indexing"] is v1
    assert_equal(model.get_param("W"), numpy.zeros(nO * length))
    assert_equal(model.get_param("b"), numpy.zeros(nO))
    model.set_param("W", rng.standard_normal(nO * length).astype("f"))
    model.set_param("b", rng.standard_normal(nO).astype("f"))
    keys = rng.integers(0, 2 ** 64 - 1, size=12, dtype="uint64")
    keys[3] = keys[7]  # a repeated key
    values = rng.standard_normal(12).astype("f")
    lengths = numpy.asarray([4, 0, 5, 1], dtype="int32")  # 10 of the 12 keys are read
    X = (keys, values, lengths)
    scores, backprop = model(X, is_train=True)
    ref, grads = sparse_reference(model.get_param("W"), model.get_param("b"), keys, values,
                                  lengths, nO, length, v1)
    assert scores.shape == (4, nO) and scores.dtype == numpy.float32
    assert_allclose(scores, ref, rtol=1e-5, atol=1e-5)
    d_scores = rng.standard_normal(scores.shape).astype("f")
    assert backprop(d_scores) is X
    dW, db = grads(d_scores)
    assert_allclose(model.get_grad("W"), dW, rtol=1e-5, atol=1e-5)
    assert_allclose(model.get_grad("b"), db, rtol=1e-5, atol=1e-5)


def test_sparse_linear_nO_from_sample_output_and_learning():
    model = SparseLinear_v2(length=2 ** 10)
    model.initialize(Y=numpy.zeros((2, 5), dtype="f"))
    assert model.get_dim("nO") == 5 and model.get_param("W").shape == (5 * 2 ** 10,)
    X = (numpy.arange(9, dtype="uint64"), numpy.ones(9, dtype="f"),
         numpy.asarray([5, 4], dtype="int32"))
    y = numpy.eye(5, dtype="f")[[0, 2]]
    losses = []
    for _ in range(3):
        yh, backprop = model.begin_update(X)
        losses.append(((yh - y) ** 2).sum())
        backprop(yh - y)
        model.finish_update(SGD(0.05))
    assert losses[2] < losses[1] < losses[0]


def test_sparse_linear_errors():
    model = SparseLinear(2, length=16).initialize()
    keys = numpy.arange(3, dtype="uint64")
    ones = numpy.ones(3, dtype="f")
    with pytest.raises(TypeError, match="tuple"):
        model.predict(keys)
    with pytest.raises(ValueError, match="add up"):
        model.predict((keys, ones, numpy.asarray([2, 2], dtype="int32")))
    with pytest.raises(ValueError, match="values"):
        model.predict((keys, ones[:2], numpy.asarray([2], dtype="int32")))
    with pytest.raises(TypeError, match="floats"):
        model.predict((keys, keys, numpy.asarray([3], dtype="int32")))
    with pytest.raises(ValueError, match="length"):
        SparseLinear(2, length=0)


def test_sparse_linear_gives_thincs_scores():
    thinc = pytest.importorskip("thinc.api")
    for ours, theirs in ((SparseLinear, thinc.SparseLinear),
                         (SparseLinear_v2, thinc.SparseLinear_v2)):
        ref = theirs(4, length=2 ** 12).initialize()
        model = ours(4, length=2 ** 12).initialize()
        W = rng.standard_normal(4 * 2 ** 12).astype("f")
        ref.set_param("W", W)
        model.set_param("W", W)
        keys = rng.integers(0, 2 ** 64 - 1, size=50, dtype="uint64")
        X = (keys, rng.standard_normal(50).astype("f"), numpy.asarray([20, 30], dtype="int32"))
        assert_allclose(model.predict(X), ref.predict(X), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------ ParametricAttention
def attention64(Q, X, K, lengths):
    out, start = [], 0
    for n in lengths:
        logits = K[start:start + n] @ Q
        a = numpy.exp(logits - logits.max()) if n else logits
        a = a / a.sum() if n else a
        out.append(X[start:start + n] * a[:, None])
        start += n
    return numpy.concatenate(out)


def check_attention(model, Xr, key_fn, finite_diff):
    """Forward against the float64 reference, backprop (dX, dQ and the key
    transform's parameters) against central differences (`finite_diff`:
    conftest's, from the helpers fixture)."""
    X64 = Xr.data.astype("float64")
    lengths = Xr.lengths.tolist()
    params = {(i, name): node.get_param(name).astype("float64")
              for i, node in enumerate(model.walk()) for name in node.param_names}

    def reference():
        return attention64(params[(0, "Q")], X64, key_fn(params, X64), lengths)

    Yr, backprop = model(Xr, is_train=True)
    assert isinstance(Yr, Ragged) and equal_lengths(Yr, Xr)
    assert_allclose(Yr.data, reference(), rtol=1e-5, atol=1e-6)
    R = rng.standard_normal(Yr.data.shape)
    dXr = backprop(Ragged(R.astype("f"), Xr.lengths))
    assert isinstance(dXr, Ragged)

    def loss():
        return float((reference() * R).sum())

    assert_allclose(dXr.data, finite_diff(loss, X64), rtol=1e-3, atol=1e-4)
    for i, node in enumerate(model.walk()):
        for name in node.param_names:
            assert_allclose(node.get_grad(name), finite_diff(loss, params[(i, name)]),
                            rtol=1e-3, atol=1e-4, err_msg=f"gradient of {name}")


def equal_lengths(a, b):
    return numpy.array_equal(a.lengths, b.lengths)


def test_parametric_attention_v1(helpers):
    Xr = ragged([3, 1, 4], 5)
    model = ParametricAttention().initialize(X=Xr)
    assert model.name == "para-attn" and model.get_dim("nO") == 5
    Q = model.get_param("Q")
    assert Q.shape == (5,) and -0.1 <= Q.min() and Q.max() < 0.1
    check_attention(model, Xr, lambda p, X: X, helpers.finite_diff)


def test_parametric_attention_v2_default_is_noop_keys(helpers):
    Xr = ragged([2, 5], 4)
    model = ParametricAttention_v2().initialize(X=Xr)
    assert model.get_ref(KEY_TRANSFORM_REF).name == "noop"
    check_attention(model, Xr, lambda p, X: X, helpers.finite_diff)


def test_parametric_attention_v2_trains_its_key_transform(helpers):
    Xr = ragged([3, 2, 1], 4)
    model = ParametricAttention_v2(key_transform=Linear())
    model.initialize(X=Xr, Y=Xr)
    key = model.get_ref(KEY_TRANSFORM_REF)
    assert key.get_dim("nO") == 4 and key.get_dim("nI") == 4
    assert model.walk()[1] is key
    check_attention(model, Xr, lambda p, X: X @ p[(1, "W")].T + p[(1, "b")],
                    helpers.finite_diff)


def test_parametric_attention_errors():
    model = ParametricAttention(3).initialize()
    with pytest.raises(TypeError, match="Ragged"):
        model.predict(numpy.zeros((2, 3), dtype="f"))
    with pytest.raises(ValueError, match="nO=3"):
        model.predict(ragged([2], 4))


def test_parametric_attention_registry_and_config():
    model = registry.resolve({"m": {"@layers": "ParametricAttention.v2",
                                    "key_transform": {"@layers": "Gelu.v1"}}})["m"]
    assert model.get_ref(KEY_TRANSFORM_REF).name == "gelu"
    Xr = ragged([2, 2], 3)
    model.initialize(X=Xr, Y=Xr)
    assert model.predict(Xr).data.shape == (4, 3)


# ----------------------------------------------------------- MultiSoftmax
def test_multisoftmax_softmax_per_group_and_logit_gradient(helpers):
    X = rng.standard_normal((6, 4)).astype("f")
    model = MultiSoftmax((2, 3, 1)).initialize(X=X)
    assert model.get_dim("nO") == 6 and model.get_dim("nI") == 4
    assert not model.get_param("W").any() and not model.get_param("b").any()
    model.set_param("W", rng.standard_normal((6, 4)).astype("f"))
    model.set_param("b", rng.standard_normal(6).astype("f"))

    def reference(p, X):
        Z = X @ p[(0, "W")].T + p[(0, "b")]
        return numpy.hstack([helpers.softmax64(Z[:, :2]), helpers.softmax64(Z[:, 2:5]),
                             helpers.softmax64(Z[:, 5:])])

    Y = model.predict(X)
    assert_allclose(Y[:, :2].sum(1), 1, rtol=1e-6)
    assert_allclose(Y[:, 2:5].sum(1), 1, rtol=1e-6)
    assert_allclose(Y[:, 5], 1, rtol=1e-6)
    T = numpy.hstack([numpy.eye(2)[rng.integers(0, 2, 6)], numpy.eye(3)[rng.integers(0, 3, 6)],
                      numpy.ones((6, 1))])
    helpers.check_layer_gradients(model, X, reference, loss="xent", targets=T)


def test_multisoftmax_errors():
    for bad in ((), (2, 0), "ab", (1.5,)):
        with pytest.raises(ValueError, match="nOs"):
            MultiSoftmax(bad)
    model = MultiSoftmax((2, 2), nI=3).initialize()
    with pytest.raises(ValueError, match="nI=3"):
        model.predict(numpy.zeros((2, 4), dtype="f"))


# ------------------------------------------------------------------ LSTM
def lstm_reference(params, Xs, nO, nI, depth, bi):
    """Thinc's LSTM on each sequence alone (float64): per layer and direction
    Wx (4, nH, layer_nI), bx (4, nH), Wh (4, nH, nH), bh (4, nH), gates forget,
    input, output, cell; zero initial states; the backward direction reads
    each sequence from its end."""
    dirs = 2 if bi else 1
    nH = nO // dirs
    i = 0

    def take(shape):
        nonlocal i
        size = int(numpy.prod(shape))
        out = params[i:i + size].reshape(shape)
        i += size
        return out

    outs = [X.astype("float64") for X in Xs]
    layer_nI = nI
    for _ in range(depth):
        weights = [(take((4, nH, layer_nI)), take((4, nH)), take((4, nH, nH)), take((4, nH)))
                   for _ in range(dirs)]
        new = []
        for X in outs:
            halves = []
            for d, (Wx, bx, Wh, bh) in enumerate(weights):
                h, c = numpy.zeros(nH), numpy.zeros(nH)
                Y = numpy.zeros((len(X), nH))
                steps = range(len(X)) if d == 0 else reversed(range(len(X)))
                for t in steps:
                    g = numpy.einsum("gho,o->gh", Wx, X[t]) + bx + \
                        numpy.einsum("gho,o->gh", Wh, h) + bh
                    f, inp, o, cell = sigmoid64(g[0]), sigmoid64(g[1]), sigmoid64(g[2]), \
                        numpy.tanh(g[3])
                    c = f * c + inp * cell
                    h = o * numpy.tanh(c)
                    Y[t] = h
                halves.append(Y)
            new.append(numpy.hstack(halves))
        outs = new
        layer_nI = nH * dirs
    return outs


@pytest.mark.parametrize("nO,nI,depth,bi", [(3, 2, 1, False), (4, 3, 1, True),
                                            (2, 3, 2, False), (4, 2, 2, True)])
def test_lstm_against_the_loop_and_finite_differences(nO, nI, depth, bi, helpers):
    model = with_padded(LSTM(nO, nI, depth=depth, bi=bi)).initialize()
    lstm = model.layers[0]
    dirs = 2 if bi else 1
    nH = nO // dirs
    expected = 4 * dirs * nH * (nH + nI) + dirs * 8 * nH
    expected += (depth - 1) * (4 * dirs * (nH + nH * dirs) * nH + dirs * 8 * nH)
    assert lstm.get_param("LSTM").shape == (expected,)
    assert_equal(lstm.get_param("HC0"), numpy.zeros((2, depth, dirs, nH)))
    lstm.set_param("LSTM", (rng.standard_normal(expected) * 0.5).astype("f"))
    P64 = lstm.get_param("LSTM").astype("float64")
    Xs = [rng.standard_normal((n, nI)).astype("f") for n in (3, 1, 4)]
    X64 = [X.astype("float64") for X in Xs]
    Ys, backprop = model(Xs, is_train=True)
    refs = lstm_reference(P64, X64, nO, nI, depth, bi)
    for Y, ref in zip(Ys, refs):
        assert Y.shape == ref.shape
        assert_allclose(Y, ref, rtol=1e-5, atol=1e-6)
    for Y, ref in zip(model.predict(Xs), refs):
        assert_allclose(Y, ref, rtol=1e-5, atol=1e-6)
    Rs = [rng.standard_normal(Y.shape) for Y in Ys]

    def loss():
        return float(sum((Y * R).sum() for Y, R in
                         zip(lstm_reference(P64, X64, nO, nI, depth, bi), Rs)))

    dXs = backprop([R.astype("f") for R in Rs])
    for dX, X in zip(dXs, X64):
        assert_allclose(dX, helpers.finite_diff(loss, X), rtol=1e-3, atol=1e-4)
    assert_allclose(lstm.get_grad("LSTM"), helpers.finite_diff(loss, P64), rtol=1e-3, atol=1e-4)


def test_lstm_init_draws_thincs_layout_and_infers_dims():
    fix_random_seed(3)
    model = LSTM(bi=True)
    model.initialize(X=Padded(numpy.zeros((2, 1, 5), dtype="f"), numpy.asarray([1, 1], "i"),
                              numpy.asarray([2], "i"), numpy.asarray([0], "i")),
                     Y=Padded(numpy.zeros((2, 1, 6), dtype="f"), numpy.asarray([1, 1], "i"),
                              numpy.asarray([2], "i"), numpy.asarray([0], "i")))
    assert (model.get_dim("nI"), model.get_dim("nO"), model.get_dim("dirs")) == (5, 6, 2)
    # glorot for the weights, zeros for the biases, in Thinc's order
    fix_random_seed(3)
    from thinc_fast.initializers import glorot_uniform_init
    first = [glorot_uniform_init(OPS, (3, 5)) for _ in range(4)]
    P = model.get_param("LSTM")
    assert_equal(P[:60], numpy.concatenate([w.ravel() for w in first]))
    assert_equal(P[60:72], numpy.zeros(12))


def test_lstm_dropout_is_on_the_weights():
    model = with_padded(LSTM(2, 2, dropout=0.5)).initialize()
    lstm = model.layers[0]
    P = lstm.get_param("LSTM").copy()
    Xs = [rng.standard_normal((3, 2)).astype("f")]
    fix_random_seed(9)
    mask = OPS.get_dropout_mask(P.shape, 0.5)
    fix_random_seed(9)
    Ys, backprop = model(Xs, is_train=True)
    ref = lstm_reference((P * mask).astype("float64"), Xs, 2, 2, 1, False)
    assert_allclose(Ys[0], ref[0], rtol=1e-5, atol=1e-6)
    backprop([numpy.ones_like(Ys[0])])
    assert not lstm.get_grad("LSTM")[mask == 0].any()
    assert_equal(lstm.get_param("LSTM"), P)  # the weights themselves are not masked


def test_lstm_errors():
    with pytest.raises(ValueError, match="depth must be at least 1"):
        LSTM(2, 2, depth=0)
    with pytest.raises(ValueError, match="divisible"):
        LSTM(3, 2, bi=True).initialize()
    model = LSTM(2, 2).initialize()
    with pytest.raises(TypeError, match="with_padded"):
        model.predict([numpy.zeros((2, 2), dtype="f")])
    wrapped = with_padded(model)
    Ys, backprop = wrapped([numpy.zeros((2, 2), dtype="f")], is_train=False)
    with pytest.raises(ValueError, match="is_train=False"):
        backprop(Ys)


def test_lstm_gives_thincs_outputs_for_the_same_weights():
    thinc = pytest.importorskip("thinc.api")
    ref = thinc.with_padded(thinc.LSTM(4, 3, bi=True, depth=2)).initialize()
    model = with_padded(LSTM(4, 3, bi=True, depth=2)).initialize()
    model.layers[0].set_param("LSTM", ref.layers[0].get_param("LSTM"))
    Xs = [rng.standard_normal((n, 3)).astype("f") for n in (5, 2, 3)]
    for Y, Y_ref in zip(model.predict(Xs), ref.predict(Xs)):
        assert_allclose(Y, Y_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not has_torch, reason="needs PyTorch")
@pytest.mark.parametrize("bi,depth", [(False, 1), (True, 2)])
def test_pytorch_lstm_matches_torch(bi, depth):
    model = PyTorchLSTM(4, 3, bi=bi, depth=depth).initialize()
    assert model.name == "with_padded(pytorch)"
    inner = model.layers[0]
    reference = torch.nn.LSTM(3, 2 if bi else 4, depth, bidirectional=bi)
    with torch.no_grad():
        for name, param in reference.named_parameters():
            param.copy_(torch.from_numpy(inner.get_param(name)))
    Xp = Padded(rng.standard_normal((4, 2, 3)).astype("f"), numpy.asarray([2, 2, 2, 2], "i"),
                numpy.asarray([4, 4], "i"), numpy.asarray([0, 1], "i"))
    x = torch.from_numpy(Xp.data.copy()).requires_grad_()
    y, _ = reference(x)
    Yp, backprop = model(Xp, is_train=True)
    assert isinstance(Yp, Padded)
    assert_allclose(Yp.data, y.detach().numpy(), rtol=1e-5, atol=1e-6)
    dY = rng.standard_normal(Yp.data.shape).astype("f")
    y.backward(torch.from_numpy(dY))
    dXp = backprop(Padded(dY, Xp.size_at_t, Xp.lengths, Xp.indices))
    assert_allclose(dXp.data, x.grad.numpy(), rtol=1e-5, atol=1e-6)
    for name, param in reference.named_parameters():
        assert_allclose(inner.get_grad(name), param.grad.numpy(), rtol=1e-4, atol=1e-6)
    assert_allclose(model.predict(Xp).data, Yp.data, rtol=1e-6)


def test_pytorch_lstm_depth_zero_is_noop():
    model = with_padded(PyTorchLSTM(2, 2, depth=0)).initialize()
    assert model.name == "with_padded(noop)"


# --------------------------------------------- Dropout, concatenate, residual
def padded(T=3, B=2, width=4):
    return Padded(rng.standard_normal((T, B, width)).astype("f"),
                  numpy.asarray([B] * T, "i"), numpy.asarray([T] * B, "i"),
                  numpy.arange(B, dtype="i"))


def test_dropout_ragged_padded_and_lists_keep_their_kind():
    model = Dropout(0.5)
    Xr, Xp = ragged([2, 3], 8), padded()
    Xs = [rng.standard_normal((2, 8)).astype("f"), rng.standard_normal((1, 8)).astype("f")]
    Yr, back_r = model(Xr, is_train=True)
    assert isinstance(Yr, Ragged) and equal_lengths(Yr, Xr)
    kept = Yr.data != 0
    assert_allclose(Yr.data[kept], 2 * Xr.data[kept])
    dXr = back_r(Ragged(numpy.ones_like(Yr.data), Yr.lengths))
    assert isinstance(dXr, Ragged) and equal_lengths(dXr, Xr)
    assert_equal(dXr.data, 2.0 * kept)
    Yp, back_p = model(Xp, is_train=True)
    assert isinstance(Yp, Padded) and Yp.indices is Xp.indices
    dXp = back_p(Padded(numpy.ones_like(Yp.data), Xp.size_at_t, Xp.lengths, Xp.indices))
    assert_equal(dXp.data, 2.0 * (Yp.data != 0))
    Ys, back_s = model(Xs, is_train=True)
    assert isinstance(Ys, list) and [Y.shape for Y in Ys] == [X.shape for X in Xs]
    assert len(back_s([numpy.ones_like(Y) for Y in Ys])) == 2
    for X in (Xr, Xp, Xs):
        assert model(X, is_train=False)[0] is X
    with pytest.raises(TypeError, match="Ragged"):
        back_r(numpy.ones_like(Yr.data))


def rowscale(name, factor):
    """A parameter-free layer for arrays, Ragged, Padded and lists: factor * X."""
    def apply(X, f):
        if isinstance(X, Ragged):
            return Ragged(X.data * f, X.lengths)
        if isinstance(X, Padded):
            return Padded(X.data * f, X.size_at_t, X.lengths, X.indices)
        if isinstance(X, list):
            return [x * f for x in X]
        return X * f

    def forward(model, X, is_train):
        return apply(X, factor), lambda dY: apply(dY, factor)

    return Model(name, forward)


def test_concatenate_ragged_and_lists():
    a, b = rowscale("a", 2.0), rowscale("b", 3.0)
    Xr = ragged([2, 1], 3)
    Yr, backprop = concatenate(a, b)(Xr, is_train=True)
    assert isinstance(Yr, Ragged) and equal_lengths(Yr, Xr)
    assert_allclose(Yr.data, numpy.hstack([2 * Xr.data, 3 * Xr.data]))
    dY = rng.standard_normal(Yr.data.shape).astype("f")
    dXr = backprop(Ragged(dY, Yr.lengths))
    assert isinstance(dXr, Ragged)
    assert_allclose(dXr.data, 2 * dY[:, :3] + 3 * dY[:, 3:], rtol=1e-6)
    Xs = [rng.standard_normal((2, 3)).astype("f"), rng.standard_normal((4, 3)).astype("f")]
    Ys, backprop = concatenate(a, b)(Xs, is_train=True)
    assert isinstance(Ys, list) and [Y.shape for Y in Ys] == [(2, 6), (4, 6)]
    assert_allclose(Ys[1], numpy.hstack([2 * Xs[1], 3 * Xs[1]]))
    dYs = [rng.standard_normal(Y.shape).astype("f") for Y in Ys]
    dXs = backprop(dYs)
    assert isinstance(dXs, list) and len(dXs) == 2  # summed item by item, not appended
    for dX, dY in zip(dXs, dYs):
        assert_allclose(dX, 2 * dY[:, :3] + 3 * dY[:, 3:], rtol=1e-6)


def test_concatenate_of_embeddings_over_int_columns():
    model = concatenate(Embed(3, 10, column=0), HashEmbed(2, 10, seed=1, column=1))
    X = numpy.asarray([[1, 5], [9, 6]], dtype="uint64")
    model.initialize(X=X)
    Y, backprop = model(X, is_train=True)
    assert Y.shape == (2, 5) and model.get_dim("nO") == 5
    assert_equal(Y[:, :3], model.layers[0].predict(X))
    assert backprop(numpy.ones_like(Y)).shape == X.shape


def test_concatenate_initialises_from_a_ragged_sample():
    model = concatenate(ParametricAttention(), ParametricAttention())
    Xr = ragged([2, 2], 3)
    model.initialize(X=Xr)
    assert model.predict(Xr).data.shape == (4, 6)


def test_residual_ragged_padded_and_lists():
    layer = rowscale("x3", 3.0)
    model = residual(layer)
    Xr, Xp = ragged([1, 3], 2), padded()
    Xs = [rng.standard_normal((2, 2)).astype("f")]
    for X, data in ((Xr, lambda v: v.data), (Xp, lambda v: v.data), (Xs, lambda v: v[0])):
        Y, backprop = model(X, is_train=True)
        assert type(Y) is type(X)
        assert_allclose(data(Y), 4 * data(X), rtol=1e-6)
        dX = backprop(Y)
        assert type(dX) is type(X)
        assert_allclose(data(dX), 16 * data(X), rtol=1e-6)
    Xp_before = Xp.data.copy()
    model(Xp, is_train=True)
    assert_equal(Xp.data, Xp_before)  # the input is not written to


def test_residual_errors_for_changed_shapes():
    def widen(model, Xs, is_train):
        return [numpy.zeros((len(X), 5), dtype="f") for X in Xs], lambda dYs: dYs

    model = residual(Model("widen", widen))
    with pytest.raises(ValueError, match="same shape"):
        model.predict([numpy.zeros((2, 2), dtype="f")])
    with pytest.raises(ValueError, match="same shape"):
        residual(Relu(3, 2)).initialize().predict(numpy.zeros((2, 2), dtype="f"))


# -------------------------------------------------------- registry, config
@pytest.mark.parametrize("name,func", [
    ("Embed.v1", Embed), ("HashEmbed.v1", HashEmbed), ("SparseLinear.v1", SparseLinear),
    ("SparseLinear.v2", SparseLinear_v2), ("ParametricAttention.v1", ParametricAttention),
    ("ParametricAttention.v2", ParametricAttention_v2), ("MultiSoftmax.v1", MultiSoftmax),
    ("LSTM.v1", LSTM), ("PyTorchLSTM.v1", PyTorchLSTM)])
def test_registered_under_thincs_names(name, func):
    assert registry.layers.get(name) is func


def test_a_text_config_builds_and_round_trips():
    config = {"m": {"@layers": "chain.v1",
                    "*": {"embed": {"@layers": "HashEmbed.v1", "nO": 8, "nV": 64, "seed": 3},
                          "lstm": {"@layers": "with_padded.v1",
                                   "layer": {"@layers": "LSTM.v1", "nO": 6, "bi": True}},
                          }}}
    model = registry.resolve(config)["m"]
    assert model.name == "hashembed>>with_padded(lstm)"
    ids = [numpy.asarray([1, 2, 3], dtype="uint64")]
    emb, lstm = model.layers
    emb.initialize()
    lstm.initialize(X=[emb.predict(ids[0])])
    X = [emb.predict(ids[0])]
    Y = lstm.predict(X)
    copy = registry.resolve(config)["m"]
    copy.layers[1].initialize(X=X)
    copy.from_bytes(model.to_bytes())
    assert_allclose(copy.layers[1].predict(X)[0], Y[0])
    assert_allclose(copy.layers[0].predict(ids[0]), emb.predict(ids[0]))
