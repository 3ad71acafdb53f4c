"""How the API hands a job to workers: the JobQueue protocol and its Celery implementation.

The API sends task *names* with ids as arguments, so an API process never imports ``worker``
(nor ONNX Runtime). Cancelling needs no message: tasks read the job's state from the database
before they start and before they write, and a deleted or cancelled job makes them stop.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

from emotrace.errors import ServiceUnavailable
from emotrace.settings import Settings

log = logging.getLogger(__name__)

CONTROL_QUEUE = "emotrace.control"
CHUNK_QUEUE = "emotrace.chunks"
QUEUES = (CONTROL_QUEUE, CHUNK_QUEUE)

PLAN_TASK = "emotrace.plan_job"
CHUNK_TASK = "emotrace.analyze_chunk"
FINISH_TASK = "emotrace.finish_job"
NOTIFY_TASK = "emotrace.notify"
SWEEP_TASK = "emotrace.sweep_stalled"
PURGE_TASK = "emotrace.purge_expired"


class JobQueue(Protocol):
    def submit(self, job_id: uuid.UUID) -> None:
        """Start a committed job. Must be safe to call twice: planning is idempotent."""
        ...

    def depth(self) -> dict[str, int]:
        """Messages waiting per queue, for ``/metrics``."""
        ...

    def check(self) -> None:
        """Raise :class:`ServiceUnavailable` if jobs cannot be queued (``/readyz``)."""
        ...

    def close(self) -> None: ...


def celery_config(settings: Settings) -> dict[str, Any]:
    """Shared by the API's sending app and the workers, so both route tasks the same way."""
    transport = {"visibility_timeout": settings.visibility_timeout_s}
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": CONTROL_QUEUE,
        "task_routes": {CHUNK_TASK: {"queue": CHUNK_QUEUE}},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # A killed child's task is acked anyway unless reject_on_worker_lost (tasks.rst, acks_late).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One long task at a time per process, so a slow chunk never holds others back (optimizing.rst).
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "result_expires": 24 * 3600,
        "task_publish_retry_policy": {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
    }


class CeleryQueue:
    """Sends ``emotrace.plan_job`` over Redis; the workers fan the job out into chunks."""

    def __init__(self, settings: Settings) -> None:
        if settings.redis_url is None:
            raise ValueError("CeleryQueue needs redis_url")
        from celery import Celery

        self._app = Celery("emotrace-api")
        self._app.conf.update(celery_config(settings))
        self._redis_url = settings.redis_url
        self._redis: Any = None

    def _client(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self._redis_url, socket_timeout=2, socket_connect_timeout=2)
        return self._redis

    def submit(self, job_id: uuid.UUID) -> None:
        self._app.send_task(PLAN_TASK, args=[str(job_id)], queue=CONTROL_QUEUE)
        log.info("job %s submitted", job_id)

    def depth(self) -> dict[str, int]:
        client = self._client()
        return {name: int(client.llen(name)) for name in QUEUES}

    def check(self) -> None:
        try:
            self._client().ping()
        except Exception as exc:  # redis raises several families for "unreachable"
            raise ServiceUnavailable("Redis is not reachable") from exc

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        self._app.close()
