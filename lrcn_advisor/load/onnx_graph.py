"""A read-only view of an ONNX graph: node order, tensor shapes and constants.

Nothing is executed. A tensor is *constant* when it is an initialiser, a
Constant node's value, a Shape/Size result, or computed from constants only;
everything else is *data* that flows from the model inputs.
"""
from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from ..errors import InputError
from . import onnx_wire

if TYPE_CHECKING:
    import onnx

SHAPE_OPS = {"Shape", "Size"}
# Inputs that carry the values (not indices, shapes or axes) when tracing weights to initialisers.
VALUE_SLOTS = {op: (0,) for op in (
    "Slice", "Reshape", "Gather", "Squeeze", "Unsqueeze", "Expand", "Tile", "Pad", "Split", "Transpose",
    "Cast", "CastLike", "Identity", "DequantizeLinear", "Flatten", "ReverseSequence")}
INDEX_TYPES = {onnx_wire.T_INT64, onnx_wire.T_INT32, onnx_wire.T_BOOL}
# AttributeProto types left out of attributes(): graphs, tensors, sparse tensors
NOT_PLAIN = {onnx_wire.GRAPH, onnx_wire.GRAPHS, onnx_wire.TENSOR, onnx_wire.TENSORS, onnx_wire.SPARSE_TENSOR}
MAX_VALUE_ELEMENTS = 1 << 16

Shape = tuple  # of int | None, batch first


def subgraphs(node: onnx.NodeProto):
    for attr in node.attribute:
        if attr.type == onnx_wire.GRAPH:
            yield attr.g
        elif attr.type == onnx_wire.GRAPHS:
            yield from attr.graphs


def defined_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    names |= {t.values.name for t in graph.sparse_initializer}
    names.update(o for n in graph.node for o in n.output if o)
    return names


def outer_refs(graph: onnx.GraphProto) -> list[str]:
    """Names a (sub)graph uses without defining them: values of the enclosing scopes."""
    defined = defined_names(graph)
    refs: dict[str, None] = {}
    for node in graph.node:
        for name in node.input:
            if name and name not in defined:
                refs[name] = None
        for sub in subgraphs(node):
            refs.update((name, None) for name in outer_refs(sub) if name not in defined)
    return list(refs)


def node_label(node: onnx.NodeProto) -> str:
    return f"{node.name or '(unnamed)'!r} ({node.op_type})"


def attributes(node: onnx.NodeProto) -> dict:
    """Plain attribute values; subgraphs and tensors are left out."""
    values = {}
    for attr in node.attribute:
        if attr.type not in NOT_PLAIN:
            value = _attribute_value(attr)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            elif isinstance(value, list):
                value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
            values[attr.name] = value
    return values


def _attribute_value(attr):
    if isinstance(attr, onnx_wire.Attribute):  # read by the fast path: plain types only
        return {onnx_wire.FLOAT: attr.f, onnx_wire.INT: attr.i, onnx_wire.STRING: attr.s,
                onnx_wire.FLOATS: attr.floats, onnx_wire.INTS: attr.ints,
                onnx_wire.STRINGS: attr.strings}[attr.type]
    import onnx

    return onnx.helper.get_attribute_value(attr)


def attributes_key(node: onnx.NodeProto):
    """A hashable key of a node's attributes (nodes with subgraphs never compare equal)."""
    if any(True for _ in subgraphs(node)):
        return ("node", id(node))
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in attributes(node).items()))


def _tensor_dims_shape(tensor: onnx.TensorProto) -> Shape:
    return tuple(int(d) for d in tensor.dims)


def _value_info_shape(info: onnx.ValueInfoProto) -> Shape | None:
    kind = info.type.WhichOneof("value")
    if kind != "tensor_type" or not info.type.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in info.type.tensor_type.shape.dim)


def graph_shapes(graph: onnx.GraphProto) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for info in [*graph.input, *graph.output, *graph.value_info]:
        shape = _value_info_shape(info)
        if shape is not None:
            shapes[info.name] = shape
    for tensor in graph.initializer:
        shapes[tensor.name] = _tensor_dims_shape(tensor)
    return shapes


def topological_order(graph: onnx.GraphProto, refs: dict[int, list[str]],
                      outer: frozenset[str] = frozenset()) -> list[int]:
    """Indices of graph.node in dependency order; InputError on a cycle or an undefined tensor.

    `refs` adds the outer-scope names each node's subgraphs use; `outer` are names
    the enclosing graphs define (for a subgraph).
    """
    nodes = graph.node
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | outer
    available |= {t.values.name for t in graph.sparse_initializer}
    producer: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.output:
            if not name:
                continue
            if name in producer or name in available:
                raise InputError(f"tensor {name!r} is defined twice (again by node {node_label(node)})")
            producer[name] = index
    waiting = [0] * len(nodes)
    users: list[list[int]] = [[] for _ in nodes]
    for index, node in enumerate(nodes):
        deps = set()
        for name in [*node.input, *refs.get(index, ())]:
            if not name or name in available:
                continue
            source = producer.get(name)
            if source is None:
                raise InputError(f"node {node_label(node)} uses tensor {name!r}, which no node, "
                                 "input or initializer defines")
            deps.add(source)
        waiting[index] = len(deps)
        for dep in deps:
            users[dep].append(index)
    ready = deque(i for i, n in enumerate(waiting) if n == 0)
    order = []
    while ready:
        index = ready.popleft()
        order.append(index)
        for user in users[index]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    if len(order) != len(nodes):
        stuck = [node_label(nodes[i]) for i, n in enumerate(waiting) if n > 0][:3]
        raise InputError(f"the ONNX graph has a cycle through {', '.join(stuck)}")
    return order


