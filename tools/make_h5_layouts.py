#!/usr/bin/env python
"""Real .h5 files in the layouts HDF5 writes for a model's root attributes, plus damaged ones.

    python tools/make_h5_layouts.py OUT_DIR

Each file is written with h5py (no TensorFlow), some then edited byte by byte where a damage cannot
be made any other way (a continuation loop, a header past the end). `cases(out)` returns the cases:
the file, and whether the standard-library reader (lrcn_advisor.load.hdf5_attrs) must read it
("fast"), must decline it ("decline"), or may do either ("either"). Used by
tests/unit/test_hdf5_attrs.py, which checks every case against h5py itself.
"""
from __future__ import annotations

import json
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "lrcn_advisor" / "examples"


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    expect: str  # fast | decline | either


def model_config(width: int = 8, layers: int = 3, pad: int = 0) -> dict:
    """A small Sequential LRCN-like config (known layers only); `pad` grows a note to reach a size."""
    body = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 8, 16, 16, 3], "name": "frames"}},
            {"class_name": "TimeDistributed", "config": {"name": "per_frame", "note": "x" * pad, "layer": {
                "class_name": "Conv2D", "config": {"name": "conv", "filters": width, "kernel_size": [3, 3],
                                                   "padding": "same", "activation": "relu"}}}},
            {"class_name": "TimeDistributed", "config": {"name": "flatten", "layer": {
                "class_name": "GlobalAveragePooling2D", "config": {"name": "gap"}}}}]
    for index in range(layers):
        body.append({"class_name": "LSTM", "config": {"name": f"lstm_{index}", "units": width,
                                                      "return_sequences": index < layers - 1}})
    body.append({"class_name": "Dense", "config": {"name": "head", "units": 5, "activation": "softmax"}})
    return {"class_name": "Sequential", "config": {"name": "layouts", "layers": body}}


TRAINING = {"loss": "categorical_crossentropy", "optimizer_config": {"class_name": "Adam", "config": {}}}


def write(path: Path, attrs: dict, *, libver=None, track_order: bool | None = None, **options) -> Path:
    """Root attributes set in order with h5py (a str becomes a vlen UTF-8 string, bytes a
    fixed-length one), plus an empty model_weights group as Keras writes."""
    import h5py

    with h5py.File(path, "w", libver=libver, track_order=track_order, **options) as handle:
        for name, value in attrs.items():
            handle.attrs[name] = value
        handle.create_group("model_weights")
    return path


def keras_like(config: dict | None = None, *, text: str = "str", version="3.10.0", training=True) -> dict:
    """The root attributes of a Keras save: model_config and training_config as `text`: "str" (h5py
    writes a vlen UTF-8 string), "bytes" (a vlen ASCII string, what Keras' .encode() gives) or
    "fixed" (numpy.bytes_: a fixed-length string)."""
    def as_text(value: str):
        return {"str": value, "bytes": value.encode(), "fixed": np.bytes_(value.encode())}[text]
    import numpy as np

    attrs = {"backend": "tensorflow", "keras_version": version,
             "model_config": as_text(json.dumps(config or model_config()))}
    if training:
        attrs["training_config"] = as_text(json.dumps(TRAINING))
    return attrs


def _string_with_pad(handle, name: str, data: bytes, pad: str, size: int | None = None) -> None:
    """A fixed-length string attribute with the given padding (nullterm | nullpad | spacepad)."""
    import h5py
    import numpy as np

    size = size or len(data)
    kind = h5py.h5t.C_S1.copy()
    kind.set_size(size)
    kind.set_strpad({"nullterm": h5py.h5t.STR_NULLTERM, "nullpad": h5py.h5t.STR_NULLPAD,
                     "spacepad": h5py.h5t.STR_SPACEPAD}[pad])
    space = h5py.h5s.create(h5py.h5s.SCALAR)
    attribute = h5py.h5a.create(handle.id, name.encode(), kind, space)
    filler = b" " if pad == "spacepad" else b"\0"
    attribute.write(np.array(data.ljust(size, filler), dtype=f"S{size}"), mtype=kind)


def root_messages(data: bytes) -> list[tuple[int, int, int]]:
    """(type, offset of the message's 8-byte prefix, body size) of a v0-superblock, v1-header root group,
    continuation chunks included (used to edit files; the files are our own)."""
    assert data[:8] == b"\x89HDF\r\n\x1a\n" and data[8] == 0 and data[13] == 8
    header = struct.unpack_from("<Q", data, 64)[0]
    chunks = [(header + 16, struct.unpack_from("<I", data, header + 8)[0])]
    found = []
    while chunks:
        start, length = chunks.pop(0)
        at = start
        while at + 8 <= start + length:
            kind, size = struct.unpack_from("<HH", data, at)
            found.append((kind, at, size))
            if kind == 0x10:
                chunks.append(struct.unpack_from("<QQ", data, at + 8))
            at += 8 + size
    return found


