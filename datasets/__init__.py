"""Corpus loading and the small real corpora bundled for demos and tests.

Installed as ``hypodisc.datasets`` so it never shadows Hugging Face ``datasets``.
"""

from hypodisc.datasets.corpus import CorpusError, load_texts, parse_texts
from hypodisc.datasets.bundled import demo_pair

__all__ = ["CorpusError", "load_texts", "parse_texts", "demo_pair"]
