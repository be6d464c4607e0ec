"""The training runtime: which Keras backend, which device, peak memory, gradient norms.

Nothing here imports Keras or a framework at module import time; static analysis
never pays for them.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .gpu import gpu_visible  # noqa: F401  (runtime.gpu_visible)

BACKENDS = ("tensorflow", "jax", "torch")  # preference order when KERAS_BACKEND is not set


class ProbeUnavailable(Exception):
    """Probes cannot run here (no backend, no GPU in auto mode, ...); the message says why."""


@dataclass(frozen=True)
class Device:
    name: str
    gpu: bool


def process_age() -> float:
    """Seconds since this process started (Linux /proc; 0 where unknown)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def choose_backend() -> str:
    """Keras' backend if already imported, else KERAS_BACKEND, else the first installed one
    that can use the visible GPU, else the first installed one."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    installed = [name for name in BACKENDS if importlib.util.find_spec(name) is not None]
    if not installed:
        raise ProbeUnavailable("probes need Keras 3 with TensorFlow, JAX or PyTorch installed; none is")
    if gpu_visible():
        for name in installed:
            if _framework_gpu(name):
                return name
    return installed[0]


def import_keras(backend: str, home: Path | None = None):
    """Import Keras on `backend` (Keras' own config goes under `home`, not ~/.keras)."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        if home is not None:
            os.environ.setdefault("KERAS_HOME", str(home))
    import keras

    if keras.backend.backend() != backend:
        raise ProbeUnavailable(f"Keras is already running on {keras.backend.backend()!r} in this process, "
                               f"not {backend!r}")
    return keras


def _framework_gpu(backend: str) -> bool:
    try:
        if backend == "tensorflow":
            import tensorflow as tf
            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "torch":
            import torch
            return torch.cuda.is_available()
        import jax
        return jax.default_backend() == "gpu"
    except Exception:  # a broken CUDA install means: no GPU for this framework
        return False


def device(backend: str) -> Device:
    if _framework_gpu(backend):
        return Device(_gpu_name(backend), True)
    return Device(f"CPU: {_cpu_name()} ({os.cpu_count()} cores)", False)


def _gpu_name(backend: str) -> str:
    if backend == "tensorflow":
        import tensorflow as tf
        gpu = tf.config.list_physical_devices("GPU")[0]
        return tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
    if backend == "torch":
        import torch
        return torch.cuda.get_device_name(0)
    import jax
    return jax.devices()[0].device_kind


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def jit_compile(backend: str, gpu: bool):
    """XLA helps TensorFlow on a GPU but slows the CPU step several-fold; JAX always compiles."""
    if backend == "tensorflow":
        return "auto" if gpu else False
    return backend == "jax"


class PeakMemory:
    """Peak memory since the last reset: the GPU allocator's, or the process' resident set."""

    def __init__(self, backend: str, gpu: bool):
        self.backend, self.gpu = backend, gpu

    def reset(self) -> None:
        if not self.gpu:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)
            except OSError:
                pass
        elif self.backend == "tensorflow":
            import tensorflow as tf
            tf.config.experimental.reset_memory_stats("GPU:0")
        elif self.backend == "torch":
            import torch
            torch.cuda.reset_peak_memory_stats()

    def read_mb(self) -> float:
        if not self.gpu:
            return _resident_peak_bytes() / 2**20
        if self.backend == "tensorflow":
            import tensorflow as tf
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        if self.backend == "torch":
            import torch
            return torch.cuda.max_memory_allocated() / 2**20
        import jax
        return (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**20


def _resident_peak_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def gradient_norms(model, loss, x: np.ndarray, y: np.ndarray, backend: str, scale: float = 1.0) -> dict[str, float]:
    """L2 norm of the loss gradient per top-level layer, on one batch in training mode; the loss is
    multiplied by `scale` for the backward pass and the norms divided by it."""
    variables = model.trainable_variables

    def scaled(y_true, y_pred):
        return loss(y_true, y_pred) * scale
    grads = _GRADIENTS[backend](model, scaled, variables, x, y)
    index = {id(v): i for i, v in enumerate(variables)}
    norms = {}
    for layer in model.layers:
        parts = [grads[index[id(v)]] for v in layer.trainable_variables if id(v) in index]
        if parts:
            total = sum(float(np.sum(np.square(g, dtype=np.float64))) for g in parts)
            norms[layer.name] = float(np.sqrt(total)) / scale
    return norms


def _tf_gradients(model, loss, variables, x, y):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=True))
    return [np.zeros(v.shape) if g is None else g.numpy() for g, v in
            zip(tape.gradient(value, variables), variables)]


def _torch_gradients(model, loss, variables, x, y):
    for v in variables:
        v.value.grad = None
    value = loss(y, model(x, training=True))
    value.backward()
    grads = [np.zeros(v.shape) if v.value.grad is None else v.value.grad.detach().cpu().numpy()
             for v in variables]
    for v in variables:
        v.value.grad = None
    return grads


def _jax_gradients(model, loss, variables, x, y):
    import jax

    fixed = [v.value for v in model.non_trainable_variables]

    def objective(values):
        prediction, _ = model.stateless_call(values, fixed, x, training=True)
        return loss(y, prediction)
    return [np.asarray(g) for g in jax.grad(objective)([v.value for v in variables])]


_GRADIENTS = {"tensorflow": _tf_gradients, "torch": _torch_gradients, "jax": _jax_gradients}
