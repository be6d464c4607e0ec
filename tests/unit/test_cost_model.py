"""The per-run cost table: with_handler gives a new table and leaves the defaults alone."""
from __future__ import annotations

from lrcn_advisor.analyze import analyse_graph
from lrcn_advisor.cost import DEFAULT_COST_HANDLERS, DEFAULT_COST_MODEL, CostModel, LayerCost, dense_cost
from unit_graphs import layer, sequential, time_distributed as td


def lrcn():
    return sequential((None, 4, 8, 8, 3), td(layer("Conv2D", "conv", filters=2, kernel_size=3)),
                      td(layer("Flatten", "flat")), layer("CuDNNLSTM", "lstm", units=3),
                      layer("Dense", "head", units=2))


def dense_with_bias_adds(cfg, inputs, outputs, ctx) -> LayerCost:
    """A convention that also counts one MAC per bias addition."""
    base = dense_cost(cfg, inputs, outputs, ctx)
    return LayerCost(base.params, base.non_trainable, base.macs + outputs[0][-1])


def test_with_handler_returns_a_new_table():
    custom = CostModel().with_handler("Dense", dense_with_bias_adds)
    assert custom.handler("Dense") is dense_with_bias_adds
    assert DEFAULT_COST_MODEL.handler("Dense") is dense_cost
    assert DEFAULT_COST_HANDLERS["Dense"] is dense_cost
    default, changed = analyse_graph(lrcn()), analyse_graph(lrcn(), cost_model=custom)
    assert changed.layer("head").macs == default.layer("head").macs + 2 == 3 * 2 + 2
    assert changed.layer("conv").macs == default.layer("conv").macs


def test_aliases_use_the_canonical_handler_unless_overridden():
    ir = analyse_graph(lrcn())
    assert ir.layer("lstm").params == 4 * 3 * (2 * 6 * 6 + 3) + 4 * 3  # CuDNNLSTM counted as LSTM
    silenced = CostModel().with_handler("CuDNNLSTM", None)
    assert analyse_graph(lrcn(), cost_model=silenced).layer("lstm").macs == 0
    assert analyse_graph(lrcn(), cost_model=silenced).layer("lstm").status == "ok"


def test_handler_for_a_class_without_one():
    """Adding a handler for a layer type the defaults count as 0 (here: MaxPooling2D comparisons)."""
    def pool_compares(cfg, inputs, outputs, ctx):
        return LayerCost(macs=ctx.volume(outputs[0][1:]) * 4)

    graph = sequential((None, 8, 8, 3), layer("MaxPooling2D", "pool", pool_size=2))
    assert analyse_graph(graph).layer("pool").macs == 0
    model = DEFAULT_COST_MODEL.with_handler("MaxPooling2D", pool_compares)
    assert analyse_graph(graph, cost_model=model).layer("pool").macs == 4 * 4 * 3 * 4
    assert "MaxPooling2D" not in DEFAULT_COST_HANDLERS
