"""The root group's string attributes of an HDF5 file, read with the standard library alone.

Keras .h5 saves keep the architecture in root attributes (model_config, keras_version, ...). Reading
them here costs a few file reads instead of importing h5py and numpy. Only the layouts h5py writes
for such attributes are understood: superblock versions 0-3, object headers v1 and v2 (with
continuation blocks), compact attribute messages v1-v3 holding a scalar fixed-length or
variable-length string (the latter in a global heap collection). Anything else - dense attribute
storage, shared messages, other datatypes or dataspaces, unknown versions, a user block, an address
past the end of the file, a bad checksum, a loop - makes the reader decline (None), and the caller
asks the HDF5 library instead. Every read is bounded by the file's size and by the limits below.
"""
from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass

SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_CHUNKS = 64              # object header chunks (the first one and its continuation blocks)
MAX_MESSAGES = 4096          # header messages over all chunks
MAX_HEADER_BYTES = 1 << 20   # all chunks together (a v2 chunk's checksum costs ~0.4 s per MiB here)
MAX_HEAP_OBJECTS = 1 << 16   # objects walked in one global heap collection
HEAP_SLACK = 1 << 20         # a heap collection may hold this much beside the object wanted
HEAP_MIN_SIZE = 4096         # HDF5 refuses a smaller global heap collection

# Header message types a group's object header may hold; any other type makes the reader decline.
NIL, LINK_INFO, LINK, GROUP_INFO, ATTRIBUTE, COMMENT = 0x00, 0x02, 0x06, 0x0A, 0x0C, 0x0D
OLD_MTIME, CONTINUATION, SYMBOL_TABLE, MTIME, ATTRIBUTE_INFO, REF_COUNT = 0x0E, 0x10, 0x11, 0x12, 0x15, 0x16
GROUP_MESSAGES = {NIL, LINK_INFO, LINK, GROUP_INFO, ATTRIBUTE, COMMENT, OLD_MTIME, CONTINUATION, SYMBOL_TABLE,
                  MTIME, ATTRIBUTE_INFO, REF_COUNT}
MESSAGE_FLAGS_OK = 0x01 | 0x04   # constant, not shareable; 0x02 (shared) and the "unknown" flags decline

FIXED_STRING, VLEN = 3, 9
NULLTERM, NULLPAD = 0, 1


class Decline(Exception):
    """The file is laid out in a way this reader does not handle, or looks damaged."""


@dataclass(frozen=True)
class StringAttribute:
    """A scalar string attribute as stored: fixed-length bytes (padding kept) or a vlen heap object."""

    data: bytes
    variable: bool       # vlen string (h5py returns str) or fixed-length (h5py returns bytes)
    padding: int         # NULLTERM or NULLPAD
    storage_size: int    # what H5Aget_storage_size reports: the datatype's size for a scalar

    def as_h5py(self) -> bytes | str:
        """The value h5py's `attrs[name]` gives: bytes for a fixed-length string (trailing padding
        dropped), str for a vlen one (UTF-8, undecodable bytes kept as surrogate escapes). Text with
        a NUL inside is declined beforehand: HDF5's conversions cut it at different places."""
        if self.variable:
            return self.data.decode("utf-8", "surrogateescape")
        return self.data.rstrip(b"\0")


def root_string_attributes(path: str, names: set[str], max_bytes: int) -> dict[str, StringAttribute] | None:
    """{name: attribute} for the wanted root attributes present in the file; None when the reader
    declines (the file is then left to the HDF5 library). Never raises."""
    try:
        with _File(path) as file:
            return _read(file, {name.encode() for name in names}, max_bytes)
    except Decline:
        return None
    except Exception:  # noqa: BLE001  (any surprise in hostile bytes is a decline, never an error)
        return None


