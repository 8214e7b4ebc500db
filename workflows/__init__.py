"""Workflows: plain functions joining a proposer and a verifier, each declared in the registry.

``from hypodisc.workflows import run_diff`` still works, but importing this package loads nothing
heavy: the HTTP client imports the workflows' schemas without scipy, scikit-learn or torch.
"""

from hypodisc.lazy_exports import lazy_getattr

_EXPORTS = {"run_diff": "hypodisc.workflows.diff", "run_null_check": "hypodisc.workflows.diff",
            "DiffConfig": "hypodisc.workflows.diff_models", "DiffResult": "hypodisc.workflows.diff_models",
            "HypothesisResult": "hypodisc.workflows.diff_models",
            "label_features": "hypodisc.workflows.label_features",
            "LabelConfig": "hypodisc.workflows.label_models", "LabelResult": "hypodisc.workflows.label_models"}
__all__ = list(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
