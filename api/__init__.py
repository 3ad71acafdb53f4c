"""The REST API (FastAPI): accepts recordings, enqueues jobs, serves results. Never runs ML."""
