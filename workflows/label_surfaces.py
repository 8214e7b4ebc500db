"""The feature-labelling workflow's surfaces: how ``hypodisc label-features`` reads its features and
explanations, what it prints and exports, which page script shows it, and its check-battery examples.

Standard library only at import (the HTTP client imports it through the declaration); the readers
import the feature loaders when they run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from hypodisc.errors import HypodiscError
from hypodisc.workflows.surfaces import CliOutput, CliParam, CliSpec, Examples, InputReader, PageSpec, Surfaces


def _read_features(v: Mapping[str, Any]) -> dict:
    from hypodisc.datasets.feature_formats import load_features

    tokenizer = str(v["tokenizer"]) if v["tokenizer"] else None
    return {"features": load_features(v["input_path"], v["format"], tokenizer=tokenizer,  # type: ignore[arg-type]
                                      max_features=v["max_features"])}


def _features_args(req: Mapping[str, Any], folder: Path) -> list[str]:
    path = folder / "features.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in req["features"]), encoding="utf-8")
    return [str(path)]


FEATURES = InputReader(
    params=(CliParam("input_path", Path, metavar="INPUT", help="features: simple JSON/JSONL, Neuronpedia, OpenAI "
                                                               "NeuronRecord, or a delphi latent cache folder"),
            CliParam("format", str, "auto", ("--format",), "auto | simple | neuronpedia | openai | delphi"),
            CliParam("max_features", Optional[int], None, ("--max-features",), "label only the first N features"),
            CliParam("tokenizer", Optional[Path], None, ("--tokenizer",),
                     "delphi caches: local tokenizer folder or .gguf")),
    read=_read_features, to_args=_features_args)


def _read_explanations(v: Mapping[str, Any]) -> dict:
    path = v["explanations"]
    if path is None:
        return {"explanations": None}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HypodiscError(f"{path}: cannot read explanations ({exc})",
                            fix='give a JSON object {"feature_id": "explanation", ...}') from None
    data = data.get("explanations", data) if isinstance(data, dict) else data
    if not isinstance(data, dict) or not all(isinstance(x, str) for x in data.values()):
        raise HypodiscError(f"{path}: explanations must be a JSON object mapping feature ids to strings")
    return {"explanations": {str(k): x for k, x in data.items()}}


def _explanations_args(req: Mapping[str, Any], folder: Path) -> list[str]:
    if req.get("explanations") is None:
        return []
    path = folder / "explanations.json"
    path.write_text(json.dumps(req["explanations"]), encoding="utf-8")
    return ["--explanations", str(path)]


EXPLANATIONS = InputReader(
    params=(CliParam("explanations", Optional[Path], None, ("--explanations",),
                     "score these explanations (JSON object feature_id -> text) instead of writing new ones"),),
    read=_read_explanations, to_args=_explanations_args)


def _write_neuronpedia(result: Any, path: Path) -> None:
    from hypodisc.files import write_atomic
    from hypodisc.workflows.label_report import to_neuronpedia

    write_atomic(path, json.dumps(to_neuronpedia(result), indent=2))


NEURONPEDIA = CliOutput(CliParam("neuronpedia", Optional[Path], None, ("--neuronpedia",),
                                 "also write Neuronpedia-style explanations"), _write_neuronpedia)


# -- the check battery's example: two token-level features, explanations given, an LLM and an embedding scorer
def _feature(fid: str, word: str, other: str) -> dict:
    firing = [{"tokens": ["the", f" {word}", f" {i}"], "activations": [0.0, 1.0 + i / 10, 0.0]} for i in range(8)]
    silent = [{"tokens": ["a", f" {other}", f" {i}"], "activations": [0.0, 0.0, 0.0]} for i in range(8)]
    return {"feature_id": fid, "examples": firing + silent}


def _valid() -> dict:
    return {"features": [_feature("f/sport", "football", "recipe"), _feature("f/food", "recipe", "football")],
            "explanations": {"f/sport": "the word football", "f/food": "the word recipe"},
            "config": {"scorers": ["detection", "embedding"], "resamples": 50, "seed": 1}}


LABEL_SURFACES = Surfaces(
    cli=CliSpec(
        inputs=(FEATURES, EXPLANATIONS),
        printer="hypodisc.workflows.label_report:print_labels",
        title=lambda v, request: f"{v['input_path'].name}: {len(request['features'])} features",
        help="Explain what each feature responds to, and score the explanation on held-out examples with controls.",
        exclude=frozenset({"max_features"}),  # --max-features truncates the input (FEATURES) instead
        outputs=(NEURONPEDIA,),
        commands="hypodisc.cli_features:register"),
    page=PageSpec(script="label-features.js", section="label-features.html"),
    examples=Examples(valid=_valid, invalid=lambda: {"features": [_feature("f/x", "a", "b"), _feature("f/x", "c", "d")]},
                      invalid_code="duplicate_feature_id",
                      volatile=frozenset({"cost", "seconds", "features_per_hour"})))
