"""One probe run: train one variant with one seed on the shared data split.

`run_task(task) -> RunRecord` is a pure function of picklable inputs, so any
executor (in-process, or a cluster worker) can run it.
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..ir import GraphSpec, ModelIR
from . import runtime
from .build import build_model, load_saved_weights
from .data import DataSpec, load_dataset

LEARNING_RATE = 1e-3
EVAL_BATCH = 32
GRADIENT_SCALE = 256.0  # keeps small float16 gradients from underflowing in the norm measurement


@dataclass(frozen=True)
class LossSpec:
    kind: str          # sparse (softmax/logits over classes) | binary (one sigmoid/logit unit)
    from_logits: bool
    classes: int


@dataclass(frozen=True)
class WeightsSource:
    path: str
    graph: GraphSpec   # the architecture the weights were saved for


@dataclass
class Task:
    variant: str
    seed: int
    graph: GraphSpec
    data: DataSpec
    loss: LossSpec
    steps: int
    batch_size: int
    backend: str
    gpu: bool = False
    trust: bool = False
    weights: WeightsSource | None = None
    evaluate: bool = True   # False: time the steps only (budget calibration)
    train_metrics: bool = True  # also score a training subset (loss, accuracy, gap) at each evaluation
    final_only: bool = False    # evaluate once, at the end (budget calibration)
    key: str = ""           # cache key


@dataclass
class EpochRecord:
    """One evaluation during a run (`epoch` numbers the evaluations, `step` says when)."""

    epoch: int
    loss: float | None            # on a fixed training subset, in inference mode
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    gap: float | None             # accuracy - val_accuracy
    step_time_s: float            # median training step, batch assembly included
    peak_memory_mb: float
    grad_norms: dict[str, float]  # per layer, on a fixed training batch (the final evaluation only)
    step: int = 0                 # the training steps done before this evaluation


@dataclass
class RunRecord:
    variant: str
    seed: int
    epochs: list[EpochRecord] = field(default_factory=list)
    wall_s: float = 0.0
    step_time_s: float | None = None   # lower quartile over the run, the first (compiling) step left out
    notes: list[str] = field(default_factory=list)
    error: str = ""
    cached: bool = False
    executor: str = "local"            # which executor ran it
    worker: str = ""                   # where: host/pid (local) or the Ray node and worker
    attempts: int = 1
    compiled: bool = False             # this run built and compiled its model (the first of its architecture)
    setup_s: float = 0.0               # fixed cost: build/compile or re-initialise, the first step's trace
    train_s: float = 0.0               # the training steps
    eval_s: float = 0.0                # the evaluations
    paired_step_ratio: float | None = None  # step time against the baseline's, timed interleaved (ABBA)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunRecord:
        epochs = [EpochRecord(**epoch) for epoch in data.get("epochs", [])]
        return cls(**{**data, "epochs": epochs})


def loss_spec(ir: ModelIR) -> LossSpec:
    """How to train the model's single classifier output; ValueError if it has none."""
    if len(ir.graph.outputs) != 1:
        raise ValueError(f"probes train single-output classifiers; this model has {len(ir.graph.outputs)} outputs")
    ref = ir.graph.outputs[0]
    layer = ir.layer(ref.layer)
    shape = layer.output_shapes[ref.tensor]
    if len(shape) != 2 or not shape[1]:
        raise ValueError(f"probes train classifiers with a (batch, classes) output; this model's output is {shape}")
    activation = _activation(layer.inner_kind_class, layer.config)
    if shape[1] == 1:
        return LossSpec("binary", from_logits=activation != "sigmoid", classes=2)
    return LossSpec("sparse", from_logits=activation not in ("softmax", "sigmoid"), classes=shape[1])


def _activation(class_name: str, config: dict) -> str:
    if class_name == "Softmax":
        return "softmax"
    value = config.get("activation") or "linear"
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name") or value.get("class_name", "linear")
    return str(value).lower()


def run_task(task: Task) -> RunRecord:
    """Train `task.graph` for `task.steps` steps; a failure comes back as RunRecord.error."""
    started = time.perf_counter()
    try:
        record = _train(task)
    except Exception as error:  # one broken variant must not stop the suite
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        record = RunRecord(task.variant, task.seed, error=f"{type(error).__name__}: {message}"[:500])
    record.wall_s = round(time.perf_counter() - started, 3)
    return record


def init_seed(variant: str, seed: int) -> int:
    """The weight-initialisation (and dropout-mask) seed of one arm of pair `seed`: independent
    between arms, so that a copy of the baseline is a genuine null (the A/A calibration)."""
    return int.from_bytes(hashlib.sha256(f"{variant}/{seed}".encode()).digest()[:4], "big") % (2**31 - 1)


SHORT_RUN = 12  # steps: shorter runs evaluate once, at the end


