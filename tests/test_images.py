"""Image sets: loading (folder, zip, JSONL), decoding with limits, and the JSON wire form.

Every image is drawn with Pillow at test time; the refusals are checked by code and by the name
they must show, since a user fixing a set of 200 files needs to know which one is wrong.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from hypodisc.datasets.images import (ImageItem, decode_image, decode_set, from_wire, items_from_upload,
                                      load_image_set, png_bytes, thumbnail_data_url, to_wire)
from hypodisc.errors import InputRejected

pytestmark = pytest.mark.fast


def encoded(colour="red", size=(40, 30), fmt="PNG", mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` but which holds no pixel data at all."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def rejected(fn, *args, **kwargs) -> InputRejected:
    with pytest.raises(InputRejected) as info:
        fn(*args, **kwargs)
    return info.value


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "set_a"
    d.mkdir()
    (d / "b.png").write_bytes(encoded("blue"))
    (d / "a.JPG").write_bytes(encoded("red", fmt="JPEG"))
    (d / "c.gif").write_bytes(encoded("green", fmt="GIF"))
    (d / "notes.txt").write_text("not an image")
    (d / ".hidden.png").write_bytes(b"junk")
    (d / "sub").mkdir()
    (d / "sub" / "d.png").write_bytes(encoded("white"))
    return d


# -- loading -------------------------------------------------------------------------------------


def test_folder_sorted_by_name_not_recursive(folder):
    items = load_image_set(folder)
    assert [it.name for it in items] == ["a.JPG", "b.png", "c.gif"]
    assert items[1].data == (folder / "b.png").read_bytes()
    assert all(it.caption is None for it in items)


def test_zip_members_sorted_with_subfolders(tmp_path, folder):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("imgs/z.png", encoded("blue"))
        zf.writestr("imgs/a.png", encoded("red"))
        zf.writestr("__MACOSX/imgs/._a.png", b"resource fork")
        zf.writestr("readme.md", "hello")
    items = load_image_set(archive)
    assert [it.name for it in items] == ["imgs/a.png", "imgs/z.png"]
    assert decode_image(items[0], "A", max_bytes=None, max_pixels=None).getpixel((0, 0)) == (255, 0, 0)


def test_jsonl_paths_relative_with_captions(tmp_path, folder):
    listing = tmp_path / "set.jsonl"
    listing.write_text(json.dumps({"path": "set_a/b.png", "caption": "a blue square"}) + "\n\n"
                       + json.dumps({"path": "set_a/a.JPG", "name": "red-one"}) + "\n")
    items = load_image_set(str(listing))
    assert [(it.name, it.caption) for it in items] == [("set_a/b.png", "a blue square"), ("red-one", None)]
    assert items[0].data == (folder / "b.png").read_bytes()


def test_malformed_jsonl_line_is_named(tmp_path, folder):
    listing = tmp_path / "set.jsonl"
    listing.write_text(json.dumps({"path": "set_a/b.png"}) + "\n{not json\n")
    err = rejected(load_image_set, listing)
    assert err.code == "bad_image_set" and "set.jsonl, line 2" in err.message
    listing.write_text(json.dumps({"caption": "no path"}) + "\n")
    assert "line 1" in rejected(load_image_set, listing).message
    listing.write_text(json.dumps({"path": "set_a/missing.png"}) + "\n")
    err = rejected(load_image_set, listing)
    assert "line 1" in err.message and "missing.png" in err.message


def test_bad_sets(tmp_path):
    assert rejected(load_image_set, tmp_path / "nope").code == "bad_image_set"
    other = tmp_path / "set.csv"
    other.write_text("path\n")
    assert rejected(load_image_set, other).code == "bad_image_set"
    empty = tmp_path / "empty"
    empty.mkdir()
    err = rejected(load_image_set, empty)
    assert err.code == "bad_image_set" and "no images" in err.message
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not really")
    assert rejected(load_image_set, broken).code == "bad_image_set"


def test_too_many_images_before_reading(folder, tmp_path):
    err = rejected(load_image_set, folder, max_images=2)
    assert (err.code, err.status) == ("too_many_images", 413) and "3 images" in err.message
    assert len(load_image_set(folder, max_images=3)) == 3
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(3):
            zf.writestr(f"{i}.png", encoded())
    assert rejected(load_image_set, archive, max_images=1).code == "too_many_images"


def test_items_from_upload():
    png = encoded()
    assert items_from_upload("C:\\photos\\cat.PNG", png, "A") == [ImageItem("cat.PNG", png)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x/b.png", png)
        zf.writestr("x/a.jpg", encoded(fmt="JPEG"))
        zf.writestr("x/notes.txt", "skip me")
    assert [it.name for it in items_from_upload("set.zip", buf.getvalue(), "A")] == ["x/a.jpg", "x/b.png"]
    err = rejected(items_from_upload, "set.zip", buf.getvalue(), "B", max_images=1)
    assert (err.code, err.status) == ("too_many_images", 413)
    err = rejected(items_from_upload, "notes.txt", b"hi", "B")
    assert err.code == "bad_image_set" and "set B, upload 'notes.txt'" in err.message
    err = rejected(items_from_upload, "broken.zip", b"PK nope", "A")
    assert err.code == "bad_image_set" and "'broken.zip'" in err.message


# -- decoding ------------------------------------------------------------------------------------


def test_decode_formats_to_rgb():
    for fmt, mode in (("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "L"), ("WEBP", "RGB")):
        img = decode_image(ImageItem(f"x.{fmt.lower()}", encoded("white", fmt=fmt, mode=mode)), "A",
                           max_bytes=None, max_pixels=None)
        assert img.mode == "RGB" and img.size == (40, 30)


def test_transparent_pixels_become_white():
    img = decode_image(ImageItem("t.png", encoded((0, 0, 0, 0), mode="RGBA")), "A", max_bytes=None, max_pixels=None)
    assert img.getpixel((5, 5)) == (255, 255, 255)


def test_not_an_image_names_set_and_item():
    err = rejected(decode_image, ImageItem("notes.png", b"hello, world"), "A", max_bytes=None, max_pixels=None)
    assert err.code == "bad_image" and "set A, image 'notes.png'" in err.message
    assert "not a readable image" in err.message


def test_truncated_png_is_bad_image():
    data = png_bytes(Image.effect_noise((200, 200), 50).convert("RGB"))  # noise: no run compresses away
    err = rejected(decode_image, ImageItem("cut.png", data[: len(data) // 2]), "B", max_bytes=None, max_pixels=None)
    assert err.code == "bad_image" and "set B, image 'cut.png'" in err.message


def test_truncated_jpeg_is_bad_image():
    buf = io.BytesIO()
    Image.effect_noise((200, 200), 50).convert("RGB").save(buf, format="JPEG")
    data = buf.getvalue()
    err = rejected(decode_image, ImageItem("cut.jpg", data[: len(data) // 2]), "B", max_bytes=None, max_pixels=None)
    assert err.code == "bad_image"


def test_huge_header_refused_before_decoding():
    # no pixel data at all: only a header check can refuse it as too large rather than unreadable
    err = rejected(decode_image, ImageItem("bomb.png", png_header_only(100_000, 100_000)), "A",
                   max_bytes=None, max_pixels=10_000_000)
    assert (err.code, err.status) == ("image_too_large", 413) and "'bomb.png'" in err.message
    # under Pillow's own bomb guard, so this is our max_pixels check speaking
    err = rejected(decode_image, ImageItem("wide.png", png_header_only(5000, 5000)), "A",
                   max_bytes=None, max_pixels=10_000_000)
    assert err.code == "image_too_large" and "25,000,000 pixels" in err.message


def test_large_bilevel_png_is_small_on_disk_but_too_large():
    # 400M pixels: past Pillow's own bomb guard too, which is reported as too large, not unreadable
    data = encoded(0, size=(20000, 20000), mode="1")
    assert len(data) < 1_000_000
    err = rejected(decode_image, ImageItem("big.png", data), "A", max_bytes=None, max_pixels=10_000_000)
    assert err.code == "image_too_large"


def test_bytes_limit():
    data = encoded()
    err = rejected(decode_image, ImageItem("a.png", data), "A", max_bytes=len(data) - 1, max_pixels=None)
    assert (err.code, err.status) == ("image_too_large", 413)
    assert decode_image(ImageItem("a.png", data), "A", max_bytes=len(data), max_pixels=1200).size == (40, 30)


def test_decode_set_all_or_nothing():
    good = [ImageItem(f"{i}.png", encoded()) for i in range(3)]
    assert len(decode_set(good, "A", max_images=3, max_bytes=None, max_pixels=None)) == 3
    err = rejected(decode_set, good, "A", max_images=2, max_bytes=None, max_pixels=None)
    assert (err.code, err.status) == ("too_many_images", 413)
    err = rejected(decode_set, [*good, ImageItem("bad.png", b"nope")], "B", max_images=None, max_bytes=None,
                   max_pixels=None)
    assert err.code == "bad_image" and "set B, image 'bad.png'" in err.message


# -- wire form and encodings ---------------------------------------------------------------------


def test_wire_round_trip():
    items = [ImageItem("a.png", encoded("red"), "a red one"), ImageItem("b.jpg", encoded("blue", fmt="JPEG"))]
    rows = to_wire(items)
    assert json.loads(json.dumps(rows)) == rows
    assert rows[0]["data"] == base64.b64encode(items[0].data).decode("ascii")
    assert from_wire(rows) == items


def test_from_wire_accepts_data_urls_and_wrapped_base64():
    data = encoded()
    b64 = base64.b64encode(data).decode()
    url_row = {"name": "u.png", "data": "data:image/png;base64," + b64}
    wrapped = {"name": "w.png", "data": "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))}
    assert [it.data for it in from_wire([url_row, wrapped])] == [data, data]


def test_from_wire_bad_base64_names_item():
    err = rejected(from_wire, [{"name": "ok.png", "data": base64.b64encode(b"x").decode()},
                               {"name": "oops.png", "data": "not base64!!"}])
    assert err.code == "bad_image" and "'oops.png'" in err.message
    assert rejected(from_wire, [{"name": "e.png", "data": ""}]).code == "bad_image"
    assert rejected(from_wire, [{"name": "t.png", "data": "data:text/plain,hello"}]).code == "bad_image"
    assert "image 1" in rejected(from_wire, ["not a mapping"]).message


def test_thumbnail_and_png():
    img = Image.new("RGBA", (800, 400), (0, 128, 255, 255))
    url = thumbnail_data_url(img, size=100)
    assert url.startswith("data:image/jpeg;base64,")
    thumb = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert thumb.format == "JPEG" and thumb.size == (100, 50) and img.size == (800, 400)
    png = png_bytes(img.convert("RGB"))
    assert png.startswith(b"\x89PNG") and Image.open(io.BytesIO(png)).size == (800, 400)
