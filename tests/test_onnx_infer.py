"""onnx_infer (the fast path's shape inference) against onnx.shape_inference(data_prop=True), op by op.

Each case is a small real graph made with onnx.helper and serialised; the fast reader (onnx_wire) reads
the bytes back and onnx_infer gives every node output's shape, which must be what onnx infers. The
cases onnx_infer is not sure of must decline (and there onnx leaves a dim unsettled).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lrcn_advisor.load import onnx_infer, onnx_wire

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def ints(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def floats(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, dtype=np.float32), name)


def model(nodes, inputs: dict[str, tuple], initializers=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(k, F, list(v)) for k, v in inputs.items()],
                              [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.UNDEFINED, None)], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def onnx_shapes(proto: onnx.ModelProto) -> dict[str, tuple]:
    inferred = onnx.shape_inference.infer_shapes(proto, check_type=False, strict_mode=False, data_prop=True)
    shapes = {}
    for info in [*inferred.graph.value_info, *inferred.graph.output]:
        if info.type.tensor_type.HasField("shape"):
            shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None
                                      for d in info.type.tensor_type.shape.dim)
    return shapes


def fast_shapes(proto: onnx.ModelProto) -> dict[str, tuple]:
    return onnx_infer.infer(onnx_wire.read(proto.SerializeToString(), 1000))


def same_as_onnx(nodes, inputs, initializers=(), opset=17) -> dict[str, tuple]:
    proto = model(nodes, inputs, initializers, opset)
    expected, got = onnx_shapes(proto), fast_shapes(proto)
    outputs = [o for n in nodes for o in n.output if o]
    assert {o: got[o] for o in outputs} == {o: expected.get(o) for o in outputs}
    return got


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, **attrs)


X = {"x": (1, 3, 9, 11)}


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
    {"strides": [2, 3], "dilations": [2, 1]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [2, 3]},
    {"auto_pad": "VALID", "strides": [2, 2]},
])
@pytest.mark.parametrize("opset", [9, 11, 13, 17, 22])
def test_conv(attrs, opset):
    same_as_onnx([node("Conv", ["x", "w", "b"], ["y"], **attrs)], X, [floats("w", 8, 3, 3, 3), floats("b", 8)],
                 opset)


def test_grouped_conv_1d_and_3d():
    same_as_onnx([node("Conv", ["x", "w"], ["y"], group=2)], {"x": (1, 4, 10)}, [floats("w", 6, 2, 3)])
    same_as_onnx([node("Conv", ["x", "w"], ["y"], strides=[1, 2, 2])], {"x": (1, 3, 5, 8, 8)},
                 [floats("w", 4, 3, 3, 3, 3)])


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2], "dilations": [1, 2]}),
    ("AveragePool", {"kernel_shape": [4, 4], "strides": [4, 4]}),
    ("AveragePool", {"kernel_shape": [3, 2], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
])
@pytest.mark.parametrize("opset", [10, 11, 12, 17, 19, 22])
def test_pools(op, attrs, opset):
    if opset < 10 and "dilations" in attrs:
        return
    same_as_onnx([node(op, ["x"], ["y"], **attrs)], X, opset=opset)


def test_maxpool_indices_and_global_pools():
    same_as_onnx([node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2])], X)
    same_as_onnx([node("GlobalAveragePool", ["x"], ["a"]), node("GlobalMaxPool", ["a"], ["y"])], X)


def test_elementwise_and_normalisation():
    got = same_as_onnx([
        node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"]),
        node("Relu", ["n"], ["r"]), node("LeakyRelu", ["r"], ["l"], alpha=0.1),
        node("Add", ["l", "c"], ["a"]), node("Mul", ["a", "k"], ["m2"]), node("Softmax", ["m2"], ["s2"], axis=1),
        node("Dropout", ["s2"], ["d", "mask"]), node("Where", ["mask", "d", "k"], ["y"])],
        X, [floats(n, 3) for n in "sbmv"] + [floats("c", 1, 3, 1, 1), floats("k", 11)])
    assert got["y"] == (1, 3, 9, 11)


def test_broadcast_mismatch_declines():
    proto = model([node("Add", ["x", "c"], ["y"])], X, [floats("c", 4)])
    with pytest.raises(onnx_wire.Decline):
        fast_shapes(proto)


def test_reshape_flatten_transpose():
    same_as_onnx([node("Reshape", ["x", "s"], ["r"]), node("Transpose", ["r"], ["t"], perm=[2, 0, 1]),
                  node("Transpose", ["t"], ["t2"]), node("Flatten", ["t2"], ["f"], axis=2),
                  node("Flatten", ["t2"], ["f0"], axis=0), node("Flatten", ["t2"], ["y"], axis=-1)],
                 X, [ints("s", [0, -1, 11])])


@pytest.mark.parametrize("opset", [14, 15, 17, 18, 20])
def test_reshape_from_a_shape_chain(opset):
    """The TorchScript exporter's batch-agnostic reshape: Shape -> Gather/Slice -> Unsqueeze -> Concat."""
    got = same_as_onnx([
        node("Shape", ["x"], ["sh"]), node("Gather", ["sh", "zero"], ["n"], axis=0),
        node("Slice", ["sh", "two", "end"], ["hw"]), node("Unsqueeze", ["n", "axes"], ["n1"]),
        node("Mul", ["n1", "three"], ["n3"]), node("Cast", ["n3"], ["n4"], to=TensorProto.INT64),
        node("Sub", ["hw", "one"], ["hw1"]), node("Add", ["hw1", "one"], ["hw2"]),
        node("Squeeze", ["n4"], ["n5"]), node("Unsqueeze", ["n5", "axes"], ["n6"]),
        node("Concat", ["n6", "hw2"], ["target"], axis=0), node("Reshape", ["x", "target"], ["y"])],
        X, [ints("zero", 0), ints("two", [2]), ints("end", [9_223_372_036_854_775_807]), ints("axes", [0]),
            ints("three", [3]), ints("one", [1])], opset)
    assert got["y"] == (3, 9, 11)


