"""Workflows: plain functions joining a proposer and a verifier. The CLI, the service and the benchmarks call these."""

from hypodisc.workflows.diff import run_diff, run_null_check
from hypodisc.workflows.diff_models import DiffConfig, DiffResult, HypothesisResult

__all__ = ["DiffConfig", "DiffResult", "HypothesisResult", "run_diff", "run_null_check"]
