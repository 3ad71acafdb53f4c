"""The Celery app of the workers, configured from Settings: ``celery -A worker.app worker``.

Routing, acks and prefetch come from :func:`emotrace.queue.celery_config`, shared with the API's
sending side. Beat runs the sweep and the purge (one beat per deployment: the compose `beat`
service, or `emotrace worker --beat` on one machine).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from emotrace.db import dispose_engines
from emotrace.queue import CONTROL_QUEUE, PURGE_TASK, SWEEP_TASK, celery_config
from emotrace.settings import Settings, get_settings


def create_celery_app(settings: Settings) -> Celery:
    if settings.redis_url is None:
        raise RuntimeError("workers need EMOTRACE_REDIS_URL (or REDIS_URL); `emotrace serve` runs without them")
    app = Celery("emotrace", include=["worker.tasks"])
    app.conf.update(celery_config(settings))
    app.conf.beat_schedule = {
        "sweep-stalled": {
            "task": SWEEP_TASK,
            "schedule": settings.sweep_interval_s,
            "options": {"queue": CONTROL_QUEUE},
        },
        "purge-expired": {
            "task": PURGE_TASK,
            "schedule": settings.purge_interval_s,
            "options": {"queue": CONTROL_QUEUE},
        },
    }
    return app


@worker_process_init.connect
def _fresh_pools(**_: Any) -> None:
    """A forked child must not reuse the parent's database connections. Its CPU priority is
    lowered: analysis is batch work, and on a host it shares with the API, status polls and
    uploads must not wait behind it (a chunk only takes a little longer)."""
    dispose_engines(close=False)
    settings = get_settings()
    logging.getLogger("emotrace").setLevel(settings.log_level)
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if settings.worker_nice > current:
        os.nice(settings.worker_nice - current)


celery_app = create_celery_app(get_settings())
app = celery_app
