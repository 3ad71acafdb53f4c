"""One router per resource: ``jobs`` (the /v1 API) and ``health`` (probes and metrics)."""