def eval_steps(steps: int) -> list[int]:
    """The steps after which a run evaluates: three points over the last third (2/3, 5/6, the
    end), whose mean is the learning-curve summary; a short run evaluates at its end only."""
    if steps < SHORT_RUN:
        return [steps]
    return sorted({max(1, round(steps * fraction)) for fraction in (2 / 3, 5 / 6, 1.0)})


def _train(task: Task) -> RunRecord:
    keras = runtime.import_keras(task.backend)
    began = time.perf_counter()
    first_input = task.graph.input_shapes[task.graph.inputs[0].layer]
    data = load_dataset(task.data, first_input[1] if len(first_input) >= 3 else None)
    slot, fresh = _POOL.get(keras, task)
    notes = list(slot.notes)
    notes += slot.reinitialise(keras, task)
    setup = time.perf_counter() - began
    memory = runtime.PeakMemory(task.backend, task.gpu)
    memory.reset()
    y_train = _targets(data.y_train, task.loss)
    count = len(y_train)
    batch = min(task.batch_size, count)
    order = _order(task.seed, count, batch, task.steps)
    checkpoints = eval_steps(task.steps) if task.evaluate and not task.final_only else [task.steps]
    record = RunRecord(task.variant, task.seed, notes=notes, compiled=fresh)
    durations: list[float] = []
    evaluating = 0.0
    for step in range(task.steps):
        began = time.perf_counter()
        index = order[step]
        slot.model.train_on_batch(data.x_train[index], y_train[index])
        durations.append(time.perf_counter() - began)
        if step + 1 in checkpoints:
            began = time.perf_counter()
            steady = durations[1:] if fresh and len(durations) > 1 else durations
            record.epochs.append(_epoch(len(record.epochs) + 1, step + 1, slot, data, task,
                                        statistics.median(steady), memory, batch, final=step + 1 == task.steps))
            evaluating += time.perf_counter() - began
    steady = durations[1:] if fresh and len(durations) > 1 else durations
    median = statistics.median(steady)
    trace = max(0.0, durations[0] - median) if fresh else 0.0  # the first step of a new model compiles
    record.step_time_s = round(step_time(steady), 6)
    record.setup_s = round(setup + trace, 3)
    record.train_s = round(sum(durations) - trace, 3)
    record.eval_s = round(evaluating, 3)
    return record


def step_time(durations: list[float]) -> float:
    """A run's step time: the lower quartile of its steady steps. Steps slowed by other work on the
    machine sit above it, so it tracks the step's own cost better than the median under load."""
    if len(durations) < 4:
        return min(durations)
    return statistics.quantiles(durations, n=4)[0]