def cases(out: Path) -> list[Case]:
    import h5py
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    found: list[Case] = []

    def add(name: str, path: Path, expect: str) -> None:
        found.append(Case(name, path, expect))

    # -- the bundled Keras saves (Keras 3 model.save("x.h5"): v0 superblock, v1 header, vlen strings)
    for example in sorted(EXAMPLES.glob("*.h5")):
        add(f"example {example.name}", example, "fast")

    # -- h5py layouts of the same attributes
    for libver in ("earliest", "v108", "v110", "latest"):
        for text in ("str", "bytes", "fixed"):
            name = f"{libver}_{text}"
            add(name, write(out / f"{name}.h5", keras_like(text=text), libver=libver), "fast")
    add("track_order_latest", write(out / "track_order.h5", keras_like(), libver="latest", track_order=True),
        "fast")
    add("track_order_earliest", write(out / "track_order_e.h5", keras_like(), track_order=True), "either")
    add("no_training_config", write(out / "no_training.h5", keras_like(training=False)), "fast")
    add("unicode_text", write(out / "unicode.h5", keras_like(model_config(pad=3) | {"note": "é中\u202e"})),
        "fast")
    add("fixed_version_not_utf8", write(out / "not_utf8.h5", {
        "model_config": np.bytes_(json.dumps(model_config()).encode()), "keras_version": np.bytes_(b"2.\xfe")}),
        "fast")
    add("config_not_utf8", write(out / "config_not_utf8.h5", {
        "model_config": np.bytes_(json.dumps(model_config()).encode() + b" \xff")}), "decline")
    add("version_as_bytes", write(out / "version_bytes.h5", keras_like(version=b"2.15.0")), "fast")
    add("version_long", write(out / "version_long.h5", keras_like(version=np.bytes_(b"9" * 1000))), "fast")
    add("version_long_str", write(out / "version_long_str.h5", keras_like(version="9" * 5000)), "fast")
    add("version_empty_bytes", write(out / "version_empty.h5", keras_like(version=np.bytes_(b""))), "either")
    add("version_empty_str", write(out / "version_empty_str.h5", keras_like(version="")), "either")
    add("version_int", write(out / "version_int.h5", keras_like(version=3)), "decline")
    add("version_array", write(out / "version_array.h5", keras_like(version=np.array([b"3", b"0"]))), "decline")
    add("config_one_element_array", write(out / "config_array1.h5", {
        "model_config": np.array([json.dumps(model_config()).encode()])}), "decline")
    add("no_model_config", write(out / "no_config.h5", {"keras_version": "3.0"}), "decline")
    add("config_not_json", write(out / "not_json.h5", {"model_config": b"{not json", "keras_version": "3"}),
        "decline")
    config_bytes = json.dumps(model_config()).encode()
    add("config_interior_nul", write(out / "nul.h5", {"model_config": np.bytes_(config_bytes + b"\0tail")}),
        "decline")
    add("config_trailing_nul", write(out / "trailing_nul.h5", {"model_config": np.bytes_(config_bytes + b"\0\0")}),
        "fast")
    lambda_config = model_config()
    lambda_config["config"]["layers"].insert(3, {"class_name": "Lambda", "config": {"name": "cut", "function": "x"}})
    add("lambda_needs_weights", write(out / "lambda.h5", keras_like(lambda_config)), "decline")
    custom_config = model_config()
    custom_config["config"]["layers"].insert(3, {"class_name": "MyCustom", "config": {"name": "mine"}})
    add("custom_layer_needs_weights", write(out / "custom.h5", keras_like(custom_config)), "decline")

    # -- sizes: a header continuation, many attributes, attributes too big for the header
    many = keras_like() | {f"extra_{index:02d}": f"value {index}" * 20 for index in range(40)}
    add("many_attributes_earliest", write(out / "many_earliest.h5", many), "fast")
    add("many_attributes_latest", write(out / "many_latest.h5", many, libver="latest"), "decline")
    late = {f"extra_{index:02d}": "v" * 40 for index in range(12)} | keras_like(model_config(pad=20_000), text="fixed")
    add("continuation_earliest", write(out / "continuation.h5", late), "fast")
    big = keras_like(model_config(pad=70_000), text="fixed")
    add("dense_big_attribute", write(out / "dense_big.h5", big, libver="latest"), "decline")
    add("vlen_big_config", write(out / "vlen_big.h5", keras_like(model_config(pad=300_000))), "fast")
    add("userblock", write(out / "userblock.h5", keras_like(), userblock_size=512), "decline")

    # -- padding and charsets written with the low-level API
    for pad in ("nullterm", "nullpad", "spacepad"):
        path = out / f"pad_{pad}.h5"
        with h5py.File(path, "w") as handle:
            _string_with_pad(handle, "model_config", config_bytes, pad, len(config_bytes) + 5)
            handle.attrs["keras_version"] = "3.1"
        add(f"fixed_{pad}", path, "decline" if pad == "spacepad" else "fast")
    path = out / "vlen_ascii.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs.create("model_config", config_bytes, dtype=h5py.string_dtype("ascii"))
        handle.attrs.create("keras_version", b"3.2", dtype=h5py.string_dtype("ascii"))
    add("vlen_ascii", path, "fast")
    path = out / "vlen_bad_utf8.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs.create("model_config", config_bytes, dtype=h5py.string_dtype("utf-8"))
        handle.attrs.create("keras_version", b"3.\xff", dtype=h5py.string_dtype("utf-8"))
    add("vlen_version_not_utf8", path, "fast")

    # -- damaged files (bytes edited)
    source = (EXAMPLES / "classic_lrcn.h5").read_bytes()
    (out / "truncated.h5").write_bytes(source[:len(source) // 3])
    add("truncated_third", out / "truncated.h5", "decline")
    (out / "truncated_head.h5").write_bytes(source[:300])
    add("truncated_header", out / "truncated_head.h5", "decline")
    past = bytearray(source)
    struct.pack_into("<Q", past, 64, len(source) + 4096)  # the root object header past the end
    (out / "header_past_end.h5").write_bytes(bytes(past))
    add("header_past_end", out / "header_past_end.h5", "decline")
    longer = bytearray(source)
    struct.pack_into("<Q", longer, 40, len(source) * 2)  # the recorded end of file past the real one
    (out / "eof_past_end.h5").write_bytes(bytes(longer))
    add("recorded_end_past_end", out / "eof_past_end.h5", "decline")

    data = bytearray((out / "continuation.h5").read_bytes())
    messages = root_messages(bytes(data))
    continuations = [at for kind, at, _ in messages if kind == 0x10]
    assert continuations, "the continuation layout lost its continuation block"
    header = struct.unpack_from("<Q", data, 64)[0]
    loop = bytearray(data)
    struct.pack_into("<QQ", loop, continuations[0] + 8, header + 16,
                     struct.unpack_from("<I", data, header + 8)[0])  # back to the first chunk
    (out / "continuation_loop.h5").write_bytes(bytes(loop))
    add("continuation_loop", out / "continuation_loop.h5", "decline")
    wild = bytearray(data)
    struct.pack_into("<QQ", wild, continuations[0] + 8, 2**62, 2**40)
    (out / "continuation_wild.h5").write_bytes(bytes(wild))
    add("continuation_past_end", out / "continuation_wild.h5", "decline")

    giant = bytearray((out / "earliest_fixed.h5").read_bytes())
    for kind, at, _ in root_messages(bytes(giant)):
        body = at + 8
        if kind == 0x0C and giant[body + 8:body + 20] == b"model_config":
            name_size = struct.unpack_from("<H", giant, body + 2)[0]
            type_at = body + 8 + ((name_size + 7) & ~7)
            struct.pack_into("<I", giant, type_at + 4, 2**31 - 1)  # the string's declared size
    (out / "giant_size.h5").write_bytes(bytes(giant))
    add("giant_declared_size", out / "giant_size.h5", "decline")

    flipped = bytearray((out / "latest_fixed.h5").read_bytes())
    spot = flipped.find(b'"Sequential"')
    flipped[spot + 1] = ord("Z")  # inside the OHDR chunk: its checksum no longer matches
    (out / "bad_checksum.h5").write_bytes(bytes(flipped))
    add("bad_checksum", out / "bad_checksum.h5", "decline")
    shutil.copyfile(out / "latest_str.h5", out / "copy.hdf5")
    add("hdf5_suffix", out / "copy.hdf5", "fast")
    return found


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "h5_layouts")
    for case in cases(out):
        print(f"{case.name:32} {case.expect:8} {case.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