def test_reshape_13_reads_only_constants():
    """Before Reshape-14 onnx reads the target shape from a constant only: a computed one leaves no shape."""
    nodes = [node("Shape", ["x"], ["sh"]), node("Reshape", ["x", "sh"], ["y"])]
    proto = model(nodes, X, opset=13)
    assert "y" not in onnx_shapes(proto) or onnx_shapes(proto)["y"] is None
    with pytest.raises(onnx_wire.Decline):
        fast_shapes(proto)
    same_as_onnx([node("Reshape", ["x", "s"], ["y"])], X, [ints("s", [0, -1])], opset=13)


def test_shape_start_end():
    got = same_as_onnx([node("Shape", ["x"], ["sh"], start=1, end=-1), node("Shape", ["x"], ["n"], start=-1),
                        node("Concat", ["sh", "n"], ["t"], axis=0), node("ConstantOfShape", ["t"], ["y"])], X,
                       opset=15)
    assert got["y"] == (3, 9, 11)


def test_size_is_not_propagated():
    """onnx carries no value for Size: a shape made from it is unsettled, and the fast path declines."""
    nodes = [node("Size", ["x"], ["n"]), node("Unsqueeze", ["n", "axes"], ["n1"]),
             node("ConstantOfShape", ["n1"], ["y"])]
    proto = model(nodes, X, [ints("axes", [0])])
    assert onnx_shapes(proto)["y"] == (None,)
    with pytest.raises(onnx_wire.Decline):
        fast_shapes(proto)


