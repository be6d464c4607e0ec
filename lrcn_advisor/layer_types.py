"""The one table of layer types the advisor knows: canonical Keras class, aliases, what the layer
does (LayerKind), recurrent gate counts, and which classes are opaque code or dropout.

Adding a layer type: one row here, its output-shape function in `shapes`, its cost handler in
`cost` (if it has parameters or MACs) and their unit test; for ONNX, one recogniser in `load`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .vocabulary import LayerKind


@dataclass(frozen=True)
class LayerType:
    name: str                    # the canonical Keras class name
    kind: LayerKind
    aliases: tuple[str, ...] = ()  # other class names for the same layer (Keras 2, CuDNN variants)
    gates: int = 0               # recurrent cells: weight blocks per unit (LSTM 4, GRU 3, SimpleRNN 1)
    states: int = 0              # recurrent cells: state tensors returned with return_state
    dropout_rate: bool = False   # a dropout layer with a `rate` (the guide's dropout)
    opaque: bool = False         # user code the advisor never runs (Lambda)


def _ranked(kind: LayerKind, pattern: str, ranks=(1, 2, 3), alias_patterns: tuple[str, ...] = (),
            **extra) -> list[LayerType]:
    return [LayerType(pattern.format(r), kind, tuple(a.format(r) for a in alias_patterns), **extra)
            for r in ranks]


K = LayerKind
_TYPES: list[LayerType] = [
    LayerType("InputLayer", K.INPUT),
    # convolutions
    *_ranked(K.CONV, "Conv{}D", alias_patterns=("Convolution{}D",)),
    *_ranked(K.CONV, "Conv{}DTranspose", alias_patterns=("Convolution{}DTranspose",)),
    *_ranked(K.CONV, "DepthwiseConv{}D", ranks=(1, 2)),
    *_ranked(K.CONV, "SeparableConv{}D", ranks=(1, 2), alias_patterns=("SeparableConvolution{}D",)),
    # pooling
    *_ranked(K.POOL, "MaxPooling{}D", alias_patterns=("MaxPool{}D",)),
    *_ranked(K.POOL, "AveragePooling{}D", alias_patterns=("AvgPool{}D",)),
    *_ranked(K.POOL, "GlobalMaxPooling{}D", alias_patterns=("GlobalMaxPool{}D",)),
    *_ranked(K.POOL, "GlobalAveragePooling{}D", alias_patterns=("GlobalAvgPool{}D",)),
    # dropout and noise
    LayerType("Dropout", K.DROPOUT, dropout_rate=True),
    *_ranked(K.DROPOUT, "SpatialDropout{}D", dropout_rate=True),
    LayerType("GaussianDropout", K.DROPOUT, dropout_rate=True),
    LayerType("AlphaDropout", K.DROPOUT, dropout_rate=True),
    LayerType("GaussianNoise", K.DROPOUT),
    LayerType("ActivityRegularization", K.DROPOUT),
    # activations
    *(LayerType(name, K.ACTIVATION) for name in
      ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", "PReLU")),
    LayerType("Masking", K.MASKING),
    # normalisation
    *(LayerType(name, K.NORM) for name in
      ("BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization")),
    # reshaping
    *(LayerType(name, K.RESHAPE) for name in ("Flatten", "Reshape", "Permute", "RepeatVector")),
    *_ranked(K.RESHAPE, "ZeroPadding{}D"),
    *_ranked(K.RESHAPE, "Cropping{}D"),
    *_ranked(K.RESHAPE, "UpSampling{}D"),
    # dense, embeddings
    LayerType("Dense", K.DENSE),
    LayerType("Embedding", K.EMBEDDING),
    # recurrent
    LayerType("LSTM", K.RECURRENT, ("CuDNNLSTM",), gates=4, states=2),
    LayerType("GRU", K.RECURRENT, ("CuDNNGRU",), gates=3, states=1),
    LayerType("SimpleRNN", K.RECURRENT, gates=1, states=1),
    *_ranked(K.RECURRENT, "ConvLSTM{}D", gates=4, states=2),
    # merges and attention
    *(LayerType(name, K.MERGE) for name in
      ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot")),
    *(LayerType(name, K.ATTENTION) for name in ("Attention", "AdditiveAttention", "MultiHeadAttention")),
    # code the advisor does not run
    *(LayerType(name, K.OPAQUE, opaque=True) for name in ("Lambda", "TFOpLambda", "SlicingOpLambda")),
]
del K

LAYER_TYPES: dict[str, LayerType] = {}
for _type in _TYPES:
    for _name in (_type.name, *_type.aliases):
        if _name in LAYER_TYPES:
            raise RuntimeError(f"layer class {_name!r} is in the layer-type table twice")
        LAYER_TYPES[_name] = _type

WRAPPERS = frozenset({"TimeDistributed", "Bidirectional"})
OPAQUE_CLASSES = frozenset(name for name, t in LAYER_TYPES.items() if t.opaque)
DROPOUT_CLASSES = frozenset(name for name, t in LAYER_TYPES.items() if t.dropout_rate)
RECURRENT_GATES = {name: t.gates for name, t in LAYER_TYPES.items() if t.gates}


def layer_type(class_name: str) -> LayerType | None:
    """The table row of a class name or alias; None for a class the advisor does not know."""
    return LAYER_TYPES.get(class_name)


def canonical(class_name: str) -> str:
    """Convolution2D -> Conv2D, CuDNNLSTM -> LSTM; an unknown class stays as it is."""
    found = LAYER_TYPES.get(class_name)
    return found.name if found else class_name
