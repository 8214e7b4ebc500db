"""Image sets as a workflow takes them: loaded from a folder, a zip or a JSONL list, checked, decoded.

Image sets come from users (uploads, folders, archives), so every step here treats the bytes as
untrusted: sizes are checked from the header before any pixels are decoded, a file that is not a
readable image is refused with a message naming the set and the file, and every refusal is an
:class:`~hypodisc.errors.InputRejected` with a stable ``code`` the CLI and the service both show.

Codes: ``bad_image_set`` (the set itself: a missing path, an unknown kind, a malformed JSONL line,
no images), ``too_many_images`` (413), ``bad_image`` (one item is not a readable image, or its wire
form is not base64) and ``image_too_large`` (413: bytes or pixels over the limit).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from hypodisc.errors import InputRejected

if TYPE_CHECKING:  # Pillow is an optional dependency (the ``images`` extra)
    from PIL import Image as PILImage

#: file name endings read as images (compared lower-case)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")


@dataclass(frozen=True)
class ImageItem:
    """One image as given: its name, its encoded bytes (never re-encoded) and an optional caption."""

    name: str
    data: bytes
    caption: str | None = None


# -- loading a set ------------------------------------------------------------------------------


def _set_error(message: str, fix: str | None = None) -> InputRejected:
    return InputRejected(message, fix, code="bad_image_set", status=422)


def _is_image_name(name: str) -> bool:
    """An image by its extension, skipping hidden files (``.DS_Store``, macOS ``._x.png`` forks)."""
    base = PurePosixPath(name).name
    return not base.startswith(".") and base.lower().endswith(IMAGE_SUFFIXES)


def _check_count(count: int, max_images: int | None, where: str) -> None:
    """Refuse more than ``max_images`` before any image is read, so a huge set costs nothing."""
    if max_images is not None and count > max_images:
        raise InputRejected(f"{where} has {count} images, more than the limit of {max_images}",
                            "send fewer images or raise the limit", code="too_many_images", status=413)


def load_image_set(path: Path | str, *, max_images: int | None = None) -> list[ImageItem]:
    """The images of a folder, a ``.zip`` or a ``.jsonl`` list, in a stable order.

    * a folder: its image files by extension, sorted by name; not recursive (a sub-folder is
      often a different set, such as thumbnails, so it is not silently mixed in);
    * a ``.zip``: every image member, sub-folders included (archives usually wrap one folder),
      sorted by member path, which is also the item's name;
    * a ``.jsonl``: one ``{"path": ..., "caption"?: ..., "name"?: ...}`` object a line, paths
      relative to the JSONL file's folder; the name defaults to the path as written.

    The bytes are read, not decoded: :func:`decode_image` checks each one.
    """
    path = Path(path)
    if not path.exists():
        raise _set_error(f"image set {str(path)!r} does not exist", "give a folder, a .zip or a .jsonl file")
    if path.is_dir():
        items = _load_folder(path, max_images)
    elif path.suffix.lower() == ".zip":
        items = _load_zip(path, max_images)
    elif path.suffix.lower() == ".jsonl":
        items = _load_jsonl(path, max_images)
    else:
        raise _set_error(f"image set {str(path)!r} is neither a folder, a .zip nor a .jsonl file",
                         "give a folder of images, a .zip of images or a .jsonl of {\"path\": ...} lines")
    if not items:
        raise _set_error(f"image set {str(path)!r} has no images ({', '.join(IMAGE_SUFFIXES)})",
                         "add image files to it")
    return items


def _load_folder(folder: Path, max_images: int | None) -> list[ImageItem]:
    files = sorted((p for p in folder.iterdir() if p.is_file() and _is_image_name(p.name)), key=lambda p: p.name)
    _check_count(len(files), max_images, f"image set {str(folder)!r}")
    return [ImageItem(p.name, p.read_bytes()) for p in files]


def _load_zip(archive: Path, max_images: int | None) -> list[ImageItem]:
    return _zip_items(archive, f"image set {str(archive)!r}", max_images)


def _zip_items(source: Path | io.BytesIO, where: str, max_images: int | None) -> list[ImageItem]:
    """Image members of a zip (a file or uploaded bytes), sorted by member path, which names them."""
    try:
        with zipfile.ZipFile(source) as zf:
            members = sorted(m.filename for m in zf.infolist()
                             if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                             and _is_image_name(m.filename))
            _check_count(len(members), max_images, where)
            return [ImageItem(m, zf.read(m)) for m in members]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError) as exc:  # RuntimeError: encrypted
        raise _set_error(f"{where} is not a readable zip archive ({exc})",
                         "re-create the archive with a standard zip tool, without a password") from exc


def items_from_upload(filename: str, data: bytes, set_name: str, *,
                      max_images: int | None = None) -> list[ImageItem]:
    """The images of one uploaded file: a ``.zip`` gives its image members (as :func:`load_image_set`
    reads a zip), an image file gives itself, named by its base name (browsers may send a path).
    Anything else is refused as ``bad_image_set`` naming the set and the file, rather than skipped,
    since an upload the user chose should not vanish silently."""
    base = PurePosixPath(filename.replace("\\", "/")).name
    if base.lower().endswith(".zip"):
        return _zip_items(io.BytesIO(data), f"set {set_name}, upload {base!r}", max_images)
    if base.lower().endswith(IMAGE_SUFFIXES):
        _check_count(1, max_images, f"set {set_name}")
        return [ImageItem(base, data)]
    raise _set_error(f"set {set_name}, upload {base!r}: not an image file ({', '.join(IMAGE_SUFFIXES)}) or a .zip",
                     "upload image files or .zip archives of them")


def _jsonl_rows(listing: Path) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a malformed one is refused naming its line."""
    rows = []
    for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{listing.name}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _set_error(f"{where}: not valid JSON ({exc.msg})", 'write one {"path": ...} object a line') from exc
        if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"]:
            raise _set_error(f'{where}: expected an object with a "path" string', 'write {"path": "cat.png"}')
        for key in ("caption", "name"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise _set_error(f'{where}: "{key}" must be a string')
        rows.append((number, row))
    return rows


def _load_jsonl(listing: Path, max_images: int | None) -> list[ImageItem]:
    rows = _jsonl_rows(listing)
    _check_count(len(rows), max_images, f"image set {str(listing)!r}")
    items = []
    for number, row in rows:
        file = listing.parent / row["path"]
        if not file.is_file():
            raise _set_error(f"{listing.name}, line {number}: image file {row['path']!r} does not exist",
                             f"paths are relative to {str(listing.parent)!r}")
        items.append(ImageItem(row.get("name") or row["path"], file.read_bytes(), row.get("caption")))
    return items


# -- decoding -----------------------------------------------------------------------------------


def _where(set_name: str, item: ImageItem) -> str:
    return f"set {set_name}, image {item.name!r}"


def _too_large(message: str) -> InputRejected:
    return InputRejected(message, "send a smaller image or raise the limit", code="image_too_large", status=413)


def _bad_image(message: str) -> InputRejected:
    return InputRejected(message, "send a PNG, JPEG, GIF, BMP or WebP file that opens in an image viewer",
                         code="bad_image", status=422)


def decode_image(item: ImageItem, set_name: str, *, max_bytes: int | None,
                 max_pixels: int | None) -> PILImage.Image:
    """The item as a fully loaded RGB image, or InputRejected naming the set and the item.

    Bytes and pixel counts are checked first, the latter from the header, so an oversized or
    "decompression bomb" file is refused before its pixels take memory. Pillow's own bomb guard
    (``DecompressionBombError``, which fires while the header is read) is a size problem too, so it
    is reported as ``image_too_large``. Then ``verify()`` catches corrupt files (bad PNG checksums)
    and a second open plus ``load()`` catches truncated ones, which verify alone lets through.
    Transparency is flattened onto white and EXIF orientation applied, so later steps see the image
    as a viewer shows it.
    """
    from PIL import Image

    where = _where(set_name, item)
    if max_bytes is not None and len(item.data) > max_bytes:
        raise _too_large(f"{where}: {len(item.data):,} bytes, more than the limit of {max_bytes:,}")
    try:
        header = Image.open(io.BytesIO(item.data))  # reads the header only
    except Image.DecompressionBombError as exc:
        raise _too_large(f"{where}: too many pixels to decode safely ({exc})") from exc
    except Exception as exc:  # untrusted bytes: any decoder failure means "not an image"
        raise _bad_image(f"{where}: not a readable image ({_reason(exc)})") from exc
    with header:
        width, height = header.size
        if max_pixels is not None and width * height > max_pixels:
            raise _too_large(f"{where}: {width}x{height} is {width * height:,} pixels, "
                             f"more than the limit of {max_pixels:,}")
        try:
            header.verify()
        except Exception as exc:
            raise _bad_image(f"{where}: not a readable image ({_reason(exc)})") from exc
    try:
        with Image.open(io.BytesIO(item.data)) as image:
            image.load()
            return _as_rgb(image)
    except Exception as exc:
        raise _bad_image(f"{where}: not a readable image ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _as_rgb(image: PILImage.Image) -> PILImage.Image:
    """RGB as a viewer would show it: EXIF rotation applied, transparency composited on white."""
    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return image.convert("RGB")


def decode_set(items: Sequence[ImageItem], set_name: str, *, max_images: int | None, max_bytes: int | None,
               max_pixels: int | None) -> list[PILImage.Image]:
    """Every item decoded, or the first refusal: the count is checked before any image is read."""
    _check_count(len(items), max_images, f"set {set_name}")
    return [decode_image(item, set_name, max_bytes=max_bytes, max_pixels=max_pixels) for item in items]


# -- wire form (JSON) and small encodings -------------------------------------------------------


def to_wire(items: Sequence[ImageItem]) -> list[dict]:
    """JSON-ready rows ``{"name", "data" (standard base64), "caption"}`` for requests and stored jobs."""
    return [{"name": it.name, "data": base64.b64encode(it.data).decode("ascii"), "caption": it.caption}
            for it in items]


def from_wire(rows: Sequence[Mapping]) -> list[ImageItem]:
    """The inverse of :func:`to_wire`; ``data`` may also be a ``data:image/...;base64,`` URL, as
    browsers produce. Whitespace inside the base64 is ignored (line-wrapped encoders add it)."""
    return [_item_from_wire(i, row) for i, row in enumerate(rows, start=1)]


def _item_from_wire(index: int, row: Mapping) -> ImageItem:
    if not isinstance(row, Mapping):
        raise _bad_image(f"image {index}: expected an object with \"name\" and \"data\"")
    name = row.get("name")
    name = name if isinstance(name, str) and name else f"image {index}"
    caption = row.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise _bad_image(f"image {name!r}: \"caption\" must be a string")
    data = row.get("data")
    if not isinstance(data, str) or not data.strip():
        raise _bad_image(f"image {name!r}: \"data\" must be a non-empty base64 string")
    return ImageItem(name, _b64_payload(data, name), caption)


def _b64_payload(data: str, name: str) -> bytes:
    text = data.strip()
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise _bad_image(f"image {name!r}: a data: URL must be base64 (data:image/png;base64,...)")
    try:
        payload = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad_image(f"image {name!r}: \"data\" is not valid base64 ({exc})") from exc
    if not payload:
        raise _bad_image(f"image {name!r}: \"data\" is empty")
    return payload


def thumbnail_data_url(image: PILImage.Image, size: int = 160) -> str:
    """A small JPEG ``data:`` URL (longest side ``size``), so pages and reports embed images cheaply."""
    small = image.convert("RGB")
    small.thumbnail((size, size))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_bytes(image: PILImage.Image) -> bytes:
    """The image as PNG (lossless, and every multimodal chat backend accepts it)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