def _order(seed: int, count: int, batch: int, steps: int) -> list[np.ndarray]:
    """The batches of pair `seed`: the same for every arm (common data order)."""
    rng = np.random.default_rng(seed)
    batches: list[np.ndarray] = []
    while len(batches) < steps:
        order = rng.permutation(count)
        batches += [np.sort(order[i * batch:(i + 1) * batch]) for i in range(max(1, count // batch))]
    return batches[:steps]


TIMING_ROUNDS = (6, 60)  # interleaved timing: the fewest and most rounds of A then B (B then A in odd rounds)
TIMING_SHARE = 0.2       # the rounds take about this share of the variant run's training time


def interleaved_ratio(baseline: Task, variant: Task, seconds: float = 0.0) -> float:
    """The variant's step time over the baseline's, both (already warm) models stepped in
    alternation (ABBA) in this process right after their runs: other load on the machine slows both
    alike, so the ratio is far steadier than one of two run medians taken minutes apart. Each round
    steps each arm once; the median of the rounds' ratios is returned. The rounds fill about
    `seconds` (TIMING_ROUNDS bounds them): on a shared 2-core CPU, 6 rounds left an A/A ratio's
    spread at 4.8%, 40 rounds at 1.2%."""
    keras = runtime.import_keras(baseline.backend)
    arms = []
    for task in (baseline, variant):
        shape = task.graph.input_shapes[task.graph.inputs[0].layer]
        data = load_dataset(task.data, shape[1] if len(shape) >= 3 else None)
        slot, _ = _POOL.get(keras, task)
        y = _targets(data.y_train, task.loss)
        index = _order(task.seed, len(y), min(task.batch_size, len(y)), 1)[0]
        arms.append((slot, data.x_train[index], y[index]))
    ratios: list[float] = []
    fewest, most = TIMING_ROUNDS
    started = time.perf_counter()
    while len(ratios) < fewest or (len(ratios) < most and time.perf_counter() - started < seconds):
        spent = [0.0, 0.0]
        for arm in ((0, 1) if len(ratios) % 2 == 0 else (1, 0)):
            slot, x, y = arms[arm]
            began = time.perf_counter()
            slot.model.train_on_batch(x, y)
            spent[arm] = time.perf_counter() - began
        ratios.append(spent[1] / spent[0])
    return statistics.median(ratios)


class _Slot:
    """One compiled model per architecture; each run re-initialises its weights in place."""

    def __init__(self, keras, task: Task):
        self.model, self.notes = build_model(task.graph, trust=task.trust, mixed_precision=task.gpu)
        self.loss = (keras.losses.BinaryCrossentropy if task.loss.kind == "binary"
                     else keras.losses.SparseCategoricalCrossentropy)(from_logits=task.loss.from_logits)
        optimizer = keras.optimizers.Adam(LEARNING_RATE)
        if task.gpu:  # float16 activations and gradients need loss scaling
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        self.model.compile(optimizer=optimizer, loss=self.loss,
                           jit_compile=runtime.jit_compile(task.backend, task.gpu))
        self.model.optimizer.build(self.model.trainable_variables)  # else TensorFlow traces the first step twice
        self.optimizer_start = [np.array(v.numpy()) for v in self.model.optimizer.variables]

    def reinitialise(self, keras, task: Task) -> list[str]:
        """Fresh weights, dropout seeds and optimizer state for the run's arm and seed: the values a
        new model built with that seed would have, assigned in place (no new trace)."""
        keras.utils.set_random_seed(init_seed(task.variant, task.seed))
        fresh, _ = build_model(task.graph, trust=task.trust, mixed_precision=task.gpu)
        notes = []
        if task.weights is not None:
            notes.append(load_saved_weights(fresh, task.weights.path, task.weights.graph, task.trust))
        targets, sources = self.model.variables, fresh.variables
        if [tuple(v.shape) for v in targets] != [tuple(v.shape) for v in sources]:
            raise RuntimeError("the rebuilt model's variables do not match the compiled one")
        for target, source in zip(targets, sources):
            target.assign(source.value)
        for variable, value in zip(self.model.optimizer.variables, self.optimizer_start):
            variable.assign(value)
        return notes


class _Pool:
    """The compiled models of this process (a probe worker), by architecture and training set-up."""

    SIZE = 8

    def __init__(self):
        self.slots: dict[tuple, _Slot] = {}

    def get(self, keras, task: Task) -> tuple[_Slot, bool]:
        key = (graph_key(task.graph), task.loss, task.backend, task.gpu, task.trust, task.batch_size)
        if key in self.slots:
            self.slots[key] = self.slots.pop(key)  # most recently used last
            return self.slots[key], False
        if len(self.slots) >= self.SIZE:
            self.slots.pop(next(iter(self.slots)))
        self.slots[key] = _Slot(keras, task)
        return self.slots[key], True

    def clear(self) -> None:
        self.slots.clear()


_POOL = _Pool()


def graph_key(graph: GraphSpec) -> str:
    text = json.dumps(asdict(graph), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _epoch(index: int, step: int, slot: _Slot, data, task: Task, step_time: float, memory, batch: int,
           final: bool) -> EpochRecord:
    if not task.evaluate:
        return EpochRecord(index, None, None, None, None, None, round(step_time, 6),
                           round(memory.read_mb(), 1), {}, step)
    model = slot.model
    subset = min(len(data.y_val), len(data.y_train))
    val_loss, val_acc = _scores(model, data.x_val, data.y_val, task.loss)
    train_loss = train_acc = math.nan
    if task.train_metrics:
        train_loss, train_acc = _scores(model, data.x_train[:subset], data.y_train[:subset], task.loss)
    norms = {}
    if final:  # gradient norms once, at the end: eager and slow
        norms = runtime.gradient_norms(model, slot.loss, data.x_train[:batch],
                                       _targets(data.y_train[:batch], task.loss), task.backend,
                                       scale=GRADIENT_SCALE if task.gpu else 1.0)
    gap = train_acc - val_acc
    return EpochRecord(index, _number(train_loss), _number(train_acc), _number(val_loss), _number(val_acc),
                       _number(gap), round(step_time, 6), round(memory.read_mb(), 1),
                       {name: _number(value) for name, value in norms.items()}, step)


def _targets(y: np.ndarray, spec: LossSpec) -> np.ndarray:
    return y.astype(np.float32)[:, None] if spec.kind == "binary" else y


def _scores(model, x: np.ndarray, y: np.ndarray, spec: LossSpec) -> tuple[float, float]:
    """Loss and accuracy in inference mode, computed in NumPy (the same for every backend)."""
    parts = [np.asarray(model.predict_on_batch(x[i:i + EVAL_BATCH]), np.float64).reshape(len(x[i:i + EVAL_BATCH]), -1)
             for i in range(0, len(x), EVAL_BATCH)]
    out = np.concatenate(parts)
    if spec.kind == "binary":
        z = out[:, 0]
        p = 1 / (1 + np.exp(-z)) if spec.from_logits else z
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), float(np.mean((p > 0.5) == y))
    if spec.from_logits:
        shifted = out - out.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    else:
        log_p = np.log(np.clip(out / np.clip(out.sum(axis=1, keepdims=True), 1e-7, None), 1e-7, 1.0))
    return float(-np.mean(log_p[np.arange(len(y)), y])), float(np.mean(out.argmax(axis=1) == y))


def _number(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None
