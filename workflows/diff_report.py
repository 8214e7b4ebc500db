"""Human-readable rendering of a DiffResult (the CLI table and summary lines)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hypodisc.workflows.diff_models import DiffResult


def diff_table(result: DiffResult, title: str) -> Table:
    kind = "P(yes)" if result.score_kind == "p_yes" else "cos"
    table = Table(title=title, title_justify="left")
    for col in ("#", "hypothesis", f"{kind}|A", f"{kind}|B", "V", "95% CI", "p", "q", "AUROC"):
        table.add_column(col, justify="left" if col == "hypothesis" else "right")
    for i, h in enumerate(result.hypotheses, 1):
        if h.validity is None:
            table.add_row(str(i), h.hypothesis, *["-"] * 7)
            continue
        mark = "*" if h.significant else ""
        table.add_row(str(i), h.hypothesis + mark, f"{h.mean_a:.2f}", f"{h.mean_b:.2f}", f"{h.validity:+.3f}",
                      f"[{h.ci[0]:+.2f}, {h.ci[1]:+.2f}]", f"{h.p_value:.2g}", f"{h.q_value:.2g}", f"{h.auroc:.2f}")
    return table


def print_diff(result: DiffResult, title: str, console: Console, err: Console) -> None:
    console.print(diff_table(result, title))
    s = result.separability
    n_sig = sum(h.significant for h in result.hypotheses)
    floor = f" and V > {result.config.min_validity}" if result.score_kind == "p_yes" else ""
    console.print(f"* = significant at q < {result.config.alpha}{floor}: {n_sig} of {len(result.hypotheses)} shown; "
                  f"{len(result.candidates)} candidates tested in all (BH over all of them)")
    if result.hypotheses and result.hypotheses[0].validity is not None:
        h0 = result.hypotheses[0]
        console.print(f"held-out statistics on {h0.n_a} A / {h0.n_b} B texts the proposer never saw", highlight=False)
    console.print(f"separability: cross-validated AUROC {s.cv_auroc:.2f} ({s.verdict})", highlight=False)
    tot = result.cost.total
    console.print(f"cost: {tot.llm_calls} LLM calls ({tot.judgments} yes/no judgments, {tot.prompt_tokens} prompt + "
                  f"{tot.completion_tokens} generated tokens), {tot.embedded_texts} texts embedded, {tot.wall_s:.0f}s "
                  f"{result.cost.stage_times()}; "
                  f"seed {result.seed}, {result.backend}:{result.model}", markup=False, highlight=False)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