class _File:
    """Reads bounded by the file's size (and the superblock's end-of-file address, once known)."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
        status = os.fstat(self.fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(self.fd)
            raise Decline
        self.size = status.st_size
        self.offsets = self.lengths = 8
        self.header_bytes = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)

    def read(self, address: int, count: int) -> bytes:
        if address < 0 or count < 0 or address + count > self.size or address == self.undefined:
            raise Decline
        data = os.pread(self.fd, count, address)
        if len(data) != count:
            raise Decline
        return data

    @property
    def undefined(self) -> int:
        return (1 << (8 * self.offsets)) - 1


def _uint(data: bytes, at: int, width: int) -> int:
    if at + width > len(data):
        raise Decline
    return int.from_bytes(data[at:at + width], "little")


def _read(file: _File, wanted: set[bytes], max_bytes: int) -> dict[str, StringAttribute]:
    header_address = _superblock(file)
    found: dict[bytes, StringAttribute] = {}
    seen_names: set[bytes] = set()
    for kind, flags, body in _messages(file, header_address):
        if kind not in GROUP_MESSAGES or flags & ~MESSAGE_FLAGS_OK:
            raise Decline  # a shared message or one this reader does not know
        if kind == ATTRIBUTE_INFO:
            _check_compact(file, body)
        elif kind == ATTRIBUTE:
            name, attribute = _attribute(file, body, wanted, max_bytes)
            if name in seen_names:
                raise Decline  # two attributes of one name: which one HDF5 returns is not ours to guess
            seen_names.add(name)
            if attribute is not None:
                found[name] = attribute
    return {name.decode(): value for name, value in found.items()}


def _superblock(file: _File) -> int:
    """The root group's object header address (checks the superblock on the way)."""
    head = file.read(0, min(file.size, 128))
    if head[:8] != SIGNATURE:
        raise Decline  # no superblock at 0: a user block, or not HDF5
    version = head[8]
    if version in (0, 1):
        if head[9] or head[10] or head[12] or _uint(head, 20, 4):  # sub-versions 0; consistency flags clear
            raise Decline
        file.offsets, file.lengths = head[13], head[14]
        _check_sizes(file)
        at = 24 + (4 if version == 1 else 0)
        size = file.offsets
        base, free, end, driver = (_uint(head, at + i * size, size) for i in range(4))
        if base != 0 or free != file.undefined or driver != file.undefined:
            raise Decline
        _check_end(file, end)
        entry = at + 4 * size  # root symbol table entry: link name offset, object header address, cache type
        if _uint(head, entry + 2 * size, 4) not in (0, 1):
            raise Decline  # HDF5 knows cache types 0 (nothing) and 1 (symbol table) for the root
        return _address(file, _uint(head, entry + size, size))
    if version in (2, 3):
        file.offsets, file.lengths = head[9], head[10]
        _check_sizes(file)
        if head[11]:
            raise Decline  # consistency flags set: open for writing (or not closed); HDF5 decides
        size = file.offsets
        base, extension, end, root = (_uint(head, 12 + i * size, size) for i in range(4))
        stop = 12 + 4 * size
        if _uint(head, stop, 4) != lookup3(head[:stop]):
            raise Decline
        if base != 0 or extension != file.undefined:
            raise Decline  # a superblock extension may declare shared messages: leave it to HDF5
        _check_end(file, end)
        return _address(file, root)
    raise Decline


def _check_sizes(file: _File) -> None:
    if file.offsets not in (4, 8) or file.lengths not in (4, 8):
        raise Decline


def _check_end(file: _File, end: int) -> None:
    """HDF5 refuses a file shorter than its recorded end; reads past that end are declined too."""
    if end > file.size or end == file.undefined:
        raise Decline
    file.size = end


def _address(file: _File, value: int) -> int:
    if value >= file.size:
        raise Decline
    return value


def _messages(file: _File, address: int):
    """(type, flags, body) of every message in the object header at `address`, continuations included."""
    prefix = file.read(address, min(16, file.size - address))
    if prefix[:4] == b"OHDR":
        yield from _messages_v2(file, address)
        return
    if len(prefix) < 16 or prefix[0] != 1 or prefix[1] != 0:
        raise Decline
    expected = _uint(prefix, 2, 2)
    chunks = [(address + 16, _uint(prefix, 8, 4))]
    visited: set[int] = set()
    count = 0
    while chunks:
        start, length = chunks.pop(0)
        data = _chunk(file, start, length, visited)
        at = 0
        while at + 8 <= len(data):
            kind, size, flags = struct.unpack_from("<HHB", data, at)
            body = data[at + 8:at + 8 + size]
            if len(body) != size or size % 8:
                raise Decline  # past the chunk, or not 8-byte aligned (HDF5 refuses both in v1 headers)
            count += 1
            if count > min(expected, MAX_MESSAGES):
                raise Decline
            if kind == CONTINUATION:
                chunks.append(_continuation(file, body))
            yield kind, flags, body
            at += 8 + size
        if at != len(data):
            raise Decline
    if count != expected:
        raise Decline


