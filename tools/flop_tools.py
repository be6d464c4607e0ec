"""Run the real FLOP counters on a PyTorch model; totals and per-layer-kind counts.

Each runner returns (total, by_kind) where by_kind maps a part kind of
lrcn_advisor/conventions.py (conv, activation, pool, norm, dense, recurrent,
none) to the tool's count, or None where the tool only reports a total.
Used by tests/test_conventions.py to check the conventions table.
"""
from __future__ import annotations

import contextlib
import io
from collections import defaultdict

import torch
from torch import nn

KIND_OF_MODULE = [
    ((nn.Conv1d, nn.Conv2d, nn.Conv3d), "conv"),
    ((nn.ReLU, nn.Softmax, nn.Sigmoid, nn.Tanh), "activation"),
    ((nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), "pool"),
    ((nn.BatchNorm1d, nn.BatchNorm2d), "norm"),
    ((nn.Linear,), "dense"),
    ((nn.LSTM, nn.GRU, nn.RNN), "recurrent"),
]


def kind_of_module(module: nn.Module) -> str:
    for types, kind in KIND_OF_MODULE:
        if isinstance(module, types):
            return kind
    return "none"


def _quiet():
    buffer = io.StringIO()
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(buffer))
    stack.enter_context(contextlib.redirect_stderr(buffer))
    return stack


def run_thop(model, x):
    import thop

    with _quiet():
        total, _, info = thop.profile(model, (x,), verbose=False, ret_layer_info=True)
    modules = dict(model.named_modules())
    by_kind: dict[str, int] = defaultdict(int)

    def walk(tree, prefix):
        for name, (ops, _, children) in tree.items():
            path = prefix + name
            if children:
                walk(children, path + ".")
            else:
                by_kind[kind_of_module(modules[path])] += int(ops)
    walk(info, "")
    return int(total), dict(by_kind)


def run_ptflops(model, x, backend: str):
    from ptflops import get_model_complexity_info

    with _quiet():
        macs, _ = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False, backend=backend,
                                            print_per_layer_stat=False)
    if macs is None:
        raise RuntimeError(f"ptflops ({backend}) failed")
    return int(macs), None


def run_fvcore(model, x):
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_kind: dict[str, int] = defaultdict(int)
    for name, module in model.named_modules():
        if not list(module.children()):
            by_kind[kind_of_module(module)] += int(analysis.by_module().get(name, 0))
    return int(analysis.total()), dict(by_kind)


def run_torchinfo(model, x):
    import torchinfo

    summary = torchinfo.summary(model, input_data=x, verbose=0)
    by_kind: dict[str, int] = defaultdict(int)
    for layer in summary.summary_list:
        if layer.is_leaf_layer:
            by_kind[kind_of_module(layer.module)] += int(layer.macs)
    return int(summary.total_mult_adds), dict(by_kind)


def run_flopcountermode(model, x):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    counts = counter.get_flop_counts()
    by_kind: dict[str, int] = defaultdict(int)
    for name, module in model.named_modules():
        if name and not list(module.children()) or isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
            key = f"{type(model).__name__}.{name}"
            by_kind[kind_of_module(module)] += int(sum(counts.get(key, {}).values()))
    return int(counter.get_total_flops()), dict(by_kind)


def run_calflops(model, x):
    """(flops total, flops by kind, macs total, macs by kind) from calflops' own pipeline."""
    from calflops import calculate_flops
    from calflops.calculate_pipline import CalFlopsPipline

    with _quiet():
        flops, macs, _ = calculate_flops(model, input_shape=tuple(x.shape), output_as_string=False,
                                         print_results=False)
    pipeline = CalFlopsPipline(model=model, include_backPropagation=False, compute_bp_factor=2.0)
    pipeline.start_flops_calculate(ignore_list=None)
    try:
        with torch.no_grad():
            model(x)
        flop_kinds: dict[str, int] = defaultdict(int)
        mac_kinds: dict[str, int] = defaultdict(int)
        for module in model.modules():
            if not list(module.children()) or isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
                flop_kinds[kind_of_module(module)] += int(module.__flops__)
                mac_kinds[kind_of_module(module)] += int(module.__macs__)
    finally:
        pipeline.end_flops_calculate()
    return int(flops), dict(flop_kinds), int(macs), dict(mac_kinds)


def run_deepspeed(model, x):
    from deepspeed.profiling.flops_profiler import get_model_profile

    with _quiet():
        flops, macs, _ = get_model_profile(model, input_shape=tuple(x.shape), as_string=False, print_profile=False)
    return int(flops), int(macs)


def run_onnx_tool(model, x, path):
    """onnx-tool's total MACs, and per layer kind, on the TorchScript ONNX export of the model."""
    import onnx_tool

    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["frames"])
    graph = onnx_tool.Model(str(path)).graph
    graph.shape_infer()
    graph.profile()
    kinds = {"Conv": "conv", "Relu": "activation", "Softmax": "activation", "MaxPool": "pool",
             "AveragePool": "pool", "GlobalAveragePool": "pool", "BatchNormalization": "norm",
             "Gemm": "dense", "MatMul": "dense", "Add": "dense",  # a Linear on (B, T, F) exports MatMul + Add
             "LSTM": "recurrent", "GRU": "recurrent"}
    by_kind: dict[str, int] = defaultdict(int)
    for name in graph.nodemap:
        node = graph.nodemap[name]
        by_kind[kinds.get(node.op_type, "none")] += int(node.macs[0])
    return int(graph.macs[0]), dict(by_kind)
