"""Write the hostile model files of issue 16: small files that try to inject, overflow, loop or exhaust.

Every case is a real file (hand-written Keras JSON / .keras zips, HDF5 via h5py, ONNX via onnx.helper),
none needs TensorFlow. manifest.json lists each case: its defect class (1-8, as in the issue), the
file, and what the CLI must do with it: `analysed` (exit 0 or 1) or `refused` (exit 2, one line on
stderr containing `needle`).

    python tools/make_hostile.py --out DIR            # the regression cases
    python tools/make_hostile.py --out DIR --worst    # also the full-size worst cases (benchmark)

The generators are also imported by the tests and the fuzzers (tests/test_hostile*.py).
"""
from __future__ import annotations

import argparse
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Names that try to drive a terminal, start a CI workflow command, reorder or hide text, or break XML.
HOSTILE_NAMES = [
    "x\n::error file=P.py,line=1::NAMEINJECTED\n",
    "osc\x1b]0;pwned\x07\x1b[2J",
    "bidi\u202etxt.exe\u202c",
    "marks\u200e\u200f\u061c",
    "iso\u2066late\u2069",
    "zw\u200b\u2060\ufeffsp",
    "xml\ufffe\uffff",
    "c1\x85\x9b31m",
    "cr\rline\u2028sep\u2029",
    "tag\U000e0041\U000e007f",
]
INJECTED_FILE_NAMES = ["x\n::error file=P.py,line=1::PATHINJECTED\n.keras", "osc\x1b]0;pwned\x07.keras",
                       "rtl\u202egpj.keras", "lrm\u200e\u200f\u061c.keras"]


@dataclass
class Case:
    name: str
    defect: int                    # the defect class, 1-8
    file: str                      # relative to the output folder (a folder for folder scans)
    expect: str                    # analysed | refused | any (either, within the budgets)
    needle: str = ""               # a word the one-line error must contain
    args: list[str] = field(default_factory=list)
    worst: bool = False            # a full-size worst case (the benchmark runs these)


# ---- Keras architectures as plain JSON ------------------------------------------------------

def _layer(class_name: str, name: str, **config) -> dict:
    return {"class_name": class_name, "config": {"name": name, **config}}


def _td(name: str, inner: dict) -> dict:
    return {"class_name": "TimeDistributed", "config": {"name": name, "layer": inner}}


def sequential(layers: list[dict], shape=(None, 8, 16, 16, 3), name: str = "hostile") -> dict:
    return {"class_name": "Sequential", "config": {"name": name, "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": list(shape), "name": "frames"}}, *layers]}}


def lrcn(names: list[str] | None = None, **overrides) -> dict:
    """A small LRCN; `names` renames its layers in order (hostile names go here)."""
    layers = [
        _td("td_conv", _layer("Conv2D", "conv", filters=8, kernel_size=[3, 3], padding="same",
                              activation="relu")),
        _td("td_pool", _layer("MaxPooling2D", "pool", pool_size=[2, 2])),
        _td("td_drop", _layer("Dropout", "drop", rate=0.95)),
        _td("td_gap", _layer("GlobalAveragePooling2D", "gap")),
        _layer("LSTM", "lstm", units=8),
        _layer("Dense", "out", units=4, activation="softmax"),
    ]
    for layer, name in zip(layers, names or []):
        layer["config"]["name"] = name
    config = sequential(layers, **overrides)
    return config


def write_keras(path: Path, config: dict | bytes, *, metadata: dict | None = None,
                extra: list[tuple[zipfile.ZipInfo | str, bytes]] = ()) -> Path:
    data = config if isinstance(config, bytes) else json.dumps(config).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata or {"keras_version": "3.0.0"}))
        archive.writestr("config.json", data)
        for info, payload in extra:
            archive.writestr(info, payload)
    return path


def write_json(path: Path, config: dict, **dump) -> Path:
    path.write_text(json.dumps(config, **dump), encoding="utf-8")
    return path


def write_h5(path: Path, config: dict | bytes, *, version: str | bytes = "3.0.0", userblock: int = 0) -> Path:
    import h5py
    import numpy as np
    data = config if isinstance(config, bytes) else json.dumps(config).encode()
    big = len(data) + len(version) > 60_000  # large attributes need the dense attribute storage
    with h5py.File(path, "w", userblock_size=userblock or 0, libver="latest" if big else None) as handle:
        handle.attrs["model_config"] = np.bytes_(data)
        handle.attrs["keras_version"] = np.bytes_(version.encode() if isinstance(version, str) else version)
    return path


