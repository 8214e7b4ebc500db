"""VisDiff's ranker: how well a hypothesis describes each image, as CLIP image-text cosine similarity.

Weights come from a local checkpoint only, never a hub:

* a Hugging Face directory holding a CLIP or SigLIP model (``config.json`` with ``model_type`` ``clip``,
  ``siglip`` or ``siglip2``, plus its processor files), read with transformers ``AutoModel`` and
  ``AutoProcessor`` with ``local_files_only``;
* ``open_clip:ARCH:PATH``: an open_clip architecture name and a local checkpoint file, read with
  ``open_clip.create_model_and_transforms(ARCH, pretrained=PATH)``;
* ``local-dir:PATH``: an open_clip model directory (``open_clip_config.json`` and its weights), as open_clip
  spells it.

open_clip needs torchvision; it is imported only for the last two forms.

Scores are cosine similarities (embeddings L2-normalised, no logit scale or bias), so CLIP and SigLIP
checkpoints rank the same way VisDiff's ranker does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hypodisc.backends.hf_load import hub_offline
from hypodisc.errors import BackendUnavailableError, HypodiscError

if TYPE_CHECKING:
    from PIL import Image

#: ``model_type`` values of HF checkpoints this ranker reads, and how their text towers want padding:
#: CLIP pools at the end-of-text token under an attention mask (any padding gives the same embedding);
#: SigLIP pools at the last position and was trained on max-length padding without a mask.
HF_MODEL_TYPES = {"clip": "longest", "siglip": "max_length", "siglip2": "max_length"}
OPEN_CLIP_PREFIX = "open_clip:"
LOCAL_DIR_PREFIX = "local-dir:"
_EMBED_FIX = "pip install 'hypodisc[embed]' (and torch==2.13.0 on CPU)"


def _no_checkpoint(path: Path, expected: str, fix: str | None = None) -> HypodiscError:
    return HypodiscError(f"no CLIP checkpoint at {path}: expected {expected}",
                         fix=fix or "pass a local CLIP/SigLIP directory (saved with save_pretrained), "
                                    "open_clip:ARCH:/path/to/weights, or local-dir:/path/to/open_clip_model")


def _pooled(out: Any, torch) -> Any:
    """The projected embedding from ``get_*_features``: a tensor (transformers 4) or an output's pooler_output (5)."""
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    if pooled is None and isinstance(out, (tuple, list)):
        pooled = out[1] if len(out) > 1 else out[0]
    return pooled


