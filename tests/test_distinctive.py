"""Distinctive sentences and words: the parts of texts that set one group apart."""

import numpy as np
import pytest

from hypodisc.proposers.distinctive import (
    WordGap,
    distinctive_sentences,
    distinctive_words,
    literal_hypothesis,
    sentences,
)
from hypodisc.verifiers.embedding import HashingEmbedder

pytestmark = pytest.mark.fast

NEWS = ["The council approved the new budget for schools.", "Rain is expected across the north on Sunday.",
        "The team signed a young striker from Brazil.", "Oil prices fell for a third straight day.",
        "A new phone was launched with a larger screen.", "The museum reopened after a long repair."]


def test_sentences_split_after_end_marks_only():
    assert sentences("  One.  Two?\nThree! four") == ["One.", "Two?", "Three!", "four"]
    assert sentences("") == []


def test_an_added_remark_shared_by_several_a_texts_is_distinctive_and_topics_are_not():
    remarks = ["Nobody expected this at all.", "Nobody expected this, not at all.", "Truly nobody expected this."]
    a = [f"{t} {remarks[i % 3]}" for i, t in enumerate(NEWS)]
    b = ["The council approved the budget for roads.", "Snow is expected across the south on Monday.",
         "The club sold an old striker to Spain.", "Gas prices rose for a second day.",
         "An old phone was recalled over its battery.", "The library closed for a long repair."]
    lines_a, lines_b = distinctive_sentences(a, b, HashingEmbedder(256).encode, shown=3)
    assert set(lines_a) == set(remarks)
    assert not set(lines_b) & set(remarks)


def test_a_pattern_needs_several_texts_not_two_reports_of_one_event():
    """Two A texts about one event echo each other, but only one other text: the shared remark, echoed by
    every other A text, outranks them."""
    a = ["Storm hits the harbour town overnight. What happens next?",
         "Storm hits the harbour town overnight, officials said. What happens next?"] + \
        [f"{t} What happens next?" for t in NEWS[:4]]
    b = NEWS[2:] + ["Shares rose in early trading.", "The bridge opens next year."]
    lines_a, _ = distinctive_sentences(a, b, HashingEmbedder(256).encode, shown=1)
    assert lines_a == ["What happens next?"]


def test_nothing_distinctive_in_identical_groups_and_too_few_sentences():
    emb = HashingEmbedder(64).encode
    assert distinctive_sentences(NEWS, NEWS, emb) == ([], [])
    assert distinctive_sentences(["One."], NEWS, emb) == ([], [])


def test_distinctive_words_count_texts_keep_the_written_form_and_skip_shared_words():
    a = [f"I think {t}" for t in NEWS]
    got = distinctive_words(a, NEWS)
    assert [(w.word, w.in_a, w.in_b) for w in got] == [("I", 6, 0), ("think", 6, 0)]
    assert distinctive_words(NEWS, NEWS) == []
    assert distinctive_words([], NEWS) == []


def test_marks_count_as_words_and_the_gap_is_by_share_of_texts():
    a = [t[:-1] + "?" for t in NEWS[:3]] + NEWS[3:]          # 3 of 6 ask
    got = distinctive_words(a, NEWS, min_gap=0.5)
    assert [(w.word, w.in_a) for w in got] == [("?", 3)]
    assert distinctive_words(a, NEWS, min_gap=0.6) == []


def test_a_word_or_mark_as_a_literal_hypothesis():
    assert literal_hypothesis(WordGap("I", 6, 0)) == 'uses the word "I"'
    assert literal_hypothesis(WordGap("?", 5, 1)) == "contains a question mark"
