"""The known-answer image-set pairs: seeded, the planted difference measured from pixels, real Debian data.

Every check on the synthetic pairs reads the pixels with measurements written here (background luminance,
connected components of saturated pixels, their colour, shape extent and area, achromatic text strokes), not
the generator's own bookkeeping, so a planted attribute that failed to reach the image would be caught.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hypodisc.datasets import image_sets as m

pytestmark = pytest.mark.fast  # no model; the whole file runs in a few seconds

N = 30


def need(path: Path, package: str) -> None:
    if not path.exists():
        pytest.skip(f"{path} not found: install the Debian package {package}")


# -------------------------------------------------------------------------------------- pixel measurements

def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB")).astype(np.int16)


def _chroma(a: np.ndarray) -> np.ndarray:
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)


def background_lum(a: np.ndarray) -> float:
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return float(np.median(border.mean(axis=1)))


def shape_mask(a: np.ndarray) -> np.ndarray:
    return _chroma(a) > 60  # saturated: shapes, never background or text


def text_pixels(a: np.ndarray) -> np.ndarray:
    achromatic = _chroma(a) < 25
    lum = (a[..., 0] + a[..., 1] + a[..., 2]) / 3
    return achromatic & (np.abs(lum - background_lum(a)) > 90)


def components(a: np.ndarray) -> list[tuple[int, float]]:
    """(area, extent) of each connected blob of saturated pixels of 30 pixels or more; extent is area over
    bounding-box area: square 1.0, circle ~0.79, triangle ~0.5."""
    from scipy import ndimage
    lab, n = ndimage.label(shape_mask(a), structure=np.ones((3, 3)))
    areas = np.bincount(lab.ravel(), minlength=n + 1)
    out = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        box = (sl[0].stop - sl[0].start) * (sl[1].stop - sl[1].start)
        if areas[k] >= 30:
            out.append((int(areas[k]), areas[k] / box))
    return out


def red_fraction(a: np.ndarray) -> float:
    return float(((a[..., 0] > 180) & (a[..., 1] < 100) & (a[..., 2] < 100)).mean())


def warm_fraction(img: Image.Image, a: np.ndarray) -> float:
    """Share of the saturated pixels whose hue is red to yellow (0-70 degrees)."""
    hue = np.asarray(img.convert("HSV"))[..., 0][shape_mask(a)].astype(int) * 360 / 255
    return float(((hue < 70) | (hue > 340)).mean())


def text_height(a: np.ndarray) -> int:
    rows = np.flatnonzero(text_pixels(a).any(axis=1))
    return int(rows[-1] - rows[0] + 1) if len(rows) else 0


def measure(img: Image.Image) -> dict[str, bool]:
    a = _arr(img)
    comps = components(a)
    n_text = int(text_pixels(a).sum())
    ext = float(np.mean([e for _, e in comps]))
    return {
        "dark": background_lum(a) < 100,
        "text": n_text >= 10,
        "small_text": n_text >= 5 and text_height(a) <= 14,
        "several": len(comps) >= 3,
        "one": len(comps) == 1,
        "large": float(np.mean([ar for ar, _ in comps])) > 1100,
        "red": red_fraction(a) > 0.002,
        "warm": warm_fraction(img, a) > 0.5,
        "circle": 0.65 < ext < 0.9,
        "square": ext > 0.93,
    }


#: pair name -> (the measurement that is the planted property, measurements it leaves free to check balance)
PLANTED = {
    "red-vs-blue": "red", "circles-vs-squares": "circle", "one-vs-several": "one", "large-vs-small": "large",
    "text-vs-none": "text", "dark-vs-light": "dark", "warm-vs-cool": "warm", "small-text": "small_text",
    "mostly-red": "red", "mostly-several": "several", "mostly-circles": "circle",
}
#: measurements that depend on the planted attribute of a pair, so are not nuisances there
COUPLED = {"red": {"red", "warm"}, "warm": {"red", "warm"}, "circle": {"circle", "square"},
           "one": {"one", "several", "large"}, "several": {"one", "several", "large"},
           "text": {"text", "small_text"}, "small_text": {"text", "small_text"}, "large": {"large"},
           "dark": {"dark"}}


@pytest.fixture(scope="module")
def synthetic() -> dict[str, m.ImagePair]:
    return {p.pair_id.split("/", 1)[1]: p for p in m.synthetic_pairs(N, seed=0)}


@pytest.fixture(scope="module")
def measured(synthetic) -> dict[str, tuple[list[dict], list[dict]]]:
    return {name: ([measure(i) for i in p.images_a], [measure(i) for i in p.images_b])
            for name, p in synthetic.items()}


# --------------------------------------------------------------------------------------------- synthetic

def test_synthetic_has_enough_pairs_of_every_difficulty(synthetic):
    assert len(synthetic) >= 8
    assert {p.difficulty for p in synthetic.values()} >= {"easy", "hard"}
    assert set(synthetic) == set(PLANTED)
    for p in synthetic.values():
        assert p.source == "synthetic" and p.pair_id.startswith("synthetic/")
        assert len(p.images_a) == len(p.images_b) == N
        assert all(i.size == (224, 224) and i.mode == "RGB" for i in p.images_a + p.images_b)
        assert len(p.captions_a) == len(p.captions_b) == N


def test_synthetic_is_deterministic_per_seed_and_differs_across_seeds():
    def digest(pairs):
        return [[i.tobytes() for i in p.images_a + p.images_b] for p in pairs]
    a, b, c = (digest(m.synthetic_pairs(6, seed=s)) for s in (0, 0, 1))
    assert a == b
    for pa, pc in zip(a, c):
        assert pa != pc
    # a pair's images do not depend on how many other pairs exist or on the set size of others
    first = m.synthetic_pairs(6, seed=0)[3]
    assert [i.tobytes() for i in first.images_a] == a[3][:6]


@pytest.mark.parametrize("name", [n for n, p in PLANTED.items()])
def test_planted_attribute_separates_the_sets(name, synthetic, measured):
    pair, key = synthetic[name], PLANTED[name]
    ma, mb = measured[name]
    share_a = np.mean([x[key] for x in ma])
    share_b = np.mean([x[key] for x in mb])
    if pair.difficulty in ("easy", "medium") or name == "small-text":
        assert share_a == 1.0 and share_b == 0.0, (name, share_a, share_b)
    else:  # hard by purity
        assert 0.6 <= share_a <= 0.8 and 0.2 <= share_b <= 0.4, (name, share_a, share_b)


def test_easy_pairs_are_separated_image_by_image(synthetic):
    p = synthetic["red-vs-blue"]
    red = lambda i: red_fraction(_arr(i))  # noqa: E731
    assert min(map(red, p.images_a)) > 0.002 > 0.0 == max(map(red, p.images_b))
    p = synthetic["large-vs-small"]
    area = lambda i: np.mean([ar for ar, _ in components(_arr(i))])  # noqa: E731
    assert min(map(area, p.images_a)) > 2 * max(map(area, p.images_b))
    p = synthetic["dark-vs-light"]
    lum = lambda i: background_lum(_arr(i))  # noqa: E731
    assert max(map(lum, p.images_a)) < 100 < min(map(lum, p.images_b))


def test_small_text_is_small_and_normal_text_is_not(synthetic):
    height = lambda i: text_height(_arr(i))  # noqa: E731
    assert 5 <= min(map(height, synthetic["small-text"].images_a))
    assert max(map(height, synthetic["small-text"].images_a)) <= 14
    assert min(map(height, synthetic["text-vs-none"].images_a)) >= 18
    assert max(map(height, synthetic["small-text"].images_b)) == 0


@pytest.mark.parametrize("name", list(PLANTED))
def test_other_attributes_are_balanced(name, measured):
    ma, mb = measured[name]
    free = set(ma[0]) - COUPLED[PLANTED[name]]
    for key in sorted(free):
        share_a, share_b = np.mean([x[key] for x in ma]), np.mean([x[key] for x in mb])
        assert abs(share_a - share_b) <= 0.1, (name, key, share_a, share_b)


def test_every_nuisance_varies_within_each_set(synthetic):
    """The free attributes really vary (not fixed to one value), per the generator's own record."""
    for name, p in synthetic.items():
        attr = next(x.attribute for x in m.SYNTHETIC if x.name == name)
        for items in (p.items_a, p.items_b):
            for a, values in m.NUISANCE.items():
                if a != attr:
                    assert {it[a] for it in items} == set(values), (name, a)


