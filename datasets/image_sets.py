"""Known-answer image-set pairs for the image-set-differences workflow (VisDiff), in VisDiffBench's shape.

Each pair is two image sets A and B and a gold ``difference``: what is more true of A than of B, written the
way a caption would say it. Nothing is stored in the repository: every set is generated (or sampled from a
locally installed data set) at bench or test time, with a fixed seed.

Sources, all offline:

* ``synthetic``: scenes drawn with Pillow. Each scene has a background (dark or light), one colour and one
  shape for all of its objects, one object or several, large or small objects, and optionally a written word.
  One attribute is planted (all of A versus none of B, or 70% versus 30% for the hard pairs); every other
  attribute is balanced exactly across A and B, so only the planted one separates them.
* ``fashion-mnist``: class pairs from Debian's ``dataset-fashion-mnist`` (idx files).
* ``emoji``: Noto Color Emoji (``fonts-noto-color-emoji``) rendered by emoji-test.txt group/subgroup
  (``unicode-data``).
* ``tuxpaint``: clip-art stamps by category folder (``tuxpaint-stamps-default``), captioned from each stamp's
  English description.
* ``lfw``: scikit-image's ``lfw_subset`` (100 faces, then 100 non-face patches).

Sets drawn from a pool smaller than the set size reuse items evenly (every item once before any twice) with
a small random placement jitter, so no two images of a set are pixel-identical copies.
"""

from __future__ import annotations

import gzip
import json
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hypodisc.errors import HypodiscError

SOURCES = ("synthetic", "fashion-mnist", "emoji", "tuxpaint", "lfw")
DIFFICULTIES = ("easy", "medium", "hard")

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
TUXPAINT_STAMPS = Path("/usr/share/tuxpaint/stamps")

SIZE = 224            # synthetic, emoji and tuxpaint images are SIZE x SIZE
SMALL = 112           # fashion-mnist and lfw are upscaled to SMALL x SMALL


class ImageSourceMissing(HypodiscError):
    """A benchmark source is not installed; ``package`` names what provides it."""

    def __init__(self, source: str, package: str, detail: str):
        super().__init__(f"{source}: {detail} (install {package})")
        self.source, self.package = source, package


@dataclass(frozen=True)
class ImagePair:
    pair_id: str                 # e.g. "synthetic/red-vs-blue"
    source: str                  # one of SOURCES
    difficulty: str              # easy | medium | hard
    set1: str                    # short name of set A ("red shapes")
    set2: str                    # short name of set B ("blue shapes")
    difference: str              # gold: what is more true of A than of B, caption style ("red objects")
    images_a: list[Image.Image]
    images_b: list[Image.Image]
    captions_a: list[str] | None = None   # the source's own labels/descriptions as captions ("given")
    captions_b: list[str] | None = None
    items_a: list[dict] | None = None     # provenance of each image: {"id": ..., plus source attributes}
    items_b: list[dict] | None = None


def _rng(seed: int, *names: str) -> np.random.Generator:
    """One generator per (seed, pair): adding or reordering pairs never changes another pair's images."""
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


def _balanced(values: Sequence, n: int, rng: np.random.Generator) -> list:
    """n values cycling through ``values`` (each used equally often, up to one), in a random order."""
    out = [values[i % len(values)] for i in range(n)]
    return [out[i] for i in rng.permutation(n)]


def _draw_indices(pool: int, n: int, rng: np.random.Generator) -> list[int]:
    """n indices into a pool: without replacement while it lasts, then each item once more, and so on."""
    if pool <= 0:
        raise ValueError("empty pool")
    out: list[int] = []
    while len(out) < n:
        out.extend(int(i) for i in rng.permutation(pool))
    return out[:n]


def _labels(n: int, purity: float, rng: np.random.Generator) -> list[bool]:
    k = int(round(purity * n))
    return [bool(x) for x in rng.permutation([True] * k + [False] * (n - k))]