def test_reshape_of_an_unsettled_shape_declines():
    """Div is not among onnx's data-propagating ops: the target's values stay unknown."""
    nodes = [node("Shape", ["x"], ["sh"]), node("Div", ["sh", "two"], ["half"]), node("Reshape", ["x", "half"], ["y"])]
    proto = model(nodes, {"x": (2, 4)}, [ints("two", [1, 1])])
    assert None in onnx_shapes(proto).get("y", (None,))
    with pytest.raises(onnx_wire.Decline):
        fast_shapes(proto)


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_squeeze_unsqueeze(opset):
    if opset < 13:
        nodes = [node("Unsqueeze", ["x"], ["u"], axes=[0, -1]), node("Squeeze", ["u"], ["s"], axes=[0]),
                 node("Squeeze", ["s"], ["y"])]
        inits = []
    else:
        nodes = [node("Unsqueeze", ["x", "a"], ["u"]), node("Squeeze", ["u", "b"], ["s"]), node("Squeeze", ["s"], ["y"])]
        inits = [ints("a", [0, -1]), ints("b", [0])]
    same_as_onnx(nodes, {"x": (1, 3, 1, 5)}, inits, opset)


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_concat_and_split(opset):
    if opset == 11:
        split = [node("Split", ["c"], ["p", "q", "r"], axis=1, split=[1, 2, 3])]
    elif opset == 13:
        split = [node("Split", ["c", "sizes"], ["p", "q", "r"], axis=1)]
    else:
        split = [node("Split", ["c"], ["p", "q", "r"], axis=-1, num_outputs=3)]
    same_as_onnx([node("Concat", ["x", "x"], ["c"], axis=1), *split], {"x": (2, 3, 6)},
                 [ints("sizes", [1, 2, 3])], opset)


@pytest.mark.parametrize("starts, ends, axes, steps", [
    ([1], [-1], [1], [1]), ([0, 2], [100, 9], [2, 3], [2, 3]), ([-1], [-100], [3], [-1]),
    ([5], [1], [2], [-2]), ([0], [9_223_372_036_854_775_807], [-1], [4])])
def test_slice(starts, ends, axes, steps):
    same_as_onnx([node("Slice", ["x", "s", "e", "a", "t"], ["y"])], X,
                 [ints("s", starts), ints("e", ends), ints("a", axes), ints("t", steps)])


def test_gather_gemm_matmul():
    same_as_onnx([node("Gather", ["x", "idx"], ["g"], axis=1)], X, [ints("idx", [[0, 1], [2, 0]])])
    same_as_onnx([node("Gemm", ["x", "w", "b"], ["y"], transB=1)], {"x": (2, 5)}, [floats("w", 7, 5), floats("b", 7)])
    same_as_onnx([node("MatMul", ["x", "w"], ["y"])], {"x": (2, 4, 5)}, [floats("w", 5, 6)])
    same_as_onnx([node("MatMul", ["x", "w"], ["y"])], {"x": (5,)}, [floats("w", 3, 5, 6)])


@pytest.mark.parametrize("op, gates, direction, layout", [
    ("LSTM", 4, "bidirectional", 0), ("GRU", 3, "forward", 1), ("RNN", 1, "reverse", 0), ("LSTM", 4, "forward", 1)])
@pytest.mark.parametrize("opset", [9, 14, 22])
def test_recurrent(op, gates, direction, layout, opset):
    if layout and opset < 14:
        return
    dirs, hidden = (2 if direction == "bidirectional" else 1), 6
    outputs = ["y", "y_h", "y_c"] if op == "LSTM" else ["y", "y_h"]
    x = (2, 7, 5) if layout else (7, 2, 5)
    same_as_onnx([node(op, ["x", "w", "r", "b"], outputs, hidden_size=hidden, direction=direction, layout=layout)],
                 {"x": x}, [floats("w", dirs, gates * hidden, 5), floats("r", dirs, gates * hidden, hidden),
                            floats("b", dirs, 2 * gates * hidden)], opset=opset)


