"""Human-readable renderings of an ImageDiffResult: the CLI table and a self-contained HTML report
(thumbnails are in the result as data: URLs, so the file needs nothing beside it)."""

from __future__ import annotations

from html import escape

from rich.console import Console
from rich.table import Table

from hypodisc.workflows.image_diff_models import ImageDiffResult, ImageExample, ImageHypothesis


def image_diff_table(result: ImageDiffResult, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("#", "hypothesis", "by", "A", "B", "V", "95% CI", "p", "q", "AUROC"):
        table.add_column(col, justify="left" if col in ("hypothesis", "by") else "right")
    for i, h in enumerate(result.hypotheses, 1):
        mark = "*" if h.significant else ""
        table.add_row(str(i), h.hypothesis + mark, h.scored_by, f"{h.mean_a:.2f}", f"{h.mean_b:.2f}",
                      f"{h.validity:+.3f}", f"[{h.ci[0]:+.2f}, {h.ci[1]:+.2f}]", f"{h.p_value:.2g}",
                      f"{h.q_value:.2g}", f"{h.auroc:.2f}")
    return table


def summary_line(result: ImageDiffResult) -> str:
    n_sig = sum(h.significant for h in result.hypotheses)
    s = result.splits
    return (f"{n_sig} of {len(result.hypotheses)} shown significant at q < {result.config.alpha} and V > "
            f"{result.config.min_validity} ({len(result.candidates)} candidates, BH over all); captioner "
            f"{result.captioner}, ranker {result.ranker}; statistics on {s.confirm_a} A / {s.confirm_b} B images "
            f"the proposer never saw")


def print_image_diff(result: ImageDiffResult, title: str, console: Console, err: Console) -> None:
    console.print(image_diff_table(result, title))
    console.print("* = " + summary_line(result), highlight=False)
    tot = result.cost.total
    console.print(f"cost: {tot.llm_calls} LLM calls ({tot.judgments} yes/no judgments), {tot.wall_s:.0f}s "
                  f"{result.cost.stage_times()}; "
                  f"seed {result.seed}, {result.backend}:{result.model}", markup=False, highlight=False)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)


def _figure(e: ImageExample) -> str:
    caption = escape(e.caption or "")
    return (f'<figure title="{caption}"><img src="{escape(e.thumbnail)}" alt="{escape(e.name)}">'
            f"<figcaption>{escape(e.name)} · {e.score:.2f}</figcaption></figure>")


def _row(i: int, h: ImageHypothesis) -> str:
    stats = (f"V {h.validity:+.3f} [{h.ci[0]:+.2f}, {h.ci[1]:+.2f}] · p {h.p_value:.2g} · q {h.q_value:.2g} · "
             f"AUROC {h.auroc:.2f} · n {h.n_a}/{h.n_b} · {escape(h.scored_by)}")
    return (f'<section class="hyp{" sig" if h.significant else ""}"><h2>{i}. {escape(h.hypothesis)}'
            f'{" *" if h.significant else ""}</h2><p class="stats">{stats}</p>'
            f'<div class="strip"><h3>supports it in A</h3>{"".join(map(_figure, h.support))}</div>'
            f'<div class="strip"><h3>counter-examples in B</h3>{"".join(map(_figure, h.counter_examples))}</div>'
            "</section>")


def html_report(result: ImageDiffResult) -> str:
    """One HTML file: per hypothesis its statistics and the thumbnails of its extremes in A and B."""
    rows = "".join(_row(i, h) for i, h in enumerate(result.hypotheses, 1))
    warnings = "".join(f"<li>{escape(w)}</li>" for w in result.warnings)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>hypodisc image-diff</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}} .stats{{color:#444}} .sig h2{{color:#075}}
figure{{display:inline-block;margin:0 .5em .5em 0;text-align:center;font-size:.8em}} img{{max-height:128px}}
.strip h3{{font-size:.9em;margin:.2em 0}}</style></head><body>
<h1>What is more often true of image set A than of B</h1><p>{escape(summary_line(result))}</p>
{rows}<ul>{warnings}</ul></body></html>"""
