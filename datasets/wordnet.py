"""A small reader of the WordNet 3.0 database files (Debian ``wordnet-base``).

Known-answer features need word categories ("animals", "colours") whose members
are fixed by an outside authority rather than by us; WordNet's hyponym trees
give that without NLTK or any download.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hypodisc.errors import HypodiscError

DEFAULT_ROOT = "/usr/share/wordnet"
_POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_HYPONYM, _INSTANCE = "~", "~i"


@dataclass(frozen=True)
class Synset:
    offset: int
    pos: str
    #: Lemmas as written in the data file (case kept, underscores for spaces).
    words: tuple[str, ...]
    #: (pointer symbol, target offset, target pos).
    pointers: tuple[tuple[str, int, str], ...]
    gloss: str


@dataclass(frozen=True)
class _Entry:
    offsets: tuple[int, ...]  # synsets in frequency order
    tagged: int  # how many of those senses are tagged in SemCor: a rough frequency of the part of speech


class WordNet:
    """Lazy, per part of speech; ``offset`` ints are the byte offsets the data files use as ids."""

    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)
        missing = [f for f in ("data.noun", "index.noun") if not (self.root / f).is_file()]
        if missing:
            raise HypodiscError(f"WordNet database not found: {self.root} has no {', '.join(missing)}",
                                fix="apt-get install wordnet-base (or pass the folder holding data.noun)")
        self._data: dict[str, dict[int, Synset]] = {}
        self._index: dict[str, dict[str, _Entry]] = {}
        self._exc: dict[str, dict[str, str]] = {}

    # -- files ---------------------------------------------------------------------------------

    def _lines(self, name: str):
        path = self.root / name
        if not path.is_file():
            raise HypodiscError(f"WordNet file missing: {path}", fix="apt-get install wordnet-base")
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line and not line.startswith(" "):  # the licence header lines start with spaces
                    yield line.rstrip("\n")

    def data(self, pos: str = "n") -> dict[int, Synset]:
        if pos not in self._data:
            table: dict[int, Synset] = {}
            for line in self._lines(f"data.{_POS_FILES[pos]}"):
                head, _, gloss = line.partition(" | ")
                f = head.split()
                n_words = int(f[3], 16)
                words = tuple(re.sub(r"\(.*\)$", "", w) for w in f[4: 4 + 2 * n_words: 2])
                i = 4 + 2 * n_words
                n_ptr = int(f[i])
                ptrs = tuple((f[j], int(f[j + 1]), f[j + 2]) for j in range(i + 1, i + 1 + 4 * n_ptr, 4))
                table[int(f[0])] = Synset(int(f[0]), pos, words, ptrs, gloss.strip())
            self._data[pos] = table
        return self._data[pos]

    def index(self, pos: str = "n") -> dict[str, _Entry]:
        if pos not in self._index:
            table: dict[str, _Entry] = {}
            for line in self._lines(f"index.{_POS_FILES[pos]}"):
                f = line.split()
                n_syn, n_ptr = int(f[2]), int(f[3])
                i = 4 + n_ptr
                table[f[0]] = _Entry(tuple(int(o) for o in f[i + 2: i + 2 + n_syn]), int(f[i + 1]))
            self._index[pos] = table
        return self._index[pos]

    def exceptions(self, pos: str = "n") -> dict[str, str]:
        """Irregular inflected form -> base form (``geese`` -> ``goose``), from ``<pos>.exc``."""
        if pos not in self._exc:
            table: dict[str, str] = {}
            if (self.root / f"{_POS_FILES[pos]}.exc").is_file():
                for line in self._lines(f"{_POS_FILES[pos]}.exc"):
                    f = line.split()
                    if len(f) >= 2:
                        table.setdefault(f[0], f[1])
            self._exc[pos] = table
        return self._exc[pos]

    # -- queries -------------------------------------------------------------------------------

    def synset(self, name: str) -> Synset:
        """``"animal.n.01"``: the lemma's n-th sense in index (frequency) order."""
        m = re.fullmatch(r"(.+)\.([nvar])\.(\d+)", name)
        if not m:
            raise HypodiscError(f"not a synset name: {name!r}", fix='write it like "animal.n.01"')
        lemma, pos, k = m.group(1).lower(), m.group(2), int(m.group(3))
        entry = self.index(pos).get(lemma)
        if entry is None or not 1 <= k <= len(entry.offsets):
            raise HypodiscError(f"no synset {name!r} in WordNet")
        return self.data(pos)[entry.offsets[k - 1]]

    def hyponym_closure(self, name: str, instances: bool = True) -> set[int]:
        """Offsets of the synset and everything below it (instances such as ``France`` too, if asked)."""
        root = self.synset(name)
        data = self.data(root.pos)
        follow = {_HYPONYM, _INSTANCE} if instances else {_HYPONYM}
        seen, todo = {root.offset}, [root.offset]
        while todo:
            for sym, off, pos in data[todo.pop()].pointers:
                if sym in follow and pos == root.pos and off not in seen:
                    seen.add(off)
                    todo.append(off)
        return seen

    def lemmas(self, offsets, single_word: bool = True, pos: str = "n") -> set[str]:
        data = self.data(pos)
        out = {w.lower() for o in offsets for w in data[o].words}
        return {w for w in out if "_" not in w} if single_word else out

    def first_sense(self, word: str, pos: str = "n") -> int | None:
        entry = self.index(pos).get(word.lower())
        return entry.offsets[0] if entry else None

    def tagged_count(self, word: str, pos: str) -> int:
        entry = self.index(pos).get(word.lower())
        return entry.tagged if entry else 0

    def members(self, name: str, instances: bool = True) -> set[str]:
        """Single-word lemmas whose *first* (most frequent) noun sense is under ``name``.

        The first-sense rule keeps ambiguous words out: "bank" has a container sense
        (a savings bank), but its first sense is the sloping land, so it is no container.
        """
        closure = self.hyponym_closure(name, instances)
        return {w for w in self.lemmas(closure) if self.first_sense(w) in closure}

    def is_capitalised(self, word: str, offset: int, pos: str = "n") -> bool:
        """Whether the synset writes ``word`` with a capital (a proper name such as ``Monday``)."""
        for w in self.data(pos)[offset].words:
            if w.lower() == word.lower():
                return w[:1].isupper()
        return False

    def base_noun(self, word: str) -> str:
        """The noun lemma a (lowercase) word form stands for: itself, an irregular plural's base, or a
        regular plural (-s, -es, -ies) stripped; the word unchanged if none is a noun lemma."""
        index = self.index("n")
        if word in index:
            return word
        exc = self.exceptions("n").get(word)
        if exc and exc in index:
            return exc
        for suffix, repl in (("s", ""), ("ies", "y"), ("es", "")):  # cookies: cookie, not cooky; pennies: penny
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                base = word[: -len(suffix)] + repl
                if base in index and not word.endswith("ss"):
                    return base
        return word
