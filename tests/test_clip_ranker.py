"""The CLIP ranker on tiny random-init CLIP and SigLIP checkpoints built here and saved to tmp_path: the
loading, preprocessing, tokenising and batching code runs for real, offline (nothing comes from a hub)."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # never the hub, whatever the ranker does

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")

from hypodisc.errors import HypodiscError
from hypodisc.verifiers.clip_ranker import ClipRanker

pytestmark = pytest.mark.slow  # builds and loads torch models

HYPOTHESES = ["the cat sat", "a red square", "dogs at the park", "the cat sat", "x"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's byte -> printable character table (the BPE's base alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tiny_clip_tokenizer(tmp_path):
    """A real CLIPTokenizer over a byte-level BPE vocabulary written here (every byte, a few merges)."""
    from transformers import CLIPTokenizer

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    merges = [("t", "h"), ("th", "e</w>"), ("a", "t</w>"), ("c", "at</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    return CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")), vocab


def image_processor(cls_name: str, **kwargs):
    """The PIL-backed image processor where transformers has one (the default wants torchvision)."""
    cls = getattr(transformers, f"{cls_name}Pil", None) or getattr(transformers, cls_name)
    return cls(**kwargs)


VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
              patch_size=8)


def text_config(vocab: dict) -> dict:
    eot = vocab["<|endoftext|>"]
    return dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=24, bos_token_id=vocab["<|startoftext|>"],
                eos_token_id=eot, pad_token_id=eot)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    root = tmp_path_factory.mktemp("clip")
    tokenizer, vocab = tiny_clip_tokenizer(root)
    processor = CLIPProcessor(image_processor=image_processor("CLIPImageProcessor", size={"shortest_edge": 32},
                                                              crop_size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=text_config(vocab), vision_config=VISION, projection_dim=16))
    out = root / "tiny-clip"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory):
    from transformers import SiglipConfig, SiglipModel, SiglipProcessor

    root = tmp_path_factory.mktemp("siglip")
    tokenizer, vocab = tiny_clip_tokenizer(root)
    processor = SiglipProcessor(image_processor=image_processor("SiglipImageProcessor", size={"height": 32, "width": 32}),
                                tokenizer=tokenizer)
    torch.manual_seed(1)
    model = SiglipModel(SiglipConfig(text_config={**text_config(vocab), "projection_size": 32},
                                     vision_config=VISION))
    out = root / "tiny-siglip"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def pictures() -> list:
    """Synthetic images of different sizes and modes: colours, a gradient, greyscale, palette, RGBA."""
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1)))  # mode L
    return [Image.new("RGB", (40, 30), (255, 0, 0)), Image.new("RGB", (64, 64), (0, 0, 255)), noise, gradient,
            noise.convert("P"), Image.new("RGBA", (20, 50), (0, 255, 0, 128))]


@pytest.fixture(scope="module")
def ranker(clip_dir):
    return ClipRanker.load(str(clip_dir))


def test_scores_are_cosine_similarities_of_unit_embeddings(ranker):
    images = pictures()
    scores = ranker.score(HYPOTHESES, images)
    assert scores.shape == (len(HYPOTHESES), len(images)) and scores.dtype == np.float64
    assert np.isfinite(scores).all() and (np.abs(scores) <= 1 + 1e-6).all()
    assert np.ptp(scores) > 1e-4  # random weights still tell inputs apart: not a constant
    img, txt = ranker.image_embeddings(images), ranker.text_embeddings(HYPOTHESES)
    assert img.shape == (len(images), 16) and txt.shape == (len(HYPOTHESES), 16)
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.diag(img.astype(np.float64) @ img.T), 1, atol=1e-5)  # an image with itself
    np.testing.assert_allclose(scores, txt.astype(np.float64) @ img.T.astype(np.float64), atol=1e-5)
    np.testing.assert_array_equal(scores[0], scores[3])  # the same hypothesis twice: the same row
    assert not np.allclose(scores[0], scores[1])


def test_scores_are_deterministic_and_batch_independent(clip_dir, ranker):
    images, hypotheses = pictures(), HYPOTHESES + ["a much longer hypothesis about the cat that sat on the mat"]
    first = ranker.score(hypotheses, images)
    np.testing.assert_array_equal(first, ranker.score(hypotheses, images))
    one_at_a_time = ClipRanker.load(str(clip_dir), batch_size=1).score(hypotheses, images)
    np.testing.assert_allclose(one_at_a_time, first, atol=1e-5)  # padding and batching change nothing
    odd = ClipRanker.load(str(clip_dir), batch_size=4).score(hypotheses, images)
    np.testing.assert_allclose(odd, first, atol=1e-5)


def test_each_image_object_is_embedded_once_and_progress_counts_them(ranker):
    images = pictures()
    red = images[0]
    repeated = [red, images[1], red, red, images[2]]
    seen = []
    calls = []
    original = ranker._towers.images

    def counting(batch):
        calls.append(len(batch))
        return original(batch)

    ranker._towers.images = counting
    try:
        scores = ranker.score(["a", "b"], repeated, progress=lambda done, total: seen.append((done, total)))
    finally:
        del ranker._towers.images
    assert sum(calls) == 3  # three distinct image objects
    assert seen[-1] == (5, 5) and [d for d, _ in seen] == sorted(d for d, _ in seen)  # 3 images + 2 texts
    np.testing.assert_array_equal(scores[:, 0], scores[:, 2])
    np.testing.assert_array_equal(scores[:, 0], scores[:, 3])
    assert ranker.score([], repeated).shape == (0, 5) and ranker.score(["a"], []).shape == (1, 0)


def test_siglip_checkpoint_scores_the_same_way(siglip_dir):
    ranker = ClipRanker.load(str(siglip_dir))
    images = pictures()
    scores = ranker.score(HYPOTHESES, images)
    assert scores.shape == (5, 6) and np.isfinite(scores).all() and np.ptp(scores) > 1e-4
    img = ranker.image_embeddings(images)
    np.testing.assert_allclose(np.diag(img.astype(np.float64) @ img.T), 1, atol=1e-5)
    np.testing.assert_allclose(ClipRanker.load(str(siglip_dir), batch_size=1).score(HYPOTHESES, images), scores,
                               atol=1e-5)


def test_missing_or_wrong_checkpoints_name_the_path(tmp_path, clip_dir):
    missing = tmp_path / "no-such-clip"
    with pytest.raises(HypodiscError, match="no-such-clip") as err:
        ClipRanker.load(str(missing))
    assert err.value.fix
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HypodiscError, match=f"{empty}.*config.json"):
        ClipRanker.load(str(empty))
    text_model = tmp_path / "bert"
    text_model.mkdir()
    (text_model / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(HypodiscError, match="'bert'.*clip / siglip"):
        ClipRanker.load(str(text_model))
    no_processor = tmp_path / "weights-only"
    no_processor.mkdir()
    for f in ("config.json", "model.safetensors"):
        (no_processor / f).write_bytes((clip_dir / f).read_bytes())
    with pytest.raises(HypodiscError, match="weights-only"):
        ClipRanker.load(str(no_processor))
    with pytest.raises(HypodiscError, match="local checkpoints only"):
        ClipRanker.load("hf-hub:openai/clip-vit-base-patch32")


def test_open_clip_checkpoints_need_open_clip(tmp_path):
    weights = tmp_path / "vit.safetensors"
    weights.write_bytes(b"\0" * 16)
    with pytest.raises(HypodiscError, match="missing.bin"):
        ClipRanker.load(f"open_clip:ViT-B-32:{tmp_path / 'missing.bin'}")
    with pytest.raises(HypodiscError, match="open_clip:ARCH:PATH"):
        ClipRanker.load(f"open_clip:{weights}")
    with pytest.raises(HypodiscError, match="open_clip_config.json"):
        ClipRanker.load(f"local-dir:{tmp_path}")
    if importlib.util.find_spec("open_clip") is not None:
        pytest.skip("open_clip is installed here: the not-installed error cannot be seen")
    with pytest.raises(HypodiscError, match="open-clip-torch and torchvision are needed for open_clip checkpoints"):
        ClipRanker.load(f"open_clip:ViT-B-32:{weights}")
    (tmp_path / "open_clip_config.json").write_text("{}")
    with pytest.raises(HypodiscError, match="open-clip-torch and torchvision are needed"):
        ClipRanker.load(f"local-dir:{tmp_path}")