class _HFTowers:
    """The image and text towers of a transformers CLIP / SigLIP checkpoint."""

    def __init__(self, root: Path, device: str):
        if not root.exists():
            raise _no_checkpoint(root, "a directory holding config.json and the model's weights")
        if not root.is_dir():
            raise _no_checkpoint(root, "a directory (saved with save_pretrained), not a file; for an open_clip "
                                       "weights file use open_clip:ARCH:PATH")
        config_file = root / "config.json"
        if not config_file.is_file():
            raise _no_checkpoint(root, "config.json in the folder (a Hugging Face CLIP or SigLIP directory)")
        try:
            model_type = json.loads(config_file.read_text()).get("model_type")
        except (OSError, ValueError) as exc:
            raise _no_checkpoint(root, f"a readable config.json ({exc})") from None
        if model_type not in HF_MODEL_TYPES:
            raise HypodiscError(
                f"{root} holds a {model_type!r} model, not an image-text model: expected model_type "
                f"{' / '.join(HF_MODEL_TYPES)} in config.json",
                fix="pass a CLIP or SigLIP checkpoint directory")
        try:
            import torch
            from transformers import AutoModel, AutoProcessor
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise BackendUnavailableError(f"the CLIP ranker needs transformers and torch ({exc})",
                                          fix=_EMBED_FIX) from None
        hf_logging.disable_progress_bar()
        try:
            with hub_offline():
                self.processor = AutoProcessor.from_pretrained(str(root), local_files_only=True)
                self.model = AutoModel.from_pretrained(str(root), local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HypodiscError(f"transformers could not load the {model_type} checkpoint at {root}: {exc}",
                                fix="the directory needs the model's weights and its processor files "
                                    "(preprocessor_config.json and tokenizer files); save both with "
                                    "save_pretrained") from None
        self.model = self.model.to(device).eval()
        self.torch, self.device, self.model_type = torch, device, model_type
        self.padding = HF_MODEL_TYPES[model_type]
        text_config = getattr(self.model.config, "text_config", None)
        self.max_length = int(getattr(text_config, "max_position_embeddings", 0) or 64)

    def images(self, images: list) -> Any:
        batch = self.processor(images=images, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        return _pooled(self.model.get_image_features(**batch), self.torch)

    def texts(self, texts: list[str]) -> Any:
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        enc = tokenizer(texts, padding=self.padding, truncation=True, max_length=self.max_length,
                        return_tensors="pt")
        kwargs = {"input_ids": enc["input_ids"].to(self.device)}
        if self.padding == "longest" and "attention_mask" in enc:
            kwargs["attention_mask"] = enc["attention_mask"].to(self.device)
        return _pooled(self.model.get_text_features(**kwargs), self.torch)


class _OpenClipTowers:
    """An open_clip model (``open_clip:ARCH:PATH`` or ``local-dir:PATH``), its image transform and tokenizer."""

    def __init__(self, spec: str, device: str):
        if spec.startswith(LOCAL_DIR_PREFIX):
            arch, path = None, Path(spec[len(LOCAL_DIR_PREFIX):]).expanduser()
            if not path.is_dir() or not (path / "open_clip_config.json").is_file():
                raise _no_checkpoint(path, "an open_clip model directory holding open_clip_config.json and its "
                                           "weights (local-dir:PATH)")
        else:
            arch, sep, rest = spec[len(OPEN_CLIP_PREFIX):].partition(":")
            path = Path(rest).expanduser()
            if not arch or not sep or not rest:
                raise HypodiscError(f"bad open_clip checkpoint {spec!r}: expected open_clip:ARCH:PATH",
                                    fix="e.g. open_clip:ViT-B-32:/models/vit-b-32.safetensors")
            if not path.is_file():
                raise _no_checkpoint(path, f"an open_clip weights file for {arch} (open_clip:ARCH:PATH)")
        try:
            import torch
            import open_clip
        except Exception as exc:  # torchvision fails at import in several ways (ImportError, RuntimeError)
            raise BackendUnavailableError(
                f"open-clip-torch and torchvision are needed for open_clip checkpoints ({type(exc).__name__}: {exc})",
                fix="pip install open-clip-torch torchvision (a torchvision built for the installed torch), "
                    "or pass a Hugging Face CLIP/SigLIP directory, which needs transformers only") from None
        try:
            with hub_offline():
                if arch is None:
                    name = f"{LOCAL_DIR_PREFIX}{path}"
                    model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
                    tokenizer = open_clip.get_tokenizer(name)
                else:
                    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=str(path),
                                                                                 device=device)
                    tokenizer = open_clip.get_tokenizer(arch)
        except HypodiscError:
            raise
        except Exception as exc:  # open_clip raises RuntimeError/ValueError/OSError for unknown archs and bad files
            raise HypodiscError(f"open_clip could not load {spec}: {type(exc).__name__}: {exc}",
                                fix="check the architecture name (open_clip.list_models()) and that the weights "
                                    "file is that architecture's; nothing is fetched from a hub") from None
        self.model, self.preprocess, self.tokenizer = model.eval(), preprocess, tokenizer
        self.torch, self.device = torch, device

    def images(self, images: list) -> Any:
        pixels = self.torch.stack([self.preprocess(im) for im in images]).to(self.device)
        return self.model.encode_image(pixels)

    def texts(self, texts: list[str]) -> Any:
        return self.model.encode_text(self.tokenizer(texts).to(self.device))


def _rgb(image):
    """Models take 3-channel images; palette, grey and alpha images are converted (the input is left alone)."""
    return image if getattr(image, "mode", "RGB") == "RGB" else image.convert("RGB")


class ClipRanker:
    """Image–text cosine similarity from a local checkpoint (VisDiff's ranker)."""

    name = "clip"

    def __init__(self, towers: _HFTowers | _OpenClipTowers, *, checkpoint: str, device: str, batch_size: int):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._towers, self._torch = towers, towers.torch
        self.checkpoint, self.device, self.batch_size = checkpoint, device, batch_size

    @classmethod
    def load(cls, checkpoint: str, *, device: str = "cpu", batch_size: int = 32) -> "ClipRanker":
        """A ranker from a local HF CLIP/SigLIP directory, ``open_clip:ARCH:PATH`` or ``local-dir:PATH``."""
        checkpoint = str(checkpoint)
        if checkpoint.startswith((OPEN_CLIP_PREFIX, LOCAL_DIR_PREFIX)):
            towers: _HFTowers | _OpenClipTowers = _OpenClipTowers(checkpoint, device)
        elif checkpoint.startswith("hf-hub:") or checkpoint.startswith(("http://", "https://")):
            raise HypodiscError(f"{checkpoint} is a hub name; the CLIP ranker loads local checkpoints only",
                                fix="download the model once elsewhere, save it to a local directory and pass its path")
        else:
            towers = _HFTowers(Path(checkpoint).expanduser(), device)
        return cls(towers, checkpoint=checkpoint, device=device, batch_size=batch_size)

    # -- embeddings ------------------------------------------------------
    def _embed(self, items: list, tower: Callable[[list], Any], done: int, total: int,
               progress: Callable[[int, int], None] | None) -> np.ndarray:
        torch = self._torch
        chunks = []
        with torch.inference_mode():
            for lo in range(0, len(items), self.batch_size):
                vecs = tower(items[lo: lo + self.batch_size]).float()
                chunks.append(torch.nn.functional.normalize(vecs, p=2, dim=-1).cpu().numpy())
                if progress:
                    progress(done + min(lo + self.batch_size, len(items)), total)
        if not chunks:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)

    def image_embeddings(self, images: Sequence["Image.Image"]) -> np.ndarray:
        """float32 (len(images), dim), L2-normalised, in input order."""
        return self._embed([_rgb(im) for im in images], self._towers.images, 0, len(images), None)

    def text_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (len(texts), dim), L2-normalised, in input order."""
        return self._embed([str(t) for t in texts], self._towers.texts, 0, len(texts), None)

    def score(self, hypotheses: Sequence[str], images: Sequence["Image.Image"],
              progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """float64 (len(hypotheses), len(images)) cosine similarities.

        Each distinct image object (by identity) and each distinct hypothesis is embedded once per call,
        in batches of ``batch_size``; ``progress(done, total)`` counts embedded images, then hypotheses.
        """
        hypotheses, images = [str(h) for h in hypotheses], list(images)
        if not hypotheses or not images:
            return np.zeros((len(hypotheses), len(images)), dtype=np.float64)
        slot: dict[int, int] = {}
        unique_images = []
        for im in images:
            if id(im) not in slot:
                slot[id(im)] = len(unique_images)
                unique_images.append(im)
        unique_texts = list(dict.fromkeys(hypotheses))
        total = len(unique_images) + len(unique_texts)
        image_vecs = self._embed([_rgb(im) for im in unique_images], self._towers.images, 0, total, progress)
        text_vecs = self._embed(unique_texts, self._towers.texts, len(unique_images), total, progress)
        if image_vecs.shape[1] != text_vecs.shape[1]:
            raise HypodiscError(f"{self.checkpoint} embeds images in {image_vecs.shape[1]} dimensions but texts in "
                                f"{text_vecs.shape[1]}", fix="use a CLIP checkpoint with a shared embedding space")
        sims = text_vecs.astype(np.float64) @ image_vecs.astype(np.float64).T
        text_row = {t: i for i, t in enumerate(unique_texts)}
        return sims[np.ix_([text_row[h] for h in hypotheses], [slot[id(im)] for im in images])]
