"""Service settings: flags of ``hypodisc serve``, or ``HYPODISC_SERVICE_*`` environment variables.

The environment route exists because ``--workers N`` starts N fresh processes that
must each rebuild the same settings.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPODISC_SERVICE_", extra="forbid")

    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8080, ge=0, le=65535)
    db_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///$HYPODISC_HOME/service.db "
                                                 "(postgresql+psycopg://user@host/db also works)")
    auth: bool = Field(True, description="require an API key (X-API-Key); off is allowed on loopback only")
    concurrency: int = Field(1, ge=0, le=64, description="jobs run at once per process (0: accept jobs, run none)")
    max_body_bytes: int = Field(64 << 20, ge=1024, description="largest request body")
    max_texts_per_corpus: int = Field(20_000, ge=1)
    max_text_chars: int = Field(20_000, ge=1, description="longest single text")
    max_features_per_job: int = Field(2_000, ge=1, description="features in one label-features job")
    max_examples_per_feature: int = Field(5_000, ge=1, description="activation examples of one feature")
    max_active_jobs_per_key: int = Field(10, ge=1, description="queued + running jobs one key may have")
    max_verify_pairs: int = Field(2_000, ge=1, description="hypotheses x texts in one synchronous /v1/verify")
    lease_s: float = Field(30.0, gt=0, description="a running job whose worker has not beaten for this long "
                                                   "is taken as orphaned (crash) and resumed or failed")
    max_attempts: int = Field(2, ge=1, description="runs a job gets before an interruption marks it failed")

    def resolved_db_url(self, home: Path) -> str:
        if self.db_url:
            return self.db_url
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'service.db'}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
