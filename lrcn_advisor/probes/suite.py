"""run_probes: train the baseline and its variants over seeds, and judge the findings."""
from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..ir import ModelIR
from ..result import Finding
from . import runtime
from .build import BuildError, build_model
from .cache import ProbeCache
from .gpu import NO_GPU, OFF, gpu_visible
from .data import DataError, data_spec, load_dataset
from .executors import make_executor
from .judge import STOP_BUDGET, STOP_DECIDED, STOP_MAX_SEEDS, judge, outcome, questions
from .options import DEFAULT_BUDGET, DEFAULT_SEEDS, Budget, ProbeOptions, seeds_warning
from .report import ProbeReport, VariantResult
from .runtime import ProbeUnavailable
from .train import (TIMING_SHARE, LossSpec, RunRecord, Task, WeightsSource, eval_steps, interleaved_ratio, loss_spec,
                    run_task)
from .variants import Variant, build_variants, graph_hash
from .verdict import INCONCLUSIVE, MIN_SEEDS, Plan, planned

DESIGN_VERSION = 4  # v3 + up to 200 steps on a CPU, looks planned from the budget, validation split = training split

Progress = Callable[[int, int, str], None]  # (finished runs, planned runs, label)
BATCH_SIZE = 16
CALIBRATION_STEPS = 4
MIN_STEPS = 5
MAX_STEPS = 200             # steps per run, on a GPU or a CPU
REPORT_RESERVE_S = 3.0     # left at the end of a time budget for writing the reports
FIRST_ROUNDS_SHARE = 0.7   # the first three seeds of every arm get about this share of a time budget
SMOKE = ("CPU run: only short training fits the budget; a decided verdict holds for these short runs "
         "(its interval keeps the stated error rate), and undecided ones need a GPU or a longer --probe-budget")


class ProbeFailed(Exception):
    """The suite started but could not finish (the baseline does not train, ...)."""


