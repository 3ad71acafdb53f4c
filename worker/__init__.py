"""Celery workers: analyse a job's time chunks in parallel and write results to the database."""
