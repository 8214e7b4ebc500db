"""Read every feature-activation input format into :class:`FeatureRecord`\\ s.

Formats (``fmt``):

* ``simple``, ``neuronpedia``, ``openai`` - JSON / JSON Lines, read in
  :mod:`hypodisc.datasets.feature_format_json`.
* ``delphi`` - an EleutherAI delphi latent cache, read (with the model's tokenizer)
  in :mod:`hypodisc.datasets.feature_format_delphi`.

This module holds the public entry points, the size / UTF-8 checks on the way in
(shared with the readers via :mod:`hypodisc.datasets.feature_format_errors`), and
format detection and dispatch.

Loading is all-or-nothing: every record is converted and checked before the list
is returned, and every failure is a :class:`FeatureInputError` naming the file,
the record (index, feature id) and the field, so a user can fix it in one go.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from hypodisc.datasets.feature_format_delphi import DelphiOptions, TokenDecoder, Tokenizer, _load_delphi
from hypodisc.datasets.feature_format_errors import _check_size, _decode, _Where
from hypodisc.datasets.feature_format_json import _format_of, _json_items, _neuronpedia, _openai, _simple
from hypodisc.datasets.feature_records import FeatureInputError, FeatureRecord, check_unique_ids
from hypodisc.files import atomic_path

__all__ = ["FORMATS", "DelphiOptions", "Format", "TokenDecoder", "Tokenizer", "dump_features",
           "load_features", "parse_features", "records_to_jsonable"]

Format = Literal["auto", "simple", "neuronpedia", "openai", "delphi"]
FORMATS: tuple[str, ...] = ("simple", "neuronpedia", "openai", "delphi")

_FMT_FIX = "pass fmt= one of simple, neuronpedia, openai, delphi"


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
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        seen: dict[str, int] = {}
        for i, record in enumerate(records):
            fh.write(_json_line(record, i, path, seen) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


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


# ----------------------------------------------------------------------------- argument checks


def _check_args(fmt: str, max_features: int | None) -> str:
    if fmt != "auto" and fmt not in FORMATS:
        raise FeatureInputError(f"unknown feature format {fmt!r}", fix=_FMT_FIX + ", or auto")
    if max_features is not None and (not isinstance(max_features, int) or max_features < 1):
        raise FeatureInputError(f"max_features must be a positive whole number (got {max_features!r})")
    return fmt


# ----------------------------------------------------------------------------- format detection and dispatch


def _detect(first: dict, where: _Where) -> str:
    fmt = _format_of(first)
    if fmt is None:
        raise where.error(None, f"cannot tell the format from its fields ({', '.join(first) or 'none'})",
                          fix=_FMT_FIX)
    return fmt


_CONVERTERS: dict[str, Callable[[dict, _Where], FeatureRecord]] = {
    "simple": _simple, "neuronpedia": _neuronpedia, "openai": _openai}
