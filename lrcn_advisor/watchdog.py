"""`--max-seconds`: a wall-clock budget per model that ends the run with one clear line.

The caps in the loaders and the analysis bound the work a file can ask for; this is the backstop
for whatever they miss, including time spent inside C code (protobuf, ONNX shape inference, HDF5)
that no Python check can interrupt. A timer thread writes the line and ends the process (exit 2).
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

from .output import discard_partial_writes
from .safe_text import inert

DEFAULT_SECONDS = 60.0


class Watchdog:
    def __init__(self, seconds: float | None = DEFAULT_SECONDS, on_expire=None):
        self.seconds = seconds
        self.on_expire = on_expire  # clean-up before exit (e.g. end HDF5 reader processes)

    @contextmanager
    def watch(self, what: str):
        """Run the block under the budget; `what` names the model (or the step) in the message."""
        if not self.seconds:
            yield
            return
        timer = threading.Timer(self.seconds, self._expire, args=(what,))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def _expire(self, what: str) -> None:
        try:
            discard_partial_writes()  # no half-written report is left behind
            if self.on_expire is not None:
                self.on_expire()
        finally:
            sys.stderr.write(f"lrcn-advise: error: {inert(what, 300)}: stopped after {self.seconds:g} s "
                             f"(--max-seconds {self.seconds:g}); the file asks for more work than that budget\n")
            sys.stderr.flush()
            os._exit(2)
