"""The layer-type table agrees with the shape functions and the cost handlers."""
from __future__ import annotations

import pytest

from lrcn_advisor.cost import DEFAULT_COST_HANDLERS
from lrcn_advisor.layer_types import (DROPOUT_CLASSES, LAYER_TYPES, OPAQUE_CLASSES, RECURRENT_GATES, canonical,
                                      layer_type)
from lrcn_advisor.shapes import SHAPE_FUNCTIONS
from lrcn_advisor.vocabulary import LayerKind


def test_every_layer_type_has_a_shape_function_and_nothing_else_does():
    assert {t.name for t in LAYER_TYPES.values()} == set(SHAPE_FUNCTIONS)


def test_cost_handlers_are_keyed_by_canonical_layer_types():
    assert all(name in LAYER_TYPES and canonical(name) == name for name in DEFAULT_COST_HANDLERS)


@pytest.mark.parametrize("alias, name", [("Convolution2D", "Conv2D"), ("MaxPool2D", "MaxPooling2D"),
                                         ("AvgPool1D", "AveragePooling1D"), ("CuDNNLSTM", "LSTM"),
                                         ("CuDNNGRU", "GRU"), ("GlobalAvgPool2D", "GlobalAveragePooling2D"),
                                         ("SeparableConvolution2D", "SeparableConv2D"), ("Conv2D", "Conv2D"),
                                         ("NotALayer", "NotALayer")])
def test_aliases(alias, name):
    assert canonical(alias) == name


def test_kinds_gates_and_groups():
    assert layer_type("CuDNNLSTM").kind == LayerKind.RECURRENT
    assert RECURRENT_GATES["LSTM"] == RECURRENT_GATES["CuDNNLSTM"] == RECURRENT_GATES["ConvLSTM2D"] == 4
    assert (RECURRENT_GATES["GRU"], RECURRENT_GATES["SimpleRNN"]) == (3, 1)
    assert OPAQUE_CLASSES == {"Lambda", "TFOpLambda", "SlicingOpLambda"}
    assert {"Dropout", "SpatialDropout2D", "GaussianDropout", "AlphaDropout"} <= DROPOUT_CLASSES
    assert "GaussianNoise" not in DROPOUT_CLASSES and layer_type("GaussianNoise").kind == LayerKind.DROPOUT
    assert layer_type("TimeDistributed") is None
