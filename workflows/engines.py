"""One LLM engine and one embedder per process, shared by every job, request and CLI command.

Loading the default model takes seconds and a gigabyte, so it happens once, lazily
(the API answers before the first job needs it). Each job gets a thin view of the
shared engine that admits as many calls at once as the backend declares it takes
(llama.cpp: one) and keeps its own usage counters, so concurrent jobs report their own cost.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Sequence

import numpy as np

from hypodisc.backends.base import GenerationParams, LLMBackend, Usage
from hypodisc.config import Settings
from hypodisc.workflows.cost import StageCost


class JobBackend:
    """A per-job view of the shared backend: the same calls, at most ``max_concurrent_calls`` at once
    (1 for llama.cpp, which is not thread-safe; more for servers that batch), usage counted per job.

    Usage is the shared counters' change over the call: exact when calls run one at a time,
    approximate when a backend runs several jobs' calls at once.
    """

    def __init__(self, inner: LLMBackend, slots: threading.Semaphore):
        self._inner, self._slots = inner, slots
        self.name, self.model = inner.name, inner.model
        self.batch_size = getattr(inner, "batch_size", 64)
        self.max_concurrent_calls = getattr(inner, "max_concurrent_calls", 1)
        self.usage = Usage()

    @property
    def context_length(self) -> int:
        return self._inner.context_length

    def _call(self, method: str, *args):
        with self._slots:
            before = self._inner.usage.snapshot()
            out = getattr(self._inner, method)(*args)
            self.usage.add_usage(self._inner.usage - before)
        return out

    def generate(self, prompts: Sequence, params: GenerationParams):
        return self._call("generate", prompts, params)

    def yes_no_probs(self, prompts: Sequence) -> list[float]:
        return self._call("yes_no_probs", prompts)

    def continuation_logprobs(self, contexts: Sequence, continuations: Sequence[str]):
        return self._call("continuation_logprobs", contexts, continuations)

    def close(self) -> None:  # the shared engine outlives the job
        pass


class JobEmbedder:
    """A per-job view of the shared embedder that counts this job's embedded texts."""

    def __init__(self, inner):
        self._inner = inner
        self.calls = 0

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        before = self._inner.calls
        out = self._inner.encode(texts, progress)
        self.calls += max(0, self._inner.calls - before)  # approximate when jobs embed at the same moment
        return out

    @property
    def dim(self) -> int:
        return self._inner.dim


#: every engine a workflow may name in its Needs. A new kind ("captioner", "image_ranker") adds a line
#: here and a branch in Engines.get: what the CLI says while loading it.
ENGINE_NAMES: dict[str, str] = {"llm": "the LLM backend", "embedder": "the sentence embedder (minilm)",
                                "captioner": "the image captioner", "image_ranker": "the CLIP image ranker",
                                "tracer": "the graph tracer's transformers models"}
#: engines that are a process-wide registry of models loaded per checkpoint a job names: "module:Class",
#: built once from the settings and shared by every job (several names may share one registry)
MODEL_REGISTRIES: dict[str, str] = {"captioner": "hypodisc.workflows.image_engines:ImageModels",
                                    "image_ranker": "hypodisc.workflows.image_engines:ImageModels",
                                    "tracer": "hypodisc.workflows.graph_engines:TracingModels"}


class Engines:
    """Lazily built, process-wide engines, by name: the one place the CLI, the service and the benchmarks
    get them.

    ``llm`` and ``embedder`` (and any other engine, by name in ``given``) may be given ready-made
    (another model, the scripted test backend); otherwise they are built from ``settings`` on first use.
    """

    def __init__(self, settings: Settings, llm: LLMBackend | None = None, embedder=None, **given):
        unknown = set(given) - set(ENGINE_NAMES)
        if unknown:
            raise ValueError(f"unknown engines {sorted(unknown)}; known: {', '.join(ENGINE_NAMES)}")
        self.settings = settings
        self._llm: LLMBackend | None = llm
        self._embedder = embedder
        self._given = given
        self._load_lock = threading.Lock()
        self._slots: threading.Semaphore | None = None
        self._registries: dict[str, object] = {}

    def get(self, name: str):
        """The engine a workflow's Needs names (a per-job view where the engine has one)."""
        if name == "llm":
            return self.llm()
        if name == "embedder":
            return self.embedder()
        if name in self._given:
            return self._given[name]
        if name in MODEL_REGISTRIES:
            ref = MODEL_REGISTRIES[name]
            with self._load_lock:
                if ref not in self._registries:
                    module, cls = ref.split(":")
                    self._registries[ref] = getattr(importlib.import_module(module), cls)(self.settings)
            return self._registries[ref]
        raise ValueError(f"no engine {name!r} in this process; known: {', '.join(ENGINE_NAMES)}")

    def describe(self, name: str) -> str:
        """What the CLI prints while it loads the engine."""
        if name == "llm":
            return f"{self.settings.backend} backend ({self.settings.model or 'default model'})"
        return ENGINE_NAMES.get(name, name)

    @property
    def llm_loaded(self) -> bool:
        return self._llm is not None

    def llm(self) -> JobBackend:
        with self._load_lock:
            if self._llm is None:
                from hypodisc.backends import load_backend

                self._llm = load_backend(self.settings)
            if self._slots is None:
                self._slots = threading.BoundedSemaphore(max(1, getattr(self._llm, "max_concurrent_calls", 1)))
        return JobBackend(self._llm, self._slots)

    def embedder(self) -> JobEmbedder:
        with self._load_lock:
            if self._embedder is None:
                from hypodisc.verifiers.embedding import load_embedder

                self._embedder = load_embedder(self.settings.home)
        return JobEmbedder(self._embedder)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
        self._embedder = None
        for models in self._registries.values():
            models.close()
        self._registries.clear()


class JobEngines:
    """The engines one job sees; remembers its views so the worker can report cost while it runs."""

    def __init__(self, engines: Engines):
        self._engines = engines
        self._llm: JobBackend | None = None
        self._embedder: JobEmbedder | None = None
        self._t0 = time.perf_counter()

    def llm(self) -> JobBackend:
        if self._llm is None:
            self._llm = self._engines.llm()
        return self._llm

    def embedder(self) -> JobEmbedder:
        if self._embedder is None:
            self._embedder = self._engines.embedder()
        return self._embedder

    def get(self, name: str):
        if name == "llm":
            return self.llm()
        if name == "embedder":
            return self.embedder()
        return self._engines.get(name)

    def cost_so_far(self) -> dict:
        stage = StageCost.from_usage("so far", time.perf_counter() - self._t0,
                                     self._llm.usage if self._llm is not None else Usage(),
                                     self._embedder.calls if self._embedder is not None else 0)
        return {"stages": [stage.model_dump()]}
