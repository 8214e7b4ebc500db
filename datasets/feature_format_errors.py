"""Where a feature-input problem sits, and the checks every reader shares.

Split out of ``feature_formats`` so the JSON readers (:mod:`.feature_format_json`)
and the delphi reader (:mod:`.feature_format_delphi`) can both name the file, the
record and the field in a :class:`FeatureInputError`, and apply the one size limit
and UTF-8 check, without importing the dispatching module (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from hypodisc.datasets import corpus
from hypodisc.datasets.feature_records import FeatureInputError, FeatureRecord
from hypodisc.errors import pydantic_problem


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
    problem = pydantic_problem(exc, rename)
    return _join(base, *problem.loc), problem.msg


def _record(where: _Where, fields: dict[str, Any]) -> FeatureRecord:
    try:
        return FeatureRecord.model_validate(fields)
    except ValidationError as exc:
        path, msg = _pydantic_problem(exc, "")
        raise where.error(path or None, msg) from None