class OnnxGraph:
    """The main graph of a model, in dependency order, with shapes and constants."""

    def __init__(self, model: onnx.ModelProto, batch: int, shapes: dict[str, Shape] | None = None):
        graph = model.graph
        self.model = model
        self.graph = graph
        self.batch = batch
        self.initializers = {t.name: t for t in graph.initializer}
        self.sparse = {t.values.name: tuple(t.dims) for t in graph.sparse_initializer}
        self.inputs = [i for i in graph.input if i.name not in self.initializers and i.name not in self.sparse]
        self.shapes = {**self.sparse, **(graph_shapes(graph) if shapes is None else shapes)}
        nodes = list(graph.node)  # one Python object per node, so id() below is stable
        refs = {i: outer_refs_of(node) for i, node in enumerate(nodes) if any(True for _ in subgraphs(node))}
        self.order = [nodes[i] for i in topological_order(graph, refs)]
        self.implicit = {id(nodes[i]): names for i, names in refs.items()}
        self.producer = {o: node for node in nodes for o in node.output if o}
        self.constant_values = {node.output[0]: node for node in nodes if node.op_type == "Constant" and node.output}
        self.const: set[str] = set(self.initializers) | set(self.sparse)
        for node in self.order:
            if node.op_type in SHAPE_OPS or all(not t or t in self.const for t in self.inputs_of(node)):
                self.const.update(o for o in node.output if o)
        self._sources: dict[str, tuple[str, ...]] = {}

    def inputs_of(self, node: onnx.NodeProto) -> list[str]:
        """Explicit inputs plus the outer-scope names its subgraphs use."""
        extra = self.implicit.get(id(node))
        return [*node.input, *extra] if extra else list(node.input)

    def is_const(self, name: str) -> bool:
        return name in self.const

    def shape(self, name: str) -> Shape | None:
        return self.shapes.get(name)

    def per_sample(self, name: str) -> int | None:
        """Elements of a data tensor per sample (the batch size divided out), when known."""
        shape = self.shapes.get(name)
        if shape is None or None in shape:
            return None
        total = math.prod(shape)
        return total // self.batch if total % self.batch == 0 else None

    def sources(self, name: str) -> tuple[str, ...]:
        """The initialisers and Constant values a constant tensor is computed from (its values only)."""
        if name in self._sources:
            return self._sources[name]
        found: dict[str, None] = {}
        stack, seen = [name], set()
        while stack:
            current = stack.pop()
            if current in seen or not current:
                continue
            seen.add(current)
            if current in self.initializers or current in self.constant_values or current in self.sparse:
                found[current] = None
                continue
            node = self.producer.get(current)
            if node is None or node.op_type in SHAPE_OPS:
                continue
            slots = VALUE_SLOTS.get(node.op_type)
            inputs = [node.input[i] for i in slots if i < len(node.input)] if slots else list(node.input)
            stack.extend(reversed(inputs))
        result = tuple(name for name in found if self.elements(name) and not self._is_index(name))
        self._sources[name] = result
        return result

    def _tensor(self, name: str) -> onnx.TensorProto | None:
        if name in self.initializers:
            return self.initializers[name]
        node = self.constant_values.get(name)
        if node is not None:
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx_wire.TENSOR:
                    return attr.t
        return None

    def _is_index(self, name: str) -> bool:
        tensor = self._tensor(name)
        return tensor is not None and tensor.data_type in INDEX_TYPES

    def elements(self, name: str) -> int | None:
        """Element count of an initialiser or Constant value (a sparse one counts as dense)."""
        if name in self.sparse:
            return math.prod(self.sparse[name])
        tensor = self._tensor(name)
        if tensor is not None:
            return math.prod(tensor.dims)
        node = self.constant_values.get(name)
        if node is None:
            return None
        for attr in node.attribute:
            if attr.name in ("value_float", "value_int"):
                return 1
            if attr.name in ("value_floats", "value_ints"):
                return len(attr.floats) or len(attr.ints)
        return None

    def value(self, name: str):
        """The value of a small constant stored in the file (never external data): a numpy array, or a
        ConstValue when the fast reader read the file."""
        tensor = self._tensor(name)
        if tensor is not None:
            if tensor.data_location == onnx_wire.EXTERNAL or math.prod(tensor.dims) > MAX_VALUE_ELEMENTS:
                return None
            if isinstance(tensor, onnx_wire.WireTensor):
                items = tensor.values()
                if items is None:  # a type or layout the fast reader does not decode: onnx's path reads it
                    raise onnx_wire.Decline(f"constant {name!r} not decoded")
                return onnx_wire.ConstValue(items, tuple(tensor.dims))
            from onnx import numpy_helper

            return numpy_helper.to_array(tensor)
        node = self.constant_values.get(name)
        if node is None:
            return None
        for attr in node.attribute:
            if attr.name in ("value_int", "value_ints", "value_float", "value_floats"):
                if isinstance(attr, onnx_wire.Attribute):
                    scalar = attr.name in ("value_int", "value_float")
                    items = [_attribute_value(attr)] if scalar else list(_attribute_value(attr))
                    return onnx_wire.ConstValue(items, () if scalar else (len(items),))
                import numpy as np
                import onnx

                return np.array(onnx.helper.get_attribute_value(attr))
        return None

    def value_through(self, name: str):
        """Like value(), looking through Identity/Cast nodes."""
        node = self.producer.get(name)
        while node is not None and node.op_type in ("Identity", "Cast") and node.input:
            name = node.input[0]
            node = self.producer.get(name)
        return self.value(name)


def outer_refs_of(node: onnx.NodeProto) -> list[str]:
    names: dict[str, None] = {}
    for sub in subgraphs(node):
        names.update((name, None) for name in outer_refs(sub))
    return list(names)