# ----------------------------------------------------------------------------------------------- synthetic

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "blue": (40, 70, 220), "green": (40, 170, 60),
    "yellow": (235, 200, 30), "purple": (140, 50, 190), "orange": (245, 130, 20),
}
WARM, COOL = ("red", "orange", "yellow"), ("blue", "green", "purple")
SHAPES = ("circle", "square", "triangle")
WORDS = ("OPEN", "SALE", "HELLO", "STOP", "CAT", "MAP", "SUN", "BOOK", "RAIN", "JAZZ", "EXIT", "TAXI")
#: The attributes of a scene and the values each takes when it is not the planted one (balanced across sets).
NUISANCE: dict[str, tuple[str, ...]] = {
    "background": ("dark", "light"),
    "colour": tuple(PALETTE),
    "shape": SHAPES,
    "count": ("one", "several"),
    "size": ("large", "small"),
    "text": ("none", "normal"),
}
_SIZE_PX = {"large": (56, 68), "small": (18, 28)}   # object sides in pixels, inclusive
_TEXT_PX = {"normal": (26, 34), "small": (10, 12)}  # font sizes, inclusive
_MARGIN, _GAP = 6, 6


@dataclass(frozen=True)
class _Planted:
    name: str
    difficulty: str
    set1: str
    set2: str
    difference: str
    attribute: str
    positive: tuple[str, ...]    # values of the attribute in images that have the property
    negative: tuple[str, ...]    # values in images that do not
    purity_a: float = 1.0        # share of A with the property
    purity_b: float = 0.0        # share of B with the property


PURITY = 0.7
SYNTHETIC: tuple[_Planted, ...] = (
    _Planted("red-vs-blue", "easy", "red shapes", "blue shapes", "red objects", "colour", ("red",), ("blue",)),
    _Planted("circles-vs-squares", "easy", "circles", "squares", "circles", "shape", ("circle",), ("square",)),
    _Planted("one-vs-several", "easy", "a single shape", "several shapes", "a single object", "count",
             ("one",), ("several",)),
    _Planted("large-vs-small", "easy", "large shapes", "small shapes", "large objects", "size",
             ("large",), ("small",)),
    _Planted("text-vs-none", "easy", "shapes with a written word", "shapes without text", "written text",
             "text", ("normal",), ("none",)),
    _Planted("dark-vs-light", "easy", "dark backgrounds", "light backgrounds", "a dark background",
             "background", ("dark",), ("light",)),
    _Planted("warm-vs-cool", "medium", "warm-coloured shapes", "cool-coloured shapes", "warm colours",
             "colour", WARM, COOL),
    _Planted("small-text", "hard", "shapes with a tiny word", "shapes without text", "small text",
             "text", ("small",), ("none",)),
    _Planted("mostly-red", "hard", "mostly red shapes", "mostly other colours", "red objects", "colour",
             ("red",), tuple(c for c in PALETTE if c != "red"), PURITY, 1 - PURITY),
    _Planted("mostly-several", "hard", "mostly several shapes", "mostly a single shape", "several objects",
             "count", ("several",), ("one",), PURITY, 1 - PURITY),
    _Planted("mostly-circles", "hard", "mostly circles", "mostly squares and triangles", "circles", "shape",
             ("circle",), ("square", "triangle"), PURITY, 1 - PURITY),
)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: identical on every machine


def _place(boxes: list[tuple[int, int, int, int]], w: int, h: int, rng: np.random.Generator
           ) -> tuple[int, int, int, int] | None:
    for _ in range(300):
        x = int(rng.integers(_MARGIN, SIZE - _MARGIN - w + 1))
        y = int(rng.integers(_MARGIN, SIZE - _MARGIN - h + 1))
        box = (x, y, x + w, y + h)
        if all(box[2] + _GAP <= b[0] or b[2] + _GAP <= box[0] or box[3] + _GAP <= b[1] or b[3] + _GAP <= box[1]
               for b in boxes):
            return box
    return None


