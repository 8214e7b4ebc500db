"""Read a corpus file into a list of texts, with errors that name the problem.

Formats: ``.jsonl`` (one object per line, field ``text`` or ``field``), ``.txt``
(one text per line), ``.csv`` (column ``text`` or ``field``), ``.json`` (a list of
strings, or of objects with the field).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from hypodisc.errors import HypodiscError

#: Refuse files larger than this before reading them into memory.
MAX_FILE_BYTES = 512 << 20


class CorpusError(HypodiscError):
    """A corpus file that cannot be read as a list of texts."""


def _decode(path: str | Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})",
                          fix="re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`") from None


def _field(obj: object, field: str, where: str) -> str:
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected an object or a string, got {type(obj).__name__}")
    if field not in obj:
        raise CorpusError(f"{where}: no field {field!r} (fields: {', '.join(map(str, obj)) or 'none'})",
                          fix="pass --field NAME")
    value = obj[field]
    if not isinstance(value, str):
        raise CorpusError(f"{where}: field {field!r} is {type(value).__name__}, not text")
    return value


def load_texts(path: str | Path, field: str | None = None) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"{path}: {size / 2**20:.0f} MiB is over the {MAX_FILE_BYTES >> 20} MiB limit",
                          fix="split or subsample the corpus")
    return parse_texts(path.read_bytes(), path, field)


def jsonl_objects(text: str, bad_line: Callable[[int, json.JSONDecodeError], Exception]
                  ) -> Iterator[tuple[int, object]]:
    """(line number, value) of every non-blank line of a JSONL text; a malformed line raises
    ``bad_line(line number, error)``, so each caller words the error for its own input."""
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad_line(n, exc) from None
        yield n, obj


def parse_texts(raw: bytes, name: str | Path, field: str | None = None) -> list[str]:
    """Texts from a corpus file's bytes; ``name``'s suffix picks the format (uploads use this too)."""
    path = name
    field = field or "text"
    text = _decode(path, raw)
    suffix = Path(str(name)).suffix.lower()
    if suffix == ".jsonl":
        bad_line = lambda n, exc: CorpusError(f"{path}:{n}: malformed JSON ({exc.msg})")  # noqa: E731
        texts = [_field(obj, field, f"{path}:{n}") for n, obj in jsonl_objects(text, bad_line)]
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}: malformed JSON at line {exc.lineno} ({exc.msg})") from None
        if not isinstance(data, list):
            raise CorpusError(f"{path}: expected a JSON list of texts, got {type(data).__name__}")
        texts = [_field(obj, field, f"{path}[{i}]") for i, obj in enumerate(data)]
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or field not in reader.fieldnames:
            raise CorpusError(f"{path}: no column {field!r} (columns: {', '.join(reader.fieldnames or []) or 'none'})",
                              fix="pass --field NAME")
        texts = [row[field] or "" for row in reader]
    elif suffix in (".txt", ""):
        texts = text.splitlines()
    else:
        raise CorpusError(f"{path}: unknown corpus format {suffix!r}", fix="use .jsonl, .json, .csv or .txt")
    texts = [t.strip() for t in texts if t and t.strip()]
    if not texts:
        raise CorpusError(f"{path}: the corpus is empty")
    return texts