def test_captions_describe_the_scene(synthetic):
    p = synthetic["red-vs-blue"]
    assert all(" red " in c for c in p.captions_a) and all(" blue " in c for c in p.captions_b)
    assert all("tiny letters" in c for c in synthetic["small-text"].captions_a)
    assert not any("written" in c for c in synthetic["small-text"].captions_b)


# ----------------------------------------------------------------------------------------- fashion-mnist

FASHION_NAMES = {"trousers": 1, "bags": 8, "dresses": 3, "sneakers": 7, "sandals": 5, "ankle boots": 9,
                 "shirts": 6, "coats": 4, "pullovers": 2, "T-shirts": 0}


def test_fashion_mnist_pairs_hold_the_named_classes():
    need(m.FASHION_DIR / "t10k-labels-idx1-ubyte.gz", "dataset-fashion-mnist")
    with gzip.open(m.FASHION_DIR / "t10k-labels-idx1-ubyte.gz") as f:
        raw = f.read()
    assert int.from_bytes(raw[:4], "big") == 2049
    labels = np.frombuffer(raw, np.uint8, offset=8)
    with gzip.open(m.FASHION_DIR / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    pairs = m.fashion_mnist_pairs(N, seed=0)
    assert {p.difficulty for p in pairs} == {"easy", "medium", "hard"}
    assert {"fashion-mnist/sneakers-vs-sandals", "fashion-mnist/shirts-vs-coats",
            "fashion-mnist/trousers-vs-bags"} <= {p.pair_id for p in pairs}
    for p in pairs:
        for set_name, items, imgs in ((p.set1, p.items_a, p.images_a), (p.set2, p.items_b, p.images_b)):
            idx = [it["index"] for it in items]
            assert len(set(idx)) == N  # no repeats: 1000 per class
            assert all(labels[i] == FASHION_NAMES[set_name] for i in idx), (p.pair_id, set_name)
            for i, img in zip(idx[:5], imgs[:5]):
                assert img.size == (112, 112) and img.mode == "RGB"
                small = np.asarray(img.convert("L").resize((28, 28), Image.Resampling.BOX)).astype(int)
                assert np.abs(small - images[i].astype(int)).mean() < 12  # the upscaled source item
        assert not {it["index"] for it in p.items_a} & {it["index"] for it in p.items_b}
    trousers = next(p for p in pairs if p.pair_id.endswith("trousers-vs-bags"))
    assert set(trousers.captions_a) == {"a pair of trousers"} and set(trousers.captions_b) == {"a bag"}


# ------------------------------------------------------------------------------------------------ emoji

def _emoji_subgroups() -> dict[str, str]:
    out, sub = {}, ""
    for line in m.EMOJI_TEST.read_text(encoding="utf-8").splitlines():
        if line.startswith("# subgroup:"):
            sub = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#") and "; fully-qualified" in line:
            out[line.split(";")[0].strip()] = sub
    return out


def test_emoji_pairs_render_and_come_from_their_subgroups():
    need(m.EMOJI_TEST, "unicode-data")
    need(m.EMOJI_FONT, "fonts-noto-color-emoji")
    subgroups = _emoji_subgroups()
    pairs = {p.pair_id: p for p in m.emoji_pairs(N, seed=0)}
    assert {"emoji/faces-vs-animals", "emoji/smiling-vs-negative", "emoji/fruit-vs-vegetables"} <= set(pairs)
    spec = {f"emoji/{row[0]}": row for row in m.EMOJI}
    for pid, p in pairs.items():
        groups_a, groups_b = spec[pid][5], spec[pid][6]
        for items, imgs, groups in ((p.items_a, p.images_a, groups_a), (p.items_b, p.images_b, groups_b)):
            for it, img in zip(items, imgs):
                assert subgroups[it["id"][2:]] in groups, (pid, it)
                a = _arr(img)
                assert (a.min(axis=2) < 240).mean() > 0.05, (pid, it)  # not blank
        assert p.captions_a == [it["name"] for it in p.items_a]
    smiling = pairs["emoji/smiling-vs-negative"]
    assert "grinning face" in smiling.captions_a or "slightly smiling face" in smiling.captions_a
    fruit = pairs["emoji/fruit-vs-vegetables"]
    assert not {c for c in fruit.captions_a} & {c for c in fruit.captions_b}


# --------------------------------------------------------------------------------------------- tuxpaint

def test_tuxpaint_pairs_from_their_category_folders():
    need(m.TUXPAINT_STAMPS / "animals", "tuxpaint-stamps-default")
    pairs = {p.pair_id: p for p in m.tuxpaint_pairs(N, seed=0)}
    assert {"tuxpaint/birds-vs-mammals", "tuxpaint/fruit-vs-vegetables"} <= set(pairs)
    spec = {f"tuxpaint/{row[0]}": row for row in m.TUXPAINT}
    for pid, p in pairs.items():
        for items, imgs, caps, folders in ((p.items_a, p.images_a, p.captions_a, spec[pid][5]),
                                           (p.items_b, p.images_b, p.captions_b, spec[pid][6])):
            ids = [it["id"] for it in items]
            assert all(i.endswith(".png") and any(i.startswith(f + "/") for f in folders) for i in ids), pid
            assert len(set(ids)) == min(N, len(m.tuxpaint_stamps(folders[0])) if len(folders) == 1 else N)
            for it, img, cap in zip(items, imgs, caps):
                assert img.size == (224, 224) and (_arr(img).min(axis=2) < 235).mean() > 0.01
                txt = (m.TUXPAINT_STAMPS / it["id"]).with_suffix(".txt")
                if txt.exists():
                    assert cap == txt.read_text(encoding="utf-8").splitlines()[0].strip()
    birds = pairs["tuxpaint/birds-vs-mammals"]
    assert "A blackbird." in birds.captions_a or any("bird" in c.lower() or "penguin" in c.lower()
                                                     for c in birds.captions_a)


# -------------------------------------------------------------------------------------------------- lfw

def test_lfw_faces_vs_nonfaces():
    pytest.importorskip("skimage", reason="scikit-image not installed (pip install hypodisc[images])")
    pairs = {p.pair_id: p for p in m.lfw_pairs(N, seed=0)}
    easy, hard = pairs["lfw/faces-vs-nonfaces"], pairs["lfw/mostly-faces"]
    assert all(it["index"] < 100 for it in easy.items_a) and all(it["index"] >= 100 for it in easy.items_b)
    share = lambda items: np.mean([it["index"] < 100 for it in items])  # noqa: E731
    assert 0.6 <= share(hard.items_a) <= 0.8 and 0.2 <= share(hard.items_b) <= 0.4
    from skimage import data
    raw = data.lfw_subset()
    img, idx = easy.images_a[0], easy.items_a[0]["index"]
    assert img.size == (112, 112)
    small = np.asarray(img.convert("L").resize((25, 25), Image.Resampling.BOX)) / 255
    assert np.abs(small - raw[idx]).mean() < 0.06


# ------------------------------------------------------------------------------------ all, split, write

def test_all_pairs_skips_a_missing_source_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(m, "FASHION_DIR", tmp_path / "no-fashion")
    m.fashion_mnist.cache_clear()
    try:
        with pytest.warns(UserWarning, match="dataset-fashion-mnist"):
            pairs = m.all_pairs(4, seed=0, sources=["fashion-mnist", "synthetic"])
    finally:
        m.fashion_mnist.cache_clear()
    assert pairs and {p.source for p in pairs} == {"synthetic"}
    with pytest.raises(ValueError, match="unknown"):
        m.all_pairs(4, sources=["imagenet"])


def test_split_dev_test_is_a_fixed_half_by_pair_id():
    pairs = m.all_pairs(2, seed=0)
    dev, test = m.split_dev_test(pairs, seed=0)
    ids = lambda ps: {p.pair_id for p in ps}  # noqa: E731
    assert not ids(dev) & ids(test) and ids(dev) | ids(test) == ids(pairs)
    assert abs(len(dev) - len(test)) <= max(2, len(pairs) // 5)
    dev2, test2 = m.split_dev_test(list(reversed(pairs)), seed=0)
    assert ids(dev2) == ids(dev)
    # a pair's side does not depend on the other sources in the list
    synth = [p for p in pairs if p.source == "synthetic"]
    assert ids(m.split_dev_test(synth, seed=0)[0]) == ids(dev) & ids(synth)
    assert any(ids(m.split_dev_test(pairs, seed=s)[0]) != ids(dev) for s in (1, 2, 3))
    for source in {p.source for p in pairs}:
        if sum(p.source == source for p in pairs) >= 2:
            assert any(p.source == source for p in dev) and any(p.source == source for p in test), source


def test_write_pair_round_trip(tmp_path, synthetic):
    pair = synthetic["mostly-red"]
    row = m.write_pair(pair, tmp_path / "pair")
    assert set(row) == {"set1", "set2", "difference", "difficulty", "source", "pair_id", "a", "b"}
    assert row["difference"] == "red objects" and row["pair_id"] == "synthetic/mostly-red"
    assert sorted(p.name for p in (tmp_path / "pair" / "a").iterdir())[:2] == ["000.png", "001.png"]
    lines = [json.loads(x) for x in (tmp_path / "pair" / "a.jsonl").read_text().splitlines()]
    assert lines[0] == {"path": "a/000.png", "caption": pair.captions_a[0]} and len(lines) == N
    back = m.read_pair(json.loads(json.dumps(row)))
    assert [i.tobytes() for i in back.images_a] == [i.tobytes() for i in pair.images_a]
    assert [i.tobytes() for i in back.images_b] == [i.tobytes() for i in pair.images_b]
    assert back.captions_a == pair.captions_a and back.captions_b == pair.captions_b
    assert (back.set1, back.set2, back.difficulty) == (pair.set1, pair.set2, pair.difficulty)
    # without given captions no jsonl is written (and a stale one is removed)
    bare = m.ImagePair("x/y", "synthetic", "easy", "s1", "s2", "d", pair.images_a[:2], pair.images_b[:2])
    m.write_pair(bare, tmp_path / "pair")
    assert not (tmp_path / "pair" / "a.jsonl").exists()
    assert len(list((tmp_path / "pair" / "a").glob("*.png"))) == 2
    assert m.read_pair(m.write_pair(bare, tmp_path / "pair")).captions_a is None


def test_cli_writes_every_pair_and_a_manifest(tmp_path):
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, str(repo / "bench" / "image_sets.py"), "--out", str(tmp_path),
                          "--n", "3", "--sources", "synthetic,lfw"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == len(m.SYNTHETIC) + 2 and "synthetic/red-vs-blue" in res.stdout
    for r in rows:
        assert len(list((tmp_path / r["a"]).glob("*.png"))) == 3 and r["split"] in ("dev", "test")
