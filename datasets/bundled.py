"""Small real corpora shipped with the package.

``agnews_technology`` / ``agnews_business``: 40 AG News texts each, drawn with
seed 0 from the texts whose gold predicate (Zhong et al. 2024, nlparam) is
"has a topic of technology." / "has a topic of business.".
``agnews_2048``: the 2,048 AG News texts of nlparam's ``data_cluster_agnews.json``, so the
feature-label demo runs where the shared data folder is absent.
"""

from __future__ import annotations

from importlib import resources

from hypodisc.datasets.corpus import load_texts


def bundled_path(name: str):
    return resources.files("hypodisc.datasets") / "data" / f"{name}.jsonl"


def demo_pair() -> tuple[list[str], list[str]]:
    """(technology news, business news): a pair whose true difference is known."""
    with resources.as_file(bundled_path("agnews_technology")) as a, resources.as_file(bundled_path("agnews_business")) as b:
        return load_texts(a), load_texts(b)
