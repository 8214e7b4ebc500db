"""Every workflow, by name. The CLI, the service, the OpenAPI document, the client, the pages
and the benchmarks iterate this; adding a workflow is one line here (see DEVELOPING.md)."""

from __future__ import annotations

from hypodisc.workflows.contract import Workflow
from hypodisc.workflows.diff_models import DIFF
from hypodisc.workflows.graph_models import GRAPH_CLUSTERS
from hypodisc.workflows.image_diff_models import IMAGE_DIFF
from hypodisc.workflows.label_models import LABEL_FEATURES

WORKFLOWS: dict[str, Workflow] = {w.name: w for w in (DIFF, LABEL_FEATURES, IMAGE_DIFF, GRAPH_CLUSTERS)}


def get_workflow(name: str) -> Workflow:
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise KeyError(f"unknown workflow {name!r}; known: {', '.join(WORKFLOWS)}") from None
