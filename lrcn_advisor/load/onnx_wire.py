"""A pure-Python reader of the ONNX protobuf wire format, for the part of the schema the loader reads.

It imports neither onnx, numpy nor protobuf (a cold start is several times
faster). The objects it returns carry the attribute names of the onnx
protos the loader uses, so the same code reads both. Anything outside the
subset (subgraphs, local functions, sparse or external tensors, odd types)
raises Decline: the caller then reads the file with onnx instead.
Large tensor payloads are never copied: a tensor keeps where its values lie.
"""
from __future__ import annotations

import math
import struct

# AttributeProto.AttributeType and TensorProto.DataType numbers (onnx.proto)
FLOAT, INT, STRING, TENSOR, GRAPH, FLOATS, INTS, STRINGS, TENSORS, GRAPHS, SPARSE_TENSOR = range(1, 12)
DEFAULT, EXTERNAL = 0, 1  # TensorProto.DataLocation
PLAIN_ATTRIBUTES = {FLOAT, INT, STRING, TENSOR, FLOATS, INTS, STRINGS}
T_FLOAT, T_UINT8, T_INT8, T_UINT16, T_INT16, T_INT32, T_INT64 = 1, 2, 3, 4, 5, 6, 7
T_BOOL, T_DOUBLE, T_UINT32, T_UINT64 = 9, 11, 12, 13
# data type -> (struct code, item size) of raw_data values decoded here
RAW_FORMATS = {T_FLOAT: ("f", 4), T_UINT8: ("B", 1), T_INT8: ("b", 1), T_UINT16: ("H", 2), T_INT16: ("h", 2),
               T_INT32: ("i", 4), T_INT64: ("q", 8), T_BOOL: ("?", 1), T_DOUBLE: ("d", 8),
               T_UINT32: ("I", 4), T_UINT64: ("Q", 8)}
INT32_DATA_TYPES = {T_INT32, T_INT16, T_INT8, T_UINT16, T_UINT8, T_BOOL}
MAX_DECODED = 1 << 16  # values of a tensor decoded at most (larger ones keep only their dims)


class Decline(Exception):
    """The file is outside what the fast reader handles (or not valid protobuf): read it with onnx."""


# ---- wire primitives ---------------------------------------------------------------

