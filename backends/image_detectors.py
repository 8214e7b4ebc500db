"""The offline "detectors" captioner and ranker: facts about an image that shipped models can see.

No model download and no GPU: OpenCV's Haar cascades (shipped inside opencv-python) find faces,
eyes, smiles, cat faces and bodies; RapidOCR (its ONNX models ship inside the wheel) reads text;
plain pixel statistics give colours, brightness, colourfulness, busyness, background and a count of
separate objects. :func:`describe` turns the facts into a short caption an LLM proposer can read,
and :func:`fact_scorer` measures a hypothesis directly when a detector covers it, so a verifier
need not ask a model what a pixel count already knows.

OpenCV and RapidOCR are imported lazily (the ``images`` extra), and loaded once per process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypodisc.errors import BackendUnavailableError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image as PILImage

#: the colour names :func:`detect` reports, in a fixed order for ties
COLOUR_NAMES = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray")
MIN_COLOUR_FRACTION = 0.1
#: a colour named among the foreground's (objects on a plain background) from this share of it
MIN_OBJECT_COLOUR_FRACTION = 0.15
MIN_OCR_CONFIDENCE = 0.5
MIN_OCR_SIDE = 32
#: analysis size: pixel statistics on at most this many pixels a side (they do not need more)
_STATS_SIDE = 256
#: the face pass works on images whose shorter side is at least this (LFW-style crops are 25 px)
_MIN_FACE_SIDE = 256
_MAX_FACE_SIDE = 1024


@dataclass(frozen=True)
class ImageFacts:
    """What the detectors saw in one image; every field is a direct measurement."""

    width: int
    height: int
    faces: int
    eyes: int                 # eyes inside detected faces
    smiles: int               # faces with a smile detected in their lower half
    cat_faces: int
    bodies: int               # the larger of the full-body and upper-body counts
    text: tuple[str, ...]     # OCR strings with confidence >= MIN_OCR_CONFIDENCE
    colours: tuple[tuple[str, float], ...]  # named colours >= MIN_COLOUR_FRACTION, largest first
    brightness: float         # mean luminance, 0..1
    colourfulness: float      # Hasler-Süsstrunk, divided by 120 and clipped to 0..1
    edge_density: float       # fraction of Canny edge pixels
    background: str           # the border's dominant colour name, or "mixed"
    objects: int              # foreground blobs on a plain background; 0 when the background is mixed
    # On a plain background, what is not background: its named colours (share of the foreground), the
    # share of the image it covers, and the shapes of its blobs. Small things on a large background
    # never reach MIN_COLOUR_FRACTION of the whole image, so whole-image colours miss "red objects".
    object_colours: tuple[tuple[str, float], ...] = ()
    object_area: float = 0.0
    shapes: tuple[str, ...] = ()  # per blob: circle, triangle, square, rectangle or irregular, largest first


# -- shared engines (loaded once per process) ----------------------------------------------------

_load_lock = threading.Lock()
#: OpenCV does not promise that one CascadeClassifier may run in two threads at once
_cascade_lock = threading.Lock()
_ocr_lock = threading.Lock()
_engines: dict[str, Any] = {}

_CASCADES = {"face": "haarcascade_frontalface_default.xml", "eye": "haarcascade_eye.xml",
             "smile": "haarcascade_smile.xml", "cat": "haarcascade_frontalcatface_extended.xml",
             "fullbody": "haarcascade_fullbody.xml", "upperbody": "haarcascade_upperbody.xml"}


def _cv2():
    try:
        import cv2
    except ImportError as exc:
        raise BackendUnavailableError("the image detectors need OpenCV, which is not installed",
                                      "pip install 'hypodisc[images]'") from exc
    if not hasattr(cv2, "CascadeClassifier"):
        # Both opencv distributions write site-packages/cv2; a 5.x one installed last removes the cascades.
        raise BackendUnavailableError(f"OpenCV {cv2.__version__} has no Haar cascades (dropped in 5.x)",
                                      "pip install --force-reinstall 'opencv-python-headless<5' 'opencv-python<5'")
    return cv2


def _cascade(name: str):
    """The named Haar cascade, loaded on first use (double-checked, so two threads load it once)."""
    key = f"cascade:{name}"
    if key not in _engines:
        with _load_lock:
            if key not in _engines:
                cv2 = _cv2()
                classifier = cv2.CascadeClassifier(cv2.data.haarcascades + _CASCADES[name])
                if classifier.empty():
                    raise BackendUnavailableError(f"OpenCV's {_CASCADES[name]} cascade did not load",
                                                  "reinstall opencv-python-headless")
                _engines[key] = classifier
    return _engines[key]


def _ocr_engine():
    """RapidOCR, built once: building it loads three ONNX models (about a second).

    Its detector normally enlarges every image to at least 736 px a side, which costs 0.1-0.3 s
    even on a blank 128 px image; capping the longer side at 960 instead reads text at the size it
    was drawn (14 px text still reads) and is several times faster on the small images sets hold.
    """
    if "ocr" not in _engines:
        with _load_lock:
            if "ocr" not in _engines:
                try:
                    from rapidocr_onnxruntime import RapidOCR
                except ImportError as exc:
                    raise BackendUnavailableError("the image detectors need RapidOCR, which is not installed",
                                                  "pip install 'hypodisc[images]'") from exc
                _engines["ocr"] = RapidOCR(det_limit_type="max", det_limit_side_len=960)
    return _engines["ocr"]


# -- detection -----------------------------------------------------------------------------------


def detect(image: PILImage.Image) -> ImageFacts:
    """Every fact about ``image`` (any mode; converted to RGB). Deterministic for a given image."""
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    small = _resized(rgb, _STATS_SIDE)
    gray = _gray_for_cascades(rgb)
    background, objects, foreground = _background_and_objects(small)
    return ImageFacts(
        width=rgb.shape[1], height=rgb.shape[0], **_people(gray), cat_faces=_cat_faces(gray), bodies=_bodies(gray),
        text=_text(rgb), colours=_colours(small), brightness=_brightness(small),
        colourfulness=_colourfulness(small), edge_density=_edge_density(rgb), background=background,
        objects=objects, **foreground)


def _resized(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Shrunk (area-averaged) so its longer side is at most ``max_side``; never enlarged."""
    cv2 = _cv2()
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _gray_for_cascades(rgb: np.ndarray) -> np.ndarray:
    """Equalised grayscale, rescaled so the shorter side is at least 256 and the longer at most 1024:
    Haar windows start at 24 px, so a face that fills a tiny crop must be enlarged to be found, and a
    huge photo is shrunk to keep the pass fast."""
    cv2 = _cv2()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    scale = min(max(1.0, _MIN_FACE_SIDE / min(h, w)), _MAX_FACE_SIDE / max(h, w)) if max(h, w) > 0 else 1.0
    if scale != 1.0:
        interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)
    return cv2.equalizeHist(gray)


