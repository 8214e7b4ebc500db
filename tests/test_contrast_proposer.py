"""The feature route: embedding contrasts described one at a time."""

import numpy as np
import pytest

from hypodisc.proposers.contrast_proposer import (
    CONTRAST_SYSTEM,
    WORDS_NOTE,
    WORKED_EXAMPLES,
    ContrastConfig,
    as_property,
    contrast_prompt,
    find_contrasts,
    propose_from_contrasts,
    view_of,
)


def _blobs(rng, centers, per, dim=8):
    x = np.vstack([rng.normal(c, 0.05, size=(per, dim)) for c in centers])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.fast
def test_contrasts_are_the_separating_direction_then_one_per_cluster_of_a():
    rng = np.random.default_rng(0)
    eye = np.eye(8)
    xa = _blobs(rng, [eye[0], eye[1], eye[2]], per=5)          # three sub-themes in A
    xb = _blobs(rng, [eye[3], eye[0] * 0.6 + eye[3] * 0.4], per=6)
    order_a, order_b = list(range(15)), list(range(12))
    cs = find_contrasts(xa, xb, order_a, order_b, ContrastConfig(n_clusters=3, positives=4, negatives=3,
                                                                 views=("opening", "ending")), seed=0)
    assert cs[0].positives == [0, 1, 2, 3] and cs[0].negatives == [0, 1, 2]
    whole = [c for c in cs if c.view == "whole"]
    assert [c.view for c in cs[1:3]] == ["opening", "ending"]
    clusters = [set(c.positives) for c in whole[1:]]
    assert sorted(map(sorted, clusters)) == [[0, 1, 2, 3], [5, 6, 7, 8], [10, 11, 12, 13]]
    # The cluster near B's second blob gets those B texts as its hard negatives.
    near = next(c for c in whole[1:] if set(c.positives) <= set(range(5)))
    assert set(near.negatives) <= set(range(6, 12))


@pytest.mark.fast
def test_tiny_corpora_get_only_the_separating_contrast_and_its_views():
    x = np.eye(4)
    cs = find_contrasts(x, x, [0, 1, 2, 3], [0, 1, 2, 3], ContrastConfig(n_clusters=3, views=("opening", "ending")),
                        seed=0)
    assert [c.view for c in cs] == ["whole", "opening", "ending"]
    assert all(c.positives == cs[0].positives and c.negatives == cs[0].negatives for c in cs)


@pytest.mark.fast
def test_views_show_one_sentence_and_long_texts_keep_their_end():
    text = "Prices rose again this week across the country. Shops blamed the weather. Who can still afford it?"
    assert view_of(text, "opening", 160) == "Prices rose again this week across the country."
    assert view_of(text, "ending", 160) == "Who can still afford it?"
    long = "word " * 100 + "and that is how it ends?"
    assert view_of(long, "whole", 120).endswith("how it ends?")
    chat = contrast_prompt([text], ["A plain report."], 160, view="ending")
    assert "last sentence" in chat[1]["content"] and "Who can still afford it?" in chat[1]["content"]
    assert "Prices rose" not in chat[1]["content"]


@pytest.mark.parametrize("reply, want", [
    ("Property: is about technology", "is about technology"),
    ("The texts share a topic.\nProperty: a sport", "is about a sport"),
    ("**Property:** Mentions money.", "mentions money"),
    ('Property: "Mark Cuban raises specter of dot-com redux" is mentioned', None),
    ("", None),
    ("Property: asks", None),                       # a bare verb is not a topic ("is about asks")
    ("Property: uses: phrases indicating need", None),
])
@pytest.mark.fast
def test_replies_become_single_text_properties(reply, want):
    assert as_property(reply) == want


@pytest.mark.fast
def test_prompt_shows_only_the_given_texts_fenced_by_role():
    p = contrast_prompt(["alpha one", "alpha two"], ["beta one"], chars=50, goal_text="find topics")
    user = p[1]["content"]
    assert user.startswith("Research goal: find topics")
    assert user.index("alpha two") < user.index("Texts that lack it:") < user.index("beta one")


