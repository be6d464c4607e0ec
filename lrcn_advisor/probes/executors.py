"""Executors run probe tasks; each result goes to `on_result` as soon as its task finishes.

A task is picklable and `run_task` is a pure function of it, so an executor may run
tasks in this process (LocalExecutor) or elsewhere.
"""
from __future__ import annotations

import os
import socket
from typing import Callable, Protocol, Sequence

from ..errors import ConfigError
from .train import RunRecord, Task, run_task

OnResult = Callable[[Task, RunRecord], None]


class Executor(Protocol):
    def map(self, tasks: Sequence[Task], on_result: OnResult) -> None: ...


class LocalExecutor:
    """One task after another in this process; the tasks share the loaded data."""

    def map(self, tasks: Sequence[Task], on_result: OnResult) -> None:
        for task in tasks:
            record = run_task(task)
            record.worker = f"{socket.gethostname()}/pid {os.getpid()}"
            on_result(task, record)


def make_executor(name: str, ray_address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from .ray_executor import RayExecutor
        return RayExecutor(ray_address)
    raise ConfigError(f"unknown probe executor {name!r}")
