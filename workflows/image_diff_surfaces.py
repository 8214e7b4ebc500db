"""The image-set-difference workflow's surfaces: how ``hypodisc image-diff`` reads its two sets (folders,
zips or JSONL of ``{path, caption?}``), the multipart upload form, the HTML report, the page script and
the check-battery examples.

Standard library only at import (the HTTP client imports it through the declaration); readers import
the image loaders when they run.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from hypodisc.errors import InputRejected
from hypodisc.workflows.diff_surfaces import HYPOTHESES
from hypodisc.workflows.surfaces import (CliOutput, CliParam, CliSpec, Examples, InputReader, PageSpec, Surfaces,
                                        UploadSpec, json_form)


def _read_sets(v: Mapping[str, Any]) -> dict:
    from hypodisc.datasets.images import load_image_set, to_wire
    from hypodisc.workflows.image_diff_models import ImageInput

    def wire(items) -> list:
        return [ImageInput(**row) for row in to_wire(items)]

    a = load_image_set(v["a"], max_images=v["max_images"])
    if not v["null_check"]:
        return {"a": wire(a), "b": wire(load_image_set(v["b"], max_images=v["max_images"]))}
    from hypodisc.workflows.diff import aa_halves

    # the A/A control: two random halves of set A (aa_halves shuffles any list of texts, so of indices)
    half_a, half_b = aa_halves([str(i) for i in range(len(a))], v.get("seed") or 0)
    return {"a": wire([a[int(i)] for i in half_a]), "b": wire([a[int(i)] for i in half_b])}


def _write_set(rows: list[dict], folder: Path) -> str:
    """A JSONL of {path, caption} beside the decoded files: reads back the same names, bytes and captions."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, row in enumerate(rows):
        data = row["data"].split(",", 1)[1] if row["data"].startswith("data:") else row["data"]
        path = folder / f"{i:04d}_{Path(row['name']).name}"
        path.write_bytes(base64.b64decode(data))
        lines.append(json.dumps({"path": path.name, "name": row["name"], "caption": row.get("caption")}))
    index = folder / "images.jsonl"
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(index)


SETS = InputReader(
    params=(CliParam("a", Path, help="image set A: a folder, a .zip, or a .jsonl of {path, caption?}", metavar="A"),
            CliParam("b", Path, help="image set B (ignored with --null-check)", metavar="B"),
            CliParam("max_images", Optional[int], None, ("--max-images",), "read at most N images per set"),
            CliParam("null_check", bool, False, ("--null-check",),
                     "A/A control: split A in two random halves, ignore B")),
    read=_read_sets,
    to_args=lambda req, folder: [_write_set(req["a"], folder / "a"), _write_set(req["b"], folder / "b")])

GOAL = InputReader(
    params=(CliParam("goal", Optional[str], None, ("--goal",), "research goal, free text"),),
    read=lambda v: {"goal": v["goal"]},
    to_args=lambda req, folder: ["--goal", req["goal"]] if isinstance(req.get("goal"), str) else [])


def _write_report(result: Any, path: Path) -> None:
    from hypodisc.files import write_atomic
    from hypodisc.workflows.image_diff_report import html_report

    write_atomic(path, html_report(result))


REPORT = CliOutput(CliParam("report", Optional[Path], None, ("--report",),
                            "also write an HTML report with thumbnails of supporting and counter images"),
                   _write_report)


def _title(v: Mapping[str, Any], request: Mapping[str, Any]) -> str:
    if v["null_check"]:
        return f"A/A control on {v['a'].name}"
    return f"{v['a'].name} (A) vs {v['b'].name} (B)"


# -- the upload form: image files and zips, several per set
def _upload_set(files: list[tuple[str, bytes]], name: str, captions: Mapping[str, str]) -> list[dict]:
    from hypodisc.datasets.images import ImageItem, items_from_upload, to_wire

    items: list[ImageItem] = []
    for filename, raw in files:
        items += items_from_upload(filename, raw, name)
    return to_wire([ImageItem(i.name, i.data, captions.get(i.name, i.caption)) for i in items])


