"""Every registered workflow passes the check battery (tests/workflow_checks.py): fast lane, no model."""

import pytest

from hypodisc.workflows.registry import WORKFLOWS
from workflow_checks import check_workflow

pytestmark = [pytest.mark.fast, pytest.mark.timeout(180)]


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_workflow_passes_the_check_battery(name, tmp_path, monkeypatch):
    check_workflow(WORKFLOWS[name], tmp_path, monkeypatch)
