"""ONNX files -> ModelIR: read the file as data, recover the logical layers, analyse them like Keras.

The exporters (tf2onnx, torch.onnx) rewrite a model: TimeDistributed layers
become T per-frame copies or a batch*time reshape, BatchNorm is folded away,
LSTMs become an LSTM op or a Loop. The loader finds the logical layers again
(onnx_groups), writes them in Keras' vocabulary with channels-last shapes
(onnx_layers, onnx_build) and hands them to the same analysis as a Keras file,
with the parameter count taken from the initialisers each layer uses.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import onnx
import onnx.inliner
from google.protobuf.message import DecodeError

from ..errors import InputError
from ..ir import LoadedModel
from .onnx_build import Builder
from .onnx_graph import OnnxGraph, subgraphs
from .onnx_groups import Grouper

MAX_NODES = 2_000_000
SMALL_EXTERNAL = 4096        # integer constants (shapes, axes) up to this size are read from external files
STRIP_ELEMENTS = 1 << 16     # larger initialisers keep only their dims (all the analysis needs)
INDEX_TYPES = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)


def load_onnx(path: Path) -> LoadedModel:
    path = Path(path)
    return _loaded(read_model(path), str(path))


def load_onnx_proto(model: onnx.ModelProto | bytes, name: str) -> LoadedModel:
    """An in-memory ONNX model (a ModelProto or its serialised bytes), e.g. a live torch.onnx export.

    `name` stands for the path in messages and reports. Weights must be inside the proto."""
    if isinstance(model, (bytes, bytearray)):
        try:
            model = onnx.load_from_string(bytes(model))
        except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as error:
            reason = (str(error).splitlines() or [type(error).__name__])[0]
            raise InputError(f"{name}: not a readable ONNX model ({reason})") from None
    else:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # the caller's proto is never changed
        model = copy
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _all_tensors(model.graph)):
        raise InputError(f"{name}: an in-memory ONNX model must hold its weights (no external data)")
    return _loaded(_checked(model, name), name)


def _loaded(model: onnx.ModelProto, where: str) -> LoadedModel:
    batch = fix_batch(model)
    try:
        view = OnnxGraph(infer_shapes(model), batch)
        grouper = Grouper(view)
        groups = grouper.run()
        builder = Builder(view, grouper)
        graph = builder.build()
    except InputError as error:
        raise InputError(f"{where}: {error}") from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), "?")
    version = model.producer_version if model.producer_version not in ("", "None") else ""
    producer = f"{model.producer_name} {version}".strip() or "an unnamed producer"
    layers = sum(1 for spec in graph.layers if spec.class_name != "InputLayer")
    notes = [f"read from ONNX ({producer}, opset {opset}): {len(model.graph.node):,} nodes recovered as "
             f"{layers} layers; parameters are the initializer values each layer uses", *builder.notes]
    unrolled = [g for g in groups if g.copies > 1]
    if unrolled:
        notes.append(f"{sum(g.copies for g in unrolled):,} per-frame node copies (unrolled by the exporter) "
                     f"grouped into {len(unrolled)} layers")
    return LoadedModel(graph=graph, path=where, format="onnx", notes=tuple(notes), dropout_visible=False)


# ---- reading -----------------------------------------------------------------

def read_model(path: Path) -> onnx.ModelProto:
    """Parse the protobuf without external weights; check it is a graph we can read."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise InputError(f"{path}: not a readable ONNX model ({reason})") from None
    check_external_data(model, path)
    return _checked(model, str(path))