_NUMBER = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def render_scene(attrs: dict, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """Draw one scene; returns the image and its attributes with what was drawn (count, word, sizes)."""
    dark = attrs["background"] == "dark"
    level = int(rng.integers(20, 61)) if dark else int(rng.integers(195, 241))
    tint = rng.integers(-8, 9, size=3)
    bg = tuple(int(np.clip(level + t, 0, 255)) for t in tint)
    n_obj = 1 if attrs["count"] == "one" else int(rng.integers(3, 5))
    lo, hi = _SIZE_PX[attrs["size"]]
    for _ in range(100):
        boxes: list[tuple[int, int, int, int]] = []
        word = text_box = None
        if attrs["text"] != "none":
            word = WORDS[int(rng.integers(len(WORDS)))]
            t_lo, t_hi = _TEXT_PX[attrs["text"]]
            font = _font(int(rng.integers(t_lo, t_hi + 1)))
            l, t, r, b = font.getbbox(word)
            text_box = _place(boxes, r - l, b - t, rng)
            if text_box is None:
                continue
            boxes.append(text_box)
        sizes = [int(rng.integers(lo, hi + 1)) for _ in range(n_obj)]
        placed = []
        for s in sizes:
            box = _place(boxes, s, s, rng)
            if box is None:
                break
            boxes.append(box)
            placed.append(box)
        if len(placed) == n_obj:
            break
    else:  # pragma: no cover - the sizes above always fit
        raise RuntimeError("could not place the scene's objects")
    img = Image.new("RGB", (SIZE, SIZE), bg)
    draw = ImageDraw.Draw(img)
    fill = PALETTE[attrs["colour"]]
    for x0, y0, x1, y1 in placed:
        if attrs["shape"] == "circle":
            draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=fill)
        elif attrs["shape"] == "square":
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
        else:
            draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1 - 1) / 2, y0)], fill=fill)
    if word:
        l, t, _, _ = font.getbbox(word)
        draw.text((text_box[0] - l, text_box[1] - t), word, font=font,
                  fill=(255, 255, 255) if dark else (0, 0, 0))
    return img, {**attrs, "n_objects": n_obj, "word": word, "sizes": sizes}


def scene_caption(item: dict) -> str:
    n = item["n_objects"]
    size = item["size"]
    noun = item["shape"] + "s"
    text = "" if not item["word"] else (
        f' and the word "{item["word"]}" written in {"tiny" if item["text"] == "small" else "large"} letters')
    if n == 1:
        return f"a {size} {item['colour']} {item['shape']} on a {item['background']} background{text}"
    return f"{_NUMBER[n]} {size} {item['colour']} {noun} on a {item['background']} background{text}"


def _synthetic_set(p: _Planted, n: int, purity: float, rng: np.random.Generator
                   ) -> tuple[list[Image.Image], list[dict]]:
    has = _labels(n, purity, rng)
    pos = iter(_balanced(p.positive, sum(has), rng))
    neg = iter(_balanced(p.negative, n - sum(has), rng))
    planted = [next(pos) if h else next(neg) for h in has]
    columns = {a: _balanced(v, n, rng) for a, v in NUISANCE.items() if a != p.attribute}
    columns[p.attribute] = planted
    images, items = [], []
    for i in range(n):
        img, item = render_scene({a: columns[a][i] for a in NUISANCE}, rng)
        item["has_property"] = has[i]
        item["id"] = f"{p.name}/{i:03d}"
        images.append(img)
        items.append(item)
    return images, items


def synthetic_pairs(n_per_set: int = 30, seed: int = 0) -> list[ImagePair]:
    """Pillow scenes with one planted attribute (see SYNTHETIC); all other attributes balanced exactly."""
    out = []
    for p in SYNTHETIC:
        rng = _rng(seed, "synthetic", p.name)
        ia, ma = _synthetic_set(p, n_per_set, p.purity_a, rng)
        ib, mb = _synthetic_set(p, n_per_set, p.purity_b, rng)
        out.append(ImagePair(f"synthetic/{p.name}", "synthetic", p.difficulty, p.set1, p.set2, p.difference,
                             ia, ib, [scene_caption(m) for m in ma], [scene_caption(m) for m in mb], ma, mb))
    return out


# ------------------------------------------------------------------------------------------- fashion-mnist

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
_FASHION_NOUN = ("a T-shirt", "a pair of trousers", "a pullover", "a dress", "a coat", "a sandal", "a shirt",
                 "a sneaker", "a bag", "an ankle boot")
