"""ONNX files -> ModelIR: read the file as data, recover the logical layers, analyse them like Keras.

The exporters (tf2onnx, torch.onnx) rewrite a model: TimeDistributed layers
become T per-frame copies or a batch*time reshape, BatchNorm is folded away,
LSTMs become an LSTM op or a Loop. The loader finds the logical layers again
(onnx_groups), writes them in Keras' vocabulary with channels-last shapes
(onnx_layers, onnx_build) and hands them to the same analysis as a Keras file,
with the parameter count taken from the initialisers each layer uses.

A file is first read without onnx, numpy or protobuf (onnx_wire, onnx_infer:
several times faster to start); where that reader is not sure of something
it declines and the file is read with onnx as before.
"""
from __future__ import annotations

import math
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from ..errors import InputError
from ..ir import LoadedModel
from . import onnx_infer, onnx_wire
from .onnx_build import Builder
from .onnx_graph import OnnxGraph, subgraphs
from .onnx_groups import Grouper

if TYPE_CHECKING:
    import onnx

MAX_NODES = 60_000           # nodes after inlining local functions, subgraphs included
MAX_NAME_CHARS = 1024        # node, tensor, function and op names
MAX_DIM = 2**40              # a tensor dimension; the element count is capped at MAX_ELEMENTS
MAX_ELEMENTS = 2**48
SMALL_EXTERNAL = 4096        # integer constants (shapes, axes) up to this size are read from external files
STRIP_ELEMENTS = 1 << 16     # larger initialisers keep only their dims (all the analysis needs)
INDEX_TYPES = (onnx_wire.T_INT64, onnx_wire.T_INT32)


def load_onnx(path: Path) -> LoadedModel:
    path = Path(path)
    fast = load_onnx_fast(path)
    if fast is not None:
        return fast
    return _loaded(read_model(path), str(path))


def load_onnx_fast(path: Path) -> LoadedModel | None:
    """The model read without onnx (onnx_wire, onnx_infer), or None where that reader declines: then
    read_model and onnx's shape inference read it (and give the messages on a bad file)."""
    try:
        if path.stat().st_size > 1 << 31:
            return None
        model = onnx_wire.read(path.read_bytes(), MAX_NODES + 1)
        graph = model.graph
        initializers = {t.name for t in graph.initializer}
        if not graph.node or not any(i.name not in initializers for i in graph.input):
            return None
        check_tensors(model, path)
        check_external_data(model, path)
        if count_nodes(graph) > MAX_NODES:
            return None
        batch = _fix_batch_fast(model)
        shapes = _shapes_fast(model, onnx_infer.infer(model))
        return _analysed(model, OnnxGraph(model, batch, shapes), str(path))
    except Exception:  # noqa: BLE001 - anything the fast reader is unsure of is read again with onnx
        return None


def _fix_batch_fast(model: onnx_wire.Model) -> int:
    """fix_batch on the fast reader's model."""
    initializers = {t.name for t in model.graph.initializer}
    batch = None
    for info in model.graph.input:
        if info.name in initializers or not info.dims:
            continue
        if not isinstance(info.dims[0], int) or info.dims[0] <= 0:
            info.dims[0] = 1
        batch = batch or info.dims[0]
    return batch or 1


def _declared(info: onnx_wire.ValueInfo) -> tuple | None:
    return None if info.dims is None else tuple(d if isinstance(d, int) and d > 0 else None for d in info.dims)


def _shapes_fast(model: onnx_wire.Model, inferred: dict[str, tuple]) -> dict[str, tuple]:
    """What graph_shapes gives on the model infer_shapes returns: inputs as declared, outputs merged with
    the inferred shapes, the inferred shapes, declared value_info only for the names not inferred."""
    graph = model.graph
    shapes: dict[str, tuple] = {}
    for info in graph.input:
        if (shape := _declared(info)) is not None:
            shapes[info.name] = shape
    outputs = set()
    for info in graph.output:
        outputs.add(info.name)
        shape = inferred.get(info.name)
        if shape is not None and info.dims is not None and (len(info.dims) != len(shape) or any(
                isinstance(d, int) and d != s for d, s in zip(info.dims, shape))):
            raise onnx_wire.Decline(f"output {info.name!r}: declared shape differs")
        shape = _declared(info) if shape is None else tuple(d if d > 0 else None for d in shape)
        if shape is not None:
            shapes[info.name] = shape
    for name, shape in inferred.items():
        if name not in outputs:
            shapes[name] = tuple(d if d > 0 else None for d in shape)  # as graph_shapes reads a 0
    for info in graph.value_info:
        if info.name in outputs or info.name not in inferred:
            if (shape := _declared(info)) is not None:
                shapes[info.name] = shape
    for tensor in graph.initializer:
        shapes[tensor.name] = tuple(int(d) for d in tensor.dims)
    for shape in inferred.values():
        if any(d > MAX_DIM for d in shape) or math.prod(shape) > MAX_ELEMENTS:
            raise onnx_wire.Decline("a huge tensor")
    return shapes