def _messages_v2(file: _File, address: int):
    head = file.read(address, min(40, file.size - address))
    if len(head) < 7 or head[4] != 2:
        raise Decline
    flags = head[5]
    if flags & 0xC0:
        raise Decline
    at = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    length = _uint(head, at, width)
    at += width
    order = 2 if flags & 0x04 else 0
    chunks = [(address, at, at + length + 4)]  # (address, where messages start, chunk bytes incl. checksum)
    visited: set[int] = set()
    count = 0
    while chunks:
        start, first, total = chunks.pop(0)
        data = _chunk(file, start, total, visited)
        if _uint(data, total - 4, 4) != lookup3(data[:total - 4]):
            raise Decline
        at, stop = first, total - 4
        while at + 4 + order <= stop:
            kind, size, message_flags = struct.unpack_from("<BHB", data, at)
            at += 4 + order
            body = data[at:at + size]
            if at + size > stop:
                raise Decline
            count += 1
            if count > MAX_MESSAGES:
                raise Decline
            if kind == CONTINUATION:
                where, length = _continuation(file, body)
                if length < 8 or file.read(where, 4) != b"OCHK":
                    raise Decline
                chunks.append((where, 4, length))
            yield kind, message_flags, body
            at += size
        # what is left (under one message prefix) is a gap, which HDF5 fills with zeros


def _chunk(file: _File, start: int, length: int, visited: set[int]) -> bytes:
    file.header_bytes += length
    if start in visited or len(visited) >= MAX_CHUNKS or file.header_bytes > MAX_HEADER_BYTES:
        raise Decline  # a loop, or more header than any group has
    visited.add(start)
    return file.read(start, length)


def _continuation(file: _File, body: bytes) -> tuple[int, int]:
    return _uint(body, 0, file.offsets), _uint(body, file.offsets, file.lengths)


def _check_compact(file: _File, body: bytes) -> None:
    """Attribute info message: decline when the attributes live in dense storage (a fractal heap)."""
    if len(body) < 2 or body[0] != 0 or body[1] & ~0x03:
        raise Decline
    at = 2 + (2 if body[1] & 0x01 else 0)
    if _uint(body, at, file.offsets) != file.undefined:
        raise Decline


def _attribute(file: _File, body: bytes, wanted: set[bytes], max_bytes: int
               ) -> tuple[bytes, StringAttribute | None]:
    """(name, value if the name is wanted) of one attribute message. Every attribute is checked
    the way HDF5 decodes it when looking a name up (datatype, dataspace, data size): one it would
    refuse, or one that is not a scalar string, makes the reader decline."""
    if len(body) < 8:
        raise Decline
    version, flags = body[0], body[1]
    name_size, type_size, space_size = struct.unpack_from("<HHH", body, 2)
    if version == 1:
        pad, at = _pad8, 8
    elif version in (2, 3):
        if flags:
            raise Decline  # shared datatype or dataspace
        pad, at = (lambda n: n), (9 if version == 3 else 8)
        if version == 3 and body[8] not in (0, 1):
            raise Decline
    else:
        raise Decline
    if name_size < 1 or at + name_size > len(body) or body[at + name_size - 1] != 0:
        raise Decline
    name = body[at:at + name_size - 1]
    if b"\0" in name:
        raise Decline
    at += pad(name_size)
    datatype = body[at:at + type_size]
    at += pad(type_size)
    dataspace = body[at:at + space_size]
    at += pad(space_size)
    if len(datatype) != type_size or len(dataspace) != space_size:
        raise Decline
    _check_scalar(dataspace)
    value = _string(file, datatype, body[at:], max_bytes, resolve=name in wanted)
    return name, value if name in wanted else None


def _pad8(size: int) -> int:
    return (size + 7) & ~7


def _check_scalar(space: bytes) -> None:
    """Only a scalar dataspace (h5py returns one value; an array of strings is declined)."""
    if len(space) < 4 or space[1] != 0:
        raise Decline
    if space[0] == 1:
        if len(space) < 8:
            raise Decline
        return
    if space[0] != 2 or space[3] != 0:  # v2: type 0 is scalar (1 simple, 2 null)
        raise Decline


