"""The worked example of docs/cost-model.md, built as plain data: 73,060 params, 68,075,648 MACs."""
from __future__ import annotations

from lrcn_advisor.analyze import analyse_graph
from lrcn_advisor.vocabulary import FrameSource
from unit_graphs import layer, sequential, time_distributed as td

T = 20


def bleed_ai_lrcn(frames: int | None = T):
    """The published Bleed-AI LRCN: 4 TimeDistributed conv stages, LSTM 32, Dense 4 (4 classes)."""
    stages = []
    for n, (filters, pool) in enumerate([(16, 4), (32, 4), (64, 2), (64, 2)], start=1):
        stages += [td(layer("Conv2D", f"conv{n}", filters=filters, kernel_size=[3, 3], padding="same",
                            activation="relu")),
                   td(layer("MaxPooling2D", f"pool{n}", pool_size=[pool, pool]))]
        if n < 4:
            stages.append(td(layer("Dropout", f"dropout{n}", rate=0.25)))
    return sequential((None, frames, 64, 64, 3), *stages, td(layer("Flatten", "flatten")),
                      layer("LSTM", "lstm", units=32), layer("Dense", "dense", units=4, activation="softmax"))


ROWS = {  # the table of docs/cost-model.md: (params, MACs)
    "conv1": (448, 35_389_440),
    "conv2": (4_640, 23_592_960),
    "conv3": (18_496, 5_898_240),
    "conv4": (36_928, 2_949_120),
    "lstm": (12_416, 245_760),
    "dense": (132, 128),
}


def test_worked_example_rows_and_totals():
    ir = analyse_graph(bleed_ai_lrcn())
    assert {name: (ir.layer(name).params, ir.layer(name).macs) for name in ROWS} == ROWS
    assert (ir.params, ir.macs, ir.flops) == (73_060, 68_075_648, 2 * 68_075_648)
    others = [layer for layer in ir.layers if layer.name not in ROWS]
    assert all(layer.params == 0 and layer.macs == 0 for layer in others)
    assert (ir.frames, ir.frames_source) == (T, FrameSource.FILE)


def test_worked_example_rows_by_hand():
    """The same rows from the formulas: output elements x kernel volume x C_in, T x 4H(I + H)."""
    ir = analyse_graph(bleed_ai_lrcn())
    assert ir.layer("conv1").macs == T * (64 * 64 * 16) * (3 * 3 * 3)
    assert ir.layer("conv2").macs == T * (16 * 16 * 32) * (3 * 3 * 16)
    assert ir.layer("conv3").macs == T * (4 * 4 * 64) * (3 * 3 * 32)
    assert ir.layer("conv4").macs == T * (2 * 2 * 64) * (3 * 3 * 64)
    assert ir.layer("lstm").macs == T * 4 * 32 * (64 + 32)
    assert ir.layer("flatten").output_shape == (None, T, 64)


def test_shapes_through_the_stages():
    ir = analyse_graph(bleed_ai_lrcn())
    assert [ir.layer(f"pool{n}").output_shape for n in (1, 2, 3, 4)] == [
        (None, T, 16, 16, 16), (None, T, 4, 4, 32), (None, T, 2, 2, 64), (None, T, 1, 1, 64)]
    assert ir.layer("lstm").output_shape == (None, 32)
    assert ir.layer("dense").output_shape == (None, 4)
    assert [block.id for block in ir.blocks] == ["input", "conv1", "conv2", "conv3", "conv4", "recurrent", "head"]


def test_unknown_time_length_uses_the_stated_default():
    """T = None in the file: costs use DEFAULT_FRAMES (16), said in a warning, never a silent 1."""
    ir = analyse_graph(bleed_ai_lrcn(frames=None))
    assert (ir.frames, ir.frames_source) == (16, FrameSource.DEFAULT)
    assert ir.layer("conv1").macs == 16 * 1_769_472
    assert ir.layer("lstm").macs == 16 * 4 * 32 * 96
    assert any("time length is unknown" in w and "16 frames" in w for w in ir.warnings)


def test_frames_option_recounts_the_clip():
    ir = analyse_graph(bleed_ai_lrcn(frames=None), frames=8)
    assert (ir.frames, ir.frames_source) == (8, FrameSource.OPTION)
    per_frame = (68_075_648 - 128) // T  # every layer but the Dense head runs once per frame
    assert ir.macs == 8 * per_frame + 128
    assert ir.params == 73_060 and not ir.warnings
