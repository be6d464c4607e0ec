"""Shape inference and config checks (lrcn_advisor.shapes)."""
from __future__ import annotations

import pytest

from lrcn_advisor.shapes import ShapeError, leaf_output_shapes, window_out


@pytest.mark.parametrize("size, kernel, stride, dilation, padding, out", [
    (64, 3, 1, 1, "same", 64), (64, 3, 2, 1, "same", 32), (65, 3, 2, 1, "same", 33),
    (64, 3, 1, 1, "valid", 62), (64, 3, 2, 1, "valid", 31), (10, 3, 1, 2, "valid", 6),
    (None, 3, 1, 1, "valid", None), (7, 2, 2, 1, "valid", 3),
])
def test_window_out(size, kernel, stride, dilation, padding, out):
    assert window_out(size, kernel, stride, dilation, padding) == out


@pytest.mark.parametrize("class_name, config, shape, out", [
    ("MaxPooling2D", {"pool_size": [2, 2]}, (None, 9, 9, 4), (None, 4, 4, 4)),
    ("MaxPool2D", {"pool_size": 3, "strides": 1, "padding": "same"}, (None, 9, 9, 4), (None, 9, 9, 4)),
    ("AveragePooling1D", {"pool_size": 2, "data_format": "channels_first"}, (None, 4, 10), (None, 4, 5)),
    ("GlobalAveragePooling2D", {"keepdims": True}, (None, 5, 5, 8), (None, 1, 1, 8)),
    ("GlobalMaxPooling3D", {}, (None, 2, 5, 5, 8), (None, 8)),
    ("Flatten", {}, (None, 2, 3, 4), (None, 24)),
    ("Flatten", {}, (None, None, 3), (None, None)),
    ("Reshape", {"target_shape": [-1, 4]}, (None, 2, 6), (None, 3, 4)),
    ("Permute", {"dims": [2, 1]}, (None, 3, 5), (None, 5, 3)),
    ("RepeatVector", {"n": 4}, (None, 6), (None, 4, 6)),
    ("ZeroPadding2D", {"padding": [[1, 2], [0, 1]]}, (None, 5, 5, 1), (None, 8, 6, 1)),
    ("Cropping1D", {"cropping": [1, 2]}, (None, 10, 3), (None, 7, 3)),
    ("UpSampling2D", {"size": [2, 3]}, (None, 4, 4, 1), (None, 8, 12, 1)),
    ("Concatenate", {"axis": -1}, None, (None, 4, 7)),
    ("Add", {}, None, (None, 4, 5)),
])
def test_layer_shapes(class_name, config, shape, out):
    inputs = [shape] if shape is not None else [(None, 4, 5), (None, 4, 2) if class_name == "Concatenate"
                                                  else (None, 4, 5)]
    assert leaf_output_shapes(class_name, config, inputs) == [out]


@pytest.mark.parametrize("class_name, config, shape, message", [
    ("Conv2D", {"filters": 4, "kernel_size": 5}, (None, 3, 3, 1), "larger than its input"),
    ("Conv2D", {"filters": 4, "kernel_size": [3, 3], "padding": "mirror"}, (None, 8, 8, 1), "unknown padding"),
    ("Conv2D", {"filters": 0, "kernel_size": 3}, (None, 8, 8, 1), "bad filters"),
    ("Conv2D", {"filters": 4, "kernel_size": True}, (None, 8, 8, 1), "bad kernel_size"),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 3}, (None, 8, 8, 4), "does not divide"),
    ("Conv2D", {"filters": 4, "kernel_size": 3}, (None, 8, 1), "expects a 4-D input"),
    ("Dropout", {"rate": 1.5}, (None, 4), "bad rate"),
    ("LSTM", {"units": 4, "recurrent_dropout": -0.1}, (None, 3, 2), "bad recurrent_dropout"),
    ("Dense", {"units": 2}, (None, None), "known last dimension"),
    ("Reshape", {"target_shape": [5, 5]}, (None, 2, 6), "cannot reshape"),
    ("BatchNormalization", {"axis": 0}, (None, 4), "normalisation axis"),
])
def test_bad_configs_raise_shape_errors(class_name, config, shape, message):
    with pytest.raises(ShapeError, match=message):
        leaf_output_shapes(class_name, config, [shape])


def test_unknown_class_passes_its_input_through():
    assert leaf_output_shapes("SomethingNew", {}, [(None, 3, 4)]) == [(None, 3, 4)]