@pytest.mark.slow
def test_default_model_names_the_demo_topic_from_contrasts(qwen, embedder):
    """On the demo pair (tech vs business), the contrast route alone proposes a technology topic."""
    from hypodisc.datasets import demo_pair
    from hypodisc.proposers.representative import separability

    a, b = demo_pair()
    a, b = a[:12], b[:12]
    xa, xb = embedder.encode(a), embedder.encode(b)
    sep = separability(xa, xb, seed=0)
    cfg = ContrastConfig()
    out = propose_from_contrasts(qwen, a, b, xa, xb, sep.order_a(), sep.order_b(), cfg, seed=0,
                                 encode=embedder.encode)
    per_contrast = [cfg.words_samples if c.view == "words" else cfg.samples for c in out.contrasts]
    assert len(out.raw_replies) == sum(per_contrast) and len(out.contrasts) >= 2
    assert any("technolog" in h for h in out.candidates), out.raw_replies


@pytest.mark.fast
def test_a_reply_repeating_a_worked_example_is_dropped():
    from hypodisc.backends.scripted import ScriptedBackend

    for example in WORKED_EXAMPLES:  # the filter and the prompts name the same examples
        assert f"Property: {example}" in CONTRAST_SYSTEM + WORDS_NOTE
    replies = ["Property: urges the reader to act", "Property: mentions football", "Property: is about a sport"]
    backend = ScriptedBackend(judge=lambda p: 0.5, reply=lambda p, k: replies[k % 3])
    a, b = [f"football text {i}" for i in range(6)], [f"cooking text {i}" for i in range(6)]
    x = np.eye(12)
    got = propose_from_contrasts(backend, a, b, x[:6], x[6:], range(6), range(6),
                                 ContrastConfig(n_clusters=0, views=()), seed=0)
    assert got.candidates == ["mentions football"] and len(got.raw_replies) == 3


@pytest.mark.fast
def test_sentences_and_words_views_show_what_sets_a_apart_and_nothing_else():
    """Through a real (hashing) embedder: the appended remark is the distinctive sentence, '!' the word."""
    from hypodisc.backends.scripted import ScriptedBackend
    from hypodisc.verifiers.embedding import HashingEmbedder

    topics = ["The council approved the new budget for schools.", "Rain is expected across the north on Sunday.",
              "The team signed a young striker from Brazil.", "Oil prices fell for a third straight day.",
              "A new phone was launched with a larger screen.", "The museum reopened after a long repair."]
    a = [f"{t} What a day for everyone involved here!" for t in topics]
    b = [t.replace("new", "recent") for t in topics]
    prompts: list[str] = []

    def reply(prompt, k):
        prompts.append(prompt)
        return "Property: uses exclamations"

    backend = ScriptedBackend(judge=lambda p: 0.5, reply=reply)
    x = HashingEmbedder(64)
    got = propose_from_contrasts(backend, a, b, x.encode(a), x.encode(b), range(6), range(6),
                                 ContrastConfig(n_clusters=0, views=("sentences", "words"), samples=1,
                                                words_samples=1), seed=0, encode=x.encode)
    assert [c.view for c in got.contrasts] == ["whole", "sentences", "words"]
    sentences_view, words_view = got.contrasts[1], got.contrasts[2]
    assert sentences_view.lines_a == ("What a day for everyone involved here!",)
    assert all("council" not in s and "striker" not in s for s in sentences_view.lines_a)
    assert "!" in [w.word for w in words_view.words] and all(w.in_b == 0 for w in words_view.words)
    words_user = prompts[2].split("user:")[-1]
    assert "! (exclamation mark): 6 of 6, 0 of 6" in words_user and "council" not in words_user
    assert got.candidates == ["uses exclamations", "contains an exclamation mark"]
    assert got.sources == ["whole", "lexical"]
    # without an encoder the sentences view is skipped, the words view still runs
    got = propose_from_contrasts(backend, a, b, x.encode(a), x.encode(b), range(6), range(6),
                                 ContrastConfig(n_clusters=0, views=("sentences", "words"), samples=1), seed=0)
    assert [c.view for c in got.contrasts] == ["whole", "words"]
