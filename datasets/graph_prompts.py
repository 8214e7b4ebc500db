"""Prompt files for graph tracing: JSONL rows of ``{prompt, target?, contrast?}``, or of the subject-verb
agreement set's ``{clean_prefix, clean_answer, patch_answer}`` (the correct verb form is the target, the
other form the contrast), or a text file of one prompt per line."""

from __future__ import annotations

import json
from pathlib import Path

from hypodisc.errors import InputRejected


def _row(obj: object, where: str) -> dict:
    if isinstance(obj, str):
        return {"prompt": obj}
    if not isinstance(obj, dict):
        raise InputRejected(f"{where}: a JSON object or string, not {type(obj).__name__}", code="invalid_request")
    if "prompt" in obj:
        row = {"prompt": obj["prompt"], "target": obj.get("target"), "contrast": obj.get("contrast")}
    elif "clean_prefix" in obj:
        row = {"prompt": obj["clean_prefix"], "target": obj.get("clean_answer"), "contrast": obj.get("patch_answer")}
    else:
        raise InputRejected(f"{where}: needs a 'prompt' (or 'clean_prefix') field; has {sorted(obj)[:6]}",
                            code="invalid_request")
    if not isinstance(row["prompt"], str) or not row["prompt"].strip():
        raise InputRejected(f"{where}: the prompt must be a non-empty string", code="invalid_request")
    return {k: v for k, v in row.items() if v is not None}


def read_prompts(path: str | Path, limit: int | None = None) -> list[dict]:
    """The prompt rows of a file (see the module docstring); a bad line is named with its number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputRejected(f"cannot read prompts file {path}: {exc.strerror}", code="invalid_request") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if path.suffix in (".jsonl", ".json"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputRejected(f"{path.name} line {n}: not valid JSON ({exc.msg})", code="malformed_json") from None
        else:
            obj = line
        rows.append(_row(obj, f"{path.name} line {n}"))
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise InputRejected(f"{path} holds no prompts", code="too_few_graphs")
    return rows


def write_prompts(rows: list[dict], path: str | Path) -> None:
    Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


__all__ = ["read_prompts", "write_prompts"]
