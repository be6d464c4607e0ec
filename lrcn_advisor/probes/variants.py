"""The variants a probe suite trains: the baseline, each finding's fix, and the guide's
four questions (conv depth, pooling, dropout, recurrent depth) asked of this model."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from lrcn_advisor.ir_view import before_recurrent, feature_stack, pair, recurrent_layers

from .. import edits
from ..analyze import reanalyse
from ..errors import InputError
from ..ir import GraphSpec, LayerInfo, ModelIR
from ..result import Finding
from .kinds import PROBE_KINDS

FRAME_LAYER_KINDS = ("conv", "pool", "norm", "activation")  # a block's dropout stays
DROPOUT_CLASSES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")


@dataclass
class Variant:
    id: str
    description: str
    edit: str | None            # the architecture change; None for the baseline
    graph: GraphSpec
    ir: ModelIR
    question: str | None = None  # the guide question a general variant answers
    findings: list[Finding] = field(default_factory=list)  # findings whose fix this is
    kind: str | None = None      # an extra variant's probe kind (its verdict's rule is case:<id>)

    @property
    def key(self) -> str:
        return graph_hash(self.graph) + ("" if self.kind is None else f"/{self.id}")


@dataclass
class Unprobed:
    """A finding with a probe kind whose fix could not be turned into a variant."""

    finding: Finding
    reason: str


def graph_hash(graph: GraphSpec) -> str:
    text = json.dumps(dataclasses.asdict(graph), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def probe_kind(finding: Finding) -> str | None:
    return finding.probe if finding.probe in PROBE_KINDS else None


def build_variants(ir: ModelIR, findings: list[Finding], only: tuple[str, ...] = (),
                   extra: tuple = ()) -> tuple[list[Variant], list[Unprobed]]:
    """Baseline first, then one variant per rule (the fix the user would apply: every flagged layer
    of that rule changed together), then the guide's questions; identical architectures are merged.
    `only` keeps just those rule ids and guide:<question> names (empty: all)."""
    variants = [Variant("baseline", "the model as saved", None, ir.graph, ir)]
    unprobed: list[Unprobed] = []
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.edit is None or probe_kind(finding) is None or finding.suppressed or finding.in_baseline:
            continue
        if only and finding.rule not in only:
            continue
        groups.setdefault(finding.rule, []).append(finding)
    for rule, group in groups.items():
        edit = group[0].edit if len(group) == 1 else edits.chain(
            "; ".join(finding.edit.description for finding in group), *[finding.edit for finding in group])
        variant = _variant(ir, f"fix-{rule.lower()}", f"{rule} fix: {edit.description}", edit)
        merged = variant if isinstance(variant, str) else _merge(variants, variant)
        if isinstance(merged, str) or merged is variants[0]:
            reason = merged if isinstance(merged, str) else "the fix does not change the architecture"
            unprobed += [Unprobed(finding, reason) for finding in group]
        else:
            merged.findings.extend(group)
    for question, make in GUIDE_QUESTIONS.items():
        if only and f"guide:{question}" not in only:
            continue
        proposal = make(ir)
        if proposal is None:
            continue
        variant_id, description, edit = proposal
        variant = _variant(ir, variant_id, description, edit)
        merged = None if isinstance(variant, str) else _merge(variants, variant)
        if merged is not None and merged is not variants[0]:
            merged.question = merged.question or question
    for item in extra:  # never merged: an A/A copy must be trained as its own arm
        if item.edit is None:
            variants.append(Variant(item.id, item.description or "a copy of the baseline (A/A control)",
                                    "no change (A/A copy)", ir.graph, ir, kind=item.kind))
            continue
        made = _variant(ir, item.id, item.description or item.edit.description, item.edit)
        if isinstance(made, str):
            raise InputError(f"extra variant {item.id}: {made}")
        made.kind = item.kind
        variants.append(made)
    return variants, unprobed


def _variant(ir: ModelIR, variant_id: str, description: str, edit: edits.Edit) -> Variant | str:
    """The edited, analysed variant, or the reason it cannot be made."""
    try:
        graph = edit(ir.graph)
        return Variant(variant_id, description, edit.description, graph, reanalyse(ir, graph))
    except (InputError, KeyError, ValueError) as error:
        return f"the fix cannot be applied to the architecture ({error})"


def _merge(variants: list[Variant], variant: Variant) -> Variant:
    for existing in variants:
        if existing.key == variant.key:
            return existing
    ids = {v.id for v in variants}
    base, n = variant.id, 2
    while variant.id in ids:
        variant.id, n = f"{base}-{n}", n + 1
    variants.append(variant)
    return variant


# ---- the guide's four questions, asked in the direction the model invites ----------------

def conv_depth(ir: ModelIR):
    """Three or more conv blocks: drop the last one; fewer: add a 3x3 conv to the last one."""
    blocks = [block for block in ir.blocks if block.stage == "conv"]
    if len(blocks) >= 3:
        names = [name for name in blocks[-1].layers if ir.layer(name).kind in FRAME_LAYER_KINDS]
        description = f"remove the last conv block ({', '.join(names)})"
        return "conv-fewer", description, edits.remove_layers(names, description)
    convs = [layer for layer in before_recurrent(ir) if layer.kind == "conv" and layer.time_distributed]
    if not convs or convs[-1].inner_class != "Conv2D":
        return None
    last = convs[-1]
    config = {"filters": last.config.get("filters"), "kernel_size": [3, 3], "padding": "same",
              "activation": "relu", "data_format": last.config.get("data_format", "channels_last")}
    description = f"add a 3x3 conv layer after `{last.name}`"
    return "conv-more", description, edits.insert_after(
        last.name, edits.time_distributed(f"{last.name}_probe_conv", "Conv2D", **config), description)


def pooling(ir: ModelIR):
    """Halve the largest pooling window above 2; else remove the last pooling layer when the final
    map is under 4x4, or double it when the map is larger."""
    pools = [layer for layer in before_recurrent(ir) if layer.kind == "pool" and layer.time_distributed
             and not layer.inner_kind_class.startswith("Global") and layer.inner_kind_class.endswith("2D")]
    if not pools:
        return None
    size = {layer.name: pair(layer.config.get("pool_size"), 2)[0] for layer in pools}
    largest = max(pools, key=lambda layer: size[layer.name])
    if size[largest.name] >= 3:
        new = size[largest.name] // 2
        description = f"pooling {size[largest.name]}x{size[largest.name]} -> {new}x{new} at `{largest.name}`"
        return "pool-less", description, edits.set_config(largest.name, description, pool_size=[new, new],
                                                          strides=[new, new])
    last = pools[-1]
    final = feature_stack(ir).final_hw
    if final is not None and min(final) >= 4:
        new = 2 * size[last.name]
        description = f"pooling {size[last.name]}x{size[last.name]} -> {new}x{new} at `{last.name}`"
        return "pool-more", description, edits.set_config(last.name, description, pool_size=[new, new],
                                                          strides=[new, new])
    description = f"remove the pooling layer `{last.name}`"
    return "pool-less", description, edits.remove_layers([last.name], description)


def dropout(ir: ModelIR):
    """Halve dropout rates of 0.5 and more; remove lower ones; add Dropout(0.5) when there is none."""
    drops = [layer for layer in ir.layers if layer.inner_kind_class in DROPOUT_CLASSES]
    rates = {layer.name: float(layer.config.get("rate") or 0.0) for layer in drops}
    if drops and max(rates.values()) >= 0.5:
        description = "halve every dropout rate"
        return "dropout-half", description, edits.chain(description, *[
            edits.set_config(name, "", rate=round(rate / 2, 4)) for name, rate in rates.items()])
    if drops:
        description = "remove every dropout layer"
        return "dropout-none", description, edits.remove_layers(list(rates), description)
    stack = recurrent_layers(ir)
    if not stack:
        return None
    description = f"add Dropout(0.5) after `{stack[-1].name}`"
    return "dropout-add", description, edits.insert_after(
        stack[-1].name, edits.plain_layer(f"{stack[-1].name}_probe_dropout", "Dropout", rate=0.5), description)


def lstm_depth(ir: ModelIR):
    """Two or more recurrent layers: keep the first half; one: stack a copy before it."""
    stack = recurrent_layers(ir)
    if len(stack) >= 2:
        keep, drop = stack[:math.ceil(len(stack) / 2)], stack[math.ceil(len(stack) / 2):]
        description = f"recurrent stack {len(stack)} -> {len(keep)} layers (remove {', '.join(l.name for l in drop)})"
        sequences = bool(stack[-1].config.get("return_sequences", False))
        return "lstm-shallower", description, edits.chain(
            description, edits.remove_layers([layer.name for layer in drop], ""),
            edits.set_config(keep[-1].name, "", return_sequences=sequences))
    if len(stack) == 1 and len(stack[0].inputs) == 1:
        description = f"stack a second {stack[0].inner_kind_class} before `{stack[0].name}`"
        return "lstm-deeper", description, edits.insert_after(stack[0].inputs[0], _stacked_copy(ir, stack[0]),
                                                               description)
    return None


def _stacked_copy(ir: ModelIR, layer: LayerInfo):
    spec = copy.deepcopy(next(s for s in ir.graph.layers if s.name == layer.name))
    for part in filter(None, [spec, spec.wrapped, spec.backward]):
        part.name = f"{part.name}_probe_stack"
        part.config["name"] = part.name
    for leaf in filter(None, [spec.wrapped or spec, spec.backward]):
        leaf.config["return_sequences"] = True
    spec.calls = []
    return spec


GUIDE_QUESTIONS = {"conv-depth": conv_depth, "pooling": pooling, "dropout": dropout, "lstm-depth": lstm_depth}
