"""Run probe tasks on a Ray cluster: one task per (variant, seed), results streamed back.

The data goes into Ray's object store once and every task reads it from there. A task whose
worker dies, or that fails, is retried up to MAX_RETRIES times; after that its RunRecord carries
the error and the other runs still complete. Each result reaches `on_result` (and so the cache)
as soon as it finishes, so an interrupted sweep resumes, locally or on the cluster.
"""
from __future__ import annotations

from typing import Sequence

from ..errors import ConfigError
from .data import load_dataset
from .executors import OnResult
from .train import RunRecord, Task

MAX_RETRIES = 2
SMALL_MODEL_PARAMS = 2_000_000  # below this a probe takes a quarter GPU


def _run_probe(task: Task, data) -> RunRecord:
    """The remote function: one training run, on whatever node Ray placed it."""
    import os

    import ray

    from .data import preload
    from .train import run_task

    preload(task.data, data)
    record = run_task(task)
    context = ray.get_runtime_context()
    gpus = ray.get_gpu_ids()
    record.executor = "ray"
    record.worker = f"node {context.get_node_id()[:12]}/pid {os.getpid()}" + (f"/gpu {gpus}" if gpus else "")
    return record


class RayExecutor:
    def __init__(self, address: str | None = None):
        self.address = address

    def _ray(self):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'lrcn-advisor[ray]'") from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ConfigError(f"cannot connect to the Ray cluster {self.address or '(local)'}: "
                                  f"{str(error).splitlines()[0] if str(error) else error}") from None
        return ray

    def map(self, tasks: Sequence[Task], on_result: OnResult) -> None:
        if not tasks:
            return
        ray = self._ray()
        gpus = ray.cluster_resources().get("GPU", 0)
        stores = {spec: ray.put(load_dataset(spec)) for spec in {task.data for task in tasks}}
        remote = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=True)(_run_probe)
        pending = {}
        for task in tasks:
            share = 0.25 if _params(task) < SMALL_MODEL_PARAMS else 1
            options = {"num_gpus": share} if gpus and task.gpu else {"num_cpus": 1}
            pending[remote.options(**options).remote(task, stores[task.data])] = task
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(ready[0])
                on_result(task, self._outcome(ray, ready[0], task))
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

    @staticmethod
    def _outcome(ray, ref, task: Task) -> RunRecord:
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as error:
            text = str(error).strip().splitlines()
            return RunRecord(task.variant, task.seed, executor="ray", attempts=MAX_RETRIES + 1,
                             error=f"failed after {MAX_RETRIES + 1} attempts: {type(error).__name__}: "
                                   f"{text[0][:300] if text else ''}")


def _params(task: Task) -> int:
    from ..analyze import analyse_graph

    try:
        return analyse_graph(task.graph).params
    except Exception:  # a variant that does not analyse still gets a whole GPU
        return SMALL_MODEL_PARAMS
