"""Corpus pairs with a planted, non-topical difference, for known-answer checks of the diff workflow.

Every gold pair in nlparam is a topic, and a topic-shaped method can look good there while failing users who
ask about stance, tone or form. Here one corpus is split in two at random, so the halves share every topic,
and each text of A is rewritten by a fixed rule to carry one property (it ends in a question, it is told in the
first person, ...). The rewrites add a short sentence or change the surface, never the topic, so the planted
property is the one systematic difference between A and B. Each property lists the words a description that
names it would use, so recovery can be checked without a judge model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlantedProperty:
    name: str
    truth: str                    # the property in words, as a hypothesis would say it
    rewrite: Callable[[str, np.random.Generator], str]
    keywords: tuple[str, ...]     # lowercase substrings a hypothesis naming the property would contain

    def named_by(self, hypothesis: str) -> bool:
        """Whether a hypothesis uses one of the keywords; quote marks count as spaces, so that 'uses the
        word "not"' names a negation as 'uses not' does."""
        h = " " + re.sub("[\"\u201c\u201d']", " ", hypothesis.lower()) + " "
        return any(k in h for k in self.keywords)


def _sentence(text: str) -> str:
    text = " ".join(text.split()).rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


_QUESTIONS = ("What happens next?", "Will this change anything?", "Who gains from this?", "Is this the right move?",
              "How will people react?", "Why now?", "Can it last?", "What does this mean for everyone else?")
_OPENERS = ("I read today that", "I just learned that", "I think it matters that", "I was surprised to hear that",
            "My friend told me that", "I keep thinking about how")
_NEGATIONS = ("Nobody expected this.", "It is not clear what comes next.", "None of this was planned.",
              "This is not the end of the story.", "No one has commented yet.", "Nothing has been decided.")
_EXCLAIMS = ("Wow!", "Amazing news!", "What a day!", "Incredible!", "Unbelievable!", "Fantastic!")
_SARCASM = ("Oh great, just what we needed.", "Yeah, because that always works so well.", "What could possibly go wrong?",
            "Sure, that will fix everything.", "Brilliant idea, as usual.", "Oh wonderful, more of this.")


def _ask(text: str, rng: np.random.Generator) -> str:
    return f"{_sentence(text)} {_pick(_QUESTIONS, rng)}"


def _first_person(text: str, rng: np.random.Generator) -> str:
    body = " ".join(text.split())
    return f"{_pick(_OPENERS, rng)} {body[:1].lower() + body[1:]}"


def _negate(text: str, rng: np.random.Generator) -> str:
    return f"{_sentence(text)} {_pick(_NEGATIONS, rng)}"


def _exclaim(text: str, rng: np.random.Generator) -> str:
    return f"{_pick(_EXCLAIMS, rng)} {_sentence(text)[:-1]}!"


def _sarcastic(text: str, rng: np.random.Generator) -> str:
    return f"{_sentence(text)} {_pick(_SARCASM, rng)}"


def _shout(text: str, rng: np.random.Generator) -> str:
    words = " ".join(text.split()).split(" ")
    long = [i for i, w in enumerate(words) if len(re.sub(r"\W", "", w)) >= 4]
    for i in rng.choice(long, size=min(3, len(long)), replace=False) if long else []:
        words[i] = words[i].upper()
    return " ".join(words)


PROPERTIES: tuple[PlantedProperty, ...] = (
    PlantedProperty("question", "asks a question", _ask, ("question", "asks", "?", "inquir", "wonder")),
    PlantedProperty("first_person", "is written in the first person", _first_person,
                    ("first person", "first-person", " i ", "personal", "the author", "narrator", "speaker",
                     "own experience", "opinion")),
    PlantedProperty("negation", "contains a negation", _negate,
                    ("negat", " not ", " no ", "nobody", "nothing", "none", "uncertain", "unclear", "denial")),
    PlantedProperty("exclamation", "uses exclamations", _exclaim,
                    ("exclam", "excite", "enthusias", "!", "surprise", "amaze", "emphatic")),
    PlantedProperty("sarcasm", "is sarcastic", _sarcastic, ("sarcas", "iron", "mock", "cynic")),
    PlantedProperty("all_caps", "contains words in capital letters", _shout,
                    ("capital", "upper", "caps", "shout", "emphas")),
)


@dataclass
class PlantedPair:
    name: str
    prop: PlantedProperty
    a: list[str]
    b: list[str]


def planted_pairs(texts: Sequence[str], n_per_side: int = 20, seed: int = 0,
                  properties: Sequence[PlantedProperty] = PROPERTIES) -> list[PlantedPair]:
    """One pair per property: 2 * n_per_side texts drawn at random, the A half rewritten to carry it."""
    usable = [t for t in texts if t.strip()]
    if len(usable) < 2 * n_per_side:
        raise ValueError(f"{len(usable)} texts; planted pairs of {n_per_side} per side need {2 * n_per_side}")
    out = []
    for k, prop in enumerate(properties):
        rng = np.random.default_rng([seed, k])
        idx = rng.choice(len(usable), 2 * n_per_side, replace=False)
        a = [prop.rewrite(usable[i], rng) for i in idx[:n_per_side]]
        b = [" ".join(usable[i].split()) for i in idx[n_per_side:]]
        out.append(PlantedPair(f"planted/{prop.name}", prop, a, b))
    return out