def load_onnx_proto(model: onnx.ModelProto | bytes, name: str) -> LoadedModel:
    """An in-memory ONNX model (a ModelProto or its serialised bytes), e.g. a live torch.onnx export.

    `name` stands for the path in messages and reports. Weights must be inside the proto."""
    import onnx
    from google.protobuf.message import DecodeError

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
    if any(t.data_location == onnx_wire.EXTERNAL for t in _all_tensors(model.graph)):
        raise InputError(f"{name}: an in-memory ONNX model must hold its weights (no external data)")
    return _loaded(_checked(model, name), name)


def _loaded(model: onnx.ModelProto, where: str) -> LoadedModel:
    batch = fix_batch(model)
    try:
        view = OnnxGraph(infer_shapes(model), batch)
    except InputError as error:
        raise InputError(f"{where}: {error}") from None
    return _analysed(model, view, where)


def _analysed(model, view: OnnxGraph, where: str) -> LoadedModel:
    try:
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
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise InputError(f"{path}: not a readable ONNX model ({reason})") from None
    check_tensors(model, path)
    check_external_data(model, path)
    return _checked(model, str(path))


def _checked(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """Check it is a graph we can read; inline local functions; drop large weight values."""
    import onnx
    import onnx.inliner

    graph = model.graph
    if not model.HasField("graph") or not graph.node:
        raise InputError(f"{path}: the ONNX model has no graph nodes")
    initializers = {t.name for t in graph.initializer}
    if not any(i.name not in initializers for i in graph.input):
        raise InputError(f"{path}: the ONNX graph has no inputs")
    try:
        nodes = count_nodes(graph, model.functions)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
    if nodes > MAX_NODES:
        raise InputError(f"{path}: the ONNX graph has over {MAX_NODES:,} nodes once its local functions are "
                         f"inlined (limit {MAX_NODES:,})")
    if model.functions:
        try:
            model = onnx.inliner.inline_local_functions(model)
        except (onnx.checker.ValidationError, RuntimeError, ValueError) as error:
            reason = (str(error).splitlines() or [type(error).__name__])[0][:200]
            raise InputError(f"{path}: its local functions cannot be inlined ({reason})") from None
    for tensor in graph.initializer:
        if tensor.data_location != onnx_wire.EXTERNAL and math.prod(tensor.dims) > STRIP_ELEMENTS:
            for field in ("raw_data", "float_data", "double_data", "int32_data", "int64_data"):
                tensor.ClearField(field)
    return model


def count_nodes(graph: onnx.GraphProto, functions=()) -> int:
    """Nodes in the graph and all its subgraphs with local functions inlined; stops past the limit.

    A function's size is counted once and reused (so a call tree that doubles at each level costs
    nothing to count); a function that calls itself, directly or not, is refused.
    """
    bodies = {}
    for function in functions:
        for text, what in ((function.name, "function name"), (function.domain, "function domain")):
            _check_name(text, what)
        bodies[(function.domain, function.name)] = function
    sizes: dict[tuple[str, str], int] = {}
    active: list[tuple[str, str]] = []

    def size_of(nodes, depth: int) -> int:
        total = 0
        for node in nodes:
            _check_name(node.name, "node name")
            _check_name(node.op_type, "op type")
            key = (node.domain, node.op_type)
            if key in bodies:
                total += function_size(key, depth)
            else:
                total += 1
            for sub in subgraphs(node):
                total += size_of(sub.node, depth + 1)
            if total > MAX_NODES:
                return total
        return total

    def function_size(key, depth: int) -> int:
        if key in sizes:
            return sizes[key]
        if key in active:
            cycle = " -> ".join(repr(name) for _, name in [*active[active.index(key):], key])
            raise InputError(f"local function {key[1]!r} calls itself ({cycle}); recursion cannot be inlined")
        if depth > 64:
            raise InputError("local functions or subgraphs nested deeper than 64 levels")
        active.append(key)
        sizes[key] = size_of(bodies[key].node, depth + 1)
        active.pop()
        return sizes[key]

    total = size_of(graph.node, 0)
    for key in bodies:  # the inliner refuses recursion in any local function, called or not
        if total <= MAX_NODES:
            function_size(key, 0)
    return total


def _check_name(text: str, what: str) -> None:
    if len(text) > MAX_NAME_CHARS:
        raise InputError(f"{what} {text[:40]!r}... is {len(text):,} characters long (limit {MAX_NAME_CHARS:,})")


def check_tensors(model: onnx.ModelProto, path: Path) -> None:
    """Every stored tensor has dimensions in [0, MAX_DIM] and at most MAX_ELEMENTS elements; names are bounded."""
    for info in [*model.graph.input, *model.graph.output]:
        _check_name(info.name, "graph input/output name")
    for tensor in _all_tensors(model.graph):
        _check_name(tensor.name, "tensor name")
        dims = list(tensor.dims)
        bad = next((d for d in dims if not 0 <= d <= MAX_DIM), None)
        if bad is not None:
            raise InputError(f"{path}: tensor {tensor.name!r} has dims {dims[:8]}: dimension {bad:,} is out of "
                             f"range (0 to {MAX_DIM:,})")
        if math.prod(dims) > MAX_ELEMENTS:
            raise InputError(f"{path}: tensor {tensor.name!r} has dims {dims[:8]}: {math.prod(dims):,} elements "
                             f"(limit {MAX_ELEMENTS:,})")


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
                if attr.type == onnx_wire.TENSOR:
                    yield attr.t
                yield from attr.tensors
            stack.extend(subgraphs(node))


def check_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Every external-data file must lie inside the model's folder and hold the bytes it should."""
    folder = path.resolve().parent
    sizes: dict[Path, int] = {}
    for tensor in _all_tensors(model.graph):
        if tensor.data_location != onnx_wire.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        target = _external_file(path, folder, info.get("location", ""), tensor.name)
        if target not in sizes:
            if not target.is_file():
                raise InputError(f"{path}: external data file {info['location']!r} of tensor "
                                 f"{tensor.name!r} is missing")
            sizes[target] = target.stat().st_size
        offset = _int(info.get("offset", "0"), "offset", tensor.name, path)
        length = _int(info.get("length", "-1"), "length", tensor.name, path, allow_unset=True)
        if length < 0:
            itemsize = _itemsize(tensor.data_type)
            length = math.prod(tensor.dims) * itemsize if itemsize else 0
        if offset + length > sizes[target]:
            raise InputError(f"{path}: external data file {info['location']!r} is too short for tensor "
                             f"{tensor.name!r} ({offset + length:,} bytes needed, {sizes[target]:,} there)")
        if tensor.data_type in INDEX_TYPES and math.prod(tensor.dims) <= SMALL_EXTERNAL:
            with target.open("rb") as handle:
                handle.seek(offset)
                data = handle.read(length)
            if isinstance(tensor, onnx_wire.WireTensor):
                tensor.inline(data)
                continue
            tensor.raw_data = data
            del tensor.external_data[:]
            tensor.data_location = onnx_wire.DEFAULT


def _external_file(path: Path, folder: Path, location: str, tensor: str) -> Path:
    if not location:
        raise InputError(f"{path}: tensor {tensor!r} has external data without a location")
    if "\0" in location:
        raise InputError(f"{path}: external data location {location!r} of tensor {tensor!r} contains a NUL "
                         "character")
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


def _int(text: str, field: str, tensor: str, path: Path, allow_unset: bool = False) -> int:
    """An external-data offset or length: a decimal integer in [0, 2**62] (length may be -1, unset)."""
    try:
        value = int(text) if len(text) <= 20 else None
    except ValueError:
        value = None
    if value is None or not (0 <= value <= 2**62 or (allow_unset and value == -1)):
        raise InputError(f"{path}: external data {field} {text[:40]!r} of tensor {tensor!r} is not an integer "
                         f"from 0 to 2**62")
    return value


def _itemsize(data_type: int) -> int:
    if data_type in onnx_wire.RAW_FORMATS:  # the common types, without numpy
        return onnx_wire.RAW_FORMATS[data_type][1]
    import numpy as np
    import onnx

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
    import onnx

    declared = list(model.graph.value_info)
    del model.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError):
        inferred = model
    known = {info.name for info in inferred.graph.value_info}
    inferred.graph.value_info.extend(info for info in declared if info.name not in known)
    return inferred