#: (name, difficulty, class A, class B, set1, set2, difference)
FASHION: tuple[tuple[str, str, int, int, str, str, str], ...] = (
    ("trousers-vs-bags", "easy", 1, 8, "trousers", "bags", "trousers"),
    ("dresses-vs-sneakers", "easy", 3, 7, "dresses", "sneakers", "dresses"),
    ("sneakers-vs-sandals", "medium", 7, 5, "sneakers", "sandals", "closed shoes"),
    ("ankle-boots-vs-sneakers", "medium", 9, 7, "ankle boots", "sneakers", "boots"),
    ("shirts-vs-coats", "hard", 6, 4, "shirts", "coats", "shirts"),
    ("pullovers-vs-coats", "hard", 2, 4, "pullovers", "coats", "pullovers"),
    ("tshirts-vs-shirts", "hard", 0, 6, "T-shirts", "shirts", "short-sleeved T-shirts"),
)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@lru_cache(maxsize=2)
def fashion_mnist(split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N,28,28], labels uint8 [N]) of one split of Debian's dataset-fashion-mnist."""
    imgs, labs = FASHION_DIR / f"{split}-images-idx3-ubyte.gz", FASHION_DIR / f"{split}-labels-idx1-ubyte.gz"
    if not (imgs.exists() and labs.exists()):
        raise ImageSourceMissing("fashion-mnist", "dataset-fashion-mnist", f"{imgs} not found")
    return _read_idx(imgs), _read_idx(labs)


def fashion_image(raw: np.ndarray) -> Image.Image:
    """One 28x28 Fashion-MNIST array as the benchmark's image: RGB, upscaled to 112x112."""
    return Image.fromarray(raw, "L").resize((SMALL, SMALL), Image.Resampling.BICUBIC).convert("RGB")


def fashion_mnist_pairs(n_per_set: int = 30, seed: int = 0, split: str = "t10k") -> list[ImagePair]:
    images, labels = fashion_mnist(split)
    out = []
    for name, diff, ca, cb, s1, s2, gold in FASHION:
        rng = _rng(seed, "fashion-mnist", name)
        sides = []
        for c in (ca, cb):
            idx = np.flatnonzero(labels == c)
            pick = [int(idx[i]) for i in _draw_indices(len(idx), n_per_set, rng)]
            sides.append(([fashion_image(images[i]) for i in pick], [_FASHION_NOUN[c]] * len(pick),
                          [{"id": f"{split}:{i}", "index": i, "split": split, "label": c,
                            "class": FASHION_CLASSES[c]} for i in pick]))
        (ia, ca_, ma), (ib, cb_, mb) = sides
        out.append(ImagePair(f"fashion-mnist/{name}", "fashion-mnist", diff, s1, s2, gold, ia, ib, ca_, cb_, ma, mb))
    return out


# ------------------------------------------------------------------------------------------------- emoji

@dataclass(frozen=True)
class Emoji:
    char: str
    name: str
    group: str
    subgroup: str


@lru_cache(maxsize=1)
def emoji_table() -> tuple[Emoji, ...]:
    """Fully-qualified single-code-point emoji of emoji-test.txt, in file order."""
    if not EMOJI_TEST.exists():
        raise ImageSourceMissing("emoji", "unicode-data", f"{EMOJI_TEST} not found")
    out, group, subgroup = [], "", ""
    for line in EMOJI_TEST.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line.strip() and not line.startswith("#"):
            points, rest = line.split(";", 1)
            status, _, comment = rest.partition("#")
            points = points.split()
            if status.strip() != "fully-qualified" or len(points) != 1:
                continue
            # comment: "😀 E1.0 grinning face"
            name = comment.strip().split(" ", 2)[-1]
            out.append(Emoji(chr(int(points[0], 16)), name, group, subgroup))
    return tuple(out)


@lru_cache(maxsize=1024)
def _emoji_glyph(char: str) -> Image.Image | None:
    """The emoji's colour bitmap (RGBA, cropped), or None where the font draws nothing."""
    if not EMOJI_FONT.exists():
        raise ImageSourceMissing("emoji", "fonts-noto-color-emoji", f"{EMOJI_FONT} not found")
    font = ImageFont.truetype(str(EMOJI_FONT), 109)  # the bitmap strike: no other size loads
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), char, font=font, embedded_color=True)
    alpha = np.asarray(canvas)[..., 3]
    if (alpha > 32).mean() < 0.02:  # blank or a tofu outline
        return None
    return canvas.crop(canvas.getbbox())


