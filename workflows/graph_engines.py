"""The graph tracer's models as an engine: transformers models loaded once per process and per model a job
names (``config.tracer_model``), so a service's second job on the same model loads nothing.

Tracing runs backward passes through one model at a time; the lock per model keeps two jobs from
hooking the same modules at once.
"""

from __future__ import annotations

import threading
from typing import Any

from hypodisc.datasets.graph_tracing import TracingModel, load_tracing_model


class TracingModels:
    """``get(name)`` -> (TracingModel, its lock): loaded on first use, from the model store at the settings' home."""

    def __init__(self, settings: Any = None):
        self.home = getattr(settings, "home", None) or "~/.cache/hypodisc"
        self._loaded: dict[str, tuple[TracingModel, threading.Lock]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> tuple[TracingModel, threading.Lock]:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = (load_tracing_model(name, self.home), threading.Lock())
            return self._loaded[name]

    def close(self) -> None:
        self._loaded.clear()