def _checked(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """Check it is a graph we can read; inline local functions; drop large weight values."""
    graph = model.graph
    if not model.HasField("graph") or not graph.node:
        raise InputError(f"{path}: the ONNX model has no graph nodes")
    initializers = {t.name for t in graph.initializer}
    if not any(i.name not in initializers for i in graph.input):
        raise InputError(f"{path}: the ONNX graph has no inputs")
    nodes = count_nodes(graph)
    if nodes > MAX_NODES:
        raise InputError(f"{path}: the ONNX graph has over {MAX_NODES:,} nodes (limit {MAX_NODES:,})")
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    for tensor in graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL and np.prod(tensor.dims) > STRIP_ELEMENTS:
            for field in ("raw_data", "float_data", "double_data", "int32_data", "int64_data"):
                tensor.ClearField(field)
    return model


def count_nodes(graph: onnx.GraphProto) -> int:
    """Nodes in the graph and all its subgraphs; stops counting past the limit."""
    total, stack = 0, [graph]
    while stack and total <= MAX_NODES:
        current = stack.pop()
        total += len(current.node)
        for node in current.node:
            stack.extend(subgraphs(node))
    return total


def _all_tensors(graph: onnx.GraphProto):
    stack = [graph]
    while stack:
        current = stack.pop()
        yield from current.initializer
        for sparse in current.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in current.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t
                yield from attr.tensors
            stack.extend(subgraphs(node))


def check_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Every external-data file must lie inside the model's folder and hold the bytes it should."""
    folder = path.resolve().parent
    sizes: dict[Path, int] = {}
    for tensor in _all_tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        target = _external_file(path, folder, info.get("location", ""), tensor.name)
        if target not in sizes:
            if not target.is_file():
                raise InputError(f"{path}: external data file {info['location']!r} of tensor "
                                 f"{tensor.name!r} is missing")
            sizes[target] = target.stat().st_size
        offset, length = _int(info.get("offset", "0"), path), _int(info.get("length", "-1"), path)
        if length < 0:
            itemsize = _itemsize(tensor.data_type)
            length = int(np.prod(tensor.dims)) * itemsize if itemsize else 0
        if offset + length > sizes[target]:
            raise InputError(f"{path}: external data file {info['location']!r} is too short for tensor "
                             f"{tensor.name!r} ({offset + length:,} bytes needed, {sizes[target]:,} there)")
        if tensor.data_type in INDEX_TYPES and np.prod(tensor.dims) <= SMALL_EXTERNAL:
            with target.open("rb") as handle:
                handle.seek(offset)
                tensor.raw_data = handle.read(length)
            del tensor.external_data[:]
            tensor.data_location = onnx.TensorProto.DEFAULT


def _external_file(path: Path, folder: Path, location: str, tensor: str) -> Path:
    if not location:
        raise InputError(f"{path}: tensor {tensor!r} has external data without a location")
    posix = PurePosixPath(location.replace("\\", "/"))
    if posix.is_absolute() or PureWindowsPath(location).is_absolute() or PureWindowsPath(location).drive:
        raise InputError(f"{path}: external data location {location!r} is an absolute path; "
                         "only files inside the model's folder are read")
    if ".." in posix.parts:
        raise InputError(f"{path}: external data location {location!r} contains '..'; "
                         "only files inside the model's folder are read")
    target = (folder / posix).resolve()
    if not target.is_relative_to(folder):
        raise InputError(f"{path}: external data location {location!r} resolves outside the model's folder")
    return target


def _int(text: str, path: Path) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{path}: bad external data offset or length {text!r}") from None


def _itemsize(data_type: int) -> int:
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        return 0


# ---- shapes ------------------------------------------------------------------

def fix_batch(model: onnx.ModelProto) -> int:
    """Give the inputs a concrete batch size (1 where it is symbolic) so every shape is per sample."""
    initializers = {t.name for t in model.graph.initializer}
    batch = None
    for info in model.graph.input:
        dims = info.type.tensor_type.shape.dim if info.type.HasField("tensor_type") else []
        if info.name in initializers or not dims:
            continue
        if not dims[0].HasField("dim_value") or dims[0].dim_value <= 0:
            dims[0].Clear()
            dims[0].dim_value = 1
        batch = batch or dims[0].dim_value
    return batch or 1


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX shape inference (with constant propagation for shape tensors) from the fixed inputs.

    The file's own value_info is set aside first (its symbolic dims would
    clash with the fixed batch) and fills in only what inference leaves out.
    """
    declared = list(model.graph.value_info)
    del model.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError):
        inferred = model
    known = {info.name for info in inferred.graph.value_info}
    inferred.graph.value_info.extend(info for info in declared if info.name not in known)
    return inferred
