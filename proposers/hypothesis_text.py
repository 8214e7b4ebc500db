"""Turn a proposer's raw reply into clean single-text predicates.

A verifier judges one text at a time, so a hypothesis must be a property of a
single text ("mentions a lawsuit"), never a comparison ("more formal than group
B") or a statement about the groups. Comparatives are rewritten; anything that
still names the groups is dropped.
"""

from __future__ import annotations

import re

_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2013>]+\s*|(?:\(?\d{1,3}[.):]|\(?[a-zA-Z][.)])\s+)")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"
_GROUP = re.compile(
    r"\b(group|corpus|corpora|set|class|dataset|collection|side)\s*[ab12]\b|\bgroups?\b|\bcorpus [ab]\b"
    r"|\b(?:text|sample)s? (?:a|b)\b|\bthe other\b|\bin contrast\b",
    re.IGNORECASE,
)
_THAN_TAIL = re.compile(r"\s+(?:than|compared (?:to|with)|relative to|versus|vs\.?)\b.*$", re.IGNORECASE)
_MORE = re.compile(r"\b(?:more|less|fewer)\s+(?:often\s+|frequently\s+|likely\s+(?:to\s+)?)?", re.IGNORECASE)
_SUBJECT = re.compile(
    r"^(?:(?:the|most|many|all)\s+)?(?:group\s*a|corpus\s*a|a)?\s*(?:samples?|texts?|sentences?|documents?|ones)?\s*"
    r"(?:in\s+group\s*a\s*)?(?=(?:tend|often|usually|frequently|typically|generally|mostly|are|is|have|has|"
    r"mention|discuss|describe|use|focus|contain|include|talk|refer|express|report|involve|feature)\b)",
    re.IGNORECASE)
_CONTRAST_TAIL = re.compile(r",?\s+(?:while|whereas|but|unlike|as opposed to)\b.*$", re.IGNORECASE)
_HEDGE = re.compile(r"^(?:they|these texts|the texts|texts|samples)\s+(?=\w)", re.IGNORECASE)
_LEADS = re.compile(r"^(?:tends? to|often|frequently|usually|typically|generally|mostly)\s+", re.IGNORECASE)
_HEADER = re.compile(r"^(?:here (?:are|is)|sure|hypothes[ie]s|properties|answer|output)\b.*:?$", re.IGNORECASE)
_NAMED_SUBJECT = re.compile(r"^[A-Z][\w'.-]*(?:\s+(?!(?:is|are|has|have)\b)[\w'.-]+){0,3}\s+(?=(?:is|are|has|have)\s)")
#: the verbs a property starts with (singular); a reply starting with one is a property or nothing
STARTING_VERBS = frozenset({"mentions", "describes", "discusses", "uses", "contains", "includes", "talks", "refers",
                           "expresses", "focuses", "reports", "involves", "features", "covers", "asks", "praises",
                           "complains", "emphasizes", "highlights", "addresses", "explains", "is", "has",
                           "criticizes", "announces", "quotes", "compares", "tells", "gives", "shows", "provides",
                           "presents", "lists", "names", "cites", "offers", "promotes"})
_DANGLING = {"about", "of", "a", "an", "the", "to", "with", "in", "on", "for", "and", "or", "by"}
# A sentence end followed by a new sentence: proposers append commentary ("This is a neutral description").
_FIRST_SENTENCE = re.compile(r"(?<=[a-z0-9)\]])[.!;]\s+(?=[A-Z])")
# Three or more words inside quotes: a run of copied sample text, not a property of texts in general.
_QUOTED_RUN = re.compile(r"\s[\"\u201c\u2018'`][\w,.-]+(?:\s+[\w,.-]+){2,}")
_PROPER_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\b")
_MAX_WORDS = 16  # D5-style fragments are short; longer replies are rambling prose


def _strip_bullets(line: str) -> str:
    while line.strip() and _BULLET.match(line):  # "- 1. item", "- - item", "- -item"
        line = _BULLET.sub("", line, count=1)
    return line


def parse_bullets(reply: str) -> list[str]:
    """Lines that look like list items; prose lines are kept only if nothing is bulleted."""
    lines = [ln for ln in reply.replace("\r", "").split("\n") if ln.strip()]
    bulleted = [_strip_bullets(ln) for ln in lines if _BULLET.match(ln)]
    items = bulleted if bulleted else lines
    return [it.strip() for it in items if it.strip() and not _HEADER.match(it.strip())]


def _third_person(verb: str) -> str:
    """'mention' -> 'mentions' for the predicate's first word when it came out plural."""
    irregular = {"are": "is", "have": "has", "do": "does", "focus": "focuses", "discuss": "discusses"}
    if verb.lower() in irregular:
        return irregular[verb.lower()]
    if verb.endswith(("s", "ed", "ing")) or len(verb) < 3:
        return verb
    if verb.endswith(("sh", "ch", "x", "z")):
        return verb + "es"
    return verb + "s"


