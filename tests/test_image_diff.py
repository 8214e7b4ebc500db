"""The image-diff workflow's logic on real images (drawn with Pillow), real detectors, the scripted LLM and
the hashing embedder: splits, held-out statistics, the detectors ranker, thumbnails, A/A, resume."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image, ImageDraw

from hypodisc.backends.scripted import ScriptedBackend
from hypodisc.datasets.images import ImageItem
from hypodisc.errors import InputRejected
from hypodisc.verifiers.embedding import HashingEmbedder
from hypodisc.workflows.contract import Checkpoints
from hypodisc.workflows.image_diff import clip_text, run_image_diff
from hypodisc.workflows.image_diff_models import ImageDiffConfig

pytestmark = pytest.mark.fast

SMALL = dict(top_k=3, rounds=1, ranker_keep=4, seed=3)


def keyword_judge(prompt: str) -> float:
    """P(yes) 0.9 when every content word of the property is in the judged caption, else 0.1: a judge that reads."""
    text = re.search(r"<<<\n(.*?)\n>>>", prompt, re.S)
    prop = re.search(r"Property: (.*)$", prompt, re.S)
    if not text or not prop:
        return 0.5
    words = set(prop.group(1).lower().strip(" .").split()) - {"shows", "contains", "a", "an", "the", "objects"}
    return 0.9 if words <= set(re.findall(r"[a-z]+", text.group(1).lower())) else 0.1


def proposes(prompt: str, k: int) -> str:
    return "- shows red objects\n- shows a square\n- shows blue objects"


def drawn(colour: str, i: int, size: int = 96) -> ImageItem:
    """A real PNG: a coloured square on white, position varying with i."""
    img = Image.new("RGB", (size, size), "white")
    x = 10 + (i * 7) % 30
    ImageDraw.Draw(img).rectangle([x, x, x + 40, x + 40], fill=colour)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return ImageItem(f"{colour}{i}.png", buf.getvalue(), f"A {colour} square on white, number {i}.")


def sets(n: int = 24):
    return [drawn("red", i) for i in range(n)], [drawn("blue", i) for i in range(n)]


def run(a, b, candidates=None, **cfg):
    config = ImageDiffConfig(**{**SMALL, **cfg})
    return run_image_diff(a, b, None, config, backend=ScriptedBackend(keyword_judge, proposes),
                          embedder=HashingEmbedder(), candidates=candidates)


def test_the_planted_colour_is_found_on_held_out_images_with_its_thumbnails():
    a, b = sets()
    result = run(a, b, captioner="given")
    top = result.hypotheses[0]
    assert top.hypothesis == "shows red objects" and top.significant and top.validity > 0.5
    assert top.n_a == result.splits.confirm_a and top.n_b == result.splits.confirm_b  # confirm split only
    assert all(h.q_value >= h.p_value for h in result.hypotheses)
    # supporting images come from A's confirm split, counter-examples from B's, as decodable thumbnails
    confirm = {(c.set, c.index) for c in result.captions if c.split == "confirm"}
    for e in top.support + top.counter_examples:
        assert (e.set, e.index) in confirm
        head, data = e.thumbnail.split(",", 1)
        assert head.startswith("data:image/")
        assert Image.open(io.BytesIO(base64.b64decode(data))).size[0] <= result.config.thumbnail_px
    assert {e.set for e in top.support} == {"a"} and {e.set for e in top.counter_examples} == {"b"}
    blue = next(h for h in result.hypotheses if h.hypothesis == "shows blue objects")
    assert not blue.significant and blue.validity < 0


def test_an_aa_split_of_one_set_reports_nothing():
    a, _ = sets(40)
    result = run(a[::2], a[1::2], captioner="given")
    assert not any(h.significant for h in result.hypotheses)


def test_detectors_measure_what_they_cover_and_the_judge_scores_the_rest():
    a, b = sets()
    result = run(a, b, ["shows red objects", "shows a square", "shows a dog"], captioner="detectors",
                 ranker="detectors")
    by = {h.hypothesis: h for h in result.hypotheses}
    assert by["shows red objects"].scored_by == "detectors" and by["shows red objects"].significant
    assert by["shows a square"].scored_by == "detectors" and not by["shows a square"].significant  # both sets
    assert by["shows a dog"].scored_by == "caption-judge" and not by["shows a dog"].significant
    # the detectors captioner saw the colours: every caption of A names red
    assert all("red" in c.caption.lower() for c in result.captions if c.set == "a")


def test_a_resumed_job_reuses_checkpointed_captions_and_proposals():
    a, b = sets()
    first = Checkpoints()
    cfg = ImageDiffConfig(**SMALL, captioner="detectors")
    ref = run_image_diff(a, b, None, cfg, backend=ScriptedBackend(keyword_judge, proposes), embedder=HashingEmbedder(),
                         checkpoints=first)
    assert set(first.saved) == {"captions", "propose"}
    calls = []
    again = run_image_diff(a, b, None, cfg, backend=ScriptedBackend(keyword_judge, lambda p, k: calls.append(p) or ""),
                           embedder=HashingEmbedder(), checkpoints=Checkpoints(first.saved))
    assert calls == []  # the proposer was not asked again
    assert [h.hypothesis for h in again.hypotheses] == [h.hypothesis for h in ref.hypotheses]
    assert any("resumed" in w for w in again.warnings)


def test_too_few_images_and_missing_given_captions_are_refused():
    a, b = sets(8)
    with pytest.raises(InputRejected) as e:
        run(a[:5], b, captioner="given")
    assert e.value.code == "too_few_images" and "set A" in e.value.message
    with pytest.raises(InputRejected) as e:
        run(a, [ImageItem(i.name, i.data, None) for i in b], captioner="given")
    assert e.value.code == "missing_caption" and "set B" in e.value.message


def test_clip_text_reads_as_alt_text():
    assert clip_text("shows a smiling face") == "a photo of a smiling face"
    assert clip_text("red objects") == "a photo of red objects"
