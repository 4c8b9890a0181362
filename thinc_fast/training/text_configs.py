"""The text model configs that ``thinc-fast init-config --model textcat|tagger`` writes.

Both read whitespace-tokenised text (:mod:`thinc_fast.datasets.text`) and share
one encoder, spaCy's tok2vec in small: each token's string is hashed
(``strings2arrays``: MurmurHash3, Thinc's values) and embedded by
``HashEmbed``; ``expand_window`` joins each token's vector with its neighbours'
(within its own document: the batch is a Ragged), and a ``Maxout`` layer with
LayerNorm mixes the window::

    textcat: strings2arrays >> list2ragged >> with_array(HashEmbed) >> expand_window
             >> with_array(Maxout) >> reduce_mean >> Softmax
    tagger:  strings2arrays >> list2ragged >> with_array(HashEmbed) >> expand_window
             >> with_array(Maxout) >> ragged2list >> with_array(Softmax)

The classifier averages the tokens' vectors per document (``reduce_mean``)
and predicts one label per document; the tagger predicts one tag per token.
The output width comes from the data. ``[data] path`` names the training file:
set it in the config, with ``--set data.path=FILE``, or give ``--data FILE``.
``[data] labels``: null takes the sorted labels of the data; a list fixes the
classes and their column order. ``thinc-fast train`` writes the list it used
into the run's config (see :mod:`thinc_fast.training.labels`).

    >>> from thinc_fast.config import Config, registry
    >>> config = Config().from_str(text_config("tagger"))
    >>> model = registry.resolve({"model": config["model"]})["model"]
    >>> [layer.name for layer in model.layers][:2], [layer.name for layer in model.layers][-2:]
    (['strings2arrays', 'list2ragged'], ['ragged2list', 'with_array(softmax)'])
"""
from typing import Dict

__all__ = ["TEXTCAT_CONFIG", "TAGGER_CONFIG", "TEXT_CONFIGS", "text_config"]

_HEADER = """\
[system]
seed = 0

"""

_ENCODER = """\
[model]
@layers = "chain.v1"

[model.*.tokens]
@layers = "strings2arrays.v1"

[model.*.ragged]
@layers = "list2ragged.v1"

[model.*.embed]
@layers = "with_array.v1"

[model.*.embed.layer]
@layers = "HashEmbed.v1"
nO = 64
nV = 5000
seed = 1
column = 0

[model.*.window]
@layers = "expand_window.v1"
window_size = 1

[model.*.encode]
@layers = "with_array.v1"

[model.*.encode.layer]
@layers = "Maxout.v1"
nO = 64
nP = 3
normalize = true
dropout = 0.0

"""

_TRAINING = """\
[optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.002

[training]
max_epochs = 10
batch_size = 32
eval_frequency = 0
patience = 3
score = "dev_acc"
"""

TEXTCAT_CONFIG = _HEADER + """\
[data]
@datasets = "jsonl_textcat.v1"
path = "train.jsonl"
dev_path = null
dev_fraction = 0.2
seed = 0
labels = null

""" + _ENCODER + """\
[model.*.reduce]
@layers = "reduce_mean.v1"

[model.*.output]
@layers = "Softmax.v1"

""" + _TRAINING

TAGGER_CONFIG = _HEADER + """\
[data]
@datasets = "conllu_tagger.v1"
path = "train.conllu"
dev_path = null
dev_fraction = 0.2
seed = 0
column = "upos"
labels = null

""" + _ENCODER + """\
[model.*.unragged]
@layers = "ragged2list.v1"

[model.*.output]
@layers = "with_array.v1"

[model.*.output.layer]
@layers = "Softmax.v1"

""" + _TRAINING

TEXT_CONFIGS: Dict[str, str] = {"textcat": TEXTCAT_CONFIG, "tagger": TAGGER_CONFIG}


def text_config(name: str) -> str:
    """The config text of the text model `name` (``"textcat"`` or ``"tagger"``)."""
    try:
        return TEXT_CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown text model {name!r}; known: {', '.join(TEXT_CONFIGS)}") \
            from None
