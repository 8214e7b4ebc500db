"""Read every feature-activation input format into :class:`FeatureRecord`\\ s.

Formats (``fmt``):

* ``simple`` - FeatureRecord's own JSON (a list, JSON Lines, or one object), plus
  the document shorthand ``{"feature_id", "documents": [{"text", "activation"}]}``.
* ``neuronpedia`` - a feature's details (``index``, ``examples_quantiles``) or the
  API export (``activations: [{tokens, values}]``).
* ``openai`` - neuron-explainer ``NeuronRecord`` JSON (``neuron_id``, ``random_sample``, ...).
* ``delphi`` - an EleutherAI delphi latent cache: a folder of ``{start}_{end}.safetensors``
  splits holding token ids, so it needs the model's tokenizer.

Loading is all-or-nothing: every record is converted and checked before the list
is returned, and every failure is a :class:`FeatureInputError` naming the file,
the record (index, feature id) and the field, so a user can fix it in one go.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from hypodisc.datasets import corpus
from hypodisc.datasets.feature_records import (
    ActivationExample,
    FeatureInputError,
    FeatureRecord,
    check_unique_ids,
)

Format = Literal["auto", "simple", "neuronpedia", "openai", "delphi"]
FORMATS: tuple[str, ...] = ("simple", "neuronpedia", "openai", "delphi")
#: Turns one window of token ids into one string per id.
TokenDecoder = Callable[[list[int]], list[str]]
#: A TokenDecoder, a Hugging Face tokenizer object, or a local tokenizer folder / .gguf file.
Tokenizer = TokenDecoder | str | os.PathLike

_JSON_FIX = "fix the JSON (a list of feature objects, or one object per line for .jsonl)"
_FMT_FIX = "pass fmt= one of simple, neuronpedia, openai, delphi"


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


# ----------------------------------------------------------------------------- public API


def load_features(path: str | Path, fmt: Format = "auto", *, tokenizer: Tokenizer | None = None,
                  max_features: int | None = None,
                  delphi_options: DelphiOptions | None = None) -> list[FeatureRecord]:
    """Every feature in a file (or delphi cache folder), or a FeatureInputError.

    ``max_features`` keeps the first N features; a delphi cache converts only those.
    ``tokenizer`` is only used for delphi caches (the other formats carry token text).
    """
    path = Path(path)
    fmt = _check_args(fmt, max_features)
    if not path.exists():
        raise FeatureInputError(f"{path}: no such file or folder")
    if fmt == "delphi" or (fmt == "auto" and (path.is_dir() or path.suffix.lower() == ".safetensors")):
        return _load_delphi(path, tokenizer, delphi_options or DelphiOptions(), max_features)
    if path.is_dir():
        raise FeatureInputError(f"{path}: is a folder, and only a delphi cache is read from a folder",
                                fix="pass the feature file, or fmt='delphi' for a delphi latent cache")
    _check_size(path.stat().st_size, str(path))
    return parse_features(path.read_bytes(), str(path), fmt, max_features=max_features)


def parse_features(raw: bytes, name: str, fmt: Format = "auto", *,
                   max_features: int | None = None) -> list[FeatureRecord]:
    """Features from a JSON / JSON Lines file's bytes (uploads use this); ``name`` is for messages and the suffix."""
    fmt = _check_args(fmt, max_features)
    if fmt == "delphi" or Path(name).suffix.lower() == ".safetensors":
        raise FeatureInputError(f"{name}: a delphi cache is a folder of .safetensors splits, not one upload",
                                fix="load it from disk with load_features(folder)")
    _check_size(len(raw), name)
    items = _json_items(_decode(raw, name), name)
    chosen = fmt if fmt != "auto" else _detect(items[0][1], items[0][0])
    convert = _CONVERTERS[chosen]
    records = [convert(obj, where) for where, obj in items]
    check_unique_ids(records, name)
    return records[:max_features] if max_features else records


