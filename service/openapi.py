"""The OpenAPI document as committed in ``openapi.json`` (a test fails when the two differ)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypodisc.config import Settings
from hypodisc.service.settings import ServiceSettings
from hypodisc.service.job_store import JobStore


def openapi_json() -> str:
    """Built from an app over a throwaway store: the schema depends on code, not on settings or data."""
    from hypodisc.service.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        store = JobStore(f"sqlite:///{Path(tmp) / 'schema.db'}")
        try:
            app = create_app(ServiceSettings(concurrency=0), Settings(home=Path(tmp)), store=store)
            return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"
        finally:
            store.close()