def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise Decline("bad varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >= 1 << 64:
                raise Decline("varint overflow")
            return result, pos
        shift += 7


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(buf, pos: int, end: int):
    """(field number, wire type, value) of a message: an int for varint/fixed, (start, end) for bytes."""
    while pos < end:
        key = buf[pos]
        if key < 0x80:  # most keys and lengths are one byte: no call
            pos += 1
        else:
            key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0 or number >= 1 << 29:
            raise Decline(f"field number {number} out of range")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 2:
            if pos < end and buf[pos] < 0x80:
                length, pos = buf[pos], pos + 1
            else:
                length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise Decline("length past the end")
            value, pos = (pos, pos + length), pos + length
        elif wire == 5:
            if pos + 4 > end:
                raise Decline("truncated fixed32")
            value, pos = pos, pos + 4
        elif wire == 1:
            if pos + 8 > end:
                raise Decline("truncated fixed64")
            value, pos = pos, pos + 8
        else:
            raise Decline(f"wire type {wire}")
        yield number, wire, value


def _text(buf, span) -> str:
    if not isinstance(span, tuple):
        raise Decline("string field with a scalar wire type")
    try:
        return bytes(buf[span[0]:span[1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise Decline("invalid UTF-8") from None


def _span(value) -> tuple[int, int]:
    if not isinstance(value, tuple):
        raise Decline("message field with a scalar wire type")
    return value


def _int(wire: int, value) -> int:
    if wire != 0:
        raise Decline("integer field with a non-varint wire type")
    return _signed(value)


def _ints(buf, wire: int, value, into: list) -> None:
    """A repeated int64/int32 field, packed or not."""
    if wire == 0:
        into.append(_signed(value))
    elif wire == 2:
        pos, end = value
        while pos < end:
            item, pos = _varint(buf, pos, end)
            into.append(_signed(item))
    else:
        raise Decline("repeated integer with a fixed wire type")


def _fixed(buf, wire: int, value, code: str, into: list) -> None:
    """A repeated float (code f, wire 5) or double (code d, wire 1) field, packed or not."""
    size = 4 if code == "f" else 8
    if wire == (5 if size == 4 else 1):
        into.append(struct.unpack_from("<" + code, buf, value)[0])
    elif wire == 2:
        start, end = value
        if (end - start) % size:
            raise Decline("packed floats of a bad length")
        into.extend(struct.unpack_from(f"<{(end - start) // size}{code}", buf, start))
    else:
        raise Decline("float field with a bad wire type")


class _Once:
    """Singular message fields may appear once (protobuf would merge repeats)."""

    def __init__(self):
        self.seen = set()

    def __call__(self, number: int) -> None:
        if number in self.seen:
            raise Decline(f"message field {number} repeated")
        self.seen.add(number)


# ---- messages -------------------------------------------------------------------

class Entry:
    __slots__ = ("key", "value")

    def __init__(self, buf, span):
        self.key = self.value = ""
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                self.key = _text(buf, value)
            elif number == 2:
                self.value = _text(buf, value)


class OperatorSet:
    __slots__ = ("domain", "version")

    def __init__(self, buf, span):
        self.domain, self.version = "", 0
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                self.domain = _text(buf, value)
            elif number == 2:
                self.version = _int(wire, value)


class WireTensor:
    """A TensorProto: dims, type and name; values decoded on demand (small tensors only)."""
    __slots__ = ("name", "dims", "data_type", "data_location", "external_data", "_buf", "_raw", "_packed",
                 "_items")

    def __init__(self, buf, span):
        self.name, self.dims, self.data_type, self.data_location = "", [], 0, 0
        self.external_data: list[Entry] = []
        self._buf, self._raw = buf, None
        self._packed: list[tuple[int, int, object]] = []  # (field, wire, value) of float/int/double data
        self._items = None
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                _ints(buf, wire, value, self.dims)
            elif number == 2:
                self.data_type = _int(wire, value)
            elif number == 8:
                self.name = _text(buf, value)
            elif number == 9:
                self._raw = _span(value)
            elif number in (4, 5, 7, 10, 11):
                self._packed.append((number, wire, value))
            elif number in (3, 6):  # segment, string_data
                raise Decline("segmented or string tensor")
            elif number == 13:
                self.external_data.append(Entry(buf, value))
            elif number == 14:
                self.data_location = _int(wire, value)
                if self.data_location not in (0, 1):
                    raise Decline(f"data location {self.data_location}")
        if bool(self.external_data) != (self.data_location == EXTERNAL):
            raise Decline("external data without its location, or the reverse")

    def inline(self, data: bytes) -> None:
        """Hold `data` (read from an external file) as its raw values, as a stored tensor would."""
        self._buf, self._raw, self._packed, self._items = memoryview(data), (0, len(data)), [], None
        self.external_data, self.data_location = [], DEFAULT

    def values(self) -> list | None:
        """The flat values (Python numbers), or None when too large, external or of a type not decoded here."""
        if self._items is not None:
            return self._items
        if self.data_location != DEFAULT:
            return None
        count = math.prod(self.dims)
        if count > MAX_DECODED or self.data_type not in RAW_FORMATS:
            return None
        buf = self._buf
        if self._raw is not None:
            start, end = self._raw
            code, size = RAW_FORMATS[self.data_type]
            if end - start != count * size:
                return None
            items = list(struct.unpack_from(f"<{count}{code}", buf, start)) if count else []
        else:
            items = []
            for number, wire, value in self._packed:
                if number == 4 and self.data_type == T_FLOAT:
                    _fixed(buf, wire, value, "f", items)
                elif number == 10 and self.data_type == T_DOUBLE:
                    _fixed(buf, wire, value, "d", items)
                elif number == 7 and self.data_type == T_INT64:
                    _ints(buf, wire, value, items)
                elif number == 5 and self.data_type in INT32_DATA_TYPES:
                    _ints(buf, wire, value, items)
                elif number == 11 and self.data_type in (T_UINT32, T_UINT64):
                    unsigned: list[int] = []
                    _ints(buf, wire, value, unsigned)
                    items.extend(v & 0xFFFF_FFFF_FFFF_FFFF for v in unsigned)
                else:
                    return None
            if len(items) != count:
                return None
            if self.data_type == T_BOOL:
                items = [bool(v) for v in items]
        self._items = items
        return items


class Attribute:
    __slots__ = ("name", "type", "f", "i", "s", "t", "floats", "ints", "strings", "tensors", "g", "graphs")

    def __init__(self, buf, span):
        self.name, self.type, self.f, self.i, self.s, self.t = "", 0, 0.0, 0, b"", None
        self.floats, self.ints, self.strings, self.tensors = [], [], [], []
        self.g, self.graphs = None, ()
        once = _Once()
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                self.name = _text(buf, value)
            elif number == 20:
                self.type = _int(wire, value)
            elif number == 2:
                if wire != 5:
                    raise Decline("float attribute with a bad wire type")
                self.f = struct.unpack_from("<f", buf, value)[0]
            elif number == 3:
                self.i = _int(wire, value)
            elif number == 4:
                self.s = bytes(buf[slice(*_span(value))])
            elif number == 5:
                once(number)
                self.t = WireTensor(buf, value)
            elif number == 7:
                _fixed(buf, wire, value, "f", self.floats)
            elif number == 8:
                _ints(buf, wire, value, self.ints)
            elif number == 9:
                self.strings.append(bytes(buf[slice(*_span(value))]))
            elif number == 10:
                self.tensors.append(WireTensor(buf, value))
            elif number in (6, 11, 14, 15, 21, 22, 23):
                raise Decline("subgraph, sparse, type or reference attribute")
        if self.type not in PLAIN_ATTRIBUTES:
            raise Decline(f"attribute type {self.type}")


class Node:
    __slots__ = ("input", "output", "name", "op_type", "domain", "attribute", "metadata_props")

    def __init__(self, buf, span):
        self.input, self.output, self.attribute, self.metadata_props = [], [], [], []
        self.name = self.op_type = self.domain = ""
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                self.input.append(_text(buf, value))
            elif number == 2:
                self.output.append(_text(buf, value))
            elif number == 3:
                self.name = _text(buf, value)
            elif number == 4:
                self.op_type = _text(buf, value)
            elif number == 7:
                self.domain = _text(buf, value)
            elif number == 5:
                self.attribute.append(Attribute(buf, value))
            elif number == 9:
                self.metadata_props.append(Entry(buf, value))
            elif number == 8:
                if _text(buf, value):
                    raise Decline("function overload")


class ValueInfo:
    """A ValueInfoProto of a tensor: name, element type and dims (int, str for a dim_param, None)."""
    __slots__ = ("name", "elem_type", "dims")

    def __init__(self, buf, span):
        self.name, self.elem_type, self.dims = "", 0, None
        once = _Once()
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                self.name = _text(buf, value)
            elif number == 2:
                once(number)
                self._type(buf, value)

    def _type(self, buf, span) -> None:
        once = _Once()
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                once(number)
                self._tensor(buf, value)
            elif number in (4, 5, 7, 8, 9):
                raise Decline("a value that is not a tensor")

    def _tensor(self, buf, span) -> None:
        once = _Once()
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                self.elem_type = _int(wire, value)
            elif number == 2:
                once(number)
                self.dims = []
                for field, _, dim in _fields(buf, *_span(value)):
                    if field == 1:
                        self.dims.append(_dim(buf, dim))


def _dim(buf, span):
    result = None
    for number, wire, value in _fields(buf, *_span(span)):
        if number == 1:
            result = _int(wire, value)
        elif number == 2:
            result = _text(buf, value)
    return result


class Graph:
    __slots__ = ("name", "node", "initializer", "sparse_initializer", "input", "output", "value_info")

    def __init__(self, buf, span, max_nodes: int):
        self.name, self.sparse_initializer = "", ()
        self.node, self.initializer, self.input, self.output, self.value_info = [], [], [], [], []
        count = 0
        for number, _, _ in _fields(buf, *_span(span)):  # counted first: a huge graph costs one quick pass
            count += number == 1
            if count > max_nodes:
                raise Decline("too many nodes")
        for number, wire, value in _fields(buf, *_span(span)):
            if number == 1:
                self.node.append(Node(buf, value))
            elif number == 2:
                self.name = _text(buf, value)
            elif number == 5:
                self.initializer.append(WireTensor(buf, value))
            elif number == 11:
                self.input.append(ValueInfo(buf, value))
            elif number == 12:
                self.output.append(ValueInfo(buf, value))
            elif number == 13:
                self.value_info.append(ValueInfo(buf, value))
            elif number == 15:
                raise Decline("sparse initializer")


class Model:
    __slots__ = ("ir_version", "producer_name", "producer_version", "graph", "opset_import", "functions")

    def __init__(self, buf, max_nodes: int):
        self.ir_version, self.producer_name, self.producer_version = 0, "", ""
        self.graph, self.opset_import, self.functions = None, [], ()
        once = _Once()
        for number, wire, value in _fields(buf, 0, len(buf)):
            if number == 1:
                self.ir_version = _int(wire, value)
            elif number == 2:
                self.producer_name = _text(buf, value)
            elif number == 3:
                self.producer_version = _text(buf, value)
            elif number == 7:
                once(number)
                self.graph = Graph(buf, value, max_nodes)
            elif number == 8:
                self.opset_import.append(OperatorSet(buf, value))
            elif number in (20, 25):
                raise Decline("training info or local functions")
        if self.graph is None:
            raise Decline("no graph")


def read(data: bytes, max_nodes: int) -> Model:
    """Parse a serialised ModelProto; Decline when it is outside the subset or not valid protobuf."""
    return Model(memoryview(data), max_nodes)


class ConstValue:
    """A small constant as flat Python numbers and a shape: the part of a numpy array the loader uses."""
    __slots__ = ("items", "shape")

    def __init__(self, items: list, shape: tuple):
        self.items, self.shape = list(items), tuple(shape)

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def reshape(self, *shape) -> list:
        if shape not in ((-1,), ((-1,),)):
            raise ValueError("only reshape(-1) is supported")
        return list(self.items)

    def any(self) -> bool:
        return any(self.items)

    def __getitem__(self, key) -> ConstValue:
        """value[:, a:b] of a 2-D value."""
        if self.ndim != 2 or not isinstance(key, tuple) or len(key) != 2 or key[0] != slice(None) \
                or not isinstance(key[1], slice):
            raise TypeError("only [:, a:b] of a 2-D value is supported")
        rows, cols = self.shape
        picked = range(cols)[key[1]]
        return ConstValue([self.items[r * cols + c] for r in range(rows) for c in picked], (rows, len(picked)))
