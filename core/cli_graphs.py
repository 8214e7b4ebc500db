"""``hypodisc graphs trace|check``: attribution graphs of a local model's MLP neurons, written as circuit-tracer
JSON. A CLI extra (entry-point layer) that the graph-clusters declaration names (``CliSpec.commands``);
imported only by the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from hypodisc.cli import HomeOpt, _progress, err, out

graphs_app = typer.Typer(help="Trace attribution graphs of a local model's MLP neurons (circuit-tracer JSON).",
                         no_args_is_help=True)


@graphs_app.command("trace")
def trace(model: Annotated[str, typer.Option(help="smollm2-135m | qwen2.5-coder-0.5b | qwen2.5-coder-1.5b | a local "
                                             "GGUF file or Hugging Face folder (Llama/Qwen2-style)")],
          prompts: Annotated[Path, typer.Option(help=".jsonl of {prompt, target?, contrast?} (or the SVA set's "
                                                "{clean_prefix, clean_answer, patch_answer}); .txt: one per line")],
          out_dir: Annotated[Path, typer.Option("--out", help="folder for one graph JSON per prompt")],
          limit: Annotated[Optional[int], typer.Option(help="trace at most N prompts")] = None,
          max_nodes: Annotated[int, typer.Option(help="neurons whose attribution rows are computed")] = 200,
          node_threshold: Annotated[float, typer.Option(help="keep nodes up to this cumulative influence")] = 0.8,
          edge_threshold: Annotated[float, typer.Option(help="keep edges up to this cumulative influence")] = 0.98,
          home: HomeOpt = None):
    """Trace one exact (linearised) MLP-neuron attribution graph per prompt and write it as circuit-tracer JSON."""
    from hypodisc.config import load_settings
    from hypodisc.datasets.graph_json import write_graph
    from hypodisc.datasets.graph_profiles import PromptSpec, trace_prompts
    from hypodisc.datasets.graph_prompts import read_prompts
    from hypodisc.datasets.graph_tracing import load_tracing_model

    rows = read_prompts(prompts, limit)
    err.print(f"loading {model} into transformers (float32)")
    tm = load_tracing_model(model, load_settings(home=home).home)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("tracing", total=len(rows))
        graphs = trace_prompts(tm.model, tm.tokenizer, [PromptSpec(r["prompt"], r.get("target"), r.get("contrast"))
                                                        for r in rows],
                               progress=lambda _s, done, _t: bar.update(task, completed=done), max_nodes=max_nodes,
                               node_threshold=node_threshold, edge_threshold=edge_threshold, scan=tm.name)
    for i, g in enumerate(graphs):
        write_graph(g, out_dir / (f"{i:03d}-{g.metadata.slug}"[:120] + ".json"))
    per = (time.perf_counter() - t0) / max(len(graphs), 1)
    worst = max(float(g.metadata.model_extra["linearisation"]["max_relative_remainder"]) for g in graphs)
    out.print(f"wrote {len(graphs)} graphs to {out_dir} ({per:.1f} s per graph; largest relative conservation "
              f"remainder {worst:.1e})", highlight=False)


@graphs_app.command("check")
def check(files: Annotated[list[Path], typer.Argument(help="graph JSON files")]):
    """Read each graph as the workflow does (every node, link and reference checked) and say what it holds."""
    from hypodisc.datasets.graph_json import read_graph

    for f in files:
        g = read_graph(f)
        kinds: dict[str, int] = {}
        for n in g.nodes:
            kinds[n.kind] = kinds.get(n.kind, 0) + 1
        out.print(f"{f}: {json.dumps(kinds)} nodes, {len(g.links)} links, {len(g.qParams.supernodes)} supernodes",
                  highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``graphs trace|check`` to the root command."""
    app.add_typer(graphs_app, name="graphs")