def run_probes(ir: ModelIR, findings: list[Finding], opts: ProbeOptions,
               progress: Progress | None = None) -> ProbeReport:
    """Train the variants the findings and the guide's questions call for; never raises for
    probe problems: the report's status and reason say what happened."""
    opts.validate()
    if opts.mode == "off":
        return ProbeReport("skipped", reason=OFF)
    if opts.mode == "auto" and not gpu_visible():
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
        self.done = self.planned = 0
        self.started = time.monotonic()
        self.deadline: float | None = None
        self.budget_text = ""
        self.walls: dict[str, list[float]] = {}   # trained (not cached) run times per variant
        self.timed: set[str] = set()
        self.round_tasks: list[Task] = []
        self.macs: dict[str, int] = {}
        self.compile_s = 0.0

    def run(self) -> ProbeReport:
        ir, opts = self.ir, self.opts
        self._check_model()
        loss = _loss(ir)
        backend, device = self._backend()
        kind = "gpu" if device.gpu else "cpu"
        spec = data_spec(opts.data, tuple(ir.input_shapes[0][1:]), loss.classes)
        data = load_dataset(spec)
        _, build_notes = build_model(ir.graph, trust=opts.trust_model_code)
        variants, unprobed = build_variants(ir, self.findings, opts.only, opts.extra)
        weights = WeightsSource(str(opts.from_weights), ir.graph) if opts.from_weights else None
        checks = [check for v in variants[1:] for q in questions(variants[0], v) for check in q.checks]
        template = Task("baseline", 0, ir.graph, spec, loss, 0, BATCH_SIZE, backend, gpu=device.gpu,
                        trust=opts.trust_model_code, weights=weights,
                        train_metrics=any(check.metric == "gap" for check in checks))
        budget = Budget.parse(opts.budget or DEFAULT_BUDGET[kind])
        self.budget_text = budget.text
        if opts.budget_from_process_start:  # start-up, analysis and the Keras import count too
            self.started = time.monotonic() - runtime.process_age()
        if budget.seconds is not None:
            self.deadline = self.started + budget.seconds - REPORT_RESERVE_S
        identity = {"model": self._model_hash(), "data": data.fingerprint, "backend": backend, "device": kind,
                    "batch": BATCH_SIZE, "trust": opts.trust_model_code,
                    "weights": _file_hash(opts.from_weights) if opts.from_weights else None}
        notes = ([SMOKE] if not device.gpu else []) + build_notes
        warning = seeds_warning(opts.seeds)
        if warning:
            notes.append(warning)
        steps, estimate, dropped = (budget.steps, None, [])
        if budget.steps is None:
            steps, estimate, dropped = self._calibrate(budget, template, identity, variants)
        for variant in dropped:
            variants.remove(variant)
            notes.append(f"variant {variant.id} ({variant.description}) was not trained: the minimum design "
                         f"({MIN_SEEDS} seeds of every variant) does not fit the budget {budget.text}")
        plan = self._plan(opts.seeds, estimate, len(variants))
        template = replace(template, steps=steps)
        self.macs = {v.id: v.ir.macs for v in variants}
        # variants with a step-time expectation are timed interleaved with the baseline after each pair
        self.timed = {v.id for v in variants[1:] for q in questions(variants[0], v)
                      if any(check.metric == "step_time" for check in q.checks)}
        runs, stops, interrupted, stop_reason = self._sequential(variants, template, identity, budget, plan,
                                                                 estimate)
        source = str(opts.data) if opts.data else "generated"
        status, reason = self._status(runs["baseline"], interrupted)
        wall = round(time.monotonic() - self.started, 1)
        used = sorted({run.seed for run in runs["baseline"]})
        return ProbeReport(
            status, reason, smoke=not device.gpu, device=device.name, backend=backend,
            data=data.as_dict(source),
            budget={"text": budget.text, "seconds": budget.seconds, "steps": steps, "batch_size": BATCH_SIZE,
                    "per": "sweep" if budget.seconds is not None else "run",
                    "calibrated": budget.steps is None},
            seeds=used, variants=[_result(v, runs[v.id]) for v in variants],
            verdicts=judge(variants, runs, unprobed, _context(source, not device.gpu, steps), plan, stops,
                           self._seed_seconds(variants)),
            notes=notes,
            sequential={"min_seeds": MIN_SEEDS, "max_seeds": plan.max_seeds, "looks": plan.looks,
                        "alpha": plan.alpha, "alpha_per_look": round(plan.look_alpha, 6),
                        "method": "group-sequential t-intervals, Bonferroni alpha spending over the looks",
                        "stopped": stop_reason, "wall_s": wall,
                        "seeds_per_variant": {v.id: len(runs[v.id]) for v in variants}})

    # ---- the sequential design ------------------------------------------------------------------

    def _sequential(self, variants: list[Variant], template: Task, identity: dict, budget: Budget, plan: Plan,
                    estimate: float | None):
        """Seed by seed: the baseline and every undecided variant; after MIN_SEEDS seeds, stop each
        variant as soon as all its verdicts are decided. Returns (runs, stops, interrupted, why)."""
        runs: dict[str, list[RunRecord]] = {v.id: [] for v in variants}
        stops: dict[str, str] = {}
        baseline, active = variants[0], list(variants[1:])
        self.estimate = estimate
        self.planned = plan.max_seeds * len(variants)
        self._tick("starting")
        why = "all decided" if active else "no variants"
        for seed in range(plan.max_seeds):
            if not active and seed >= 1:
                break
            round_ = [baseline] + active
            tasks = [self._task(template, v, seed, identity, budget) for v in round_]
            # one run at a time in this process, each checked against the budget with the latest
            # estimates; a remote executor gets the round's runs that fit, all at once
            self.round_tasks = tasks
            batches = [[task] for task in tasks] if self.opts.executor == "local" else [tasks]
            finished = 0
            try:
                for batch in batches:
                    fitting = self._fitting(batch, round_tasks=tasks)
                    if fitting:
                        self._execute(fitting, runs)
                    finished += len(fitting)
                    if len(fitting) < len(batch):
                        break
            except KeyboardInterrupt:
                return runs, stops, True, "interrupted"
            if finished < len(tasks):
                for variant in active:
                    stops[variant.id] = STOP_BUDGET
                why = "budget exhausted"
                break
            if seed + 1 >= MIN_SEEDS:
                for variant in list(active):
                    decided = all(outcome(q, runs[baseline.id], runs[variant.id], plan) != INCONCLUSIVE
                                  for q in questions(baseline, variant))
                    if decided:
                        stops[variant.id] = STOP_DECIDED
                        active.remove(variant)
            self.planned = self.done + (plan.max_seeds - seed - 1) * (1 + len(active)) if active else self.done
        else:
            if active:
                why = f"reached the planned seeds (set by {plan.limit})"
        for variant in active:
            stops.setdefault(variant.id, STOP_MAX_SEEDS)
        self._tick("done")
        return runs, stops, False, why

    def _plan(self, most: int, estimate: float | None, arms: int) -> Plan:
        left = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        return planned(most, left, arms, estimate)

    def _task(self, template: Task, variant: Variant, seed: int, identity: dict, budget: Budget) -> Task:
        return replace(template, variant=variant.id, seed=seed, graph=variant.graph, loss=_loss(variant.ir, template.loss),
                       key=self.cache.key(**identity, variant=variant.key, arm=variant.id, seed=seed,
                                          steps=template.steps, design=DESIGN_VERSION))

    def _fitting(self, tasks: list[Task], round_tasks: list[Task] | None = None) -> list[Task]:
        """The leading tasks that should finish before the deadline (cached ones are free)."""
        if self.deadline is None:
            return tasks
        left = self.deadline - time.monotonic()
        fitting = []
        for task in tasks:
            cost = 0.0 if self.cache.get(task.key) is not None else self._run_estimate(task.variant)
            if cost > left:
                break
            left -= cost
            fitting.append(task)
        return fitting

    def _run_estimate(self, variant: str) -> float:
        """A run's expected wall time: the variant's own runs so far; before its first, the
        baseline's scaled by the MACs ratio, plus one compile."""
        own = self.walls.get(variant)
        if own:
            return statistics.fmean(own)
        base = self.walls.get("baseline")
        reference = statistics.fmean(base) if base else (self.estimate or 0.0)
        ratio = max(1.0, self.macs.get(variant, 1) / max(1, self.macs.get("baseline", 1)))
        return reference * ratio + (self.compile_s if variant != "baseline" or not base else 0.0)

    def _seed_seconds(self, variants: list[Variant]) -> dict[str, float]:
        base = self._run_estimate("baseline")
        return {v.id: round(base + self._run_estimate(v.id), 2) for v in variants[1:] if base}

    def _execute(self, tasks: list[Task], runs: dict[str, list[RunRecord]]) -> None:
        pending = []
        for task in tasks:
            stored = self.cache.get(task.key)
            if stored is None:
                pending.append(task)
            else:
                runs[task.variant].append(replace(RunRecord.from_dict(stored), cached=True))
                self.done += 1
        if len(pending) < len(tasks):
            self._tick(f"seed {tasks[0].seed}: {len(tasks) - len(pending)} cached")

        baselines = {task.seed: task for task in self.round_tasks + tasks if task.variant == "baseline"}

        def on_result(task: Task, record: RunRecord) -> None:
            base = baselines.get(task.seed)
            if (task.variant in self.timed and not record.error and base is not None
                    and self.opts.executor == "local" and any(not r.error and r.seed == task.seed
                                                                 for r in runs["baseline"])):
                began = time.perf_counter()
                try:
                    record.paired_step_ratio = round(interleaved_ratio(base, task, TIMING_SHARE * record.train_s), 6)
                except Exception as error:  # timing is a refinement: the run-level step times remain
                    record.notes.append(f"interleaved timing failed: {type(error).__name__}")
                record.wall_s = round(record.wall_s + time.perf_counter() - began, 3)
            if not record.error:
                self.cache.put(task.key, record.to_dict())
            runs[task.variant].append(record)
            self.done += 1
            self.walls.setdefault(task.variant, []).append(record.wall_s)
            self._tick(f"{task.variant} seed {task.seed}")
        make_executor(self.opts.executor, self.opts.ray_address).map(pending, on_result)

    def _tick(self, label: str) -> None:
        if self.progress is None:
            return
        elapsed = time.monotonic() - self.started
        text = f"{label} · {_clock(elapsed)}"
        if self.deadline is not None:
            text += f" of {self.budget_text}"
        left = max(0, self.planned - self.done)
        if left and (self.walls or self.estimate):
            eta = left * self._run_estimate("baseline")
            if self.deadline is not None:
                eta = min(eta, max(0.0, self.deadline - time.monotonic()))
            text += f" · ETA ≤ {_clock(eta)}"
        self.progress(self.done, max(self.planned, self.done), text)

    def _calibrate(self, budget: Budget, template: Task, identity: dict, variants: list[Variant]
                   ) -> tuple[int, float, list[Variant]]:
        """Steps per run from the baseline's measured step and evaluation time, so that the first
        MIN_SEEDS seeds of every variant take about FIRST_ROUNDS_SHARE of the sweep's time; guide-only
        variants are dropped (last first) while even MIN_STEPS do not fit. Measured once per cache."""
        key = self.cache.key(**identity, calibration=graph_hash(self.ir.graph), budget=budget.text,
                             arms=[v.key for v in variants], design=DESIGN_VERSION)
        stored = self.cache.get(key)
        if stored is None:
            self._tick("calibrating the step time")
            record = run_task(replace(template, steps=CALIBRATION_STEPS + 1, final_only=True))
            if record.error:
                raise ProbeFailed(f"the baseline does not train: {record.error}")
            # a run's fixed cost: re-initialising (about a second) plus each architecture's one compile,
            # spread over its first seeds
            stored = {"step_time_s": record.step_time_s, "eval_s": record.eval_s,
                      "setup_s": 1.0 + record.setup_s / MIN_SEEDS, "compile_s": record.setup_s}
            self.cache.put(key, stored)
        self.compile_s = float(stored.get("compile_s", 0.0))
        step, evaluation = stored["step_time_s"], stored["eval_s"]
        if isinstance(stored.get("steps"), int):  # a rerun keeps the steps (and so its cached runs)
            steps = stored["steps"]
            dropped = [v for v in variants if v.id in stored.get("dropped", [])]
            return steps, steps * step + len(eval_steps(steps)) * evaluation + stored["setup_s"], dropped
        dropped: list[Variant] = []
        while True:
            arms = len(variants) - len(dropped)
            left = max(0.0, self.deadline - time.monotonic()) if self.deadline else budget.seconds
            share = FIRST_ROUNDS_SHARE * left / (arms * MIN_SEEDS) - stored["setup_s"]
            steps = 0
            for evals in (3, 1):  # three evaluations when the run is long enough, else one
                steps = min(MAX_STEPS, int((share - evals * evaluation) / step)) if share > 0 else 0
                if len(eval_steps(max(steps, 1))) == evals:
                    break
            # guide questions go first, never one asked for by name, never the last variant
            guide_only = [v for v in variants[1:] if not v.findings and v.kind is None and v not in dropped
                          and f"guide:{v.question}" not in self.opts.only]
            if steps >= MIN_STEPS or not guide_only or arms <= 2:
                break
            dropped.append(guide_only[-1])
        steps = max(MIN_STEPS, steps)
        self.cache.put(key, {**stored, "steps": steps, "dropped": [v.id for v in dropped]})
        estimate = steps * step + len(eval_steps(steps)) * evaluation + stored["setup_s"]
        return steps, estimate, dropped

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
            return "failed", (f"interrupted after {self.done} runs; the finished runs are "
                              "cached and a rerun resumes from them")
        errors = [run.error for run in baseline if run.error]
        if errors and len(errors) == len(baseline):
            return "failed", f"the baseline does not train: {errors[0]}"
        if not baseline:
            return "failed", f"the budget {self.budget_text} ran out before the first run finished"
        return "ran", ""

    def _model_hash(self) -> str:
        path = self.opts.model_path
        return _file_hash(path) if path is not None and Path(path).is_file() else graph_hash(self.ir.graph)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _loss(ir: ModelIR, default: LossSpec | None = None) -> LossSpec:
    try:
        return loss_spec(ir)
    except ValueError as error:
        if default is not None:
            return default
        raise ProbeUnavailable(str(error)) from None


def _context(source: str, smoke: bool, steps: int) -> str:
    """What every verdict holds for: the data and the length of the runs."""
    text = ("Data: generated clips; this shows the effect on synthetic motion and appearance cues, "
            "not on your videos." if source == "generated" else f"Data: {source}.")
    length = f"{steps} training step{'s' if steps != 1 else ''} per run"
    return text + (f" CPU run: short training ({length})." if smoke else f" Runs of {length}.")


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
