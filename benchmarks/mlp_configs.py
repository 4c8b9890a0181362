"""Config texts and gemm shapes the benchmark scripts share (run from this
folder, they import it by name)."""

#: the 784-512-512-10 MLP with Adam(0.001): compare.py's data-parallel rows and
#: multihost.py's hosts train it
MLP_784_512_512_10 = """
[model]
@layers = "chain.v1"

[model.*.h1]
@layers = "Relu.v1"
nO = 512

[model.*.h2]
@layers = "Relu.v1"
nO = 512

[model.*.out]
@layers = "Softmax.v1"

[optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.001
"""


#: the gemms of one Maxout layer of spaCy's default tok2vec (HashEmbedCNN width
#: 96, window 1, 3 pieces), at 600 and 2000 words a batch, as
#: (label, m, k, n, trans): the forward X (rows, 288) @ W (288, 288).T, the
#: input gradient dY (rows, 288) @ W, and the weight gradient dY.T @ X, whose
#: inner dimension is the batch's rows
TOK2VEC_GEMMS = [
    (f"maxout {part} {rows}", m, k, n, trans)
    for rows in (600, 2000)
    for part, m, k, n, trans in (("forward", rows, 288, 288, "B^T"),
                                 ("dX", rows, 288, 288, "-"),
                                 ("dW", 288, rows, 288, "A^T"))
]