def test_expand_tile_constant_of_shape():
    same_as_onnx([node("Expand", ["x", "s"], ["e"]), node("Tile", ["e", "r"], ["y"])], {"x": (3, 1)},
                 [ints("s", [2, 1, 4]), ints("r", [1, 2, 3])])
    same_as_onnx([node("Shape", ["x"], ["sh"]), node("ConstantOfShape", ["sh"], ["c"]),
                  node("Expand", ["x", "sh"], ["y"])], X)


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions_pad_cast(opset):
    mean = node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0) if opset < 18 else \
        node("ReduceMean", ["x", "ax"], ["m"], keepdims=0)
    same_as_onnx([mean, node("ReduceSum", ["x", "ax"], ["s"]), node("ReduceMax", ["x"], ["mx"], keepdims=1),
                  node("Pad", ["x", "pads"], ["p"]), node("Cast", ["p"], ["c"], to=TensorProto.DOUBLE),
                  node("Identity", ["c"], ["y"])],
                 X, [ints("ax", [2, 3]), ints("pads", [0, 0, 1, 2, 0, 1, 3, 0])], opset)


def test_constant_nodes():
    same_as_onnx([node("Constant", [], ["c"], value=ints("v", [0, -1])), node("Reshape", ["x", "c"], ["r"]),
                  node("Constant", [], ["f"], value_floats=[1.0, 2.0]), node("Constant", [], ["i"], value_int=3),
                  node("Add", ["r", "i"], ["y"])], X)


def test_unknown_op_declines():
    proto = model([node("Einsum", ["x", "x"], ["y"], equation="ij,ij->i")], {"x": (2, 3)})
    with pytest.raises(onnx_wire.Decline):
        fast_shapes(proto)


# ---- the wire reader ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.int8, np.uint8, np.int16,
                                   np.uint16, np.bool_, np.uint32, np.uint64])
@pytest.mark.parametrize("raw", [True, False])
def test_tensor_values_match_numpy_helper(dtype, raw):
    array = (np.arange(12).reshape(3, 4) * (-1 if np.issubdtype(dtype, np.signedinteger) else 1) % 7).astype(dtype)
    proto = numpy_helper.from_array(array, "t")
    if not raw:
        proto = helper.make_tensor("t", proto.data_type, array.shape, array.flatten().tolist(), raw=False)
    constant = node("Constant", [], ["c"], value=proto)
    wire = onnx_wire.read(model([constant], {"x": (1,)}).SerializeToString(), 10)
    tensor = wire.graph.node[0].attribute[0].t
    assert tensor.dims == [3, 4] and tensor.data_type == proto.data_type
    assert tensor.values() == numpy_helper.to_array(proto).flatten().tolist()


def test_attributes_match_onnx_helper():
    n = node("Foo", ["x"], ["y"], f=0.1, i=-7, s="same", fs=[1.5, -2.25, 1e-5], ints=[-1, 2**40, 0],
             ss=["a", "\u00e9"])
    wire = onnx_wire.read(model([n], {"x": (1,)}).SerializeToString(), 10).graph.node[0]
    from lrcn_advisor.load.onnx_graph import attributes

    assert attributes(wire) == attributes(n)
    assert attributes(wire)["f"] == float(np.float32(0.1))


def test_packed_and_unpacked_dims_read_alike():
    def field(number, wire, payload):
        return bytes([number << 3 | wire]) + payload

    def varint(v):
        out = bytearray()
        while True:
            out.append((v & 0x7F) | (0x80 if v >> 7 else 0))
            v >>= 7
            if not v:
                return bytes(out)

    unpacked = field(1, 0, varint(3)) + field(1, 0, varint(300)) + field(2, 0, varint(1))
    packed = field(1, 2, varint(3) + varint(3) + varint(300)) + field(2, 0, varint(1))
    buf = memoryview(packed + unpacked)
    first = onnx_wire.WireTensor(buf, (0, len(packed)))
    second = onnx_wire.WireTensor(buf, (len(packed), len(buf)))
    assert first.dims == second.dims == [3, 300]
    assert onnx.TensorProto.FromString(packed).dims == onnx.TensorProto.FromString(unpacked).dims == [3, 300]