def nested_calls(depth: int, calls: int, names: list[str] | None = None) -> dict:
    """A functional model whose nested model is called `calls` times per level, `depth` levels deep."""
    def functional(name: str, body: list[dict], output: str) -> dict:
        return {"name": name, "layers": [
            {"class_name": "InputLayer", "name": f"{name}_in", "inbound_nodes": [],
             "config": {"batch_shape": [None, 6, 4], "name": f"{name}_in"}}, *body],
            "input_layers": [[f"{name}_in", 0, 0]], "output_layers": [[output, 0, 0]]}
    names = names or []
    inner = functional("m0", [{"class_name": "Dense", "name": "m0_dense", "config": {"name": "m0_dense", "units": 4},
                               "inbound_nodes": [[["m0_in", 0, 0, {}]]]}], "m0_dense")
    for level in range(1, depth + 1):
        label = names[level % len(names)] + str(level) if names else f"m{level}"
        child = {"class_name": "Functional", "name": inner["name"], "config": inner,
                 "inbound_nodes": [[[f"{label}_in", 0, 0, {}]] for _ in range(calls)]}
        inner = functional(label, [child], inner["name"])
    top = inner["name"]
    head = [{"class_name": "LSTM", "name": "lstm", "config": {"name": "lstm", "units": 4},
             "inbound_nodes": [[[top, 0, 0, {}]]]}]
    outer = {"class_name": "Functional", "name": "outer", "config": inner,
             "inbound_nodes": [[["x", 0, 0, {}]]]}
    head[0]["inbound_nodes"] = [[["outer", 0, 0, {}]]]
    body = {"name": "top", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_shape": [None, 6, 4], "name": "x"}}, outer, *head],
        "input_layers": [["x", 0, 0]], "output_layers": [["lstm", 0, 0]]}
    return {"class_name": "Functional", "config": body}


def dropout_stack(count: int) -> dict:
    layers = [_layer("Dropout", f"drop{i}", rate=0.9) for i in range(count)]
    return sequential([*layers, _layer("LSTM", "lstm", units=8), _layer("Dense", "out", units=2)],
                      shape=(None, 8, 16))


def conv_pool_stages(count: int) -> dict:
    layers = []
    for i in range(count):
        layers.append(_td(f"c{i}", _layer("Conv2D", f"conv{i}", filters=2, kernel_size=[1, 1], padding="same")))
        layers.append(_td(f"p{i}", _layer("MaxPooling2D", f"pool{i}", pool_size=[1, 1])))
    layers += [_td("gap", _layer("GlobalAveragePooling2D", "g")), _layer("LSTM", "lstm", units=4)]
    return sequential(layers, shape=(None, 4, 4, 4, 2))


# ---- ONNX -----------------------------------------------------------------------------------

def _onnx_model(nodes, functions=(), initializers=(), inputs=None, outputs=None):
    from onnx import TensorProto, helper
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 16])]
    outputs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 16])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    return helper.make_model(graph, opset_imports=opsets, functions=list(functions))


def onnx_function_tree(depth: int, fanout: int = 2, names: list[str] | None = None):
    """F0 = Relu; F(i) calls F(i-1) `fanout` times in a row; the graph calls F(depth): fanout**depth nodes."""
    from onnx import helper
    names = names or []
    label = [f"F{i}" + (names[i % len(names)] if names else "") for i in range(depth + 1)]
    functions = [helper.make_function("local", label[0], ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                                      [helper.make_opsetid("", 17)])]
    for i in range(1, depth + 1):
        chain = [f"t{j}" for j in range(fanout + 1)]
        chain[0], chain[-1] = "a", "b"
        body = [helper.make_node(label[i - 1], [chain[j]], [chain[j + 1]], domain="local") for j in range(fanout)]
        functions.append(helper.make_function("local", label[i], ["a"], ["b"], body,
                                              [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]))
    return _onnx_model([helper.make_node(label[depth], ["x"], ["y"], domain="local")], functions)


def onnx_calls(edges: dict[str, list[str]], root: str):
    """Functions that call each other as `edges` says (cycles allowed); the graph calls `root`."""
    from onnx import helper
    functions = []
    for name, callees in edges.items():
        chain = ["a", *[f"t{j}" for j in range(len(callees))]]
        body = [helper.make_node(callee, [chain[j]], [chain[j + 1]], domain="local") for j, callee in enumerate(callees)]
        body.append(helper.make_node("Relu", [chain[-1]], ["b"]))
        functions.append(helper.make_function("local", name, ["a"], ["b"], body,
                                              [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]))
    return _onnx_model([helper.make_node(root, ["x"], ["y"], domain="local")], functions)


