"""``hypodisc demo``: the diff workflow on a bundled pair. A CLI extra (entry-point layer) that the diff declaration names
(``CliSpec.commands``); imported only by the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hypodisc.cli import (BackendOpt, BaseUrlOpt, ConfigOpt, HomeOpt, ModelOpt, NCtxOpt, out, settings_from)


def demo(json_out: Annotated[Optional[Path], typer.Option("--json", help="write results as JSON")] = None,
         seed: Annotated[int, typer.Option(help="fixes splits, sampling and proposals")] = 0,
         backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
         n_ctx: NCtxOpt = None, home: HomeOpt = None, config: ConfigOpt = None):
    """A real diff job on a bundled pair: 40 AG News technology texts (A) vs 40 business texts (B)."""
    from hypodisc.cli_workflows import run_request
    from hypodisc.datasets import demo_pair
    from hypodisc.workflows.diff_models import DIFF, DiffConfig, DiffRequest

    a, b = demo_pair()
    # Three contrast prompts (the separating direction and 2 clusters of A, no opening/ending views: this pair
    # differs in topic) and a short cascade keep the CPU demo under 3 minutes: the embedding ranker passes 3
    # candidates, which go straight to confirmation (nothing left to screen).
    cfg = DiffConfig(proposer="contrast", contrast_clusters=2, contrast_views=[], ranker_keep=3, top_k=3, seed=seed)
    result = run_request(DIFF, DiffRequest(a=a, b=b, config=cfg),
                         settings_from(backend, model, base_url, n_ctx, home, config), "AG News: technology (A) vs "
                         "business (B)", json_out)
    if result.hypotheses:
        out.print(f"top hypothesis: {result.hypotheses[0].hypothesis!r} (gold difference: 'has a topic of technology')")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
