"""TimeDistributed, Bidirectional and nested models: shapes and sums per docs/cost-model.md."""
from __future__ import annotations

import pytest

from lrcn_advisor import shapes
from lrcn_advisor.analyze import analyse_graph
from lrcn_advisor.errors import InputError
from lrcn_advisor.ir import GraphSpec, LayerSpec, TensorRef
from lrcn_advisor.vocabulary import LayerKind
from unit_graphs import bidirectional, layer, nested, sequential, time_distributed as td


def test_time_distributed_is_t_times_one_frame():
    conv = layer("Conv2D", "conv", filters=8, kernel_size=3)
    one_frame = analyse_graph(sequential((None, 10, 10, 3), conv)).layer("conv")
    ir = analyse_graph(sequential((None, 7, 10, 10, 3), td(layer("Conv2D", "conv", filters=8, kernel_size=3))))
    info = ir.layer("conv")
    assert one_frame.macs == 8 * 8 * 8 * (3 * 3 * 3)
    assert (info.params, info.macs) == (one_frame.params, 7 * one_frame.macs)
    assert info.output_shape == (None, 7, 8, 8, 8)
    assert (info.kind, info.inner_class, info.time_distributed, info.frames) == (LayerKind.CONV, "Conv2D", True, 7)


def test_bidirectional_is_forward_plus_backward():
    ir = analyse_graph(sequential((None, 10, 8), bidirectional(layer("GRU", "gru", units=16,
                                                                     return_sequences=True))))
    info = ir.layer("gru")
    one_direction = 3 * 16 * (8 + 16) + 2 * 3 * 16
    assert (info.params, info.macs) == (2 * one_direction, 2 * 10 * 3 * 16 * (8 + 16))
    assert info.output_shape == (None, 10, 32)
    assert info.kind == LayerKind.RECURRENT and info.frames == 10


@pytest.mark.parametrize("mode, expected", [("concat", [(None, 12)]), ("sum", [(None, 6)]),
                                            (None, [(None, 6), (None, 6)])])
def test_bidirectional_merge_modes(mode, expected):
    ir = analyse_graph(sequential((None, 5, 4), bidirectional(layer("LSTM", "lstm", units=6), mode)))
    assert ir.layer("lstm").output_shapes == expected


def test_bidirectional_with_its_own_backward_layer():
    spec = bidirectional(layer("LSTM", "lstm", units=4))
    spec.backward = layer("LSTM", "backward", units=2)
    info = analyse_graph(sequential((None, 3, 5), spec)).layer("lstm")
    assert info.output_shape == (None, 4 + 2)
    assert info.params == (16 * 9 + 16) + (8 * 7 + 8)


def backbone() -> GraphSpec:
    return sequential((None, 16, 16, 3), layer("Conv2D", "c1", filters=4, kernel_size=3, padding="same"),
                      layer("BatchNormalization", "bn"), layer("GlobalAveragePooling2D", "gap"), name="backbone")


def test_nested_model_is_the_sum_of_its_layers():
    ir = analyse_graph(sequential((None, 16, 16, 3), nested(backbone(), "net"), layer("Dense", "head", units=2)))
    net = ir.layer("net")
    conv_params, bn_params = 3 * 3 * 3 * 4 + 4, 4 * 4
    assert (net.params, net.non_trainable_params, net.macs) == (conv_params + bn_params, 2 * 4,
                                                                16 * 16 * 4 * (3 * 3 * 3))
    assert net.kind == LayerKind.BACKBONE and net.output_shape == (None, 4)
    assert [child.name for child in net.children] == ["input", "c1", "bn", "gap"]


def test_time_distributed_backbone_counts_every_frame():
    ir = analyse_graph(sequential((None, 5, 16, 16, 3), td(nested(backbone(), "net")),
                                  layer("LSTM", "lstm", units=3)))
    net = ir.layer("net")
    assert net.macs == 5 * 16 * 16 * 4 * (3 * 3 * 3)
    assert sum(child.macs for child in net.children) == net.macs
    assert net.output_shape == (None, 5, 4)
    assert ir.layer("lstm").macs == 5 * 4 * 3 * (4 + 3)


def test_frozen_layer_is_non_trainable():
    ir = analyse_graph(sequential((None, 8), layer("Dense", "dense", units=2, trainable=False)))
    info = ir.layer("dense")
    assert (info.params, info.trainable_params, info.non_trainable_params) == (18, 0, 18)


def test_shared_layer_counts_params_once_and_macs_per_call():
    dense = LayerSpec("dense", "Dense", {"name": "dense", "units": 3},
                      calls=[[TensorRef("a")], [TensorRef("b")]])
    add = LayerSpec("add", "Add", {"name": "add"}, calls=[[TensorRef("dense", 0), TensorRef("dense", 1)]])
    graph = GraphSpec("shared", [LayerSpec("a", "InputLayer"), LayerSpec("b", "InputLayer"), dense, add],
                      [TensorRef("a"), TensorRef("b")], [TensorRef("add")], {"a": (None, 5), "b": (None, 5)})
    ir = analyse_graph(graph)
    assert (ir.layer("dense").params, ir.layer("dense").macs) == (5 * 3 + 3, 2 * 5 * 3)
    assert ir.layer("add").output_shape == (None, 3)


def test_builder_shapes_match_the_analysis():
    """shapes.output_shapes (what the ONNX builder uses) gives the analysis' shapes, wrappers included."""
    specs = [td(layer("Conv2D", "conv", filters=4, kernel_size=3)), td(layer("Flatten", "flat")),
             bidirectional(layer("LSTM", "lstm", units=5, return_sequences=True))]
    graph = sequential((None, 6, 9, 9, 2), *specs)
    ir = analyse_graph(graph)
    current = [(None, 6, 9, 9, 2)]
    for spec in specs:
        current = shapes.output_shapes(spec, current)
        assert current == ir.layer(spec.name).output_shapes
    assert shapes.graph_output_shapes(graph) == [(None, 6, 10)]


def test_unknown_and_opaque_layers_are_marked_not_guessed():
    custom = analyse_graph(sequential((None, 4, 6), layer("MyCustomLayer", "custom"))).layer("custom")
    assert (custom.status, custom.kind, custom.output_shape, custom.params) == ("unknown", "unknown", (None, 4, 6), 0)
    ir = analyse_graph(sequential((None, 4, 6), layer("Lambda", "lam", output_shape=[24]),
                                  layer("Dense", "head", units=2)))
    lam = ir.layer("lam")
    assert (lam.status, lam.kind, lam.output_shape, lam.params, lam.macs) == ("opaque", "opaque", (None, 24), 0, 0)
    assert "declared" in lam.note and any("'lam'" in w for w in ir.warnings)


def test_a_graph_with_a_cycle_is_bad_input():
    a = LayerSpec("a", "Dense", {"units": 2}, calls=[[TensorRef("b")]])
    b = LayerSpec("b", "Dense", {"units": 2}, calls=[[TensorRef("a")]])
    graph = GraphSpec("loop", [LayerSpec("x", "InputLayer"), a, b], [TensorRef("x")], [TensorRef("b")],
                      {"x": (None, 2)})
    with pytest.raises(InputError, match="cycle"):
        analyse_graph(graph)
