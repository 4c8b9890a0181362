"""Config texts the benchmark scripts share (run from this folder, they import
it by name)."""

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
