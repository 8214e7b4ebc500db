"""Sentence embeddings (all-MiniLM-L6-v2 from the local model store) and the cheap ranker.

The ranker scores a (hypothesis, text) pair by cosine similarity of their
embeddings. It is ~100x cheaper than an LLM judgment, so the cascade uses it to
decide which candidates are worth the LLM's time; the same embeddings feed the
representative-sample classifier and near-duplicate removal.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from hypodisc.backends.hf_load import hub_offline
from hypodisc.errors import BackendUnavailableError
from hypodisc.verifiers.sentence_encoder import SentenceEncoder

DEFAULT_EMBEDDER = "minilm"


class Embedder:
    """Unit-norm sentence embeddings from a local sentence-transformers directory (never the hub).

    Read through :class:`SentenceEncoder` (transformers alone), so loading it never imports ``datasets``.
    """

    def __init__(self, path: str | Path, batch_size: int = 32, cache_size: int = 50_000):
        try:
            from transformers.utils import logging as hf_logging
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BackendUnavailableError("transformers is not installed",
                                          fix="pip install 'hypodisc[embed]' (and torch==2.13.0 on CPU)") from exc
        hf_logging.disable_progress_bar()  # no "Loading weights" bars in CLI output
        self.path = Path(path)
        with hub_offline():  # never the hub, whatever the environment says; restored afterwards
            self.model = SentenceEncoder(self.path)
        self.batch_size = batch_size
        self.calls = 0  # texts actually embedded (cache misses), for cost accounting
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Embeddings in input order; texts seen recently come from an LRU cache (stages re-embed the same splits)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # one torch model shared by every job in a process
            todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
            for lo in range(0, len(todo), self.batch_size * 4):
                chunk = todo[lo: lo + self.batch_size * 4]
                vecs = self.model.encode(chunk, batch_size=self.batch_size)
                for t, v in zip(chunk, vecs):
                    self._cache[t] = v
                self.calls += len(chunk)
                if progress:
                    progress(min(lo + len(chunk), len(todo)), len(todo))
            out = np.stack([self._cache[t] for t in texts])
            for t in texts:
                self._cache.move_to_end(t)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    @property
    def dim(self) -> int:
        return self.model.dim


class HashingEmbedder:
    """Unit-norm hashed word and word-pair counts (scikit-learn's HashingVectorizer): a real embedder with
    no model, for the fast test lane. It sees shared words only, never meaning; never a default."""

    def __init__(self, dim: int = 1024):
        from sklearn.feature_extraction.text import HashingVectorizer

        self._vectorizer = HashingVectorizer(n_features=dim, ngram_range=(1, 2), alternate_sign=False, norm="l2")
        self._dim = dim
        self.calls = 0

    def encode(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        self.calls += len(texts)
        out = self._vectorizer.transform(list(texts)).toarray().astype(np.float32)
        if progress:
            progress(len(texts), len(texts))
        return out

    @property
    def dim(self) -> int:
        return self._dim


@lru_cache(maxsize=4)
def load_embedder(home: Path, name: str = DEFAULT_EMBEDDER) -> Embedder:
    """Verified local embedder, loaded once per process (the service shares it across jobs)."""
    from hypodisc.backends.model_store import ModelStore

    return Embedder(ModelStore(home).resolve(name))


def similarity(hyp_emb: np.ndarray, text_emb: np.ndarray) -> np.ndarray:
    """Cosine similarity matrix (hypotheses x texts); inputs are unit-norm."""
    return hyp_emb @ text_emb.T


def greedy_dedupe(items: Sequence[str], emb: np.ndarray, threshold: float) -> list[int]:
    """Indices of items kept, in order, dropping any within ``threshold`` cosine of an earlier keeper."""
    kept: list[int] = []
    for i in range(len(items)):
        if not kept or float(np.max(emb[kept] @ emb[i])) < threshold:
            kept.append(i)
    return kept
