"""The workflow contract: what every workflow declares about itself.

The CLI, the service's routes and worker, the OpenAPI document, the HTTP client, the results
pages and the benchmarks iterate :data:`hypodisc.workflows.registry.WORKFLOWS` instead of
knowing each workflow, so a new workflow is a module that declares a :class:`Workflow`.

Light on purpose (pydantic and the standard library only): the HTTP client imports it. The
computation a workflow runs is named by ``runner`` ("module:function") and imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, get_args

from pydantic import BaseModel, ValidationError

from hypodisc.errors import InputRejected, pydantic_problem
from hypodisc.progress import Progress, no_progress
from hypodisc.workflows.surfaces import Surfaces

class TextLimits(Protocol):
    """The limits :func:`check_corpus` reads (a workflow's limits model may carry more)."""

    max_texts_per_corpus: int | None
    max_text_chars: int | None


class NoLimits:
    """The limits of a local run (CLI, Python): every limit a check asks for is None (unlimited), so
    only the workflow's own minimums apply. One object for every workflow's limits model."""

    def __getattr__(self, name: str) -> None:
        if name.startswith("_"):
            raise AttributeError(name)
        return None


class Engines(Protocol):
    """What a running workflow may ask for, by the names its :class:`Needs` lists; built once, from
    settings, in :mod:`hypodisc.workflows.engines`. ``llm()`` and ``embedder()`` are ``get`` spelled out."""

    def get(self, name: str) -> Any: ...

    def llm(self) -> Any: ...

    def embedder(self) -> Any: ...


class Checkpoints:
    """A job's saved stage outputs, and where newly finished stages are saved.

    A workflow saves the output of a slow stage; a run resumed after a crash (the service requeues
    it) gets those outputs back and skips the stage.
    """

    def __init__(self, saved: Mapping[str, dict] | None = None, save: Callable[[str, dict], None] | None = None):
        self.saved = dict(saved or {})
        self._save = save

    def save(self, name: str, data: dict) -> None:
        self.saved[name] = data
        if self._save is not None:
            self._save(name, data)


class Needs(frozenset):
    """The engines one request needs, by name ("llm", "embedder", later "captioner", "image_ranker"...):
    the CLI and the service load only these. ``Needs(llm=True, embedder=False)`` and ``Needs({"llm"})``
    build the same set; ``needs.llm`` reads as ``"llm" in needs``."""

    def __new__(cls, names: Iterable[str] = (), **flags: bool) -> "Needs":
        return super().__new__(cls, {*names, *(name for name, wanted in flags.items() if wanted)})

    def __init__(self, names: Iterable[str] = (), **flags: bool) -> None:
        super().__init__()

    def __getattr__(self, name: str) -> bool:
        if name.startswith("_"):
            raise AttributeError(name)
        return name in self

    def __repr__(self) -> str:
        return f"Needs({sorted(self)!r})"


@dataclass(frozen=True)
class Workflow:
    name: str                                   # URL path segment, CLI command, job and result tag
    summary: str                                # one line for the API docs and `--help`
    request_model: type[BaseModel]              # what a user submits: data plus ``config``
    config_model: type[BaseModel]               # every knob, with defaults for the embedded CPU model
    result_model: type[BaseModel]               # what comes back; carries ``workflow: Literal[name]``
    stages: type[StrEnum]                       # the progress stages, in order
    stage_spans: Mapping[str, tuple[float, float]]  # stage -> (start, end) share of the whole job
    needs: Callable[[Any], Needs]               # request -> the engines it needs, by name
    limits: type[BaseModel]                     # size limits its check enforces: int | None fields, service defaults
    check: Callable[[Any, Any], None]           # request, limits (an instance of ``limits``) -> None or InputRejected
    runner: str                                 # "module:function(request, engines, progress, checkpoints)"
    surfaces: Surfaces                          # its CLI command, page renderer and examples (workflows/surfaces.py)

    def __post_init__(self) -> None:
        missing = [s.value for s in self.stages if s.value not in self.stage_spans]
        if missing:
            raise ValueError(f"workflow {self.name}: stages without a progress span: {missing}")
        tag = self.result_model.model_fields.get("workflow")
        if tag is None or tag.default != self.name:
            raise ValueError(f"workflow {self.name}: {self.result_model.__name__} needs workflow: "
                             f"Literal[{self.name!r}] = {self.name!r}")
        unbounded = [n for n, f in self.limits.model_fields.items() if not _allows_none(f.annotation)]
        if unbounded:
            raise ValueError(f"workflow {self.name}: limits {unbounded} must be Optional (None = unlimited)")

    def unlimited(self) -> BaseModel:
        """Its limits with every one off: what a local run (CLI, Python) checks against."""
        return self.limits.model_construct(**{name: None for name in self.limits.model_fields})

    def parse(self, data: Any) -> BaseModel:
        """A request from JSON-like data; a bad one is InputRejected naming its first bad field."""
        try:
            return self.request_model.model_validate(data)
        except ValidationError as exc:
            raise InputRejected(first_error(exc), code="invalid_request") from None

    def run(self, request: BaseModel, engines: Engines, progress: Progress | None = None,
            checkpoints: Checkpoints | None = None) -> BaseModel:
        """Run the workflow's computation (imported here, on first use); it checks its own input, as the
        CLI does before loading engines and the service does at submission, with its limits."""
        module, function = self.runner.split(":")
        run = getattr(importlib.import_module(module), function)
        return run(request, engines, progress or no_progress, checkpoints or Checkpoints())

    def fraction(self, stage: str, done: int, total: int, last: float) -> float:
        """How far the whole job is, so one progress bar spans every stage (never moves back)."""
        span = self.stage_spans.get(stage)
        if span is None:
            return last
        lo, hi = span
        return max(last, lo + (hi - lo) * (done / total if total > 0 else 1.0))


def _allows_none(annotation: Any) -> bool:
    return annotation is None or type(None) in get_args(annotation)


def first_error(exc: ValidationError) -> str:
    """A pydantic error as one line: the first bad field and what is wrong with it."""
    problem = pydantic_problem(exc)
    return f"{'.'.join(map(str, problem.loc)) or 'input'}: {problem.msg}"


def check_corpus(name: str, texts: Sequence[str], limits: TextLimits, minimum: int = 1, why: str = "") -> list[str]:
    """A corpus' non-empty texts; InputRejected if it is not a list of strings, too big or too small."""
    if not isinstance(texts, (list, tuple)) or any(not isinstance(t, str) for t in texts):
        raise InputRejected(f"corpus {name} must be a list of strings", code="invalid_request")
    if limits.max_texts_per_corpus is not None and len(texts) > limits.max_texts_per_corpus:
        raise InputRejected(f"corpus {name} has {len(texts)} texts; the limit is {limits.max_texts_per_corpus}",
                            code="corpus_too_large", status=413)
    if limits.max_text_chars is not None:
        for i, t in enumerate(texts):
            if len(t) > limits.max_text_chars:
                raise InputRejected(f"corpus {name}, text {i}: {len(t)} characters; the limit is "
                                    f"{limits.max_text_chars}", code="text_too_long", status=413)
    kept = [t for t in texts if t.strip()]
    if len(kept) < minimum:
        raise InputRejected(f"corpus {name} has {len(kept)} non-empty texts; at least {minimum} are needed{why}",
                            fix=f"give corpus {name} more texts", code="corpus_too_small")
    return kept