def _detect(name: str, gray: np.ndarray, *, scale: float, neighbours: int, min_size: int) -> list:
    with _cascade_lock:
        found = _cascade(name).detectMultiScale(gray, scaleFactor=scale, minNeighbors=neighbours,
                                                minSize=(min_size, min_size))
    return [tuple(int(v) for v in box) for box in found]


def _faces(gray: np.ndarray) -> list:
    """Frontal faces at least a tenth of the shorter side (smaller hits are mostly texture).

    scaleFactor 1.1 and minNeighbors 6 were measured on scikit-image's LFW subset (faces upscaled
    from 25 to 128 px): about 81% of faces found against 2% of non-faces.
    """
    return _detect("face", gray, scale=1.1, neighbours=6, min_size=max(24, min(gray.shape) // 10))


def _people(gray: np.ndarray) -> dict[str, int]:
    """Faces, and the eyes and smiles inside them: searching only face regions keeps the eye and
    smile cascades, which fire on almost any texture, from counting things that are not there."""
    faces = _faces(gray)
    eyes = smiles = 0
    for x, y, w, h in faces:
        upper, lower = gray[y:y + h // 2 + h // 8, x:x + w], gray[y + h // 2:y + h, x:x + w]
        eyes += min(2, len(_detect("eye", upper, scale=1.1, neighbours=6, min_size=max(8, w // 8))))
        smiles += bool(_detect("smile", lower, scale=1.3, neighbours=20, min_size=max(12, w // 5)))
    return {"faces": len(faces), "eyes": eyes, "smiles": smiles}


def _cat_faces(gray: np.ndarray) -> int:
    return len(_detect("cat", gray, scale=1.1, neighbours=6, min_size=max(32, min(gray.shape) // 8)))


def _bodies(gray: np.ndarray) -> int:
    """People seen whole or from the waist up; strict settings, since both cascades over-fire."""
    side = min(gray.shape)
    full = _detect("fullbody", gray, scale=1.1, neighbours=6, min_size=max(32, side // 6))
    upper = _detect("upperbody", gray, scale=1.1, neighbours=8, min_size=max(48, side // 4))
    return max(len(full), len(upper))


def _text(rgb: np.ndarray) -> tuple[str, ...]:
    """Confident OCR strings, top to bottom as RapidOCR returns them; skipped for tiny images."""
    if min(rgb.shape[:2]) < MIN_OCR_SIDE:
        return ()
    cv2 = _cv2()
    engine = _ocr_engine()
    with _ocr_lock:
        result, _ = engine(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    strings = (str(text).strip() for _, text, score in (result or []) if float(score) >= MIN_OCR_CONFIDENCE)
    return tuple(s for s in strings if s)


def _colour_labels(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's index into COLOUR_NAMES, from hue, saturation and value (hue boundaries follow
    the CSS colours of the same names; dark oranges read as brown, pale reds as pink)."""
    import numpy as np

    cv2 = _cv2()
    hsv = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    idx = {name: i for i, name in enumerate(COLOUR_NAMES)}
    hue = np.select(
        [(h < 12) | (h >= 345), h < 40, h < 70, h < 165, h < 260, h < 315],
        [idx["red"], idx["orange"], idx["yellow"], idx["green"], idx["blue"], idx["purple"]], idx["pink"])
    hue = np.where(((h < 12) | (h >= 345)) & (s < 0.5) & (v > 0.75), idx["pink"], hue)
    hue = np.where((h >= 12) & (h < 45) & (v < 0.7), idx["brown"], hue)
    grey = np.select([v >= 0.85, v >= 0.2], [idx["white"], idx["gray"]], idx["black"])
    return np.where(v < 0.2, idx["black"], np.where(s < 0.15, grey, hue))


def _named_fractions(rgb: np.ndarray) -> list[tuple[str, float]]:
    import numpy as np

    labels = _colour_labels(rgb).ravel()
    counts = np.bincount(labels, minlength=len(COLOUR_NAMES)) / max(1, labels.size)
    ranked = sorted(range(len(COLOUR_NAMES)), key=lambda i: (-counts[i], i))
    return [(COLOUR_NAMES[i], round(float(counts[i]), 3)) for i in ranked]


def _colours(small: np.ndarray) -> tuple[tuple[str, float], ...]:
    return tuple((name, frac) for name, frac in _named_fractions(small) if frac >= MIN_COLOUR_FRACTION)


def _brightness(small: np.ndarray) -> float:
    cv2 = _cv2()
    return round(float(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).mean()) / 255.0, 4)


def _colourfulness(small: np.ndarray) -> float:
    """Hasler and Süsstrunk's (2003) metric; their "extremely colourful" is about 110, so /120."""
    import numpy as np

    r, g, b = (small[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    metric = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    return round(min(1.0, float(metric) / 120.0), 4)


def _edge_density(rgb: np.ndarray) -> float:
    """Canny edges at a fixed working size (512 px), so the fraction does not depend on resolution."""
    cv2 = _cv2()
    gray = cv2.cvtColor(_resized(rgb, 512), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, 100, 200)
    return round(float((edges > 0).mean()), 4)


def _border(small: np.ndarray) -> np.ndarray:
    """The outer ring of pixels (about 4% of each side), which is what a viewer calls the background."""
    import numpy as np

    h, w = small.shape[:2]
    k = max(1, min(h, w) // 25)
    ring = [small[:k].reshape(-1, 3), small[-k:].reshape(-1, 3), small[:, :k].reshape(-1, 3),
            small[:, -k:].reshape(-1, 3)]
    return np.concatenate(ring)


def _background_and_objects(small: np.ndarray) -> tuple[str, int, dict]:
    """The border's colour name when 60% of it shares one, else "mixed"; and, on such a plain
    background, the number of separate blobs that differ from it (a mixed one has no single colour
    to separate from, so objects stay 0)."""
    import numpy as np

    border = _border(small)
    labels = _colour_labels(border[None, :, :])[0]
    counts = np.bincount(labels, minlength=len(COLOUR_NAMES))
    top = int(counts.argmax())
    if counts[top] < 0.6 * labels.size:
        return "mixed", 0, {}
    colour = np.median(border[labels == top], axis=0)
    mask, contours = _blobs(small, colour)
    return COLOUR_NAMES[top], len(contours), _foreground(small, mask, contours)


def _foreground(small: np.ndarray, mask: np.ndarray, contours: list) -> dict:
    """Colours (as shares of the foreground), covered area and blob shapes of what is not background."""
    if not contours:
        return {}
    pixels = small[mask > 0]
    fractions = _named_fractions(pixels[None, :, :]) if len(pixels) else []
    cv2 = _cv2()
    ordered = sorted(contours, key=cv2.contourArea, reverse=True)
    return {"object_colours": tuple((n, f) for n, f in fractions if f >= MIN_OBJECT_COLOUR_FRACTION),
            "object_area": round(float((mask > 0).mean()), 3), "shapes": tuple(_shape(c) for c in ordered)}


def _shape(contour) -> str:
    """A blob's outline by circularity (4 pi area / perimeter^2) and its polygon's corner count."""
    import math

    cv2 = _cv2()
    area, perimeter = cv2.contourArea(contour), cv2.arcLength(contour, True)
    if perimeter <= 0:
        return "irregular"
    corners = len(cv2.approxPolyDP(contour, 0.04 * perimeter, True))
    circularity = 4 * math.pi * area / perimeter ** 2
    if corners == 3:
        return "triangle"
    if corners == 4:
        _, _, w, h = cv2.boundingRect(contour)
        return "square" if 0.85 <= w / max(h, 1) <= 1.18 else "rectangle"
    if circularity >= 0.8:
        return "circle"
    return "irregular"


def _blobs(small: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, list]:
    """Connected regions at least 0.5% of the image that differ clearly from the background colour.

    Specks are opened away and gaps under about 2.5% of the longer side closed, so the letters of
    a word or the parts of one drawing count once, while things set apart still count separately.
    """
    import numpy as np

    cv2 = _cv2()
    distance = np.abs(small.astype(np.int16) - background.astype(np.int16)).sum(axis=2)
    mask = (distance > 60).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    gap = max(3, max(small.shape[:2]) // 40) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((gap, gap), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    min_area = 0.005 * small.shape[0] * small.shape[1]
    kept = [c for c in contours if cv2.contourArea(c) >= min_area]
    fill = np.zeros_like(mask)
    cv2.drawContours(fill, kept, -1, 255, thickness=cv2.FILLED)
    return (mask > 0) & (fill > 0), kept


# -- caption -------------------------------------------------------------------------------------

_MAX_WORDS = 60
_MAX_TEXTS = 3


def _count(n: int, noun: str) -> str:
    return f"One {noun}" if n == 1 else f"{n} {noun}s"


def _look(facts: ImageFacts) -> str:
    words = []
    if facts.brightness >= 0.7:
        words.append("bright")
    elif facts.brightness <= 0.3:
        words.append("dark")
    if facts.colourfulness >= 0.45:
        words.append("colourful")
    elif facts.colourfulness <= 0.05:
        words.append("grayscale")
    phrase = ", ".join([*words[:-1], words[-1] + " image"]) if words else "image"
    article = "An" if phrase[0] in "aeiou" else "A"
    on = f" on a {facts.background} background" if facts.background != "mixed" else ""
    return f"{article} {phrase}{on}."


def _objects_sentence(facts: ImageFacts) -> str:
    """'3 small objects, coloured red; shaped 3 triangles (covering 2% of the image).' Size is judged per
    object (covered share / count), so one large shape and several small ones read differently."""
    if not facts.objects:
        return ""
    per = facts.object_area / facts.objects
    size = "" if facts.object_area <= 0 else "large " if per >= 0.08 else "small " if per <= 0.02 else ""
    noun = f"One {size}object" if facts.objects == 1 else f"{facts.objects} {size}objects"
    tail = []
    colours = ", ".join(name for name, _ in facts.object_colours[:3])
    if colours:
        tail.append(f"coloured {colours}")
    shapes = [s for s in facts.shapes[:4] if s != "irregular"]
    if shapes:
        counts = {s: shapes.count(s) for s in dict.fromkeys(shapes)}
        tail.append("shaped " + ", ".join(s if n == 1 else f"{n} {s}s" for s, n in counts.items()))
    cover = f" (covering {round(facts.object_area * 100)}% of the image)" if facts.object_area > 0 else ""
    return f"{noun}{(', ' + '; '.join(tail)) if tail else ''}{cover}."


def _people_sentence(facts: ImageFacts) -> str:
    if not facts.faces:
        return ""
    if facts.smiles == 0:
        return f"{_count(facts.faces, 'human face')}."
    if facts.faces == 1:
        return "One human face, smiling."
    return f"{facts.faces} human faces, {facts.smiles} smiling."


def _text_sentence(texts: tuple[str, ...]) -> str:
    if not texts:
        return ""
    shown = [" ".join(t.split()[:4])[:24] for t in texts[:_MAX_TEXTS]]
    return "Text in the image: " + ", ".join(f"'{t}'" for t in shown) + "."


def _sentences(facts: ImageFacts, texts: tuple[str, ...]) -> list[str]:
    colours = ", ".join(f"{name} ({round(frac * 100)}%)" for name, frac in facts.colours[:3])
    edges = ("Busy, with many edges." if facts.edge_density >= 0.12
             else "Plain, with few edges." if facts.edge_density <= 0.02 else "")
    return [s for s in (
        _look(facts),
        f"Main colours: {colours}." if colours else "",
        _objects_sentence(facts),
        _people_sentence(facts),
        f"{_count(facts.cat_faces, 'cat face')}." if facts.cat_faces else "",
        f"{_count(facts.bodies, 'human figure')}." if facts.bodies else "",
        _text_sentence(texts),
        edges,
    ) if s]


def describe(facts: ImageFacts) -> str:
    """A caption of short plain sentences naming every fact that is present, under 60 words.

    Absent detections are left out rather than denied (the cascades miss things; "no faces" would
    state more than was measured). Long OCR text is cut first, so the caption stays short enough to
    list dozens of images in one prompt.
    """
    texts = facts.text
    while True:
        caption = " ".join(_sentences(facts, texts))
        if len(caption.split()) < _MAX_WORDS or not texts:
            return caption
        texts = texts[:-1]


# -- hypotheses measured directly ----------------------------------------------------------------

Scorer = Callable[[ImageFacts], float]

_NEGATIONS = {"no", "not", "without", "lacks", "lack", "lacking", "never", "none", "neither", "nor", "absent"}
_NEGATION_REACH = 4  # a negation word counts if it is at most this many words before the keyword

_COLOUR_WORDS = {"red": "red", "orange": "orange", "yellow": "yellow", "green": "green", "blue": "blue",
                 "purple": "purple", "violet": "purple", "pink": "pink", "brown": "brown", "black": "black",
                 "white": "white", "gray": "gray", "grey": "gray"}
_FACE_WORDS = {"face", "person", "portrait", "human", "man", "woman", "child", "boy", "girl", "selfie",
               "someone", "headshot"}
_FACES_WORDS = {"faces", "people", "persons", "humans", "men", "women", "children", "crowd"}
_TEXT_WORDS = {"text", "texts", "word", "words", "letter", "letters", "lettering", "writing", "written",
               "sign", "signs", "signage", "label", "labels", "caption", "captions", "typography", "font",
               "slogan", "headline", "inscription"}
_OBJECT_NOUNS = {"object", "objects", "item", "items", "thing", "things", "shape", "shapes", "element",
                 "elements"}
_MANY_WORDS = {"several", "many", "multiple", "numerous", "various", "two", "three", "four", "five"}
_ONE_WORDS = {"one", "single", "lone", "solitary", "a"}
_PLAIN_BG = {"plain", "simple", "solid", "uniform", "clean", "blank", "empty"}
_MIXED_BG = {"busy", "cluttered", "mixed", "complex", "detailed", "natural", "outdoor", "textured"}


def _tokens(hypothesis: str) -> list[str]:
    """Lower-case words; "don't" becomes "don" "not", hyphens split ("black-and-white")."""
    text = hypothesis.lower().replace("\u2019", "'").replace("n't", " not")
    return re.findall(r"[a-z0-9]+", text)


def _find(tokens: list[str], phrases) -> int | None:
    """Index of the first token that starts one of ``phrases`` (words or space-separated phrases)."""
    for i in range(len(tokens)):
        for phrase in phrases:
            words = phrase.split()
            if tokens[i:i + len(words)] == words:
                return i
    return None


def _negated(tokens: list[str], at: int) -> bool:
    return any(t in _NEGATIONS for t in tokens[max(0, at - _NEGATION_REACH):at])


def _indicator(field: str) -> Scorer:
    return lambda f: float(getattr(f, field) > 0)


def _fraction_of(names: list[str]) -> Scorer:
    """The smallest fraction among the named colours: "red and white" is true only if both are there."""
    def score(f: ImageFacts) -> float:
        whole, objects = dict(f.colours), dict(f.object_colours)
        return min(max(whole.get(n, 0.0), objects.get(n, 0.0)) for n in names)
    return score


def _faces_rule(tokens: list[str]) -> tuple[int, Scorer] | None:
    plural, single = _find(tokens, _FACES_WORDS), _find(tokens, _FACE_WORDS)
    if plural is None and single is None:
        return None
    if plural is not None and (single is None or plural < single):
        return plural, lambda f: min(f.faces, 3) / 3
    return single, _indicator("faces")


def _background_rule(tokens: list[str]) -> tuple[int, Scorer] | None:
    at = _find(tokens, ("background", "backdrop"))
    if at is None:
        return None
    before, after = tokens[max(0, at - 3):at], tokens[at + 1:at + 4]
    near = list(reversed(before)) + after  # "white background" or "background is white"
    colour = next((_COLOUR_WORDS[t] for t in near if t in _COLOUR_WORDS), None)
    if colour is not None:
        return at, lambda f: float(f.background == colour)
    if any(t in _PLAIN_BG for t in near):
        return at, lambda f: float(f.background != "mixed")
    if any(t in _MIXED_BG for t in near):
        return at, lambda f: float(f.background == "mixed")
    return None


def _objects_rule(tokens: list[str]) -> tuple[int, Scorer] | None:
    at = _find(tokens, _OBJECT_NOUNS)
    if at is None:
        return None
    before = tokens[max(0, at - 3):at]
    if any(t in _MANY_WORDS for t in before) or tokens[at].endswith("s"):
        return at, lambda f: min(f.objects, 5) / 5 if f.objects >= 2 else 0.0
    if any(t in _ONE_WORDS for t in before):
        return at, lambda f: float(f.objects == 1)
    return None


def _colour_rule(tokens: list[str]) -> tuple[int, Scorer] | None:
    hits = [(i, _COLOUR_WORDS[t]) for i, t in enumerate(tokens) if t in _COLOUR_WORDS]
    if not hits:
        return None
    names = sorted({name for _, name in hits}, key=COLOUR_NAMES.index)
    return hits[0][0], _fraction_of(names)


def _keyword_rule(phrases, scorer: Scorer) -> Callable[[list[str]], tuple[int, Scorer] | None]:
    def rule(tokens: list[str]) -> tuple[int, Scorer] | None:
        at = _find(tokens, phrases)
        return None if at is None else (at, scorer)
    return rule


def _shape_share(*names: str) -> Scorer:
    """The share of the blobs with one of these outlines (0 when nothing stands on a plain background)."""
    return lambda f: sum(s in names for s in f.shapes) / len(f.shapes) if f.shapes else 0.0


def _object_size(f: ImageFacts) -> float:
    """Covered share per object, scaled so one object filling a fifth of the image reads as 1."""
    return min(1.0, f.object_area / f.objects / 0.2) if f.objects else 0.0


_DARK = lambda f: 1.0 - f.brightness  # noqa: E731
_GRAYSCALE = lambda f: 1.0 - f.colourfulness  # noqa: E731

#: most specific first: "a smiling person" is about smiles, "black and white photo" about colourfulness
_RULES: tuple[Callable[[list[str]], tuple[int, Scorer] | None], ...] = (
    _keyword_rule(("smile", "smiles", "smiling", "grin", "grinning", "laughing"), _indicator("smiles")),
    _keyword_rule(("cat", "cats", "kitten", "kittens", "kitty", "feline"), _indicator("cat_faces")),
    _keyword_rule(tuple(_TEXT_WORDS), lambda f: float(len(f.text) > 0)),
    _keyword_rule(("eye", "eyes"), _indicator("eyes")),
    _background_rule,
    _keyword_rule(("full body", "whole body", "human figure", "human figures", "pedestrian",
                   "pedestrians"), _indicator("bodies")),
    _faces_rule,
    _keyword_rule(("black and white", "grayscale", "greyscale", "monochrome", "monochromatic", "desaturated",
                   "muted", "colourless", "colorless"), _GRAYSCALE),
    _keyword_rule(("colourful", "colorful", "vivid", "vibrant", "saturated"), lambda f: f.colourfulness),
    _colour_rule,
    _keyword_rule(("bright", "brighter", "brightly", "well lit", "sunny", "sunlit", "daylight"),
                  lambda f: f.brightness),
    _keyword_rule(("dark", "darker", "dim", "dimly", "night", "nighttime", "low light", "shadowy"), _DARK),
    _keyword_rule(("busy", "cluttered", "detailed", "complex", "intricate", "textured"),
                  lambda f: f.edge_density),
    _keyword_rule(("plain", "simple", "minimal", "minimalist", "uncluttered", "sparse"),
                  lambda f: 1.0 - f.edge_density),
    _keyword_rule(("circle", "circles", "circular", "round", "disc", "discs", "dot", "dots"),
                  _shape_share("circle")),
    _keyword_rule(("square", "squares", "rectangle", "rectangles", "rectangular", "box", "boxes"),
                  _shape_share("square", "rectangle")),
    _keyword_rule(("triangle", "triangles", "triangular"), _shape_share("triangle")),
    _keyword_rule(("large", "big", "huge", "larger", "bigger"), _object_size),
    _keyword_rule(("small", "tiny", "little", "smaller"), lambda f: 1.0 - _object_size(f) if f.objects else 0.0),
    _objects_rule,
)


def fact_scorer(hypothesis: str) -> Scorer | None:
    """A direct measurement of ``hypothesis`` (higher = more true), or None when no detector covers it.

    The first matching rule wins (the most specific come first); a negation ("no", "not", "without",
    "-n't") within four words before its keyword inverts the score, so "no faces" scores
    ``1 - faces``. Colour scores are the colour's pixel fraction (0 below MIN_COLOUR_FRACTION).
    """
    tokens = _tokens(hypothesis)
    for rule in _RULES:
        hit = rule(tokens)
        if hit is None:
            continue
        at, scorer = hit
        if _negated(tokens, at):
            return lambda f, s=scorer: 1.0 - s(f)
        return scorer
    return None
