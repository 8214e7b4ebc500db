"""Planted non-topical pairs: the rewrite carries the property, B is untouched, seeds reproduce."""

import re

import pytest

from hypodisc.datasets.bundled import bundled_path
from hypodisc.datasets.corpus import load_texts
from hypodisc.datasets.planted_pairs import PROPERTIES, planted_pairs

pytestmark = pytest.mark.fast  # no model: `make test-fast`

CHECKS = {
    "question": lambda t: t.endswith("?"),
    "first_person": lambda t: t.startswith(("I ", "My ")),
    "negation": lambda t: re.search(r"\b(not|no|none|nobody|nothing)\b", t, re.I) is not None,
    "exclamation": lambda t: t.endswith("!"),
    "sarcasm": lambda t: t.endswith((".", "?")),
    "all_caps": lambda t: re.search(r"\b[A-Z]{4,}\b", t) is not None,
}


@pytest.fixture(scope="module")
def corpus():
    return load_texts(bundled_path("agnews_2048"))


def test_every_rewrite_carries_its_property_and_b_is_untouched(corpus):
    originals = {" ".join(t.split()) for t in corpus}
    pairs = planted_pairs(corpus, n_per_side=15, seed=3)
    assert [p.prop.name for p in pairs] == [p.name for p in PROPERTIES]
    for p in pairs:
        assert len(p.a) == len(p.b) == 15
        assert all(CHECKS[p.prop.name](t) for t in p.a), p.name
        assert all(t in originals for t in p.b), p.name
        assert not any(t in originals for t in p.a), p.name  # every A text was changed


def test_halves_are_disjoint_draws_and_seeds_reproduce(corpus):
    one, again, other = planted_pairs(corpus, 10, seed=1), planted_pairs(corpus, 10, seed=1), planted_pairs(corpus, 10, seed=2)
    assert [p.a for p in one] == [p.a for p in again] and [p.b for p in one] == [p.b for p in again]
    assert [p.b for p in one] != [p.b for p in other]


def test_recovery_keywords_name_the_property_and_not_a_topic():
    by_name = {p.name: p for p in PROPERTIES}
    assert by_name["question"].named_by("asks a rhetorical question")
    assert by_name["first_person"].named_by("is written in the first person")
    assert by_name["sarcasm"].named_by("uses an ironic tone")
    assert by_name["negation"].named_by('uses the word "not"') and by_name["first_person"].named_by('uses the word "I"')
    assert not any(p.named_by("is about sports") for p in PROPERTIES)
    assert not by_name["question"].named_by("is about business")


def test_too_few_texts_is_a_clear_error():
    with pytest.raises(ValueError, match="need 40"):
        planted_pairs(["a text"] * 10, n_per_side=20)
