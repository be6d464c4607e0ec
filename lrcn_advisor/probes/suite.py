"""run_probes: train the baseline and its variants over seeds, and judge the findings."""
from __future__ import annotations

import hashlib
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..ir import ModelIR
from ..result import Finding
from . import runtime
from .build import BuildError, build_model
from .cache import ProbeCache
from .data import DataError, data_spec, load_dataset
from .executors import make_executor
from .judge import judge
from .options import DEFAULT_BUDGET, Budget, ProbeOptions
from .report import ProbeReport, VariantResult
from .runtime import ProbeUnavailable
from .train import LossSpec, RunRecord, Task, WeightsSource, loss_spec, run_task
from .variants import Variant, build_variants, graph_hash

Progress = Callable[[int, int, str], None]  # (finished runs, all runs, label)
BATCH_SIZE = 16
CALIBRATION_STEPS = 6
MIN_STEPS = 5
NO_GPU = ("no GPU is visible, so the training probes were skipped (they need minutes of GPU time); "
          "--probes on forces a short CPU smoke run, --probes off silences this")
SMOKE = ("CPU smoke run: a tiny budget that shows the probes work on this model; its verdicts are "
         "not evidence either way, run on a GPU for those")


class ProbeFailed(Exception):
    """The suite started but could not finish (the baseline does not train, ...)."""


def run_probes(ir: ModelIR, findings: list[Finding], opts: ProbeOptions,
               progress: Progress | None = None) -> ProbeReport:
    """Train the variants the findings and the guide's questions call for; never raises for
    probe problems: the report's status and reason say what happened."""
    opts.validate()
    if opts.mode == "off":
        return ProbeReport("skipped", reason="probes are off (--probes off)")
    if opts.mode == "auto" and not runtime.gpu_visible():
        return ProbeReport("skipped", reason=NO_GPU)
    try:
        return _Suite(ir, findings, opts, progress).run()
    except (ProbeUnavailable, BuildError) as error:
        return ProbeReport("skipped", reason=str(error))
    except (DataError, ProbeFailed) as error:
        return ProbeReport("failed", reason=str(error))


