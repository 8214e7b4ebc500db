"""The "today" baseline of the feature-label benchmarks: the 2026-11 explainer (bench/explainer_2026_11.py, kept
verbatim), shown the same examples the workflow's plan gives the new explainer, one greedy reply per feature.
Its explanations are then scored by the current workflow as given explanations, so both explainers meet the
same scorers on the same held-out examples."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hypodisc.workflows.feature_splits import feature_rng, plan_feature, sample_explainer_examples
from hypodisc.workflows.label_models import LabelConfig


def _old_explainer():
    spec = importlib.util.spec_from_file_location("explainer_2026_11", Path(__file__).with_name("explainer_2026_11.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


def old_explanations(backend, records, cfg: LabelConfig) -> dict[str, str]:
    """feature_id -> the 2026-11 explainer's explanation (features it wrote nothing usable for are left out)."""
    old = _old_explainer()
    explainer = old.FeatureExplainer(backend, max_example_chars=cfg.max_example_chars)
    inputs = []
    for rec in records:
        plan = plan_feature(rec, cfg.seed, cfg.mode, cfg.min_split_active, cfg.folds)
        shown = sample_explainer_examples(plan.final.explain, rec.threshold, cfg.n_explain, cfg.sampling,
                                          feature_rng(cfg.seed + 2, rec.feature_id))
        inputs.append(old.ExplainerInput(rec.level, rec.threshold, rec.max_activation, shown, (), rec.top_logits))
    return {rec.feature_id: cands[0] for rec, cands in zip(records, explainer.explain(inputs, k=1)) if cands}
