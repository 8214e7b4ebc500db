"""The offline image detectors: real Haar cascades, real RapidOCR, real pixels; no mocks.

Images are drawn with Pillow at test time or taken from scikit-image's bundled data (LFW faces and
non-faces, the astronaut photo), so the face check runs on real faces, not drawings of them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from hypodisc.backends.image_detectors import ImageFacts, describe, detect, fact_scorer

#: every test here is in the fast lane except the full LFW sweep (about 6 s), which is marked slow
fast = pytest.mark.fast

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path("/Library/Fonts"))


def truetype_font(size: int):
    """DejaVu Sans Bold if present, else any TrueType font; None when the machine has none."""
    found = [p for d in FONT_DIRS if d.is_dir() for p in sorted(d.rglob("*.ttf"))]
    preferred = [p for p in found if p.name == "DejaVuSans-Bold.ttf"] + [p for p in found if "Sans" in p.name] + found
    return ImageFont.truetype(str(preferred[0]), size) if preferred else None


def solid(colour, size=(128, 128)) -> Image.Image:
    return Image.new("RGB", size, colour)


def shapes_on_white() -> Image.Image:
    img = solid("white", (256, 256))
    draw = ImageDraw.Draw(img)
    draw.ellipse((20, 20, 110, 110), fill="red")
    draw.rectangle((150, 140, 235, 235), fill="blue")
    return img


def noise(seed=0, size=256) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def facts(**changes) -> ImageFacts:
    """A neutral fact sheet to vary one field at a time when testing the scorers."""
    base = ImageFacts(width=100, height=100, faces=0, eyes=0, smiles=0, cat_faces=0, bodies=0, text=(),
                      colours=(("gray", 1.0),), brightness=0.5, colourfulness=0.2, edge_density=0.05,
                      background="mixed", objects=0)
    return replace(base, **changes)


@pytest.fixture(scope="module")
def font():
    f = truetype_font(48)
    if f is None:
        pytest.skip("no TrueType font under /usr/share/fonts to draw OCR test text with")
    return f


# -- faces (real photographs) --------------------------------------------------------------------


@fast
def test_astronaut_has_one_smiling_face():
    from skimage.data import astronaut

    found = detect(Image.fromarray(astronaut()))
    assert found.faces == 1 and found.smiles == 1 and found.eyes >= 1
    assert (found.width, found.height) == (512, 512)


@pytest.mark.slow
def test_face_cascade_separates_lfw_faces_from_non_faces():
    """scikit-image's LFW subset: 100 faces, then 100 non-faces, 25x25 grayscale. detect() enlarges
    tiny images itself. Measured: 82% of faces found, 4% of non-faces (a gap of 0.78)."""
    from skimage.data import lfw_subset

    crops = lfw_subset()
    found = [detect(Image.fromarray((c * 255).astype(np.uint8))).faces > 0 for c in crops]
    face_rate, other_rate = np.mean(found[:100]), np.mean(found[100:])
    assert face_rate >= 0.7 and other_rate <= 0.12
    assert face_rate > other_rate + 0.6


@fast
def test_no_faces_cats_or_text_in_plain_drawings():
    for img in (solid("white"), shapes_on_white(), solid("black", (40, 40))):
        found = detect(img)
        assert (found.faces, found.eyes, found.smiles, found.cat_faces, found.bodies, found.text) == (0, 0, 0, 0, 0, ())


# -- text ----------------------------------------------------------------------------------------


@fast
def test_ocr_reads_large_text(font):
    img = solid("white", (360, 160))
    ImageDraw.Draw(img).text((20, 50), "SALE 50%", font=font, fill="black")
    found = detect(img)
    assert any("SALE" in t for t in found.text), found.text
    assert "SALE" in describe(found)


@fast
def test_blank_and_tiny_images_have_no_text(font):
    assert detect(solid("white", (256, 256))).text == ()
    tiny = solid("white", (31, 200))  # under 32 px a side: OCR is not run
    ImageDraw.Draw(tiny).text((0, 0), "AB", font=font, fill="black")
    assert detect(tiny).text == ()


# -- pixel statistics ----------------------------------------------------------------------------


@pytest.mark.parametrize("rgb, name", [
    ((220, 20, 30), "red"), ((255, 140, 0), "orange"), ((250, 220, 20), "yellow"), ((30, 160, 40), "green"),
    ((20, 60, 220), "blue"), ((128, 0, 128), "purple"), ((255, 105, 180), "pink"), ((139, 69, 19), "brown"),
    ((10, 10, 10), "black"), ((250, 250, 250), "white"), ((128, 128, 128), "gray"),
])
@fast
def test_named_colours(rgb, name):
    found = detect(solid(rgb, (64, 64)))
    assert found.colours == ((name, 1.0),)


@fast
def test_mostly_red_names_red_first():
    img = solid((200, 30, 30), (200, 200))
    ImageDraw.Draw(img).rectangle((0, 0, 199, 59), fill="white")  # 30% white
    found = detect(img)
    assert [name for name, _ in found.colours] == ["red", "white"]
    assert found.colours[0][1] == pytest.approx(0.7, abs=0.02)
    assert found.colours[1][1] == pytest.approx(0.3, abs=0.02)


@fast
def test_small_colours_are_left_out():
    img = solid("white", (100, 100))
    ImageDraw.Draw(img).rectangle((0, 0, 29, 19), fill="blue")  # 6%
    assert [name for name, _ in detect(img).colours] == ["white"]


@fast
def test_brightness_ordering():
    levels = [detect(solid((v, v, v))).brightness for v in (10, 128, 245)]
    assert levels == sorted(levels) and levels[0] < 0.1 and levels[2] > 0.9


@fast
def test_colourfulness_gray_versus_vivid():
    gray = detect(noise().convert("L").convert("RGB")).colourfulness
    vivid = detect(noise()).colourfulness
    assert gray == pytest.approx(0.0, abs=0.01) and vivid > 0.5


@fast
def test_edge_density_busy_versus_plain():
    checker = Image.fromarray(((np.indices((256, 256)).sum(axis=0) // 8) % 2 * 255).astype(np.uint8)).convert("RGB")
    assert detect(checker).edge_density > 0.1 > 0.01 > detect(solid("white", (256, 256))).edge_density


@fast
def test_background_and_objects():
    shapes = detect(shapes_on_white())
    assert (shapes.background, shapes.objects) == ("white", 2)
    one = solid("black", (200, 200))
    ImageDraw.Draw(one).ellipse((50, 50, 150, 150), fill="yellow")
    assert (detect(one).background, detect(one).objects) == ("black", 1)
    busy = detect(noise())
    assert (busy.background, busy.objects) == ("mixed", 0)


@fast
def test_word_counts_as_one_object_not_one_per_letter(font):
    img = solid("white", (360, 160))
    ImageDraw.Draw(img).text((20, 50), "SALE", font=font, fill="black")
    assert detect(img).objects == 1


@fast
def test_any_mode_and_deterministic():
    img = shapes_on_white()
    assert detect(img) == detect(img.convert("RGBA")) == detect(img)
    assert detect(img.convert("L")).colours[0][0] == "white"


@fast
def test_threads_share_the_engines(font):
    images = [shapes_on_white(), noise(1), solid("red")]
    text = solid("white", (360, 160))
    ImageDraw.Draw(text).text((20, 50), "OPEN", font=font, fill="black")
    images.append(text)
    expected = [detect(i) for i in images]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(detect, images * 3)) == expected * 3


@fast
def test_speed_per_256_image(font):
    """Loose: a warm detect() of a 256x256 photo-like image (OCR included) is well under a second."""
    from skimage.data import astronaut

    img = Image.fromarray(astronaut()).resize((256, 256))
    detect(img)
    start = time.perf_counter()
    for _ in range(3):
        detect(img)
    assert (time.perf_counter() - start) / 3 < 1.0


# -- caption -------------------------------------------------------------------------------------


@fast
def test_describe_names_what_is_present():
    caption = describe(facts(brightness=0.85, colourfulness=0.6, background="white", objects=2, faces=1, smiles=1,
                             colours=(("red", 0.45), ("white", 0.4)), text=("SALE",), edge_density=0.2))
    assert caption == ("A bright, colourful image on a white background. Main colours: red (45%), white (40%). "
                       "2 objects. One human face, smiling. Text in the image: 'SALE'. "
                       "Busy, with many edges.")


@fast
def test_describe_leaves_out_absent_facts():
    caption = describe(facts())
    assert caption == "An image. Main colours: gray (100%)."
    assert "face" not in caption and "Text" not in caption
    assert "3 human faces, 1 smiling. 2 cat faces. One human figure." in describe(
        facts(faces=3, smiles=1, cat_faces=2, bodies=1))
    assert "A dark, grayscale image." in describe(facts(brightness=0.1, colourfulness=0.0))


@fast
def test_describe_stays_short_with_long_text():
    long_text = tuple(" ".join(f"word{i}{j}" for j in range(12)) for i in range(10))
    caption = describe(facts(text=long_text, faces=2, cat_faces=1, bodies=2, objects=4, background="white",
                             colours=(("red", 0.3), ("blue", 0.3), ("green", 0.3)), brightness=0.9,
                             colourfulness=0.9, edge_density=0.3))
    assert len(caption.split()) < 60 and "word00" in caption
    assert describe(facts(text=long_text)) == describe(facts(text=long_text))


@fast
def test_describe_real_image(font):
    caption = describe(detect(shapes_on_white()))
    assert "on a white background" in caption and "2 large objects" in caption


# -- hypotheses measured directly ----------------------------------------------------------------


@pytest.mark.parametrize("hypothesis, more, less", [
    ("contains a human face", facts(faces=1), facts()),
    ("a portrait of a person", facts(faces=2), facts()),
    ("shows many people", facts(faces=3), facts(faces=1)),
    ("someone is smiling", facts(faces=1, smiles=1), facts(faces=1)),
    ("a cat", facts(cat_faces=1), facts()),
    ("eyes are visible", facts(eyes=2), facts()),
    ("full body shot of a human figure", facts(bodies=1), facts()),
    ("has text written on it", facts(text=("HI",)), facts()),
    ("includes a sign with letters", facts(text=("STOP",)), facts()),
    ("mostly red", facts(colours=(("red", 0.8),)), facts(colours=(("red", 0.2),))),
    ("red and white", facts(colours=(("red", 0.5), ("white", 0.4))), facts(colours=(("red", 0.9),))),
    ("grey tones", facts(colours=(("gray", 0.9),)), facts(colours=(("blue", 0.9),))),
    ("a bright, sunny scene", facts(brightness=0.9), facts(brightness=0.2)),
    ("dark, taken at night", facts(brightness=0.1), facts(brightness=0.8)),
    ("colourful and vivid", facts(colourfulness=0.8), facts(colourfulness=0.1)),
    ("black and white photo", facts(colourfulness=0.0), facts(colourfulness=0.7)),
    ("monochrome", facts(colourfulness=0.0), facts(colourfulness=0.7)),
    ("busy and cluttered", facts(edge_density=0.3), facts(edge_density=0.01)),
    ("plain and minimal", facts(edge_density=0.01), facts(edge_density=0.3)),
    ("several objects", facts(objects=4), facts(objects=1)),
    ("two items", facts(objects=2), facts(objects=0)),
    ("a single object", facts(objects=1), facts(objects=3)),
    ("on a white background", facts(background="white"), facts(background="mixed")),
    ("the background is black", facts(background="black"), facts(background="white")),
    ("a plain background", facts(background="blue"), facts(background="mixed")),
    ("a cluttered background", facts(background="mixed"), facts(background="white")),
])
@fast
def test_fact_scorer_rules(hypothesis, more, less):
    score = fact_scorer(hypothesis)
    assert score is not None, hypothesis
    assert score(more) > score(less), hypothesis


@pytest.mark.parametrize("negated, plain", [
    ("no faces", "faces"), ("has no people in it", "has people in it"), ("without text", "with text"),
    ("does not contain any words", "contains words"), ("a person not smiling", "a person smiling"),
    ("isn't colourful", "colourful"), ("not on a white background", "on a white background"),
    ("no red", "red"), ("not busy", "busy"), ("there isn't a cat", "there is a cat"),
])
@fast
def test_negation_inverts(negated, plain):
    neg, pos = fact_scorer(negated), fact_scorer(plain)
    for sheet in (facts(), facts(faces=2, smiles=1, text=("A",), colourfulness=0.9, background="white",
                                 colours=(("red", 0.6),), edge_density=0.3, cat_faces=1)):
        assert neg(sheet) == pytest.approx(1.0 - pos(sheet))


@fast
def test_negation_applies_only_to_its_own_words():
    score = fact_scorer("a cat, no text")  # "no" negates text, not the cat the rule measures
    assert score(facts(cat_faces=1)) == 1.0


@pytest.mark.parametrize("hypothesis", [
    "shows a dog", "a car on a road", "food on a plate", "an outdoor scene", "the background",
    "a catalogue page", "lightweight", "many colours", "a body of water", "a group of trees", "",
])
@fast
def test_unmapped_hypotheses_give_none(hypothesis):
    assert fact_scorer(hypothesis) is None


@fast
def test_scorer_on_real_detections(font):
    red, white = detect(solid((220, 20, 30))), detect(solid("white"))
    assert fact_scorer("mostly red")(red) > fact_scorer("mostly red")(white)
    assert fact_scorer("a bright image")(white) > fact_scorer("a bright image")(red)
    sign = solid("white", (360, 160))
    ImageDraw.Draw(sign).text((20, 50), "SALE", font=font, fill="black")
    assert fact_scorer("contains text")(detect(sign)) == 1.0
    assert fact_scorer("contains text")(white) == 0.0


@fast
def test_shapes_sizes_and_object_colours_on_a_plain_background():
    """Small red things on white: the whole-image colours miss them, the foreground's colours do not."""
    from PIL import Image, ImageDraw

    def scene(kind: str, size: int, colour: str = "red") -> "Image.Image":
        img = Image.new("RGB", (224, 224), "white")
        d = ImageDraw.Draw(img)
        for x in (20, 130):
            box = [x, 60, x + size, 60 + size]
            d.ellipse(box, fill=colour) if kind == "circle" else d.rectangle(box, fill=colour)
        return img

    small_circles, big_squares = detect(scene("circle", 22)), detect(scene("square", 70, "blue"))
    assert small_circles.shapes == ("circle", "circle") and big_squares.shapes == ("square", "square")
    assert "red" not in dict(small_circles.colours) and dict(small_circles.object_colours)["red"] > 0.9
    red, circles, large = (fact_scorer(h) for h in ("red objects", "shows circles", "large objects"))
    assert red(small_circles) > 0.9 and red(big_squares) == 0.0
    assert circles(small_circles) == 1.0 and circles(big_squares) == 0.0
    assert large(big_squares) > large(small_circles)
    assert fact_scorer("shows no circles")(small_circles) == 0.0  # negated
    assert "2 small objects, coloured red; shaped 2 circles" in describe(small_circles)
