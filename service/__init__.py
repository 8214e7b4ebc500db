"""HTTP service (FastAPI): durable async jobs for every workflow. Lands with the service issue."""
