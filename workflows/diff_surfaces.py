"""The text-difference workflow's surfaces: how ``hypodisc diff`` reads its corpora, goal and
hypotheses, what it prints, which page script shows it, and its check-battery examples.

Standard library only at import (the HTTP client imports it through the declaration); the readers
import the corpus loaders when they run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from hypodisc.errors import HypodiscError, InputRejected
from hypodisc.workflows.surfaces import (CliParam, CliSpec, Examples, InputReader, PageSpec, Surfaces, UploadSpec,
                                        json_form)


def _write_corpus(texts: list[str], path: Path) -> str:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return str(path)


def _read_corpora(v: Mapping[str, Any]) -> dict:
    from hypodisc.datasets import load_texts

    a = load_texts(v["a"], v["field"])
    if not v["null_check"]:
        return {"a": a, "b": load_texts(v["b"], v["field"])}
    from hypodisc.workflows.diff import aa_halves

    half_a, half_b = aa_halves(a, v.get("seed") or 0)
    return {"a": half_a, "b": half_b}


CORPORA = InputReader(
    params=(CliParam("a", Path, help="corpus A: .jsonl, .json, .csv or .txt", metavar="A"),
            CliParam("b", Path, help="corpus B (ignored with --null-check)", metavar="B"),
            CliParam("field", Optional[str], None, ("--field",), "JSON/CSV field holding the text"),
            CliParam("null_check", bool, False, ("--null-check",),
                     "A/A control: split A in two random halves, ignore B")),
    read=_read_corpora,
    to_args=lambda req, folder: [_write_corpus(req["a"], folder / "a.jsonl"),
                                 _write_corpus(req["b"], folder / "b.jsonl")])


def _read_goal(v: Mapping[str, Any]) -> dict:
    if v["goal_json"] is None:
        return {"goal": v["goal"]}
    from hypodisc.proposers.goal import ResearchGoal

    path = v["goal_json"]
    try:
        return {"goal": ResearchGoal.model_validate_json(path.read_text())}
    except OSError as exc:
        raise HypodiscError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise HypodiscError(f"{path} is not a valid research goal: {exc}",
                            fix="use the fields dataset_description, generation, user, target, a_description, "
                                "b_description") from None


def _goal_args(req: Mapping[str, Any], folder: Path) -> list[str]:
    goal = req.get("goal")
    if goal is None:
        return []
    if isinstance(goal, str):
        return ["--goal", goal]
    path = folder / "goal.json"
    path.write_text(json.dumps(goal))
    return ["--goal-json", str(path)]


GOAL = InputReader(
    params=(CliParam("goal", Optional[str], None, ("--goal",), "research goal, free text"),
            CliParam("goal_json", Optional[Path], None, ("--goal-json",), "structured D5 goal (JSON file)")),
    read=_read_goal, to_args=_goal_args)

HYPOTHESES = InputReader(
    params=(CliParam("hypothesis", Optional[list[str]], None, ("--hypothesis", "-H"),
                     "skip the proposer: verify these (repeat)"),),
    read=lambda v: {"hypotheses": list(v["hypothesis"]) if v["hypothesis"] else None},
    to_args=lambda req, folder: [arg for h in req.get("hypotheses") or [] for arg in ("-H", h)])

EXHAUSTIVE = InputReader(
    params=(CliParam("exhaustive", bool, False, ("--exhaustive/--no-exhaustive",),
                     "LLM-judge every candidate on every held-out text (no cascade, no early stopping); "
                     "the same as --verifier exhaustive"),),
    read=lambda v: {"config": {"verifier": "exhaustive"}} if v["exhaustive"] else {},
    to_args=lambda req, folder: [])


def _title(v: Mapping[str, Any], request: Mapping[str, Any]) -> str:
    if v["null_check"]:
        return f"A/A control on {v['a'].name}"
    return f"{v['a'].name} (A) vs {v['b'].name} (B)"


def _upload_corpus(files: list[tuple[str, bytes]], name: str, field: str | None) -> list[str]:
    from hypodisc.datasets import CorpusError, parse_texts

    texts: list[str] = []
    for filename, raw in files:
        try:
            texts += parse_texts(raw, filename or f"{name}.txt", field)
        except CorpusError as exc:
            raise InputRejected(f"file {name}: {exc.message}", code="bad_corpus_file", status=422) from None
    return texts


def _build_upload(files: Mapping[str, list[tuple[str, bytes]]], forms: Mapping[str, str | None]) -> dict:
    field = forms.get("field")
    return {"a": _upload_corpus(files["a"], "a", field), "b": _upload_corpus(files["b"], "b", field),
            "goal": forms.get("goal"), "hypotheses": json_form(forms.get("hypotheses"), "hypotheses"),
            "config": json_form(forms.get("config"), "config") or {}}


def _upload_parts(req: Mapping[str, Any]) -> tuple[dict, dict]:
    def jsonl(texts: list[str]) -> bytes:
        return "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()

    forms = {"config": json.dumps(req.get("config") or {})}
    if isinstance(req.get("goal"), str):
        forms["goal"] = req["goal"]
    if req.get("hypotheses") is not None:
        forms["hypotheses"] = json.dumps(req["hypotheses"])
    return {"a": [("a.jsonl", jsonl(req["a"]))], "b": [("b.jsonl", jsonl(req["b"]))]}, forms


UPLOAD = UploadSpec(
    files={"a": "corpus A: .jsonl, .json, .csv or .txt (several files are joined)",
           "b": "corpus B: .jsonl, .json, .csv or .txt (several files are joined)"},
    forms={"field": "JSON/CSV field holding the text (default: text)", "goal": "research goal, free text",
           "hypotheses": "JSON list of hypotheses to verify instead of proposing", "config": "DiffConfig as JSON"},
    build=_build_upload, to_parts=_upload_parts, summary="Submit a diff job with the corpora as uploaded files")


# -- the check battery's example: football (A) vs cooking (B), with the proposer on (its output is checkpointed)
_FOOTBALL = ["football", "goal", "striker", "match", "league"]
_COOKING = ["recipe", "oven", "flour", "dinner", "sauce"]
_FILLER = ["people", "said", "today", "week", "city"]


def _texts(topic: list[str], n: int) -> list[str]:
    return [" ".join(topic[(i + j) % len(topic)] if j % 2 else _FILLER[(i * j) % len(_FILLER)] for j in range(8))
            + "." for i in range(n)]


def _valid() -> dict:
    return {"a": _texts(_FOOTBALL, 12), "b": _texts(_COOKING, 12), "goal": "how do the two groups differ?",
            "config": {"top_k": 2, "n_candidates": 4, "contrast_clusters": 1, "contrast_views": ["words"],
                       "ranker_keep": 3, "seed": 1}}


def _invalid() -> dict:
    return {"a": _texts(_FOOTBALL, 12), "b": ["one cooking text", " ", ""]}


def scripted_reply(prompt: str, k: int) -> str:
    """What the check battery's scripted LLM proposes for this workflow: a few candidate properties."""
    return ["Property: mentions football", "Property: mentions a recipe", "Property: is about the weather"][k % 3]


DIFF_SURFACES = Surfaces(
    cli=CliSpec(
        inputs=(CORPORA, GOAL, HYPOTHESES, EXHAUSTIVE),
        printer="hypodisc.workflows.diff_report:print_diff",
        title=_title,
        help="Discover what is more often true of corpus A than of corpus B (D5-style), with held-out statistics.",
        flags={"top_k": ("--top", "--top-k"), "n_candidates": ("--candidates", "--n-candidates")},
        commands="hypodisc.cli_demo:register"),
    page=PageSpec(script="diff.js", section="diff.html", form="diff_form.html"),
    examples=Examples(valid=_valid, invalid=_invalid, invalid_code="corpus_too_small",
                      volatile=frozenset({"cost", "warnings"}), reply=scripted_reply),
    upload=UPLOAD)
