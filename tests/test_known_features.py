"""Known-answer features: WordNet facts, each family fires exactly by its rule, splits are fixed per id."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from hypodisc.datasets import known_features as kf
from hypodisc.datasets.wordnet import WordNet
from hypodisc.errors import HypodiscError

pytestmark = pytest.mark.fast  # no model: `make test-fast`

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
WORDNET = Path("/usr/share/wordnet")
needs_wordnet = pytest.mark.skipif(not (WORDNET / "data.noun").is_file(),
                                   reason="WordNet missing (apt-get install wordnet-base; scripts/system_deps.sh)")
needs_shared = pytest.mark.skipif(not (SHARED / "data" / "nlparam").is_dir(),
                                  reason=f"no shared data folder at {SHARED}")


@pytest.fixture(scope="module")
def wn():
    if not (WORDNET / "data.noun").is_file():
        pytest.skip("WordNet not installed (apt-get install wordnet-base)")
    return WordNet(WORDNET)


@pytest.fixture(scope="module")
def features(wn):
    if not (SHARED / "data" / "nlparam").is_dir():
        pytest.skip(f"no shared data folder at {SHARED}")
    return kf.known_features(SHARED, wordnet=wn)


def by_family(features, family):
    return [f for f in features if f.family == family]


def firing_tokens(example):
    return [(j, t) for j, (t, a) in enumerate(zip(example.tokens, example.activations)) if a > 0]


# -- the WordNet reader ------------------------------------------------------------------------------


def test_missing_wordnet_folder_is_a_clear_error(tmp_path):
    with pytest.raises(HypodiscError) as err:
        WordNet(tmp_path / "nowhere")
    assert "data.noun" in str(err.value) and "apt-get install wordnet-base" in err.value.fix


@needs_wordnet
def test_reader_resolves_synsets_by_sense_order(wn):
    assert wn.synset("dog.n.01").words[0] == "dog"
    assert "informal term for a man" in wn.synset("dog.n.03").gloss
    assert "related by blood or marriage" in wn.synset("relative.n.01").gloss  # the kinship sense
    assert wn.synset("bank.n.01").gloss.startswith("sloping land")
    with pytest.raises(HypodiscError):
        wn.synset("dog.n.99")
    with pytest.raises(HypodiscError):
        wn.synset("not a name")


@needs_wordnet
def test_closure_lemmas_and_first_sense_membership(wn):
    animals = wn.hyponym_closure("animal.n.01")
    assert wn.synset("dog.n.01").offset in animals
    assert wn.synset("oak.n.01").offset not in animals
    assert {"dog", "cat", "horse"} <= wn.members("animal.n.01")
    # "bank" names a savings bank (a container) and a bank (a financial institution), but its first
    # sense is the sloping land, so it is a lemma of those trees and a member of neither.
    for root in ("container.n.01", "financial_institution.n.01"):
        assert "bank" in wn.lemmas(wn.hyponym_closure(root))
        assert "bank" not in wn.members(root)
    assert wn.first_sense("bank") == wn.synset("bank.n.01").offset
    assert wn.first_sense("qwertyuiop") is None
    # "orange" is a colour lemma, but its first sense is the fruit.
    assert "orange" in wn.lemmas(wn.hyponym_closure("chromatic_color.n.01"))
    assert "orange" not in wn.members("chromatic_color.n.01") and "orange" in wn.members("edible_fruit.n.01")
    assert "mother" in wn.members("relative.n.01") and "teacher" not in wn.members("relative.n.01")
    assert "monday" in wn.members("day_of_the_week.n.01")
    # Countries are instances: only the closure that follows instance pointers holds France.
    assert "france" in wn.members("country.n.02")
    assert "france" not in wn.members("country.n.02", instances=False)
    assert all("_" not in w for w in wn.lemmas(animals)) and any("_" in w for w in wn.lemmas(animals, False))


@needs_wordnet
def test_plural_forms_come_back_to_their_noun(wn):
    assert [wn.base_noun(w) for w in ("geese", "mice", "cities", "pennies", "cookies", "boxes", "dogs")] == \
        ["goose", "mouse", "city", "penny", "cookie", "box", "dog"]
    assert wn.base_noun("glass") == "glass" and wn.base_noun("xyzzy") == "xyzzy"


# -- real sentences ----------------------------------------------------------------------------------


@needs_shared
def test_real_sentences_are_deterministic_unique_and_bounded():
    sents = kf.real_sentences(SHARED)
    assert len(sents) > 50_000
    assert sents == sorted(set(sents)) == kf.real_sentences(SHARED)
    assert all(5 <= len(s.split()) <= 60 for s in sents)
    assert not any("#39;" in s for s in sents[:: 97])  # AG News entities are unescaped
    assert kf._sentences("I met Mr. Smith and J. R. Tolkien. He was nice.") == \
        ["I met Mr. Smith and J. R. Tolkien.", "He was nice."]


# -- the families ------------------------------------------------------------------------------------


def test_counts_and_shapes(features):
    counts = Counter(f.family for f in features)
    assert counts["category"] >= 36 and counts["after_word"] == 7 and counts["grammar"] == 5
    assert counts["nlparam"] == 4 + 14 + 20  # bills' "culture" holds 3 texts and is left out
    assert len({f.feature_id for f in features}) == len(features)
    for f in features:
        if f.family != "nlparam":
            assert f.record.level == "token"
            assert len(f.record.activating()) == 20 and len(f.record.non_activating()) == 20, f.feature_id
            assert all(len(e.tokens) <= 24 for e in f.record.examples)
        for e in f.record.activating():
            assert all(0.5 <= a <= 1.0 for a in e.activations if a > 0)
            assert len({a for a in e.activations if a > 0}) == 1  # one strength per window
        assert all(e.max_activation == 0 for e in f.record.non_activating())


def test_category_features_fire_on_members_only(features, wn):
    cats = {rule.feature_id: cat for rule, cat in kf.category_rules(wn)}
    built = by_family(features, "category")
    assert {f.feature_id for f in built} == set(cats)  # none fell under the 20-window floor
    for f in built:
        cat = cats[f.feature_id]
        for e in f.record.activating():
            fired = firing_tokens(e)
            assert fired
            assert all(cat.base(t) in cat.members and cat.fires(t) for _, t in fired), (f.feature_id, fired)
            assert not any(cat.fires(t) for t, a in zip(e.tokens, e.activations) if a == 0)
        for e in f.record.non_activating():
            assert not any(cat.base(t) in cat.members for t in e.tokens), (f.feature_id, e.text)


def test_category_rule_uses_case_and_plurals(wn):
    cat = dict((c.name, c) for c in kf.CATEGORIES)
    fruits = kf.CategoryRule(wn, cat["fruits"])
    assert fruits.fires(" apples,") and not fruits.fires(" Apple")  # the company is not a fruit
    days = kf.CategoryRule(wn, cat["weekdays"])
    assert days.fires(" Monday.") and not days.fires(" monday")
    animals = kf.CategoryRule(wn, cat["animals"])
    assert animals.fires(" geese") and animals.fires(" dogs") and not animals.fires(" bank")
    kin = kf.CategoryRule(wn, cat["kinship"])
    assert kin.fires(" mothers") and not kin.fires(" teacher")


def test_after_word_features_mark_exactly_the_next_token(features):
    built = by_family(features, "after_word")
    assert {f.feature_id for f in built} == {f"after_word/{kf._slug(t)}" for t in kf.TRIGGERS}
    for f in built:
        trigger = re.search(r'"(.+)"', f.gold).group(1).lower()
        for e in f.record.activating():
            expect = [j > 0 and e.tokens[j - 1].strip().lower() == trigger for j in range(len(e.tokens))]
            assert [a > 0 for a in e.activations] == expect and any(expect), (f.feature_id, e.text)
        for e in f.record.non_activating():
            assert not any(t.strip().lower() == trigger for t in e.tokens)


def test_grammar_features_fire_on_their_class(features, wn):
    pronouns = {"i", "he", "she", "we", "they"}
    checks = {
        "grammar/ly_adverbs": lambda t: kf.bare(t).lower().endswith("ly") and kf.bare(t).lower() in wn.index("r"),
        "grammar/past_ed": lambda t: kf.bare(t).lower().endswith("ed"),
        "grammar/subject_pronouns": lambda t: re.split(r"['’]", kf.bare(t).lower())[0] in pronouns,
        "grammar/capitalised": lambda t: t[:1].isspace() and kf.bare(t)[:1].isupper()
        and not re.match(r"I(['’]|$)", kf.bare(t)),
        "grammar/digits": lambda t: re.search(r"\d", t) is not None,
    }
    built = {f.feature_id: f for f in by_family(features, "grammar")}
    assert set(built) == set(checks) == {f"grammar/{g}" for g in kf.GRAMMAR}
    for fid, ok in checks.items():
        for e in built[fid].record.activating():
            assert all(ok(t) for _, t in firing_tokens(e)), (fid, firing_tokens(e))
        if fid != "grammar/past_ed":  # its check above is looser than the rule ("need" ends in -ed)
            for e in built[fid].record.non_activating():
                assert not any(ok(t) for t in e.tokens), (fid, e.text)
    pronoun_silent = [e.text.lower() for e in built["grammar/subject_pronouns"].record.non_activating()]
    assert not any(re.search(r"\b(i|he|she|we|they)\b", t) for t in pronoun_silent)
    assert not any(re.search(r"\d", e.text) for e in built["grammar/digits"].record.non_activating())


def test_nlparam_features_fire_exactly_on_texts_with_the_predicate(features):
    built = by_family(features, "nlparam")
    data = {}
    for f in built:
        name, k = re.fullmatch(r"nlparam/(\w+)/(\d+)", f.feature_id).groups()
        if name not in data:
            file = next((SHARED / "data" / "nlparam").glob(f"data_cluster_{name}*.json"))
            raw = json.loads(file.read_text())
            data[name] = raw, {kf._clip(t): lab for t, lab in zip(raw["texts"], raw["reference_phi_denotation"])}
        raw, labels = data[name]
        assert f.gold == raw["reference_phi_predicate_strings"][int(k)].strip()
        assert f.record.level == "document" and len(f.record.activating()) == 20
        for e in f.record.examples:
            assert len(e.text) <= 610
            assert (e.max_activation > 0) == (labels[e.text][int(k)] == 1), (f.feature_id, e.text[:80])


# -- splits and few-example variants ------------------------------------------------------------------


def test_splits_are_fixed_balanced_and_independent_of_other_features(features, wn):
    again = kf.assign_splits(features)
    assert [f.split for f in again] == [f.split for f in features]
    assert {f.split for f in features} == {"dev", "test"}
    for family in kf.FAMILIES:
        fam = by_family(features, family)
        n_test = sum(f.split == "test" for f in fam)
        assert abs(n_test - len(fam) / 3) <= (2 if family == "nlparam" else 1), (family, n_test, len(fam))
    # The same id lands in the same split whatever else is built alongside it.
    alone = kf.known_features(SHARED, families=("grammar",), wordnet=wn, n_firing=3, n_silent=3)
    split = {f.feature_id: f.split for f in features}
    assert all(split[f.feature_id] == f.split for f in alone)
    few = kf.assign_splits(by_family(features, "after_word")[2:5])
    assert all(split[f.feature_id] == f.split for f in few)
    # Another seed gives another (still balanced) split.
    assert [kf.split_of(f.feature_id, seed=1) for f in features] != [f.split for f in features]


def test_split_of_unknown_ids_falls_back_to_a_seeded_hash():
    ids = [f"custom/{i}" for i in range(600)]
    splits = [kf.split_of(i) for i in ids]
    assert splits == [kf.split_of(i) for i in reversed(ids)][::-1]
    assert 0.25 < splits.count("test") / len(splits) < 0.42


def test_few_examples_keeps_the_feature_with_fewer_examples(features):
    rec = features[0].record
    few = kf.few_examples(rec, n_firing=5, n_silent=5, seed=3)
    assert few.feature_id == rec.feature_id and len(few.activating()) == 5 and len(few.non_activating()) == 5
    assert set(few.examples) <= set(rec.examples)
    assert few == kf.few_examples(rec, n_firing=5, n_silent=5, seed=3)
    assert kf.few_examples(rec, n_firing=0, n_silent=2).activating() == []
