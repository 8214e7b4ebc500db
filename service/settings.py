"""Service settings: flags of ``hypodisc serve``, or ``HYPODISC_SERVICE_*`` environment variables.

The environment route exists because ``--workers N`` starts N fresh processes that
must each rebuild the same settings.

Job size limits belong to the workflows (each declares a limits model); the settings hold them
generically: every limit any workflow declares is one setting (``HYPODISC_SERVICE_MAX_TEXT_CHARS``), shared
by the workflows that declare a limit of that name, and ``limits`` overrides one workflow's
(``HYPODISC_SERVICE_LIMITS='{"<workflow>": {"<limit>": 500}}'``).
"""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hypodisc.workflows.contract import Workflow
from hypodisc.workflows.registry import WORKFLOWS


class _ServiceSettingsBase(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPODISC_SERVICE_", extra="forbid")

    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8080, ge=0, le=65535)
    db_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///$HYPODISC_HOME/service.db "
                                                 "(postgresql+psycopg://user@host/db also works)")
    auth: bool = Field(True, description="require an API key (X-API-Key); off is allowed on loopback only")
    concurrency: int = Field(1, ge=0, le=64, description="jobs run at once per process (0: accept jobs, run none)")
    max_body_bytes: int = Field(64 << 20, ge=1024, description="largest request body")
    limits: dict[str, dict[str, int | None]] = Field(
        {}, description="per-workflow limit overrides: workflow name -> {limit: value}; None is unlimited")
    max_active_jobs_per_key: int = Field(10, ge=1, description="queued + running jobs one key may have")
    max_verify_pairs: int = Field(2_000, ge=1, description="hypotheses x texts in one synchronous /v1/verify")
    lease_s: float = Field(30.0, gt=0, description="a running job whose worker has not beaten for this long "
                                                   "is taken as orphaned (crash) and resumed or failed")
    max_attempts: int = Field(2, ge=1, description="runs a job gets before an interruption marks it failed")

    @model_validator(mode="after")
    def _known_limits(self):
        for name, values in self.limits.items():
            if name not in WORKFLOWS:
                raise ValueError(f"limits: unknown workflow {name!r}; known: {', '.join(WORKFLOWS)}")
            unknown = set(values) - set(WORKFLOWS[name].limits.model_fields)
            if unknown:
                raise ValueError(f"limits.{name}: unknown limits {sorted(unknown)}")
        return self

    def limits_for(self, workflow: Workflow) -> BaseModel:
        """The workflow's limits model: its shared settings, then its own overrides."""
        values = {name: getattr(self, name) for name in workflow.limits.model_fields}
        values.update(self.limits.get(workflow.name, {}))
        return workflow.limits.model_validate(values)

    def resolved_db_url(self, home: Path) -> str:
        if self.db_url:
            return self.db_url
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'service.db'}"


def _shared_limit_fields() -> dict[str, Any]:
    """One setting per limit name any workflow declares; two workflows naming one limit must agree on it."""
    fields: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for wf in WORKFLOWS.values():
        for name, info in wf.limits.model_fields.items():
            if name in _ServiceSettingsBase.model_fields:
                raise ValueError(f"workflow {wf.name}: limit {name!r} is already a service setting")
            if name in fields and (fields[name][0] != info.annotation or fields[name][1].default != info.default):
                raise ValueError(f"limit {name!r}: workflows {owner[name]} and {wf.name} declare it differently")
            fields.setdefault(name, (info.annotation, copy.copy(info)))
            owner.setdefault(name, wf.name)
    return fields


ServiceSettings = create_model("ServiceSettings", __base__=_ServiceSettingsBase, __module__=__name__,
                               **_shared_limit_fields())
ServiceSettings.__doc__ = "The service's settings, with every workflow's limits (see the module docstring)."


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
