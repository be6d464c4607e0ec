"""One probe run: train one variant with one seed on the shared data split.

`run_task(task) -> RunRecord` is a pure function of picklable inputs, so any
executor (in-process, or a cluster worker) can run it.
"""
from __future__ import annotations

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
    key: str = ""           # cache key


@dataclass
class EpochRecord:
    epoch: int
    loss: float | None            # on a fixed training subset, in inference mode
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    gap: float | None             # accuracy - val_accuracy
    step_time_s: float            # median training step, batch assembly included
    peak_memory_mb: float
    grad_norms: dict[str, float]  # per layer, on a fixed training batch at the end of the epoch


@dataclass
class RunRecord:
    variant: str
    seed: int
    epochs: list[EpochRecord] = field(default_factory=list)
    wall_s: float = 0.0
    step_time_s: float | None = None   # median over the run, the first (compiling) step left out
    notes: list[str] = field(default_factory=list)
    error: str = ""
    cached: bool = False
    executor: str = "local"            # which executor ran it
    worker: str = ""                   # where: host/pid (local) or the Ray node and worker
    attempts: int = 1

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


def _train(task: Task) -> RunRecord:
    keras = runtime.import_keras(task.backend)
    first_input = task.graph.input_shapes[task.graph.inputs[0].layer]
    data = load_dataset(task.data, first_input[1] if len(first_input) >= 3 else None)
    model, loss, notes = _compiled_model(keras, task)
    memory = runtime.PeakMemory(task.backend, task.gpu)
    rng = np.random.default_rng(task.seed)
    y_train = _targets(data.y_train, task.loss)
    count = len(y_train)
    batch = min(task.batch_size, count)
    per_epoch = max(1, count // batch)
    record = RunRecord(task.variant, task.seed, notes=notes)
    durations: list[float] = []
    while len(durations) < task.steps:
        memory.reset()
        order = rng.permutation(count)
        times = []
        for step in range(min(per_epoch, task.steps - len(durations))):
            began = time.perf_counter()
            index = np.sort(order[step * batch:(step + 1) * batch])
            model.train_on_batch(data.x_train[index], y_train[index])
            times.append(time.perf_counter() - began)
        steady = times[1:] if not durations and len(times) > 1 else times
        durations.extend(times)
        epoch = len(record.epochs) + 1
        record.epochs.append(_epoch(epoch, model, loss, data, task, statistics.median(steady), memory, batch))
    record.step_time_s = round(statistics.median(durations[1:] or durations), 6)
    return record


def _compiled_model(keras, task: Task):
    """A fresh model for `task`, seeded and compiled: (model, loss, notes)."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(task.seed)
    model, notes = build_model(task.graph, trust=task.trust, mixed_precision=task.gpu)
    if task.weights is not None:
        notes.append(load_saved_weights(model, task.weights.path, task.weights.graph, task.trust))
    loss = (keras.losses.BinaryCrossentropy if task.loss.kind == "binary"
            else keras.losses.SparseCategoricalCrossentropy)(from_logits=task.loss.from_logits)
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    if task.gpu:  # float16 activations and gradients need loss scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss=loss, jit_compile=runtime.jit_compile(task.backend, task.gpu))
    model.optimizer.build(model.trainable_variables)  # else TensorFlow traces the first step twice
    return model, loss, notes


def _epoch(epoch: int, model, loss, data, task: Task, step_time: float, memory, batch: int) -> EpochRecord:
    if not task.evaluate:
        return EpochRecord(epoch, None, None, None, None, None, round(step_time, 6),
                           round(memory.read_mb(), 1), {})
    subset = len(data.y_val)
    train_loss, train_acc = _scores(model, data.x_train[:subset], data.y_train[:subset], task.loss)
    val_loss, val_acc = _scores(model, data.x_val, data.y_val, task.loss)
    norms = runtime.gradient_norms(model, loss, data.x_train[:batch], _targets(data.y_train[:batch], task.loss),
                                   task.backend, scale=GRADIENT_SCALE if task.gpu else 1.0)
    gap = train_acc - val_acc
    return EpochRecord(epoch, _number(train_loss), _number(train_acc), _number(val_loss), _number(val_acc),
                       _number(gap), round(step_time, 6), round(memory.read_mb(), 1),
                       {name: _number(value) for name, value in norms.items()})


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
