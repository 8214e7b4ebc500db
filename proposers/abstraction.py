"""The abstraction pass: the broader class that a job's topical candidates are instances of.

Shown a handful of texts at a time, the small default model names what those texts show ("is about a
singer", "is about a poet", "is about a sea snail", "is about a moth") where the difference between the
corpora is the class ("is about an artist", "is about an animal"). One short prompt shows it the content
candidates of the job together and asks for the class that covers most of them; a few sampled replies
become new candidates. Every version goes on to verification, so the statistics, not the prompt, decide
which one holds: a class too broad for the difference is as true of B and loses.

Asked to generalise each candidate on its own line instead, the model copied the list back unchanged
(tried on four nlparam pairs' candidates), so the pass works on the set.

Only candidates that describe content take part: the form views' readings ("asks a question") and literal
words ('uses the word "I"') are already as general as they are meant to be.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypodisc.backends.base import Chat, GenerationParams, LLMBackend
from hypodisc.proposers.contrast_proposer import as_property

#: proposer sources whose candidates describe content (None: a resumed proposal from before sources)
ABSTRACTED_SOURCES = frozenset({"whole", "llm", None})
#: the source of the pass's own candidates
ABSTRACTION_SOURCE = "abstraction"

ABSTRACTION_SYSTEM = """You find the broader class that several properties of texts belong to. You see properties,
each true of some texts of one group. Name the one general class that covers most of them, in a few words, as a
property of one text: drop names, details and kinds. End your answer with one line of the form:
Property: <the property>

Example. Given
- describes a recipe for lemon cake
- is about a bakery's opening hours
- mentions a chef
- is about the weather
a good answer is
Property: is about food"""

#: the worked example's answer, never a candidate of a job
EXAMPLE_ANSWER = "is about food"


def abstraction_prompt(hypotheses: Sequence[str]) -> Chat:
    return [{"role": "system", "content": ABSTRACTION_SYSTEM},
            {"role": "user", "content": "\n".join(f"- {h}" for h in hypotheses)}]


def abstract_candidates(backend: LLMBackend, candidates: Sequence[str], sources: Sequence[str | None],
                        seed: int = 0, samples: int = 3, temperature: float = 0.7,
                        max_tokens: int = 60) -> list[str]:
    """New candidates: the classes the model names for the content candidates (at least two are needed),
    each new and not the worked example's answer."""
    content = [c for c, s in zip(candidates, sources) if s in ABSTRACTED_SOURCES]
    if len(content) < 2:
        return []
    params = GenerationParams(n=samples, temperature=temperature if samples > 1 else 0.0, max_tokens=max_tokens,
                              seed=seed)
    replies = backend.generate([abstraction_prompt(content)], params)[0].texts
    seen, out = set(candidates), []
    for reply in replies:
        h = as_property(reply)
        if h and h not in seen and h != EXAMPLE_ANSWER:
            seen.add(h)
            out.append(h)
    return out