class _Suite:
    def __init__(self, ir: ModelIR, findings: list[Finding], opts: ProbeOptions, progress: Progress | None):
        self.ir, self.findings, self.opts, self.progress = ir, findings, opts, progress
        self.cache = ProbeCache(opts.cache_dir)
        self.done = self.total = 0
        self.walls: list[float] = []

    def run(self) -> ProbeReport:
        ir, opts = self.ir, self.opts
        self._check_model()
        loss = _loss(ir)
        backend, device = self._backend()
        spec = data_spec(opts.data, tuple(ir.input_shapes[0][1:]), loss.classes)
        data = load_dataset(spec)
        _, build_notes = build_model(ir.graph, trust=opts.trust_model_code)
        variants, unprobed = build_variants(ir, self.findings)
        weights = WeightsSource(str(opts.from_weights), ir.graph) if opts.from_weights else None
        template = Task("baseline", 0, ir.graph, spec, loss, 0, BATCH_SIZE, backend, gpu=device.gpu,
                        trust=opts.trust_model_code, weights=weights)
        budget = Budget.parse(opts.budget or DEFAULT_BUDGET["gpu" if device.gpu else "cpu"])
        identity = {"model": self._model_hash(), "data": data.fingerprint, "backend": backend,
                    "device": "gpu" if device.gpu else "cpu", "batch": BATCH_SIZE, "trust": opts.trust_model_code,
                    "weights": _file_hash(opts.from_weights) if opts.from_weights else None}
        steps = budget.steps or self._calibrate(budget, template, identity)
        seeds = list(range(opts.seeds))
        tasks = [replace(template, variant=v.id, seed=seed, graph=v.graph, loss=_loss(v.ir, loss), steps=steps,
                         key=self.cache.key(**identity, variant=v.key, seed=seed, budget=budget.text, steps=steps))
                 for seed in seeds for v in variants]  # seed-major: the runs of a pair train close in time
        runs, interrupted = self._execute(tasks, variants)
        source = str(opts.data) if opts.data else "generated"
        status, reason = self._status(runs["baseline"], interrupted)
        return ProbeReport(
            status, reason, smoke=not device.gpu, device=device.name, backend=backend,
            data=data.as_dict(source),
            budget={"text": budget.text, "steps": steps, "batch_size": BATCH_SIZE, "per": "run",
                    "calibrated": budget.seconds is not None},
            seeds=seeds, variants=[_result(v, runs[v.id]) for v in variants],
            verdicts=judge(variants, runs, unprobed, _context(source, not device.gpu)),
            notes=([SMOKE] if not device.gpu else []) + build_notes)

    def _check_model(self) -> None:
        if len(self.ir.input_shapes) != 1:
            raise ProbeUnavailable(f"probes train single-input models; this one has {len(self.ir.input_shapes)} "
                                   "inputs")
        if self.opts.from_weights and self.ir.format == "onnx":
            raise ProbeUnavailable("--from-weights reads Keras weights; an ONNX model's variants start from "
                                   "fresh weights (run without --from-weights)")

    def _backend(self) -> tuple[str, runtime.Device]:
        backend = runtime.choose_backend()
        runtime.import_keras(backend, home=self.opts.cache_dir / "keras")
        device = runtime.device(backend)
        if self.opts.mode == "auto" and not device.gpu:
            raise ProbeUnavailable(f"a GPU is visible but the installed {backend} cannot use it; "
                                   "--probes on forces a CPU smoke run")
        return backend, device

    def _status(self, baseline: list[RunRecord], interrupted: bool) -> tuple[str, str]:
        if interrupted:
            return "failed", (f"interrupted after {self.done} of {self.total} runs; the finished runs are "
                              "cached and a rerun resumes from them")
        errors = [run.error for run in baseline if run.error]
        if errors and len(errors) == len(baseline):
            return "failed", f"the baseline does not train: {errors[0]}"
        return "ran", ""

    def _execute(self, tasks: list[Task], variants: list[Variant]) -> tuple[dict[str, list[RunRecord]], bool]:
        runs: dict[str, list[RunRecord]] = {v.id: [] for v in variants}
        pending = []
        for task in tasks:
            stored = self.cache.get(task.key)
            if stored is None:
                pending.append(task)
            else:
                runs[task.variant].append(replace(RunRecord.from_dict(stored), cached=True))
        self.total, self.done = len(tasks), len(tasks) - len(pending)
        self._tick(f"{len(pending)} runs to train" + (f", {self.done} cached" if self.done else ""))

        def on_result(task: Task, record: RunRecord) -> None:
            if not record.error:
                self.cache.put(task.key, record.to_dict())
            runs[task.variant].append(record)
            self.done += 1
            self.walls.append(record.wall_s)
            self._tick(f"{task.variant} seed {task.seed}")
        try:
            make_executor(self.opts.executor, self.opts.ray_address).map(pending, on_result)
        except KeyboardInterrupt:
            return runs, True
        return runs, False

    def _tick(self, label: str) -> None:
        if self.progress is None:
            return
        if self.walls and self.done < self.total:
            eta = statistics.fmean(self.walls) * (self.total - self.done)
            label += f" · ETA {int(eta // 60)}m{int(eta % 60):02d}s"
        self.progress(self.done, self.total, label)

    def _calibrate(self, budget: Budget, template: Task, identity: dict) -> int:
        """Turn a time budget into steps from the baseline's step time, once per cache."""
        key = self.cache.key(**identity, calibration=graph_hash(self.ir.graph), budget=budget.text)
        stored = self.cache.get(key)
        if stored is not None and isinstance(stored.get("steps"), int):
            return stored["steps"]
        record = run_task(replace(template, steps=CALIBRATION_STEPS, evaluate=False))
        if record.error:
            raise ProbeFailed(f"the baseline does not train: {record.error}")
        steps = max(MIN_STEPS, int(budget.seconds / record.step_time_s))
        self.cache.put(key, {"steps": steps, "step_time_s": record.step_time_s})
        return steps

    def _model_hash(self) -> str:
        path = self.opts.model_path
        return _file_hash(path) if path is not None and Path(path).is_file() else graph_hash(self.ir.graph)


def _loss(ir: ModelIR, default: LossSpec | None = None) -> LossSpec:
    try:
        return loss_spec(ir)
    except ValueError as error:
        if default is not None:
            return default
        raise ProbeUnavailable(str(error)) from None


def _context(source: str, smoke: bool) -> str:
    text = ("Data: generated clips; this shows the effect on synthetic motion and appearance cues, "
            "not on your videos." if source == "generated" else f"Data: {source}.")
    return text + (" CPU smoke run." if smoke else "")


def _result(variant: Variant, runs: list[RunRecord]) -> VariantResult:
    notes = list(dict.fromkeys(note for run in runs for note in run.notes))
    return VariantResult(variant.id, variant.description, variant.edit, variant.ir.params, variant.ir.macs,
                         sorted(runs, key=lambda run: run.seed), notes)


def _file_hash(path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