_PLURAL_VERBS = {"mention", "discuss", "describe", "use", "contain", "include", "talk", "refer", "express", "tend",
                 "focus", "report", "involve", "feature", "are", "have", "do", "cover", "reference", "criticize",
                 "announce", "ask", "praise", "complain", "emphasize", "highlight", "address", "explain"}


def _looks_like_verb(word: str) -> bool:
    w = word.lower()
    return w in {"is", "has", "uses", "was", "does", "can", "contains"} or (w.isalpha() and w.endswith("s") and len(w) > 3)


def clean_hypothesis(raw: str) -> str | None:
    """Normalise one candidate; None if it cannot be made a single-text property."""
    h = re.sub(r"\*\*|__", "", raw.strip())              # markdown bold
    h = re.sub(r"^[\"\u201c][^\"\u201d]{3,}[\"\u201d]\s*(?::|-|\u2013)?\s*", "", h)  # a quoted sample, then its property
    h = h.strip().strip(_QUOTES).strip()
    quoted_run = _QUOTED_RUN.search(h) is not None
    first = h.split(" ", 1)[0].lower()
    if first not in STARTING_VERBS and first not in _PLURAL_VERBS:
        h = _NAMED_SUBJECT.sub("", h, count=1)        # "Lasiodiscus mildbraedii is about a plant" -> "is about a plant"
    h = re.sub(r"^(?:property|hypothesis)\s*\d*\s*:\s*", "", h, flags=re.IGNORECASE)
    h = re.sub(r"\s+[-\u2013\u2014]\s+.*$", "", h)       # "is about X - for example ..."
    h = re.sub(r"\s*\((?:e\.g\.|eg|for example|i\.e\.)[^)]*\)|,?\s+(?:e\.g\.|for example)\s.*$", "", h, flags=re.I)
    h = _FIRST_SENTENCE.split(h, maxsplit=1)[0]          # "is X. This is a neutral description..." -> "is X"
    h = re.sub(r"\s*\([^()]*\)\s*\.?$", "", h)              # trailing "(Microsoft, Google, etc.)"
    h = _CONTRAST_TAIL.sub("", h)
    h = _THAN_TAIL.sub("", h)
    h = _SUBJECT.sub("", h, count=1)
    h = _HEDGE.sub("", h)
    h = _LEADS.sub("", h)
    h = _MORE.sub("", h)
    h = re.sub(r"\s+", " ", h).strip(" .;:,").strip(_QUOTES).strip()
    if sum(h.count(q) for q in '"\u201c\u201d') % 2:  # an unbalanced quote left by a clipped sample
        h = re.sub('["\u201c\u201d]', "", h)
    if not h or _GROUP.search(h) or quoted_run:
        return None  # names the groups, or quotes a run of sample text ("uses the phrase \"...\"")
    words = h.split()
    if len(words) < 2 or len(words) > _MAX_WORDS or words[-1].lower() in _DANGLING:
        return None
    if len(words) == 2 and words[0].lower() in ("is", "are") and words[1].lower().endswith(("ed", "en")):
        return None  # "is mentioned", "is written": a quoted subject was removed, or the property cut short
    if any(c.isupper() for c in words[0][1:]):
        return None  # "USNS Perseus is ...": a name copied from a sample, not a verb
    if words[0].lower() in _PLURAL_VERBS:
        words[0] = _third_person(words[0].lower())
    if not _looks_like_verb(words[0]):
        return None  # a title, a noun phrase or a truncated sample, not a property
    h = " ".join(words)
    return h[0].lower() + h[1:]


def clean_all(replies: list[str]) -> list[str]:
    """Every usable, exactly-unique candidate from a list of replies, in order."""
    seen: set[str] = set()
    out: list[str] = []
    for reply in replies:
        for item in parse_bullets(reply):
            h = clean_hypothesis(item)
            if h and h.lower() not in seen:
                seen.add(h.lower())
                out.append(h)
    return out


def copies_a_sample(hypothesis: str, samples: list[str], n: int = 5) -> bool:
    """True if the hypothesis shares an n-word run with a sample (a copied sample, not a property)."""
    words = re.findall(r"\w+", hypothesis.lower())
    grams = {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
    if not grams:
        return False
    for text in samples:
        tw = re.findall(r"\w+", text.lower())
        if any(tuple(tw[i:i + n]) in grams for i in range(len(tw) - n + 1)):
            return True
    return False


def names_from_one_sample(hypothesis: str, samples: list[str]) -> bool:
    """True if the hypothesis names someone or something (a capitalised name) that at most one sample mentions.

    A small proposer copies a single sample's subject ("mentions Margaret Sanger"); a property that
    holds for several texts of a group does not hinge on a name only one of them contains.
    """
    for name in _PROPER_NAME.findall(hypothesis):
        needle = name.lower()
        if sum(needle in t.lower() for t in samples) <= 1:
            return True
    return False


def borrowed_from_samples(hypothesis: str, samples: list[str]) -> bool:
    """A copied run of a shown sample, or a name only one of them contains: not a property of a group."""
    return copies_a_sample(hypothesis, samples) or names_from_one_sample(hypothesis, samples)