def _compose(fg: Image.Image, rng: np.random.Generator, lo: float = 0.7, hi: float = 0.9) -> Image.Image:
    """fg (RGBA) scaled to a random lo..hi of the canvas' longer side and pasted at a random spot on white."""
    scale = float(rng.uniform(lo, hi)) * SIZE / max(fg.size)
    w, h = max(1, round(fg.width * scale)), max(1, round(fg.height * scale))
    fg = fg.resize((w, h), Image.Resampling.LANCZOS)
    x, y = int(rng.integers(0, SIZE - w + 1)), int(rng.integers(0, SIZE - h + 1))
    out = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    out.paste(fg, (x, y), fg)
    return out


_FACES = ("face-smiling", "face-affection", "face-tongue", "face-hand", "face-neutral-skeptical", "face-sleepy",
          "face-unwell", "face-hat", "face-glasses", "face-concerned", "face-negative")
_ANIMALS = ("animal-mammal", "animal-bird", "animal-amphibian", "animal-reptile", "animal-marine", "animal-bug")
#: (name, difficulty, set1, set2, difference, subgroups A, subgroups B)
EMOJI: tuple[tuple[str, str, str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("faces-vs-animals", "easy", "smiley faces", "animals", "yellow smiley faces", _FACES, _ANIMALS),
    ("vehicles-vs-buildings", "easy", "vehicles", "buildings", "vehicles", ("transport-ground", "transport-air"),
     ("place-building", "place-religious")),
    ("smiling-vs-negative", "medium", "smiling faces", "frowning or worried faces", "smiling faces",
     ("face-smiling", "face-affection"), ("face-concerned", "face-negative")),
    ("birds-vs-mammals", "medium", "birds", "mammals", "birds", ("animal-bird",), ("animal-mammal",)),
    ("fruit-vs-vegetables", "hard", "fruit", "vegetables", "fruit", ("food-fruit",), ("food-vegetable",)),
)


def emoji_pairs(n_per_set: int = 30, seed: int = 0) -> list[ImagePair]:
    table = emoji_table()
    out = []
    for name, diff, s1, s2, gold, groups_a, groups_b in EMOJI:
        rng = _rng(seed, "emoji", name)
        sides = []
        for groups in (groups_a, groups_b):
            pool = [(e, g) for e in table if e.subgroup in groups for g in [_emoji_glyph(e.char)] if g is not None]
            if not pool:
                raise ImageSourceMissing("emoji", "fonts-noto-color-emoji", f"no renderable emoji in {groups}")
            pick = [pool[i] for i in _draw_indices(len(pool), n_per_set, rng)]
            sides.append(([_compose(g, rng) for _, g in pick], [e.name for e, _ in pick],
                          [{"id": f"U+{ord(e.char):04X}", "name": e.name, "group": e.group,
                            "subgroup": e.subgroup} for e, _ in pick]))
        (ia, ca, ma), (ib, cb, mb) = sides
        out.append(ImagePair(f"emoji/{name}", "emoji", diff, s1, s2, gold, ia, ib, ca, cb, ma, mb))
    return out


# ---------------------------------------------------------------------------------------------- tuxpaint

#: (name, difficulty, set1, set2, difference, folders A, folders B), folders under the stamps root
TUXPAINT: tuple[tuple[str, str, str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("animals-vs-vehicles", "easy", "animals", "vehicles", "animals", ("animals/mammals", "animals/birds"),
     ("vehicles",)),
    ("birds-vs-mammals", "medium", "birds", "mammals", "birds", ("animals/birds",), ("animals/mammals",)),
    ("sea-creatures-vs-insects", "medium", "fish and sea creatures", "insects and bugs", "fish",
     ("animals/fish",), ("animals/insects",)),
    ("flowers-vs-fruit", "medium", "flowers", "fruit", "flowers", ("plants/flowers",), ("food/fruit",)),
    ("fruit-vs-vegetables", "hard", "fruit", "vegetables", "fruit", ("food/fruit",), ("food/vegetables",)),
)


def _stamp_description(png: Path) -> str | None:
    txt = png.with_suffix(".txt")
    if not txt.exists():
        return None
    first = txt.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return first[0].strip() if first and "=" not in first[0] else None


def tuxpaint_stamps(folder: str) -> list[Path]:
    """The PNG stamps under one category folder (recursively), mirrored duplicates left out, sorted."""
    root = TUXPAINT_STAMPS / folder
    return sorted(p for p in root.rglob("*.png") if not p.stem.endswith("_mirror"))


@lru_cache(maxsize=512)
def _stamp(path: Path) -> Image.Image:
    img = Image.open(path)
    img.load()
    img = img.convert("RGBA")
    box = img.getbbox()
    return img.crop(box) if box else img


def tuxpaint_pairs(n_per_set: int = 30, seed: int = 0) -> list[ImagePair]:
    if not TUXPAINT_STAMPS.is_dir():
        raise ImageSourceMissing("tuxpaint", "tuxpaint-stamps-default", f"{TUXPAINT_STAMPS} not found")
    out = []
    for name, diff, s1, s2, gold, folders_a, folders_b in TUXPAINT:
        pools = [[p for f in folders for p in tuxpaint_stamps(f)] for folders in (folders_a, folders_b)]
        if not all(pools):
            warnings.warn(f"tuxpaint/{name}: a stamp folder is empty or missing; pair skipped")
            continue
        rng = _rng(seed, "tuxpaint", name)
        sides = []
        for pool in pools:
            pick = [pool[i] for i in _draw_indices(len(pool), n_per_set, rng)]
            descs = [_stamp_description(p) for p in pick]
            sides.append(([_compose(_stamp(p), rng, 0.75, 0.95) for p in pick],
                          [d or p.stem.replace("_", " ").replace("-", " ") for d, p in zip(descs, pick)],
                          [{"id": str(p.relative_to(TUXPAINT_STAMPS)), "description": d} for d, p in zip(descs, pick)]))
        (ia, ca, ma), (ib, cb, mb) = sides
        out.append(ImagePair(f"tuxpaint/{name}", "tuxpaint", diff, s1, s2, gold, ia, ib, ca, cb, ma, mb))
    return out


# --------------------------------------------------------------------------------------------------- lfw

@lru_cache(maxsize=1)
def lfw_subset() -> np.ndarray:
    try:
        from skimage import data
    except ImportError as exc:
        raise ImageSourceMissing("lfw", "scikit-image (pip install hypodisc[images])", str(exc)) from exc
    return data.lfw_subset()


def lfw_image(raw: np.ndarray) -> Image.Image:
    arr = np.clip(np.round(raw * 255), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "L").resize((SMALL, SMALL), Image.Resampling.BICUBIC).convert("RGB")


def lfw_pairs(n_per_set: int = 30, seed: int = 0) -> list[ImagePair]:
    """faces vs non-faces (easy), and the same at 70% vs 30% faces (hard)."""
    data = lfw_subset()
    faces, others = list(range(100)), list(range(100, 200))
    out = []
    for name, diff, s1, s2, gold, purity in (("faces-vs-nonfaces", "easy", "faces", "non-face patches", "faces", 1.0),
                                             ("mostly-faces", "hard", "mostly faces", "mostly non-face patches",
                                              "faces", PURITY)):
        rng = _rng(seed, "lfw", name)
        sides = []
        for share in (purity, 1 - purity):
            has = _labels(n_per_set, share, rng)
            f_iter = iter(_draw_indices(100, sum(has), rng))
            o_iter = iter(_draw_indices(100, n_per_set - sum(has), rng))
            pick = [faces[next(f_iter)] if h else others[next(o_iter)] for h in has]
            sides.append(([lfw_image(data[i]) for i in pick],
                          ["a face" if i < 100 else "an image patch without a face" for i in pick],
                          [{"id": f"lfw_subset:{i}", "index": i, "face": i < 100} for i in pick]))
        (ia, ca, ma), (ib, cb, mb) = sides
        out.append(ImagePair(f"lfw/{name}", "lfw", diff, s1, s2, gold, ia, ib, ca, cb, ma, mb))
    return out


# ------------------------------------------------------------------------------------------------ all

BUILDERS: dict[str, Callable[..., list[ImagePair]]] = {
    "synthetic": synthetic_pairs, "fashion-mnist": fashion_mnist_pairs, "emoji": emoji_pairs,
    "tuxpaint": tuxpaint_pairs, "lfw": lfw_pairs,
}


def all_pairs(n_per_set: int = 30, seed: int = 0, sources: Sequence[str] | None = None) -> list[ImagePair]:
    """Every pair of the named sources (all by default); a source that is not installed is skipped with a
    warning. An unknown source name is an error."""
    names = list(SOURCES if sources is None else sources)
    unknown = [s for s in names if s not in BUILDERS]
    if unknown:
        raise ValueError(f"unknown image-set source(s) {unknown}; known: {list(SOURCES)}")
    out: list[ImagePair] = []
    for s in names:
        try:
            out.extend(BUILDERS[s](n_per_set=n_per_set, seed=seed))
        except ImageSourceMissing as exc:
            warnings.warn(f"image-set source skipped: {exc}")
    return out


def split_dev_test(pairs: Sequence[ImagePair], seed: int = 0) -> tuple[list[ImagePair], list[ImagePair]]:
    """A fixed-seed half split by pair_id, stratified by (source, difficulty): each stratum's pairs are halved
    in a seeded order, and the odd ones out of a source's strata alternate between dev and test (the first
    side by a seeded coin). A pair's side depends only on the seed and on the pair ids of its own source, not
    on other sources or the list's order; returns (dev, test) in the input order."""
    by_source: dict[str, dict[str, set[str]]] = {}
    for p in pairs:
        by_source.setdefault(p.source, {}).setdefault(p.difficulty, set()).add(p.pair_id)
    dev_ids: set[str] = set()
    for source, strata in by_source.items():
        extra_to_dev = bool(_rng(seed, "split", source).random() < 0.5)
        for difficulty in sorted(strata, key=lambda d: (DIFFICULTIES + (d,)).index(d)):
            ids = sorted(strata[difficulty])
            order = _rng(seed, "split", source, difficulty).permutation(len(ids))
            k = len(ids) // 2
            if len(ids) % 2:  # odd ones out alternate between dev and test within a source
                k += extra_to_dev
                extra_to_dev = not extra_to_dev
            dev_ids.update(ids[i] for i in order[:k])
    return [p for p in pairs if p.pair_id in dev_ids], [p for p in pairs if p.pair_id not in dev_ids]


def write_pair(pair: ImagePair, folder: Path) -> dict:
    """Write folder/a/000.png..., folder/b/..., and folder/a.jsonl, b.jsonl ({"path": "a/000.png", "caption"})
    where the pair has given captions. Returns the VisDiffBench row; "a" and "b" are the image folders."""
    folder = Path(folder)
    for side, images, captions in (("a", pair.images_a, pair.captions_a), ("b", pair.images_b, pair.captions_b)):
        d = folder / side
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.png"):
            old.unlink()
        rels = []
        for i, img in enumerate(images):
            rel = f"{side}/{i:03d}.png"
            img.save(folder / rel)
            rels.append(rel)
        jsonl = folder / f"{side}.jsonl"
        if captions is not None:
            jsonl.write_text("".join(json.dumps({"path": r, "caption": c}) + "\n" for r, c in zip(rels, captions)))
        elif jsonl.exists():
            jsonl.unlink()
    return {"set1": pair.set1, "set2": pair.set2, "difference": pair.difference, "difficulty": pair.difficulty,
            "source": pair.source, "pair_id": pair.pair_id, "a": str(folder / "a"), "b": str(folder / "b")}


def read_pair(row: dict, root: Path | None = None) -> ImagePair:
    """The pair a ``write_pair`` row points to (relative "a"/"b" are taken against ``root``); the inverse of
    write_pair up to ``items_*``, which are not written."""
    sides = []
    for side in ("a", "b"):
        d = Path(row[side]) if root is None else Path(root) / row[side]
        paths = sorted(d.glob("*.png"))
        images = []
        for p in paths:
            with Image.open(p) as im:
                images.append(im.convert("RGB"))
        jsonl = d.parent / f"{d.name}.jsonl"
        captions = None
        if jsonl.exists():
            by_path = {json.loads(line)["path"]: json.loads(line)["caption"]
                       for line in jsonl.read_text().splitlines() if line.strip()}
            captions = [by_path[f"{d.name}/{p.name}"] for p in paths]
        sides.append((images, captions))
    (ia, ca), (ib, cb) = sides
    return ImagePair(row["pair_id"], row["source"], row["difficulty"], row["set1"], row["set2"], row["difference"],
                     ia, ib, ca, cb)
