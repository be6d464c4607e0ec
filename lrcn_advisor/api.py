"""The Python API: `advise(model) -> Report`, for a model file or a live Keras or PyTorch model.

    >>> from lrcn_advisor import advise
    >>> report = advise("model.keras", frames=32)          # doctest: +SKIP
    >>> report.totals.macs, [f.rule for f in report.findings]  # doctest: +SKIP

The numbers, rules and reports are the CLI's: the command line is a thin user of this module.
A live Keras model is read through `get_config()` (never saved, never called); a live PyTorch
module is exported in memory with `torch.onnx.export` and read by the ONNX loader. Neither
TensorFlow nor PyTorch is imported here: a live model brings its own framework along.
"""
from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .config import Settings, find_config, load_settings, parse_settings
from .cost import DEFAULT_COST_MODEL, CostModel
from .errors import AdvisorError, ConfigError, InputError
from .ir import Block, LayerInfo, LoadedModel, ModelIR
from .result import Finding, Gate, Result
from .vocabulary import FailOn, FrameSource, Severity

__all__ = ["advise", "Report", "Totals", "Gate", "Finding", "LayerInfo", "Block", "Severity", "FailOn",
           "AdvisorError", "InputError", "ConfigError"]

ProbeMode = Literal["off", "auto", "on"]
FailLevel = FailOn | Literal["error", "warning", "info", "never"]
ConfigLike = str | os.PathLike[str] | Settings | Mapping[str, Any] | None


@dataclass(frozen=True)
class Totals:
    """Whole-model counts: parameters (Keras' count_params() convention) and MACs per clip."""

    params: int
    trainable_params: int
    non_trainable_params: int
    macs: int
    flops: int  # 2 x MACs


@dataclass(frozen=True)
class Report:
    """One model's analysis, findings and (when run) probe results, with every report format.

    `findings` are the active ones (what the gate judges); `suppressed` holds those a config
    suppression or a baseline hides. `fail_on` is the gate's default level (from the config)."""

    result: Result
    settings: Settings

    # ---- the numbers
    @property
    def ir(self) -> ModelIR:
        return self.result.ir

    @property
    def name(self) -> str:
        return self.result.ir.name

    @property
    def path(self) -> str:
        return self.result.display_path or self.result.ir.path

    @property
    def frames(self) -> int | None:
        return self.result.ir.frames

    @property
    def layers(self) -> list[LayerInfo]:
        return list(self.result.ir.layers)

    @property
    def blocks(self) -> list[Block]:
        return list(self.result.ir.blocks)

    @property
    def totals(self) -> Totals:
        ir = self.result.ir
        return Totals(params=ir.params, trainable_params=ir.trainable_params,
                      non_trainable_params=ir.params - ir.trainable_params, macs=ir.macs, flops=2 * ir.macs)

    # ---- the findings and the gate
    @property
    def findings(self) -> list[Finding]:
        return list(self.result.active)

    @property
    def suppressed(self) -> list[Finding]:
        return [f for f in self.result.findings if f.suppressed or f.in_baseline]

    @property
    def warnings(self) -> list[str]:
        return list(self.result.warnings)

    @property
    def notes(self) -> list[str]:
        return list(self.result.ir.notes)

    @property
    def budget_failures(self) -> list[str]:
        return list(self.result.budget_failures)

    @property
    def fail_on(self) -> FailOn:
        return FailOn(self.settings.fail_on)

    def gate(self, fail_on: FailLevel | None = None) -> Gate:
        """The pass/fail verdict at `fail_on` (default: the config's, else error)."""
        return Gate.of([self.result], FailOn(fail_on) if fail_on is not None else self.fail_on)

    def exit_code(self, fail_on: FailLevel | None = None) -> int:
        """What the CLI would exit with: 1 when the gate fails, else 0."""
        return 1 if self.gate(fail_on).failed else 0

    # ---- the reports
    def document(self) -> dict[str, Any]:
        """The versioned JSON document (docs/json-schema.md) as a dict."""
        return _documents([self])[0]

    def render(self, fmt: str, *, fail_on: FailLevel | None = None, verbose: bool = False) -> str:
        """Any registered format (lrcn_advisor.reports.FORMATS): table, json, sarif, junit, markdown, ..."""
        return render_reports([self], fmt, fail_on=fail_on, verbose=verbose)

    def to_json(self) -> str:
        return self.render("json")

    def to_sarif(self) -> str:
        return self.render("sarif")

    def to_junit(self, fail_on: FailLevel | None = None) -> str:
        return self.render("junit", fail_on=fail_on)

    def to_markdown(self, fail_on: FailLevel | None = None) -> str:
        return self.render("markdown", fail_on=fail_on)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The self-contained HTML report; also written to `path` when given."""
        page = self.render("html")
        if path is not None:
            from .output import write_atomic
            write_atomic(Path(path), page)
        return page

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the gate verdict, the findings and the block MACs chart."""
        return self.render("html-fragment")

    def __str__(self) -> str:
        return self.render("table")