def _build_upload(files: Mapping[str, list[tuple[str, bytes]]], forms: Mapping[str, str | None]) -> dict:
    captions = json_form(forms.get("captions"), "captions") or {}
    if not isinstance(captions, dict) or not all(isinstance(c, str) for c in captions.values()):
        raise InputRejected("form field captions must be a JSON object mapping file names to captions",
                            code="invalid_request", status=422)
    return {"a": _upload_set(files["a"], "A", captions), "b": _upload_set(files["b"], "B", captions),
            "goal": forms.get("goal"), "hypotheses": json_form(forms.get("hypotheses"), "hypotheses"),
            "config": json_form(forms.get("config"), "config") or {}}


def _upload_parts(req: Mapping[str, Any]) -> tuple[dict, dict]:
    def files(rows: list[dict]) -> list[tuple[str, bytes]]:
        return [(r["name"], base64.b64decode(r["data"].split(",", 1)[-1])) for r in rows]

    captions = {r["name"]: r["caption"] for r in [*req["a"], *req["b"]] if r.get("caption")}
    forms = {"config": json.dumps(req.get("config") or {}), "captions": json.dumps(captions)}
    if isinstance(req.get("goal"), str):
        forms["goal"] = req["goal"]
    if req.get("hypotheses") is not None:
        forms["hypotheses"] = json.dumps(req["hypotheses"])
    return {"a": files(req["a"]), "b": files(req["b"])}, forms


UPLOAD = UploadSpec(
    files={"a": "image set A: image files and/or .zip files of images", "b": "image set B: the same"},
    forms={"captions": "JSON object: file name -> caption (for the given captioner)", "goal": "research goal",
           "hypotheses": "JSON list of hypotheses to rank instead of proposing", "config": "ImageDiffConfig as JSON"},
    build=_build_upload, to_parts=_upload_parts, summary="Submit an image-diff job with the images as uploaded files or zips")


# -- the check battery's example: tiny generated PNGs with given captions (no image model in the fast lane)
def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid solid-colour PNG written with zlib alone, so the example needs no imaging library."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _image(name: str, rgb: tuple[int, int, int], caption: str) -> dict:
    return {"name": name, "data": base64.b64encode(_png(16, 12, rgb)).decode(), "caption": caption}


def _valid() -> dict:
    reds = [_image(f"red{i}.png", (200 + i, 20, 20), f"A red square, number {i}.") for i in range(10)]
    blues = [_image(f"blue{i}.png", (20, 20, 200 + i), f"A blue square, number {i}.") for i in range(10)]
    return {"a": reds, "b": blues, "goal": "how do the two sets differ?",
            "config": {"captioner": "given", "top_k": 2, "rounds": 1, "ranker_keep": 3, "seed": 1}}


def _invalid() -> dict:
    good = _valid()
    return {"a": good["a"], "b": good["b"][:5] + [{"name": "broken.png", "data": base64.b64encode(b"not a png").decode(), "caption": "?"}],
            "config": {"captioner": "given"}}


def scripted_reply(prompt: str, k: int) -> str:
    """What the check battery's scripted LLM proposes: a few visual hypotheses."""
    return ["- shows red objects\n- shows a square", "- shows blue objects", "- shows a dark background"][k % 3]


IMAGE_DIFF_SURFACES = Surfaces(
    cli=CliSpec(
        inputs=(SETS, GOAL, HYPOTHESES),
        printer="hypodisc.workflows.image_diff_report:print_image_diff",
        title=_title,
        help="Discover what is more often true of image set A than of set B (VisDiff-style), with held-out statistics.",
        flags={"top_k": ("--top", "--top-k")},
        outputs=(REPORT,)),
    page=PageSpec(script="image-diff.js", section="image-diff.html"),
    examples=Examples(valid=_valid, invalid=_invalid, invalid_code="bad_image",
                      volatile=frozenset({"cost", "warnings"}), reply=scripted_reply),
    upload=UPLOAD)