def records_to_jsonable(records: Sequence[FeatureRecord]) -> list[dict[str, Any]]:
    """The simple format's objects: exactly FeatureRecord's JSON."""
    out = []
    for i, r in enumerate(records):
        if not isinstance(r, FeatureRecord):
            raise FeatureInputError(f"record {i}: expected a FeatureRecord, got {type(r).__name__}")
        out.append(r.model_dump(mode="json"))
    return out


def dump_features(records: Sequence[FeatureRecord], path: str | Path) -> None:
    """Write records as simple-format JSON Lines, atomically.

    Written to a temporary file beside ``path`` and renamed over it, so a failure
    part-way (a record that cannot be serialised, a full disk) leaves any old file whole.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            seen: dict[str, int] = {}
            for i, record in enumerate(records):
                fh.write(_json_line(record, i, path, seen) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_line(record: FeatureRecord, i: int, path: Path, seen: dict[str, int]) -> str:
    """One record's JSON; refuses what could not be loaded back (non-records, repeated ids, NaN)."""
    if not isinstance(record, FeatureRecord):
        raise FeatureInputError(f"{path}: record {i}: expected a FeatureRecord, got {type(record).__name__}")
    where = f"{path}: record {i} (feature_id {record.feature_id!r})"
    if record.feature_id in seen:
        raise FeatureInputError(f"{where}: the same feature_id as record {seen[record.feature_id]}",
                                fix="give every feature a distinct id")
    seen[record.feature_id] = i
    try:
        return json.dumps(record.model_dump(mode="json"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise FeatureInputError(f"{where}: cannot be written ({exc})",
                                fix="activations and thresholds must be finite numbers") from None


# ----------------------------------------------------------------------------- shared checks


def _check_args(fmt: str, max_features: int | None) -> str:
    if fmt != "auto" and fmt not in FORMATS:
        raise FeatureInputError(f"unknown feature format {fmt!r}", fix=_FMT_FIX + ", or auto")
    if max_features is not None and (not isinstance(max_features, int) or max_features < 1):
        raise FeatureInputError(f"max_features must be a positive whole number (got {max_features!r})")
    return fmt


def _check_size(size: int, name: str) -> None:
    # read at call time, so the one limit in corpus.py governs both
    limit = corpus.MAX_FILE_BYTES
    if size > limit:
        raise FeatureInputError(f"{name}: {size / 2**20:.1f} MiB is over the {limit / 2**20:.1f} MiB limit",
                                fix="split the file, or load fewer features")


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeatureInputError(f"{name}: not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})",
                                fix="re-encode the file as UTF-8") from None


def _kind(value: object) -> str:
    """A JSON name for a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "a list", str: "text"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class _Where:
    """Where a record sits, so every error names the file, the record and the field."""

    file: str
    index: int | None = None
    line: int | None = None
    feature_id: str | None = None

    def __str__(self) -> str:
        extra = [f"line {self.line}"] if self.line else []
        if self.feature_id is not None:
            extra.append(f"feature_id {self.feature_id!r}")
        head = self.file if self.index is None else f"{self.file}: record {self.index}"
        return head + (f" ({', '.join(extra)})" if extra else "")

    def error(self, field: str | None, problem: str, fix: str | None = None) -> FeatureInputError:
        return FeatureInputError(f"{self}: {field}: {problem}" if field else f"{self}: {problem}", fix=fix)


def _join(base: str, *loc: str | int) -> str:
    out = base
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_problem(exc: ValidationError, base: str, rename: dict[str, str] | None = None) -> tuple[str, str]:
    """(field path, message) for a pydantic error, in the input file's own field names."""
    errors = exc.errors()
    first = errors[0]
    loc = [rename.get(p, p) if rename and isinstance(p, str) else p for p in first["loc"]]
    msg = str(first["msg"]).removeprefix("Value error, ")
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return _join(base, *loc), msg


def _list(value: object, where: _Where, field: str) -> list:
    if not isinstance(value, list):
        raise where.error(field, f"expected a list, got {_kind(value)}")
    return value


def _example(obj: object, where: _Where, field: str, act_keys: tuple[str, ...]) -> ActivationExample:
    """One token-level example; ``act_keys`` are the names the format uses for the activations."""
    if not isinstance(obj, dict):
        raise where.error(field, f"expected an object with 'tokens' and {act_keys[0]!r}, got {_kind(obj)}")
    key = next((k for k in act_keys if k in obj), None)
    if "tokens" not in obj or key is None:
        missing = "tokens" if "tokens" not in obj else act_keys[0]
        raise where.error(field, f"no {missing!r} field (fields: {', '.join(obj) or 'none'})")
    acts = obj[key]
    for j, a in enumerate(acts if isinstance(acts, list) else ()):
        if isinstance(a, bool) or (isinstance(a, float) and not math.isfinite(a)):
            raise where.error(f"{field}.{key}[{j}]", f"{a} is not a finite number",
                              fix="every activation must be a real number (no NaN, Infinity or true/false)")
    try:
        return ActivationExample(tokens=obj["tokens"], activations=acts)
    except ValidationError as exc:
        path, msg = _pydantic_problem(exc, field, {"activations": key})
        raise where.error(path, msg) from None


def _record(where: _Where, fields: dict[str, Any]) -> FeatureRecord:
    try:
        return FeatureRecord.model_validate(fields)
    except ValidationError as exc:
        path, msg = _pydantic_problem(exc, "")
        raise where.error(path or None, msg) from None


# ----------------------------------------------------------------------------- JSON layer


def _json_items(text: str, name: str) -> list[tuple[_Where, dict]]:
    """(where, object) for every record in a JSON or JSON Lines text."""
    if not text.strip():
        raise FeatureInputError(f"{name}: the file is empty", fix="give at least one feature")
    if Path(name).suffix.lower() in (".jsonl", ".ndjson"):
        items = _jsonl_items(text, name)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                raise FeatureInputError(f"{name}: malformed JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})",
                                        fix=_JSON_FIX) from None
            items = _jsonl_items(text, name)  # several documents: JSON Lines under another suffix
        else:
            items = [(_Where(name, i), obj) for i, obj in enumerate(_top_level(data, name))]
    if not items:
        raise FeatureInputError(f"{name}: no features in the file", fix="give at least one feature")
    for where, obj in items:
        if not isinstance(obj, dict):
            raise where.error(None, f"expected a feature object, got {_kind(obj)}")
    return items


def _jsonl_items(text: str, name: str) -> list[tuple[_Where, object]]:
    items: list[tuple[_Where, object]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FeatureInputError(f"{name}: malformed JSON at line {n}, column {exc.colno} ({exc.msg})",
                                    fix=_JSON_FIX) from None
        items.append((_Where(name, len(items), n), obj))
    return items


def _top_level(data: object, name: str) -> list:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if _format_of(data) is None and isinstance(data.get("features"), list):
            return data["features"]  # {"features": [...]} wrapper
        return [data]
    raise FeatureInputError(f"{name}: expected a feature object or a list of them, got {_kind(data)}",
                            fix=_JSON_FIX)


def _format_of(obj: dict) -> str | None:
    if obj.get("dataclass_name") == "NeuronRecord" or "neuron_id" in obj or "random_sample" in obj \
            or "most_positive_activation_records" in obj:
        return "openai"
    if "examples_quantiles" in obj or ("index" in obj and "activations" in obj):
        return "neuronpedia"
    if "feature_id" in obj or "examples" in obj or "documents" in obj:
        return "simple"
    return None


def _detect(first: dict, where: _Where) -> str:
    fmt = _format_of(first)
    if fmt is None:
        raise where.error(None, f"cannot tell the format from its fields ({', '.join(first) or 'none'})",
                          fix=_FMT_FIX)
    return fmt


# ----------------------------------------------------------------------------- simple


def _simple(obj: dict, where: _Where) -> FeatureRecord:
    fid = obj.get("feature_id")
    if fid is None:
        raise where.error("feature_id", "missing", fix="give every feature a feature_id (text or a number)")
    if isinstance(fid, (str, int)) and not isinstance(fid, bool):
        where = replace(where, feature_id=str(fid))
    if "examples" in obj and "documents" in obj:
        raise where.error(None, "has both 'examples' and 'documents'", fix="give one of them")
    fields = {k: v for k, v in obj.items() if k not in ("examples", "documents")}
    if "documents" in obj:
        if obj.get("level", "document") != "document":
            raise where.error("level", f"is {obj['level']!r}, but 'documents' gives document-level examples")
        docs = _list(obj["documents"], where, "documents")
        fields["examples"] = [_document(d, where, f"documents[{i}]") for i, d in enumerate(docs)]
        fields["level"] = "document"
        field = "documents"
    elif "examples" in obj:
        exs = _list(obj["examples"], where, "examples")
        fields["examples"] = [_example(e, where, f"examples[{i}]", ("activations",)) for i, e in enumerate(exs)]
        field = "examples"
    else:
        raise where.error("examples", "missing",
                          fix="give 'examples' (tokens + activations) or 'documents' (text + activation)")
    if not fields["examples"]:
        raise where.error(field, "is empty", fix="give at least one example per feature")
    return _record(where, fields)


def _document(obj: object, where: _Where, field: str) -> ActivationExample:
    if not isinstance(obj, dict):
        raise where.error(field, f"expected an object with 'text' and 'activation', got {_kind(obj)}")
    for needed in ("text", "activation"):
        if needed not in obj:
            raise where.error(field, f"no {needed!r} field (fields: {', '.join(obj) or 'none'})")
    text, act = obj["text"], obj["activation"]
    if not isinstance(text, str):
        raise where.error(f"{field}.text", f"expected text, got {_kind(text)}")
    if isinstance(act, bool) or not isinstance(act, (int, float)) or not math.isfinite(act):
        raise where.error(f"{field}.activation", f"expected a finite number, got {act!r}")
    return ActivationExample.document(text, act)


# ----------------------------------------------------------------------------- neuronpedia


def _neuronpedia(obj: dict, where: _Where) -> FeatureRecord:
    where = replace(where, feature_id=_neuronpedia_id(obj, where))
    quantiles, activations = obj.get("examples_quantiles"), obj.get("activations")
    if quantiles is None and activations is None:
        raise where.error(None, "no examples: expected 'examples_quantiles' or 'activations'")
    examples = []
    for qi, q in enumerate(_list(quantiles or [], where, "examples_quantiles")):
        field = f"examples_quantiles[{qi}]"
        if not isinstance(q, dict) or "examples" not in q:
            raise where.error(field, "expected an object with 'quantile_name' and 'examples'")
        for ei, ex in enumerate(_list(q["examples"], where, f"{field}.examples")):
            examples.append(_example(ex, where, f"{field}.examples[{ei}]", ("tokens_acts_list", "values")))
    for ai, ex in enumerate(_list(activations or [], where, "activations")):
        examples.append(_example(ex, where, f"activations[{ai}]", ("values", "tokens_acts_list")))
    if not examples:
        raise where.error("examples_quantiles", "holds no examples", fix="export the feature with its activations")
    return _record(where, {"feature_id": where.feature_id, "examples": examples, "source": "neuronpedia",
                           "top_logits": _logits(obj, ("top_logits", "pos_str"), where),
                           "bottom_logits": _logits(obj, ("bottom_logits", "neg_str"), where)})


def _neuronpedia_id(obj: dict, where: _Where) -> str:
    if "index" not in obj:
        raise where.error("index", "missing", fix="a Neuronpedia feature needs its 'index'")
    index = obj["index"]
    if isinstance(index, float) and index.is_integer():
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, (int, str)) or index == "":
        raise where.error("index", f"expected a whole number, got {index!r}")
    model, layer = obj.get("modelId"), obj.get("layer")
    return f"{model}/{layer}/{index}" if model not in (None, "") and layer not in (None, "") else str(index)


def _logits(obj: dict, keys: tuple[str, ...], where: _Where) -> tuple[str, ...]:
    """Logit tokens as text; objects with a token field are accepted too."""
    key = next((k for k in keys if obj.get(k) is not None), None)
    if key is None:
        return ()
    out = []
    for i, item in enumerate(_list(obj[key], where, key)):
        if isinstance(item, dict):
            item = next((item[k] for k in ("token", "str", "text", "tok") if isinstance(item.get(k), str)), item)
        if not isinstance(item, str):
            raise where.error(f"{key}[{i}]", f"expected a token (text, or an object with 'token'), got {_kind(item)}")
        out.append(item)
    return tuple(out)


# ----------------------------------------------------------------------------- openai


_OPENAI_LISTS = ("most_positive_activation_records", "random_sample_by_quantile", "random_sample")


def _openai(obj: dict, where: _Where) -> FeatureRecord:
    """A neuron-explainer NeuronRecord; raw (possibly negative) activations, threshold 0."""
    where = replace(where, feature_id=_openai_id(obj, where))
    examples = []
    for key in _OPENAI_LISTS:
        value = obj.get(key)
        if value is None:
            continue
        for i, item in enumerate(_list(value, where, key)):
            if key == "random_sample_by_quantile":
                for j, rec in enumerate(_list(item, where, f"{key}[{i}]")):
                    examples.append(_example(rec, where, f"{key}[{i}][{j}]", ("activations",)))
            else:
                examples.append(_example(item, where, f"{key}[{i}]", ("activations",)))
    if not examples:
        raise where.error(None, f"no activation records: {', '.join(_OPENAI_LISTS)} are all missing or empty",
                          fix="export the NeuronRecord with its activation records")
    return _record(where, {"feature_id": where.feature_id, "examples": examples, "threshold": 0.0,
                           "source": "openai"})


def _openai_id(obj: dict, where: _Where) -> str:
    nid = obj.get("neuron_id")
    if not isinstance(nid, dict):
        problem = "missing" if nid is None else f"expected an object, got {_kind(nid)}"
        raise where.error("neuron_id", problem, fix="a NeuronRecord needs neuron_id {layer_index, neuron_index}")
    parts = []
    for key in ("layer_index", "neuron_index"):
        value = nid.get(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            problem = "missing" if value is None else f"expected a whole number, got {value!r}"
            raise where.error(f"neuron_id.{key}", problem)
        parts.append(str(value))
    return "/".join(parts)


_CONVERTERS: dict[str, Callable[[dict, _Where], FeatureRecord]] = {
    "simple": _simple, "neuronpedia": _neuronpedia, "openai": _openai}


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


@contextmanager
def _offline() -> Iterator[None]:
    """Never reach a hub while loading a tokenizer, even if the caller's environment allows it."""
    import huggingface_hub.constants as hub

    old_env, old_flag = os.environ.get("HF_HUB_OFFLINE"), hub.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], hub.HF_HUB_OFFLINE = "1", True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = old_flag
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env


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
        from transformers import AutoTokenizer, PreTrainedTokenizerFast
    except ImportError:
        raise FeatureInputError("loading a tokenizer from a path needs transformers",
                                fix="pip install transformers, or pass a function list[int] -> list[str]") from None
    try:
        with _offline():
            if p.is_file():
                # GGUF tokenizers always convert to a fast tokenizer; naming the class skips
                # AutoTokenizer's detour through the GGUF's model config (~7 s for a 100 MB file)
                return PreTrainedTokenizerFast.from_pretrained(str(p.parent), gguf_file=p.name, local_files_only=True)
            return AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except Exception as exc:
        raise FeatureInputError(f"tokenizer {p}: cannot load it ({type(exc).__name__}: {exc})",
                                fix="pass a folder with tokenizer.json, or a .gguf file") from None
