"""Edits are pure: they return a changed copy and never change the graph they are given."""
from __future__ import annotations

import copy

import pytest

from lrcn_advisor import edits
from lrcn_advisor.analyze import analyse_graph
from unit_graphs import bidirectional, layer, sequential, time_distributed as td


def lrcn():
    return sequential((None, 4, 8, 8, 3),
                      td(layer("Conv2D", "conv", filters=4, kernel_size=3, padding="same")),
                      td(layer("MaxPooling2D", "pool", pool_size=[4, 4])),
                      td(layer("Dropout", "drop", rate=0.8)),
                      td(layer("Flatten", "flat")),
                      layer("LSTM", "lstm1", units=8, return_sequences=True),
                      bidirectional(layer("LSTM", "lstm2", units=4)),
                      layer("Dense", "head", units=2))


EDITS = [
    edits.set_config("pool", "pool 4 -> 2", pool_size=[2, 2]),
    edits.set_config("lstm2", "units", units=8),
    edits.replace_class("lstm1", "GRU", "LSTM -> GRU"),
    edits.remove_layers(["drop"], "no dropout"),
    edits.insert_after("lstm1", edits.plain_layer("extra", "Dropout", rate=0.5), "add dropout"),
    edits.wrap_time_distributed("head", "head per frame"),
    edits.set_frames(16, "16 frames"),
    edits.chain("both", edits.set_config("drop", "rate", rate=0.4), edits.remove_layers(["pool"], "no pool")),
]


@pytest.mark.parametrize("edit", EDITS, ids=[e.description for e in EDITS])
def test_an_edit_returns_a_changed_copy_and_leaves_its_input_alone(edit):
    graph = lrcn()
    before = copy.deepcopy(graph)
    changed = edit(graph)
    assert graph == before            # the input, every layer and config, untouched
    assert changed != before          # the copy carries the change
    again = edit(graph)
    assert again == changed           # the same edit twice gives the same result


def test_edited_copies_are_independent_and_analyse():
    graph = lrcn()
    first = edits.set_config("pool", "", pool_size=[2, 2])(graph)
    second = edits.set_config("pool", "", pool_size=[1, 1])(first)
    assert first.layers[2].wrapped.config["pool_size"] == [2, 2]
    assert second.layers[2].wrapped.config["pool_size"] == [1, 1]
    assert graph.layers[2].wrapped.config["pool_size"] == [4, 4]
    assert analyse_graph(first).macs > analyse_graph(graph).macs
