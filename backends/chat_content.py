"""Chat content as each backend needs it: plain text for text-only models, OpenAI parts for multimodal ones.

A message's content is a string or a list of parts (:class:`~hypodisc.backends.base.TextPart`,
:class:`~hypodisc.backends.base.ImagePart`). Every backend goes through here, so one that cannot see
images refuses them with one error naming it, instead of rendering the parts as text or dropping the
image; and one that can gets the image as a ``data:`` URL, whichever way the caller gave it.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from hypodisc.backends.base import ImagePart, Message, Prompt
from hypodisc.errors import UnsupportedInputError

#: leading bytes -> media type, for image bytes given without one
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
          (b"GIF89a", "image/gif"), (b"BM", "image/bmp"))
_IMAGE_SOURCES = ("data", "path", "url")


def _parts(message: Message) -> list[dict]:
    content = message["content"]
    return [] if isinstance(content, str) else list(content)


def has_images(prompt: Prompt) -> bool:
    """Whether any turn of a chat carries an image part (a raw-text prompt never does)."""
    return not isinstance(prompt, str) and any(p.get("type") == "image" for m in prompt for p in _parts(m))


def text_only(prompt: Prompt, backend: str) -> Prompt:
    """The prompt with every turn's content as one string (text parts joined by newlines, as vLLM joins
    them for text-only templates); a prompt whose contents are all strings comes back as it was.

    Raises UnsupportedInputError naming ``backend`` if any turn has an image.
    """
    if isinstance(prompt, str) or all(isinstance(m["content"], str) for m in prompt):
        return prompt
    if has_images(prompt):
        raise UnsupportedInputError(
            f"the {backend} backend reads text only and this chat has an image: images need a multimodal backend",
            fix="use the openai backend against a server with a vision model, or the vllm backend with a "
                "multimodal model")
    out = []
    for m in prompt:
        if isinstance(m["content"], str):
            out.append(m)
            continue
        unknown = [p.get("type") for p in m["content"] if p.get("type") != "text"]
        if unknown:
            raise ValueError(f"unknown content part type {unknown[0]!r}; parts are 'text' or 'image'")
        out.append({**m, "content": "\n".join(p["text"] for p in m["content"])})
    return out


def _media_type(raw: bytes, hint: str | None) -> str:
    if hint:
        return hint
    sniffed = next((kind for magic, kind in _MAGIC if raw.startswith(magic)), None)
    if sniffed is None and raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        sniffed = "image/webp"
    if sniffed is None:
        raise ValueError("image bytes of an unknown format; give the part a media_type such as 'image/png'")
    return sniffed


def image_data_url(part: ImagePart) -> str:
    """The image as a ``data:<media type>;base64,...`` URL, from its bytes, its file or its URL."""
    given = [k for k in _IMAGE_SOURCES if part.get(k) is not None]
    if len(given) != 1:
        raise ValueError(f"an image part needs exactly one of data, path or url (got {given or 'none'})")
    if given == ["url"]:
        url = str(part["url"])
        if not url.startswith("data:"):
            raise ValueError("an image url must be a data: URL (remote images are not fetched); "
                             "pass the file as path or its bytes as data")
        return url
    if given == ["path"]:
        path = Path(part["path"])
        raw = path.read_bytes()
        hint = part.get("media_type") or mimetypes.guess_type(path.name)[0]
    else:
        raw, hint = bytes(part["data"]), part.get("media_type")
    return f"data:{_media_type(raw, hint)};base64,{base64.b64encode(raw).decode('ascii')}"


def openai_messages(chat: Prompt) -> list[dict[str, Any]]:
    """A chat in the OpenAI chat-completions form: string contents as they are, parts as
    ``{"type": "text", ...}`` and ``{"type": "image_url", "image_url": {"url": "data:..."}}``."""
    out = []
    for m in chat:
        if isinstance(m["content"], str):
            out.append(dict(m))
            continue
        parts = []
        for p in m["content"]:
            if p.get("type") == "text":
                parts.append({"type": "text", "text": p["text"]})
            elif p.get("type") == "image":
                parts.append({"type": "image_url", "image_url": {"url": image_data_url(p)}})
            else:
                raise ValueError(f"unknown content part type {p.get('type')!r}; parts are 'text' or 'image'")
        out.append({**m, "content": parts})
    return out