def advise(model: Any, *, frames: int | None = None, config: ConfigLike = None, probes: ProbeMode = "off",
           example_input: Any = None, fail_on: FailLevel | None = None, max_params: int | None = None,
           max_macs: int | None = None, train_samples: int | None = None, select: Sequence[str] = (),
           ignore: Sequence[str] = (), baseline: str | os.PathLike[str] | Iterable[str] | None = None,
           probe_options: Any = None, cost_model: CostModel | None = None) -> Report:
    """Analyse a model the way `lrcn-advise MODEL` does and return its Report.

    model: a path (.h5, .keras, .json, .onnx), a live Keras model, a live `torch.nn.Module`
        (then `example_input` is required: a tensor, or a tuple of them, of the input's shape,
        e.g. (1, T, C, H, W)), or an `onnx.ModelProto` / its bytes.
    frames: clip length T for the costs (overrides the file's or sets an unknown one).
    config: a config file (lrcn-advise.toml or pyproject.toml), the `[tool.lrcn-advise]` table as
        a dict, or Settings; None searches upward from the model file (the cwd for a live model).
    probes: "off" (default), "auto" (only with a GPU) or "on": verify findings by short training
        runs (`probe_options`: a lrcn_advisor.probes.ProbeOptions for data, budget, seeds ...).
    fail_on, max_params, max_macs, train_samples, select, ignore: as the CLI options of those names.
    baseline: a baseline file from `--write-baseline`, or fingerprints: matching findings are hidden.
    cost_model: a lrcn_advisor.cost.CostModel (e.g. `CostModel().with_handler("Dense", fn)`) used for
        the model's counts and every fix's recount; None: the cost model of docs/cost-model.md.

    Bad input raises AdvisorError (InputError, ConfigError) with a one-line message.
    """
    path = _as_path(model)
    start = path if path is not None else Path.cwd()
    settings = apply_overrides(read_config(config, start), frames=frames, fail_on=fail_on, max_params=max_params,
                               max_macs=max_macs, train_samples=train_samples, select=select, ignore=ignore)
    costs = DEFAULT_COST_MODEL if cost_model is None else cost_model
    if path is not None:
        from .pipeline import analyse_file
        result = analyse_file(path, settings, costs)
    else:
        from .pipeline import check_model
        loaded = load_live(model, example_input)
        result = check_model(loaded, settings, display_path=loaded.path, cost_model=costs)
    if baseline is not None:
        from .baseline import apply_baseline, load_baseline
        prints = load_baseline(Path(baseline)) if isinstance(baseline, (str, os.PathLike)) else set(baseline)
        apply_baseline([result], prints)
    if probes != "off":
        result = _probed(result, probes, probe_options)
    return Report(result, settings)


# ---- settings -------------------------------------------------------------------

def read_config(config: ConfigLike, start: Path) -> Settings:
    """Settings from a config file, a `[tool.lrcn-advise]` mapping or Settings; None: found upward from `start`."""
    from .rules import REGISTRY

    if isinstance(config, Settings):
        return config
    if isinstance(config, Mapping):
        return parse_settings(dict(config), "config", REGISTRY)
    if config is None:
        return load_settings(find_config(start), REGISTRY)
    source = Path(config)
    if not source.is_file():
        raise ConfigError(f"{source}: config file not found")
    return load_settings(source, REGISTRY)


def apply_overrides(settings: Settings, *, frames: int | None = None, fail_on: FailLevel | None = None,
                    max_params: int | None = None, max_macs: int | None = None, train_samples: int | None = None,
                    select: Sequence[str] = (), ignore: Sequence[str] = ()) -> Settings:
    """The config's settings with the caller's values on top (None / empty: keep the config's)."""
    from .config import check_fail_on
    from .rules import REGISTRY

    for pattern in [*select, *ignore]:
        if not any(rule_id.startswith(pattern.upper()) for rule_id in REGISTRY):
            raise ConfigError(f"--select/--ignore: {pattern!r} matches no rule")
    for key, number in (("frames", frames), ("max-params", max_params), ("max-macs", max_macs),
                        ("train-samples", train_samples)):
        if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number <= 0):
            raise ConfigError(f"{key}: must be a positive integer, got {number!r}")
    settings = replace(
        settings,
        select=[p.upper() for p in select] if select else list(settings.select),
        ignore=[*settings.ignore, *(p.upper() for p in ignore)],
        fail_on=check_fail_on(str(fail_on), "--fail-on") if fail_on is not None else settings.fail_on,
        max_params=max_params if max_params is not None else settings.max_params,
        max_macs=max_macs if max_macs is not None else settings.max_macs,
        train_samples=train_samples if train_samples is not None else settings.train_samples,
    )
    if frames is not None:
        settings = replace(settings, frames=frames, frames_source=FrameSource.OPTION)
    return settings


# ---- live models ------------------------------------------------------------------

def _as_path(model: Any) -> Path | None:
    if isinstance(model, (str, os.PathLike)):
        return Path(model)
    return None


def _module_of(model: Any) -> str:
    return type(model).__module__.split(".")[0]


