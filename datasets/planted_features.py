"""Synthetic features with a planted rule, for known-answer checks of the explainer and scorers.

Each rule marks words of real texts (e.g. every number); the feature fires
on exactly those tokens. Because the true rule is known, we can ask whether an
explanation names it, and whether the scorers rank the true rule above
plausible false ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hypodisc.datasets.feature_records import ActivationExample, FeatureRecord


@dataclass(frozen=True)
class PlantedRule:
    name: str
    #: Matches a whole word (without surrounding spaces or punctuation).
    pattern: str
    #: The true rule, in words.
    truth: str
    #: Plausible but wrong explanations of the same feature.
    decoys: tuple[str, ...]
    #: Words an explanation that names the rule would use (lowercase substrings).
    keywords: tuple[str, ...]

    def fires(self, word: str) -> bool:
        return re.fullmatch(self.pattern, word.strip().strip(".,;:!?\"'()[]"), flags=re.IGNORECASE) is not None


RULES: tuple[PlantedRule, ...] = (
    PlantedRule("numbers", r"[$]?\d[\d,.]*%?", "numbers and digits",
                ("words about money and prices", "names of companies"), ("number", "digit", "numer", "figure")),
    PlantedRule("weekdays", r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)",
                "days of the week", ("words about time in general", "names of cities"), ("day", "week")),
    PlantedRule("money", r"(million|billion|trillion|dollars?|cents?|euros?|\$[\d.,]+)",
                "amounts of money such as million, billion or dollars", ("numbers and digits", "company names"),
                ("money", "dollar", "million", "billion", "currenc", "financ", "amount")),
    PlantedRule("ing_words", r"[a-z]+ing", "words ending in -ing",
                ("verbs in the past tense", "long words"),
                ("-ing", "ending in ing", "ending with ing", "gerund", "participle", "suffix")),
    PlantedRule("said", r"(said|says|say|told|announced|reported)", "verbs of saying or reporting",
                ("names of people", "quotation marks"), ("said", "say", "report", "announc", "speech", "told")),
    PlantedRule("the", r"the", "the word 'the'", ("articles like 'a' and 'an'", "nouns"), ("the", "article")),
)


def _words(text: str) -> list[str]:
    """Whitespace-led word tokens that concatenate back to the normalised text."""
    return re.findall(r"\s*\S+", " ".join(text.split()))


def planted_feature(rule: PlantedRule, texts: Sequence[str], *, window: int = 24, max_examples: int = 60,
                    seed: int = 0) -> FeatureRecord:
    """Token-level examples (windows of ``window`` words) with activation 1 on the rule's words.

    Activating windows get a strength that varies by window (0.5-1.0) so
    quantile sampling and simulation have something to rank.
    """
    rng = np.random.default_rng(seed)
    firing: list[ActivationExample] = []
    silent: list[ActivationExample] = []
    for text in texts:
        words = _words(text)
        for lo in range(0, max(1, len(words) - window // 2), window):
            toks = words[lo: lo + window]
            if len(toks) < 4:
                continue
            hits = [rule.fires(w) for w in toks]
            if any(hits):
                strength = float(rng.uniform(0.5, 1.0))
                firing.append(ActivationExample(tokens=tuple(toks), activations=tuple(strength if h else 0.0
                                                                                      for h in hits)))
            else:
                silent.append(ActivationExample(tokens=tuple(toks), activations=tuple(0.0 for _ in toks)))
    rng.shuffle(firing)
    rng.shuffle(silent)
    half = max_examples // 2
    examples = firing[:half] + silent[: max_examples - min(half, len(firing))]
    return FeatureRecord(feature_id=f"planted/{rule.name}", examples=tuple(examples), source="planted")


def planted_features(texts: Sequence[str], rules: Sequence[PlantedRule] = RULES, **kw) -> list[FeatureRecord]:
    return [planted_feature(r, texts, seed=i, **kw) for i, r in enumerate(rules)]


def names_rule(explanation: str | None, rule: PlantedRule) -> bool:
    """Whether an explanation mentions the rule (by keyword; a generous, transparent check)."""
    text = (explanation or "").lower()
    return any(k in text for k in rule.keywords)


def planted_topic_feature(feature_id: str, firing: Sequence[str], silent: Sequence[str],
                          seed: int = 0) -> FeatureRecord:
    """A document-level feature that fires (0.5-1.0) on every text of ``firing`` and never on ``silent``."""
    rng = np.random.default_rng(seed)
    examples = [ActivationExample.document(t, float(rng.uniform(0.5, 1.0))) for t in firing]
    examples += [ActivationExample.document(t, 0.0) for t in silent]
    return FeatureRecord(feature_id=feature_id, examples=tuple(examples), level="document", source="planted")
