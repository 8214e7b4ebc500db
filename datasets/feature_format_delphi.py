"""The delphi feature format: an EleutherAI delphi latent cache, and the tokenizer it needs.

A delphi cache is a folder of ``{start}_{end}.safetensors`` splits holding token
ids, so turning it into :class:`FeatureRecord`\\ s needs the model's tokenizer.
Split out of ``feature_formats`` because it alone reads safetensors, cuts
examples with numpy and loads tokenizers; :class:`DelphiOptions` and the
tokenizer types are re-exported from there.
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hypodisc.datasets.feature_format_errors import _check_size, _decode, _kind, _record, _Where
from hypodisc.backends.hf_load import load_hf_tokenizer
from hypodisc.datasets.feature_records import ActivationExample, FeatureInputError, FeatureRecord

#: Turns one window of token ids into one string per id.
TokenDecoder = Callable[[list[int]], list[str]]
#: A TokenDecoder, a Hugging Face tokenizer object, or a local tokenizer folder / .gguf file.
Tokenizer = TokenDecoder | str | os.PathLike


@dataclass(frozen=True)


class DelphiOptions:
    """How a delphi cache's latents are cut into examples (window length and negatives as delphi's defaults)."""

    #: Tokens per example window (delphi's ``example_ctx_len``).
    example_ctx_len: int = 32
    #: Most activating windows kept per latent, spread over the strength range.
    max_activating: int = 200
    #: Windows where the latent is silent, kept as negatives for the scorers.
    n_non_activating: int = 50
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("example_ctx_len", "max_activating"):
            if getattr(self, name) < 1:
                raise FeatureInputError(f"DelphiOptions.{name} must be at least 1 (got {getattr(self, name)})")
        if self.n_non_activating < 0:
            raise FeatureInputError(f"DelphiOptions.n_non_activating must be 0 or more (got {self.n_non_activating})")


# ----------------------------------------------------------------------------- delphi
#
# On disk (delphi/latents/cache.py, LatentCache.save_splits / save_config):
#   <run>/latents/<hookpoint>/<start>_<end>.safetensors   (end inclusive)
#       locations    uint16|uint32 [N, 3]: sequence index, position, latent - start
#       activations  float16 [N]: the non-zero activations (|a| > 1e-5)
#       tokens       int [n_sequences, cache_ctx_len]: the same token ids in every split
#   <run>/latents/<hookpoint>/config.json: CacheConfig + model_name


_SPLIT_NAME = re.compile(r"^(\d+)_(\d+)\.safetensors$")


@dataclass(frozen=True)


class _Split:
    path: Path
    start: int
    end: int


@dataclass(frozen=True)


class _Hookpoint:
    name: str
    folder: Path
    splits: tuple[_Split, ...]


def _load_delphi(path: Path, tokenizer: Tokenizer | None, opts: DelphiOptions,
                 max_features: int | None) -> list[FeatureRecord]:
    hookpoints = _find_hookpoints(path)
    token_files = {hp.name: _tokens_file(hp) for hp in hookpoints}
    if tokenizer is None:
        needed = f" ({name})" if (name := _model_name(hookpoints[0])) else ""
        raise FeatureInputError(f"{path}: a delphi cache stores token ids, and turning them into text "
                                f"needs the model's tokenizer{needed}",
                                fix="pass tokenizer= a local tokenizer folder, a .gguf file, "
                                    "or a function list[int] -> list[str]")
    decode = _decoder(tokenizer)
    records: list[FeatureRecord] = []
    for hp in hookpoints:
        tokens = _read_tokens(token_files[hp.name])
        for split in hp.splits:
            for latent, seq, pos, acts in _latents_in(hp, split, tokens.shape):
                where = _Where(str(split.path), feature_id=f"{hp.name}/{latent}")
                records.append(_latent_record(where, seq, pos, acts, tokens, decode, opts))
                if max_features and len(records) >= max_features:
                    return records
    if not records:
        raise FeatureInputError(f"{path}: the delphi cache holds no activations", fix="re-run delphi's caching")
    return records


def _find_hookpoints(path: Path) -> list[_Hookpoint]:
    """A run folder, its latents/ folder, one hookpoint folder, or one split file."""
    if path.is_file():
        split = _split(path)
        if split is None:
            raise FeatureInputError(f"{path}: not a delphi split (expected <start>_<end>.safetensors)",
                                    fix="pass the delphi cache folder")
        return [_Hookpoint(path.parent.name, path.parent, (split,))]
    own = _splits_in(path)
    if own:
        return [_Hookpoint(path.name, path, own)]
    base = path / "latents" if (path / "latents").is_dir() else path
    found = [_Hookpoint(d.name, d, s) for d in sorted(base.iterdir()) if d.is_dir() and (s := _splits_in(d))]
    if not found:
        raise FeatureInputError(f"{path}: no delphi cache here (no <start>_<end>.safetensors files in it, "
                                f"its latents/ folder or their hookpoint folders)",
                                fix="pass delphi's results/<run>/latents folder, or a file for the other formats")
    return found


def _split(path: Path) -> _Split | None:
    m = _SPLIT_NAME.match(path.name)
    if not m or int(m[1]) > int(m[2]):
        return None
    return _Split(path, int(m[1]), int(m[2]))


def _splits_in(folder: Path) -> tuple[_Split, ...]:
    files = sorted(folder.glob("*.safetensors"))
    splits = []
    for f in files:
        split = _split(f)
        if split is None:
            raise FeatureInputError(f"{f}: not named <start>_<end>.safetensors, so its latent numbers are unknown",
                                    fix="keep delphi's split file names")
        splits.append(split)
    return tuple(sorted(splits, key=lambda s: s.start))


def _model_name(hp: _Hookpoint) -> str | None:
    """The model named in the hookpoint's config.json, to say which tokenizer is needed."""
    config = hp.folder / "config.json"
    if not config.is_file():
        return None
    _check_size(config.stat().st_size, str(config))
    try:
        data = json.loads(_decode(config.read_bytes(), str(config)))
    except json.JSONDecodeError as exc:
        raise FeatureInputError(f"{config}: malformed JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})",
                                fix="fix or remove the cache's config.json") from None
    name = data.get("model_name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


@contextmanager


def _open_split(path: Path) -> Iterator[Any]:
    from safetensors import SafetensorError, safe_open

    _check_size(path.stat().st_size, str(path))
    try:
        with safe_open(str(path), framework="numpy") as f:
            yield f
    except SafetensorError as exc:
        raise FeatureInputError(f"{path}: not a readable safetensors file ({exc})") from None


def _tokens_file(hp: _Hookpoint) -> Path:
    """The first split holding the token ids; the others must hold the same shape."""
    shapes = {}
    for split in hp.splits:
        with _open_split(split.path) as f:
            if "tokens" in f.keys():
                shapes[split.path] = tuple(f.get_slice("tokens").get_shape())
    if not shapes:
        raise FeatureInputError(f"{hp.folder}: no split holds the 'tokens' array (the cache was saved without "
                                f"tokens), so the examples' text cannot be rebuilt",
                                fix="re-run delphi's caching with tokens saved (save_tokens=True)")
    first, shape = next(iter(shapes.items()))
    for p, other in shapes.items():
        if other != shape:
            raise FeatureInputError(f"{p}: field tokens has shape {list(other)}, but {first.name} has {list(shape)}",
                                    fix="the splits of one hookpoint must come from one caching run")
    return first


def _read_tokens(path: Path) -> np.ndarray:
    with _open_split(path) as f:
        tokens = f.get_tensor("tokens")
    if tokens.ndim != 2 or tokens.size == 0 or tokens.dtype.kind not in "iu":
        raise FeatureInputError(f"{path}: field tokens must be a non-empty 2-D array of token ids "
                                f"(got {tokens.dtype} {list(tokens.shape)})")
    return tokens.astype(np.int64)


def _latents_in(hp: _Hookpoint, split: _Split,
                token_shape: tuple[int, ...]) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(latent, sequence indices, positions, activations) per latent in a split, latents ascending."""
    locations, acts = _read_split(hp, split, token_shape)
    rel = locations[:, 2]
    order = np.argsort(rel, kind="stable")
    latents, starts = np.unique(rel[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for latent, lo, hi in zip(latents, starts, ends):
        idx = order[lo:hi]
        yield split.start + int(latent), locations[idx, 0], locations[idx, 1], acts[idx]


def _read_split(hp: _Hookpoint, split: _Split, token_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A split's locations (latent offsets kept) and activations, checked against the tokens' shape."""
    path = split.path
    with _open_split(path) as f:
        missing = [k for k in ("locations", "activations") if k not in f.keys()]
        if missing:
            raise FeatureInputError(f"{path}: no {' or '.join(repr(k) for k in missing)} array "
                                    f"(arrays: {', '.join(f.keys()) or 'none'})")
        locations, acts = f.get_tensor("locations"), f.get_tensor("activations")
    if locations.ndim != 2 or locations.shape[1] != 3 or locations.dtype.kind not in "iu":
        raise FeatureInputError(f"{path}: field locations must be integers of shape [N, 3] "
                                f"(got {locations.dtype} {list(locations.shape)})")
    if acts.shape != (locations.shape[0],) or acts.dtype.kind not in "fiu":
        raise FeatureInputError(f"{path}: field activations must be N={locations.shape[0]} numbers, one per location "
                                f"(got {acts.dtype} {list(acts.shape)})")
    locations, acts = locations.astype(np.int64), acts.astype(np.float64)

    def at(i: int) -> str:
        return f"{path}: entry {i} (feature_id {f'{hp.name}/{split.start + int(locations[i, 2])}'!r})"

    limits = (token_shape[0], token_shape[1], split.end - split.start + 1)
    for col, (name, limit) in enumerate(zip(("sequence index", "position", "latent offset"), limits)):
        bad = np.flatnonzero((locations[:, col] < 0) | (locations[:, col] >= limit))
        if bad.size:
            i = int(bad[0])
            raise FeatureInputError(f"{at(i)}: locations: {name} {int(locations[i, col])} is outside 0..{limit - 1}",
                                    fix="the split's locations do not match its tokens; re-run delphi's caching")
    bad = np.flatnonzero(~np.isfinite(acts))
    if bad.size:
        i = int(bad[0])
        raise FeatureInputError(f"{at(i)}: activations: {acts[i]} is not a finite number",
                                fix="re-run delphi's caching")
    return locations, acts


def _latent_record(where: _Where, seq: np.ndarray, pos: np.ndarray, acts: np.ndarray, tokens: np.ndarray,
                   decode: TokenDecoder, opts: DelphiOptions) -> FeatureRecord:
    """Activating windows (strongest first) plus random silent windows as negatives.

    Windows are aligned, non-overlapping ``example_ctx_len`` slices of each sequence,
    as delphi's own constructor cuts them, so no two examples share tokens (which
    would leak between the explainer's and the scorers' pools).
    """
    n_seq, seq_len = tokens.shape
    ctx = opts.example_ctx_len
    per_seq = -(-seq_len // ctx)  # a short last window is kept
    window = seq * per_seq + pos // ctx
    order = np.argsort(window, kind="stable")
    keys, starts = np.unique(window[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    peaks = np.maximum.reduceat(acts[order], starts)

    def example(key: int, members: np.ndarray | None) -> ActivationExample:
        s, lo = divmod(key, per_seq)
        lo *= ctx
        hi = min(seq_len, lo + ctx)
        values = np.zeros(hi - lo)
        if members is not None:
            values[pos[members] - lo] = acts[members]
        return _window_example(tokens[s, lo:hi], values, decode, where)

    examples = [example(int(keys[k]), order[starts[k]:ends[k]])
                for k in _spread(np.argsort(-peaks, kind="stable"), opts.max_activating)]
    rng = np.random.default_rng([opts.seed, zlib.crc32(str(where.feature_id).encode())])
    examples += [example(int(key), None)
                 for key in _silent_windows(seq, keys, n_seq, per_seq, opts.n_non_activating, rng)]
    return _record(where, {"feature_id": where.feature_id, "examples": examples, "threshold": 0.0,
                           "source": "delphi"})


def _spread(ranked: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` of the ranked windows, evenly over the strength range (keeps the strongest)."""
    if len(ranked) <= cap:
        return ranked
    return ranked[np.unique(np.linspace(0, len(ranked) - 1, cap).round().astype(int))]


def _silent_windows(seq: np.ndarray, active: np.ndarray, n_seq: int, per_seq: int, n: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Windows from sequences where the latent never fires; if too few, silent windows of the others."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    silent_seqs = np.setdiff1d(np.arange(n_seq), seq)
    pool = (silent_seqs[:, None] * per_seq + np.arange(per_seq)).ravel()
    if len(pool) < n:
        rest = np.setdiff1d(np.arange(n_seq * per_seq), np.concatenate([pool, active]))
        extra = rng.choice(rest, size=min(n - len(pool), len(rest)), replace=False)
        return np.concatenate([pool, np.sort(extra)])
    return np.sort(rng.choice(pool, size=n, replace=False))


def _window_example(ids: np.ndarray, values: np.ndarray, decode: TokenDecoder, where: _Where) -> ActivationExample:
    id_list = [int(i) for i in ids]
    texts = decode(id_list)
    if not isinstance(texts, list) or len(texts) != len(id_list) or not all(isinstance(t, str) for t in texts):
        got = f"{len(texts)} items" if isinstance(texts, list) else _kind(texts)
        raise where.error("tokens", f"the tokenizer returned {got} for {len(id_list)} token ids",
                          fix="the tokenizer must map list[int] to one string per id")
    return ActivationExample(tokens=texts, activations=[float(v) for v in values])


# ----------------------------------------------------------------------------- tokenizers


def _decoder(tokenizer: Tokenizer) -> TokenDecoder:
    """A list[int] -> list[str] function from a callable, a tokenizer object, or a local path."""
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = _load_tokenizer(str(Path(tokenizer).expanduser().resolve()))
    if hasattr(tokenizer, "decode") and hasattr(tokenizer, "convert_ids_to_tokens"):
        return _hf_decoder(tokenizer)
    if callable(tokenizer):
        return _guarded(tokenizer)
    raise FeatureInputError(f"tokenizer: expected a path or a function list[int] -> list[str], "
                            f"got {type(tokenizer).__name__}")


def _guarded(fn: Callable[[list[int]], list[str]]) -> TokenDecoder:
    def decode(ids: list[int]) -> list[str]:
        try:
            return list(fn(ids))
        except Exception as exc:  # a user's function: say where it failed, not a bare traceback
            raise FeatureInputError(f"tokenizer failed on token ids {ids[:8]}...: {type(exc).__name__}: {exc}") from exc
    return decode


def _hf_decoder(tok: Any) -> TokenDecoder:
    """Each id decoded on its own, as delphi does, memoised (a cache repeats ids a lot)."""
    memo: dict[int, str] = {}

    def decode(ids: list[int]) -> list[str]:
        out = []
        for i in ids:
            text = memo.get(i)
            if text is None:
                text = memo[i] = tok.decode([i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
            out.append(text)
        return out
    return decode


@lru_cache(maxsize=4)


def _load_tokenizer(path: str) -> Any:
    """A Hugging Face tokenizer from a local folder or .gguf file (cached: loading a GGUF takes seconds)."""
    p = Path(path)
    if not p.exists():
        raise FeatureInputError(f"tokenizer {p}: no such file or folder",
                                fix="pass a local tokenizer folder or .gguf file (nothing is downloaded)")
    if p.is_file() and p.suffix.lower() != ".gguf":
        raise FeatureInputError(f"tokenizer {p}: expected a tokenizer folder or a .gguf file")
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise FeatureInputError("loading a tokenizer from a path needs transformers",
                                fix="pip install transformers, or pass a function list[int] -> list[str]") from None
    try:
        return load_hf_tokenizer(p)
    except Exception as exc:
        raise FeatureInputError(f"tokenizer {p}: cannot load it ({type(exc).__name__}: {exc})",
                                fix="pass a folder with tokenizer.json, or a .gguf file") from None