def load_live(model: Any, example_input: Any = None) -> LoadedModel:
    """A live Keras model, torch.nn.Module or ONNX ModelProto/bytes as a LoadedModel (nothing written to disk)."""
    from .load import load_onnx_in_memory

    if isinstance(model, (bytes, bytearray)):
        return load_onnx_in_memory(bytes(model), "<onnx bytes>")
    family = _module_of(model)
    if family == "onnx" and type(model).__name__ == "ModelProto":
        return load_onnx_in_memory(model, f"<onnx {model.graph.name or 'model'}>")
    if family in ("keras", "tf_keras", "tensorflow") and hasattr(model, "get_config"):
        return _from_keras(model)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        if example_input is None:
            raise InputError("a PyTorch module needs example_input= (a tensor shaped like one batch, "
                             "e.g. torch.zeros(1, T, C, H, W))")
        return _from_torch(model, example_input)
    raise InputError(f"cannot analyse a {type(model).__module__}.{type(model).__qualname__}: pass a model file "
                     "path, a Keras model, a torch.nn.Module (with example_input=) or an ONNX ModelProto")


def _from_keras(model: Any) -> LoadedModel:
    """What saving would write (config.json of a .keras file, model_config of an .h5), read as data.

    `to_json()` serialises `get_config()`; the model is neither saved nor called."""
    from .load import load_keras_config

    name = f"<keras {getattr(model, 'name', 'model')}>"
    try:
        config = json.loads(model.to_json())
    except (TypeError, ValueError, NotImplementedError) as error:
        raise InputError(f"{name}: its config cannot be serialised ({type(error).__name__}: "
                         f"{(str(error).splitlines() or [''])[0][:160]})") from None
    if not isinstance(config, dict):
        raise InputError(f"{name}: to_json() did not give a model config")
    framework = sys.modules.get(_module_of(model))
    return load_keras_config(config, name, str(getattr(framework, "__version__", "")))


def _from_torch(module: Any, example_input: Any) -> LoadedModel:
    """Export in memory with torch.onnx.export (TorchScript exporter, then dynamo) and read the ONNX graph.

    The TorchScript exporter names nodes and weights after the module path (features.0, lstm),
    which the ONNX loader keeps as layer names. The module is put in eval mode for the export and
    its mode restored afterwards."""
    import warnings

    from .load import load_onnx_in_memory

    torch = sys.modules["torch"]
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    name = f"<torch {type(module).__name__}>"
    was_training = module.training
    module.eval()
    errors = []
    try:
        for dynamo in (False, True):
            buffer = io.BytesIO()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if dynamo:
                        program = torch.onnx.export(module, args, dynamo=True, verbose=False)
                        data = program.model_proto.SerializeToString()
                    else:
                        with torch.no_grad():
                            torch.onnx.export(module, args, buffer, dynamo=False, input_names=["input"])
                        data = buffer.getvalue()
            except Exception as error:  # an exporter's own failure: try the other, then report both
                errors.append(f"{'dynamo' if dynamo else 'TorchScript'}: {type(error).__name__}: "
                              f"{(str(error).splitlines() or [''])[0][:160]}")
                continue
            loaded = load_onnx_in_memory(data, name)
            exporter = "torch.onnx.export(dynamo=True)" if dynamo else "torch.onnx.export (TorchScript)"
            return replace(loaded, notes=(f"exported in memory with {exporter} from {type(module).__name__}",
                                          *loaded.notes))
    finally:
        module.train(was_training)
    raise InputError(f"{name}: torch.onnx.export failed ({'; '.join(errors)})")


# ---- probes and rendering ------------------------------------------------------------

def _probed(result: Result, mode: ProbeMode, probe_options: Any, interactive: bool = False) -> Result:
    from .probes import ProbeOptions, run_probes
    from .progress import progress_printer

    options = probe_options if probe_options is not None else ProbeOptions()
    model_path = Path(result.ir.path) if Path(result.ir.path).is_file() else None
    options = replace(options, mode=mode, model_path=model_path)  # from_weights stays what the caller set
    with progress_printer(interactive) as progress:
        return replace(result, probes=run_probes(result.ir, result.findings, options, progress=progress))


def _documents(reports: Sequence[Report]) -> list[dict[str, Any]]:
    from .reports.json_report import result_to_dict
    return [result_to_dict(report.result) for report in reports]


def render_reports(reports: Sequence[Report], fmt: str, *, fail_on: FailLevel | None = None, verbose: bool = False,
                   color: bool = False, width: int = 140, documents: Sequence[dict[str, Any]] | None = None) -> str:
    """Render several models' reports in one format, with one gate verdict over all of them."""
    from .reports import RenderContext, render

    if not reports:
        raise ValueError("no reports to render")
    settings = reports[0].settings
    level = FailOn(fail_on) if fail_on is not None else FailOn(settings.fail_on)
    context = RenderContext(gate=Gate.of([r.result for r in reports], level), rules=enabled_rules(settings),
                            docs_url=settings.docs_url or None, verbose=verbose, color=color, width=width)
    return render(fmt, documents if documents is not None else _documents(reports), context)


def enabled_rules(settings: Settings) -> tuple[str, ...]:
    from .rules import REGISTRY
    return tuple(rule for rule in sorted(REGISTRY) if settings.enabled(rule))


