"""Human-facing views of a LabelResult: a terminal table and the Neuronpedia explanation export."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hypodisc.workflows.label_models import FeatureLabel, LabelResult


def _cell(label: FeatureLabel, name: str) -> str:
    s = label.scores.get(name)
    if s is None:
        return "-"
    b = label.controls.borrowed.scores.get(name) if label.controls.borrowed else None
    text = f"{s.score:.2f} [{s.ci_low:.2f},{s.ci_high:.2f}]"
    return text + (f" / {b.score:.2f}" if b is not None else "")


def label_table(result: LabelResult, title: str) -> Table:
    table = Table(title=title)
    table.add_column("feature")
    table.add_column("explanation")
    for name in result.config.scorers:
        table.add_column(f"{name} [CI] / borrowed", justify="right")
    for lab in result.features:
        mode = f" (cross-fitted, {lab.split.folds} folds)" if lab.split.mode == "crossfit" else ""
        table.add_row(lab.feature_id, (lab.explanation or "(none)") + mode,
                      *(_cell(lab, n) for n in result.config.scorers))
    return table


def print_labels(result: LabelResult, title: str, console: Console, err: Console) -> None:
    console.print(label_table(result, title))
    for name, s in result.summary.items():
        vs = (f"; borrowed explanation {s.mean_borrowed:.2f}, real beats it on {100 * s.beats_borrowed:.0f}% "
              f"(CI clear of it on {100 * s.ci_excludes_borrowed:.0f}%)") if s.mean_borrowed is not None else ""
        no = f"; always-no {s.mean_always_no:.2f}" if s.mean_always_no is not None else ""
        console.print(f"{name}: mean {s.mean:.2f} over {s.features} features{no}{vs}")
    console.print(f"{len(result.features)} features in {result.seconds:.0f}s "
                  f"({result.features_per_hour:.0f} features/hour) with {result.model or 'no LLM'}")
    for w in result.warnings:
        err.print(f"warning: {w}")


def _split_id(feature_id: str, model_id: str | None, layer: str | None) -> tuple[str | None, str | None, str]:
    """``model/layer/index`` ids split into parts; explicit arguments win."""
    parts = feature_id.split("/")
    index = parts[-1]
    if len(parts) >= 3:
        return model_id or "/".join(parts[:-2]), layer or parts[-2], index
    if len(parts) == 2:
        return model_id, layer or parts[0], index
    return model_id, layer, index


def to_neuronpedia(result: LabelResult, model_id: str | None = None, layer: str | None = None) -> list[dict]:
    """Explanations in the shape Neuronpedia's explanation uploads use (one object per feature)."""
    rows = []
    for lab in result.features:
        if not lab.explanation:
            continue
        mid, lay, index = _split_id(lab.feature_id, model_id, layer)
        rows.append({
            "modelId": mid, "layer": lay, "index": index, "description": lab.explanation,
            "explanationModelName": result.model, "typeName": "hypodisc",
            "scores": [{"scorerType": name, "value": s.score, "ci": [s.ci_low, s.ci_high], "metric": s.metric,
                        "borrowedControl": (lab.controls.borrowed.scores[name].score
                                            if lab.controls.borrowed and name in lab.controls.borrowed.scores
                                            else None)}
                       for name, s in lab.scores.items()],
        })
    return rows
