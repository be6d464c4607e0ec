"""Every cost handler against hand-computed parameters, MACs and shapes (docs/cost-model.md).

Each case writes its arithmetic out: kernel volume x C_in x filters + bias, output positions x
filters x kernel volume x C_in, and so on, for an input shape given here. Parameter counts are
what Keras' count_params() gives for the same layer.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from lrcn_advisor.analyze import analyse_graph
from lrcn_advisor.cost import DEFAULT_COST_HANDLERS
from lrcn_advisor.vocabulary import LayerKind
from unit_graphs import layer, multi_input, sequential


@dataclass
class Case:
    handler: str                 # the DEFAULT_COST_HANDLERS key it exercises
    inputs: list[tuple]
    spec: object
    outputs: list[tuple]
    params: int
    macs: int
    non_trainable: int = 0
    kind: LayerKind | None = None


CASES = {
    "conv1d_valid": Case("Conv1D", [(None, 10, 4)], layer("Conv1D", filters=8, kernel_size=3),
                         [(None, 8, 8)], params=3 * 4 * 8 + 8, macs=8 * 8 * (3 * 4), kind=LayerKind.CONV),
    "conv2d_same": Case("Conv2D", [(None, 64, 64, 3)], layer("Conv2D", filters=16, kernel_size=[3, 3],
                                                               padding="same"),
                        [(None, 64, 64, 16)], params=448, macs=64 * 64 * 16 * (3 * 3 * 3)),
    "conv2d_strided_no_bias": Case("Conv2D", [(None, 9, 9, 2)],
                                   layer("Conv2D", filters=4, kernel_size=3, strides=2, use_bias=False),
                                   [(None, 4, 4, 4)], params=3 * 3 * 2 * 4, macs=4 * 4 * 4 * (3 * 3 * 2)),
    "conv2d_groups": Case("Conv2D", [(None, 8, 8, 4)], layer("Conv2D", filters=6, kernel_size=3, groups=2,
                                                              padding="same"),
                          [(None, 8, 8, 6)], params=3 * 3 * 2 * 6 + 6, macs=8 * 8 * 6 * (3 * 3 * 4 // 2)),
    "conv2d_channels_first": Case("Conv2D", [(None, 3, 10, 10)],
                                  layer("Conv2D", filters=5, kernel_size=3, data_format="channels_first"),
                                  [(None, 5, 8, 8)], params=3 * 3 * 3 * 5 + 5, macs=8 * 8 * 5 * (3 * 3 * 3)),
    "conv3d": Case("Conv3D", [(None, 5, 8, 8, 2)], layer("Conv3D", filters=4, kernel_size=[2, 3, 3]),
                   [(None, 4, 6, 6, 4)], params=2 * 3 * 3 * 2 * 4 + 4, macs=4 * 6 * 6 * 4 * (2 * 3 * 3 * 2)),
    "conv1d_transpose": Case("Conv1DTranspose", [(None, 5, 3)],
                             layer("Conv1DTranspose", filters=2, kernel_size=3, strides=2),
                             [(None, 5 * 2 + (3 - 2), 2)], params=3 * 3 * 2 + 2, macs=5 * (3 * 3 * 2)),
    "conv2d_transpose": Case("Conv2DTranspose", [(None, 8, 8, 8)],
                             layer("Conv2DTranspose", filters=8, kernel_size=3, strides=2, padding="same"),
                             [(None, 16, 16, 8)], params=584, macs=8 * 8 * (3 * 3 * 8 * 8)),
    "conv3d_transpose": Case("Conv3DTranspose", [(None, 2, 3, 3, 1)],
                             layer("Conv3DTranspose", filters=2, kernel_size=2),
                             [(None, 3, 4, 4, 2)], params=8 * 1 * 2 + 2, macs=2 * 3 * 3 * (8 * 1 * 2)),
    "depthwise1d": Case("DepthwiseConv1D", [(None, 10, 4)], layer("DepthwiseConv1D", kernel_size=3),
                        [(None, 8, 4)], params=3 * 4 + 4, macs=8 * 4 * 3),
    "depthwise2d_multiplier": Case("DepthwiseConv2D", [(None, 8, 8, 3)],
                                   layer("DepthwiseConv2D", kernel_size=3, depth_multiplier=2),
                                   [(None, 6, 6, 6)], params=3 * 3 * 6 + 6, macs=6 * 6 * 6 * (3 * 3)),
    "separable1d": Case("SeparableConv1D", [(None, 10, 3)],
                        layer("SeparableConv1D", filters=6, kernel_size=3, depth_multiplier=2),
                        [(None, 8, 6)], params=3 * 6 + 6 * 6 + 6, macs=8 * 6 * 3 + 8 * 6 * 6),
    "separable2d": Case("SeparableConv2D", [(None, 8, 8, 4)], layer("SeparableConv2D", filters=8, kernel_size=3),
                        [(None, 6, 6, 8)], params=3 * 3 * 4 + 4 * 8 + 8,
                        macs=6 * 6 * 4 * (3 * 3) + 6 * 6 * 4 * 8),
    "dense": Case("Dense", [(None, 64)], layer("Dense", units=4), [(None, 4)], params=64 * 4 + 4, macs=64 * 4,
                  kind=LayerKind.DENSE),
    "dense_on_sequence": Case("Dense", [(None, 5, 7)], layer("Dense", units=3, use_bias=False),
                              [(None, 5, 3)], params=7 * 3, macs=5 * 7 * 3),
    "embedding": Case("Embedding", [(None, 12)], layer("Embedding", input_dim=100, output_dim=8),
                      [(None, 12, 8)], params=100 * 8, macs=0),
    "prelu": Case("PReLU", [(None, 4, 5)], layer("PReLU"), [(None, 4, 5)], params=4 * 5, macs=0),
    "prelu_shared": Case("PReLU", [(None, 4, 5)], layer("PReLU", shared_axes=[1]), [(None, 4, 5)],
                         params=5, macs=0),
    "batch_norm": Case("BatchNormalization", [(None, 8, 8, 16)], layer("BatchNormalization"),
                       [(None, 8, 8, 16)], params=4 * 16, non_trainable=2 * 16, macs=0, kind=LayerKind.NORM),
    "batch_norm_no_center": Case("BatchNormalization", [(None, 8, 8, 16)],
                                 layer("BatchNormalization", center=False),
                                 [(None, 8, 8, 16)], params=3 * 16, non_trainable=2 * 16, macs=0),
    "layer_norm": Case("LayerNormalization", [(None, 10, 32)], layer("LayerNormalization"),
                       [(None, 10, 32)], params=2 * 32, macs=0),
    "layer_norm_rms": Case("LayerNormalization", [(None, 10, 32)], layer("LayerNormalization", rms_scaling=True),
                           [(None, 10, 32)], params=32, macs=0),
    "group_norm": Case("GroupNormalization", [(None, 8, 8, 16)], layer("GroupNormalization", groups=4),
                       [(None, 8, 8, 16)], params=2 * 16, macs=0),
    "lstm": Case("LSTM", [(None, 20, 64)], layer("LSTM", units=32), [(None, 32)],
                 params=12_416, macs=20 * 4 * 32 * (64 + 32), kind=LayerKind.RECURRENT),
    "lstm_sequences_states": Case("LSTM", [(None, 6, 3)],
                                  layer("LSTM", units=2, return_sequences=True, return_state=True),
                                  [(None, 6, 2), (None, 2), (None, 2)],
                                  params=4 * 2 * (3 + 2) + 4 * 2, macs=6 * 4 * 2 * (3 + 2)),
    "gru_reset_after": Case("GRU", [(None, 10, 8)], layer("GRU", units=16),
                            [(None, 16)], params=3 * 16 * (8 + 16) + 2 * 3 * 16, macs=10 * 3 * 16 * (8 + 16)),
    "gru_reset_before": Case("GRU", [(None, 10, 8)], layer("GRU", units=16, reset_after=False),
                             [(None, 16)], params=3 * 16 * (8 + 16) + 3 * 16, macs=10 * 3 * 16 * (8 + 16)),
    "simple_rnn": Case("SimpleRNN", [(None, 6, 4)], layer("SimpleRNN", units=8, return_sequences=True),
                       [(None, 6, 8)], params=8 * (4 + 8) + 8, macs=6 * 8 * (4 + 8)),
    "conv_lstm1d": Case("ConvLSTM1D", [(None, 4, 10, 3)],
                        layer("ConvLSTM1D", filters=2, kernel_size=3, return_sequences=True),
                        [(None, 4, 8, 2)], params=3 * 3 * 4 * 2 + 3 * 2 * 4 * 2 + 4 * 2,
                        macs=4 * 8 * (4 * 2) * 3 * (3 + 2), kind=LayerKind.RECURRENT),
    "conv_lstm2d": Case("ConvLSTM2D", [(None, 5, 8, 8, 2)],
                        layer("ConvLSTM2D", filters=4, kernel_size=3, padding="same"),
                        [(None, 8, 8, 4)], params=9 * 2 * 16 + 9 * 4 * 16 + 16,
                        macs=5 * (8 * 8) * (4 * 4) * 9 * (2 + 4)),
    "conv_lstm2d_channels_first": Case("ConvLSTM2D", [(None, 5, 2, 8, 8)],
                                       layer("ConvLSTM2D", filters=4, kernel_size=3, return_sequences=True,
                                             data_format="channels_first"),
                                       [(None, 5, 4, 6, 6)], params=9 * 2 * 16 + 9 * 4 * 16 + 16,
                                       macs=5 * (6 * 6) * (4 * 4) * 9 * (2 + 4)),
    "conv_lstm3d": Case("ConvLSTM3D", [(None, 3, 4, 4, 4, 1)],
                        layer("ConvLSTM3D", filters=2, kernel_size=3, padding="same"),
                        [(None, 4, 4, 4, 2)], params=27 * 1 * 8 + 27 * 2 * 8 + 8,
                        macs=3 * (4 * 4 * 4) * (4 * 2) * 27 * (1 + 2)),
    "attention": Case("Attention", [(None, 5, 8), (None, 7, 8)],
                      layer("Attention", use_scale=True, score_mode="concat", return_attention_scores=True),
                      [(None, 5, 8), (None, 5, 7)], params=2, macs=0, kind=LayerKind.ATTENTION),
    "additive_attention": Case("AdditiveAttention", [(None, 5, 8), (None, 7, 8)], layer("AdditiveAttention"),
                               [(None, 5, 8)], params=8, macs=0),
    "multi_head_attention": Case("MultiHeadAttention", [(None, 5, 8), (None, 7, 6)],
                                 layer("MultiHeadAttention", num_heads=2, key_dim=4),
                                 [(None, 5, 8)],
                                 params=(8 + 1) * 2 * 4 + (6 + 1) * 2 * 4 + (6 + 1) * 2 * 4 + 2 * 4 * 8 + 8,
                                 macs=0),
}


def _graph(case: Case):
    if len(case.inputs) == 1:
        return sequential(case.inputs[0], case.spec)
    return multi_input({f"in{i}": s for i, s in enumerate(case.inputs)}, case.spec)


@pytest.mark.parametrize("name", list(CASES))
def test_handler(name):
    case = CASES[name]
    ir = analyse_graph(_graph(case))
    info = ir.layer(case.spec.name)
    assert info.output_shapes == case.outputs
    assert (info.params, info.non_trainable_params, info.macs) == (case.params, case.non_trainable, case.macs)
    assert info.status == "ok" and not ir.warnings
    if case.kind is not None:
        assert info.kind == case.kind


def test_every_handler_has_a_case():
    assert {case.handler for case in CASES.values()} == set(DEFAULT_COST_HANDLERS)


@pytest.mark.parametrize("spec, shape", [
    (layer("MaxPooling2D", pool_size=2), (None, 8, 8, 3)),
    (layer("GlobalAveragePooling2D"), (None, 8, 8, 3)),
    (layer("Dropout", rate=0.5), (None, 8, 8, 3)),
    (layer("Activation", activation="relu"), (None, 8, 8, 3)),
    (layer("Flatten"), (None, 8, 8, 3)),
    (layer("UpSampling2D", size=2), (None, 8, 8, 3)),
])
def test_layers_without_a_handler_cost_nothing(spec, shape):
    """Pooling, dropout, activations and reshaping: 0 parameters, 0 MACs (cost model: everything else)."""
    assert spec.class_name not in DEFAULT_COST_HANDLERS
    info = analyse_graph(sequential(shape, spec)).layer(spec.name)
    assert (info.params, info.macs, info.status) == (0, 0, "ok")