def onnx_chain(count: int):
    from onnx import helper
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"{i}"], ["y" if i == count - 1 else f"{i + 1}"])
             for i in range(count)]
    return _onnx_model(nodes)


def onnx_external(folder: Path, *, offset="0", length="32", dims=(4, 2), location="weights.bin") -> Path:
    import onnx
    from onnx import TensorProto, helper
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weights.bin").write_bytes(bytes(64))
    weight = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=list(dims))
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        weight.external_data.add(key=key, value=value)
    model = _onnx_model([helper.make_node("MatMul", ["x", "W"], ["y"])], initializers=[weight],
                        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                        outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    path = folder / "external.onnx"
    onnx.save(model, str(path))
    return path


def save_onnx(model, path: Path) -> Path:
    import onnx
    onnx.save(model, str(path))
    return path


# ---- the cases ------------------------------------------------------------------------------

def write_encrypted_flag(path: Path, config: dict) -> Path:
    """A .keras whose config.json has the ZipCrypto flag set (data stored in the clear)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    data = bytearray(path.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local header, central directory
        start = data.find(signature)
        data[start + flag_at] |= 0x1
    path.write_bytes(bytes(data))
    return path


def make_cases(out: Path, *, worst: bool = False) -> list[Case]:
    out.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(case: Case) -> None:
        cases.append(case)

    # 1. injection through file names (folder scans) and through ONNX function names
    folder = out / "injected_names"
    folder.mkdir(exist_ok=True)
    for index, name in enumerate(INJECTED_FILE_NAMES):
        write_keras(folder / name, lrcn() if index % 2 == 0 else b"{not json")
    add(Case("file_names_in_folder_scan", 1, "injected_names", "refused", "invalid JSON",
             ["--format", "github"]))
    add(Case("onnx_function_name_escape", 1, save_onnx(onnx_calls({"L\x1b]0;pwn\x07": ["L\x1b]0;pwn\x07"]},
                                                                   "L\x1b]0;pwn\x07"), out / "fname.onnx").name,
             "refused", "calls itself"))
    # 6. (and 1) layer names that carry newlines, escapes, bidi and XML-invalid characters
    add(Case("hostile_layer_names", 6, write_json(out / "names.json", lrcn(HOSTILE_NAMES[:6])).name, "analysed"))
    add(Case("hostile_layer_names_2", 6, write_json(out / "names2.json", lrcn(HOSTILE_NAMES[4:])).name,
             "analysed"))

    # 3. small files that ask for hours or gigabytes
    add(Case("onnx_function_tree_depth30", 3, save_onnx(onnx_function_tree(30), out / "ftree.onnx").name,
             "refused", "inlined"))
    add(Case("onnx_function_tree_depth16", 3, save_onnx(onnx_function_tree(16), out / "ftree16.onnx").name,
             "any"))
    add(Case("nested_model_4_calls_12_levels", 3,
             write_json(out / "nested.json", nested_calls(12, 4)).name, "analysed"))
    add(Case("dropout_2000", 3, write_json(out / "dropout2000.json", dropout_stack(2000)).name, "analysed"))
    add(Case("conv_pool_9990_stages", 3, write_json(out / "convpool.json", conv_pool_stages(9990)).name,
             "refused", "layers"))
    if worst:  # just under the layer cap: analysed, with the recount budget spent
        add(Case("conv_pool_4990_stages", 3, write_json(out / "convpool4990.json", conv_pool_stages(4990)).name,
                 "analysed", worst=True))
    add(Case("layer_name_8mb", 3, write_json(out / "longname.json", lrcn(["n" * 8_000_000])).name,
             "refused", "characters long"))
    add(Case("onnx_chain_180k", 3, save_onnx(onnx_chain(180_000), out / "chain180k.onnx").name, "any"))
    add(Case("onnx_chain_400k", 3, save_onnx(onnx_chain(400_000), out / "chain400k.onnx").name,
             "refused", "nodes"))
    if worst:  # just under the node cap: the largest ONNX graph that is analysed
        add(Case("onnx_chain_59k", 3, save_onnx(onnx_chain(59_000), out / "chain59k.onnx").name, "any", worst=True))
        add(Case("nested_model_9_calls_30_levels", 3, write_json(out / "nested30.json", nested_calls(30, 9)).name,
                 "any", worst=True))  # 9**30 calls: counted at once, then refused as over 2**90 MACs
    if worst:
        add(Case("onnx_chain_1_9m", 3, save_onnx(onnx_chain(1_900_000), out / "chain1900k.onnx").name,
                 "refused", "nodes", worst=True))

    # 4. a folder of many small HDF5 files
    h5s = out / "many_h5"
    h5s.mkdir(exist_ok=True)
    for index in range(150 if worst else 24):
        write_h5(h5s / f"m{index:03d}.h5", lrcn())
    add(Case("h5_folder", 4, "many_h5", "analysed", worst=worst))

    # 5. bad values that used to end in "internal error"
    add(Case("lone_surrogate_name", 5, write_json(out / "surrogate.json", lrcn(["bad\ud800name"])).name,
             "refused", "surrogate"))
    huge = json.dumps(lrcn()).replace('"filters": 8', '"filters": ' + "9" * 5000)
    (out / "bigint.json").write_text(huge)
    add(Case("integer_5000_digits", 5, "bigint.json", "refused", "filters"))
    for cls, key, value in (("UpSampling2D", "size", [1e200, 2]), ("ZeroPadding2D", "padding", [[1e200, 0], [0, 0]]),
                            ("UpSampling2D", "size", [10**15, 2])):
        config = lrcn()
        config["config"]["layers"].insert(2, _td("td_big", _layer(cls, "big", **{key: value})))
        name = f"{cls.lower()}_{'float' if isinstance(value[0], float) else 'int'}.json"
        add(Case(f"{cls}_{key}_huge_{name}", 5, write_json(out / name, config).name, "refused", "td_big"))
    write_encrypted_flag(out / "zipcrypto.keras", lrcn())
    add(Case("zipcrypto_member", 5, "zipcrypto.keras", "refused", "encrypted"))
    for label, kwargs, needle in (("negative_offset", {"offset": "-8"}, "offset"),
                                  ("dims_minus_one", {"dims": (-1,)}, "dims"),
                                  ("dims_2_62", {"dims": (2**62, 3)}, "dims"),
                                  ("nul_location", {"location": "weights.bin\0.txt"}, "NUL")):
        path = onnx_external(out / f"ext_{label}", **kwargs)
        add(Case(f"onnx_external_{label}", 5, str(path.relative_to(out)), "refused", needle))
    add(Case("onnx_recursive_function", 5,
             save_onnx(onnx_calls({"A": ["B"], "B": ["A"]}, "A"), out / "recursive.onnx").name,
             "refused", "calls itself"))

    # 8. strings echoed, archives, encodings
    add(Case("keras_version_9mb_h5", 8, write_h5(out / "bigversion.h5", lrcn(), version="9" * 9_000_000).name,
             "analysed"))
    add(Case("keras_version_1mb_keras", 8,
             write_keras(out / "bigversion.keras", lrcn(), metadata={"keras_version": "v" * 1_000_000}).name,
             "analysed"))
    dup = out / "duplicate.keras"
    write_keras(dup, lrcn())
    with zipfile.ZipFile(dup, "a") as archive:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            archive.writestr("config.json", json.dumps(lrcn(["other"])))
    add(Case("duplicate_config_json", 8, dup.name, "refused", "config.json"))
    bom = "\ufeff" + json.dumps(lrcn())
    (out / "bom.json").write_text(bom, encoding="utf-8")
    add(Case("bom_json", 8, "bom.json", "analysed"))
    write_keras(out / "bom.keras", bom.encode("utf-8"))
    add(Case("bom_keras", 8, "bom.keras", "analysed"))
    write_h5(out / "bom.h5", bom.encode("utf-8"))
    add(Case("bom_h5", 8, "bom.h5", "analysed"))
    write_h5(out / "userblock.h5", lrcn(), userblock=1024)
    add(Case("hdf5_userblock", 8, "userblock.h5", "analysed"))

    # 7. number options
    for option, value in (("--frames", "1e400"), ("--frames", "-1e400"), ("--max-params", "1e400"),
                          ("--max-macs", "nan"), ("--train-samples", "inf"), ("--max-seconds", "1e999")):
        add(Case(f"option_{option[2:]}_{value}", 7, "names.json", "refused", option, [option, value]))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--worst", action="store_true", help="also write the full-size worst cases")
    args = parser.parse_args()
    cases = make_cases(args.out, worst=args.worst)
    (args.out / "manifest.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    print(f"{len(cases)} hostile cases in {args.out}")


if __name__ == "__main__":
    main()
