"""The documented, versioned JSON contract (docs/json-schema.md). Other renderers read this dict."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lrcn_advisor._version import __version__
from lrcn_advisor.ir import LayerInfo
from lrcn_advisor.result import Result
from lrcn_advisor.rules import REGISTRY

if TYPE_CHECKING:
    from . import RenderContext

SCHEMA_VERSION = "2.0"
CONVENTION = ("Parameters: Keras count_params() (non-trainable included; ONNX: initialiser elements each layer "
              "uses, exporter changes in params_delta_vs_keras). MACs: one fused multiply-add, one sample, the "
              "whole clip; FLOPs = 2 x MACs. Conv: output elements x kernel volume x C_in/groups; ConvTranspose: "
              "input positions x kernel volume x C_in x C_out; Dense: leading dims x in x units; "
              "LSTM: T x 4H(I+H); GRU: T x 3H(I+H); SimpleRNN: T x H(I+H); ConvLSTM2D: T x positions x 4F x "
              "kernel area x (C_in+F); TimeDistributed: T x per-frame cost; Bidirectional: both directions; "
              "bias, activations, pooling, dropout, normalisation and merges: 0.")
BYTES_PER_VALUE = 4


def result_to_dict(result: Result) -> dict:
    ir = result.ir
    total_macs = ir.macs

    findings = []
    for finding in result.findings:
        rule = REGISTRY.get(finding.rule)
        findings.append({
            "rule": finding.rule, "name": finding.name, "title": rule.title if rule else "",
            "severity": finding.severity, "section": finding.section, "layers": finding.layers,
            "message": finding.message, "fix": finding.fix, "evidence": finding.evidence,
            "rationale": rule.rationale if rule else "", "guide": rule.guide if rule else "",
            "probe": rule.probe if rule else None,
            "edit": finding.edit.description if finding.edit else None,
            "cost": finding.cost.as_dict() if finding.cost else None,
            "fingerprint": finding.fingerprint(result.display_path or ir.path),
            "suppressed": finding.suppressed or None, "in_baseline": finding.in_baseline,
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "lrcn-advise", "version": __version__},
        "model": {
            "path": result.display_path or ir.path, "format": ir.format, "name": ir.name,
            "input_shape": _shape(ir.input_shapes[0]) if ir.input_shapes else None,
            "input_shapes": [_shape(s) for s in ir.input_shapes],
            "frames": ir.frames, "frames_source": ir.frames_source,
            "sha256": result.sha256, "keras_version": ir.keras_version or None,
            "loss": ir.model.loss if ir.model is not None else None,
        },
        "layers": [_layer(layer, total_macs, ir.frames) for layer in ir.layers],
        "blocks": [{"id": b.id, "stage": b.stage, "label": b.label, "layers": b.layers, "params": b.params,
                    "trainable_params": b.trainable_params, "macs": b.macs, "flops": 2 * b.macs,
                    "share_macs": _share(b.macs, total_macs)} for b in ir.blocks],
        "totals": {"params": ir.params, "trainable_params": ir.trainable_params,
                   "exact": ir.exact, "params_exact": ir.params_exact,
                   "non_trainable_params": ir.params - ir.trainable_params, "macs": total_macs,
                   "flops": 2 * total_macs,
                   "activation_bytes": BYTES_PER_VALUE * sum(_elements(l.output_shape, ir.frames) for l in ir.layers)},
        "findings": findings,
        "counts": result.counts(),
        "warnings": list(result.warnings),
        "notes": list(ir.notes),
        "budget_failures": list(result.budget_failures),
        "probes": result.probes.to_dict() if result.probes is not None else None,
        "convention": CONVENTION,
    }


def _layer(layer: LayerInfo, total_macs: int, frames: int | None) -> dict:
    return {
        "name": layer.name, "class": layer.class_name, "inner_class": layer.inner_class, "kind": layer.kind,
        "inputs": layer.inputs, "output_shape": _shape(layer.output_shape),
        "output_shapes": [_shape(s) for s in layer.output_shapes],
        "params": layer.params, "trainable_params": layer.trainable_params,
        "non_trainable_params": layer.non_trainable_params, "params_delta_vs_keras": layer.params_delta_vs_keras,
        "macs": layer.macs, "flops": 2 * layer.macs,
        "share_macs": _share(layer.macs, total_macs), "block": layer.block, "status": layer.status,
        "frames": layer.frames, "note": layer.note or None,
        "exact": layer.exact, "params_exact": layer.params_exact, "shape_origin": layer.shape_origin or None,
        "children": [_layer(child, total_macs, frames) for child in layer.children],
    }


def _shape(shape) -> list:
    return list(shape)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _elements(shape, frames) -> int:
    return math.prod((frames or 1) if d is None else d for d in shape[1:]) if shape else 0


def emit(documents: Sequence[dict[str, Any]], context: RenderContext) -> str:
    """One model: its document; several: {"schema_version", "models": [...]}."""
    if len(documents) == 1:
        return dumps(documents[0])
    return dumps({"schema_version": SCHEMA_VERSION, "models": list(documents)})


def dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