def _string(file: _File, datatype: bytes, data: bytes, max_bytes: int, resolve: bool) -> StringAttribute | None:
    """The value of a scalar string attribute (a vlen one read from the global heap only if `resolve`)."""
    if len(datatype) < 8:
        raise Decline
    kind, version = datatype[0] & 0x0F, datatype[0] >> 4
    bits = datatype[1] | datatype[2] << 8 | datatype[3] << 16
    size = _uint(datatype, 4, 4)
    if version not in (1, 2, 3):
        raise Decline
    if kind == FIXED_STRING:
        padding, charset = bits & 0x0F, bits >> 4 & 0x0F
        if bits >> 8 or padding not in (NULLTERM, NULLPAD) or charset > 1 or size < 1 or len(datatype) != 8:
            raise Decline
        if size > max_bytes or len(data) < size or b"\0" in data[:size].rstrip(b"\0"):
            raise Decline
        return StringAttribute(data[:size], False, padding, size)
    if kind == VLEN:
        if bits & 0x0F != 1 or bits >> 12:  # a sequence, not a string
            raise Decline
        padding, charset = bits >> 4 & 0x0F, bits >> 8 & 0x0F
        if padding not in (NULLTERM, NULLPAD) or charset > 1 or size != 4 + file.offsets + 4:
            raise Decline
        _check_byte_base(datatype[8:])
        if len(data) < size:
            raise Decline
        length = _uint(data, 0, 4)
        collection = _uint(data, 4, file.offsets)
        index = _uint(data, 4 + file.offsets, 4)
        if length == 0:
            raise Decline  # an empty vlen string: rare, and how it is stored varies
        if length > max_bytes:
            raise Decline
        if not resolve:
            return None
        text = _heap_object(file, collection, index, length, max_bytes)
        if b"\0" in text:
            raise Decline
        return StringAttribute(text, True, padding, size)
    raise Decline


UCHAR_BASE = bytes.fromhex("10000000" "01000000" "0000" "0800")  # 8-bit unsigned integer, offset 0


def _check_byte_base(base: bytes) -> None:
    """A vlen string's base type: exactly the one-byte unsigned integer HDF5 and h5py write."""
    if base != UCHAR_BASE:
        raise Decline


def _heap_object(file: _File, collection: int, index: int, length: int, max_bytes: int) -> bytes:
    """Object `index` of the global heap collection at `collection`: exactly `length` bytes."""
    lengths = file.lengths
    head = file.read(collection, 8 + lengths)
    if head[:4] != b"GCOL" or head[4] != 1:
        raise Decline
    size = _uint(head, 8, lengths)
    if size < HEAP_MIN_SIZE or size > max_bytes + HEAP_SLACK:
        raise Decline
    heap = file.read(collection, size)
    object_head = 8 + lengths
    at, found, sizes = 8 + lengths, None, {}
    while at < size:  # HDF5 parses the whole collection when it loads it, with these checks
        if at + object_head > size:  # a tail too small for an object header: free space
            if 0 in sizes:
                raise Decline
            sizes[0] = size - at
            break
        if len(sizes) >= MAX_HEAP_OBJECTS:
            raise Decline
        number = _uint(heap, at, 2)
        object_size = _uint(heap, at + 8, lengths)
        extent = object_size if number == 0 else object_head + _pad8(object_size)
        if number in sizes or extent < (object_head if number == 0 else 0) or at + extent > size:
            raise Decline  # a repeated number (HDF5 keeps the last), or an object past the collection
        sizes[number] = object_size
        if number == index and number != 0:
            found = heap[at + object_head:at + object_head + object_size]
        at += extent
    if sizes.get(0, 0) % 8 or found is None or len(found) != length:
        raise Decline  # free space not aligned (HDF5 refuses it), or not the object the attribute names
    return found


def lookup3(data: bytes, initial: int = 0) -> int:
    """Bob Jenkins' lookup3 hash (hashlittle), the checksum of HDF5's version-2 metadata."""
    mask = 0xFFFFFFFF
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initial) & mask

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & mask

    at = 0
    while length - at > 12:
        x, y, z = struct.unpack_from("<III", data, at)
        a, b, c = (a + x) & mask, (b + y) & mask, (c + z) & mask
        a = ((a - c) & mask) ^ rot(c, 4)
        c = (c + b) & mask
        b = ((b - a) & mask) ^ rot(a, 6)
        a = (a + c) & mask
        c = ((c - b) & mask) ^ rot(b, 8)
        b = (b + a) & mask
        a = ((a - c) & mask) ^ rot(c, 16)
        c = (c + b) & mask
        b = ((b - a) & mask) ^ rot(a, 19)
        a = (a + c) & mask
        c = ((c - b) & mask) ^ rot(b, 4)
        b = (b + a) & mask
        at += 12
    if length - at == 0:
        return c
    x, y, z = struct.unpack_from("<III", data[at:] + bytes(12 - (length - at)))
    a, b, c = (a + x) & mask, (b + y) & mask, (c + z) & mask
    c = (c ^ b) - rot(b, 14) & mask
    a = (a ^ c) - rot(c, 11) & mask
    b = (b ^ a) - rot(a, 25) & mask
    c = (c ^ b) - rot(b, 16) & mask
    a = (a ^ c) - rot(c, 4) & mask
    b = (b ^ a) - rot(a, 14) & mask
    c = (c ^ b) - rot(b, 24) & mask
    return c
