"""/healthz (the process answers), /readyz (Postgres, schema, Redis and storage reachable) and
/metrics (Prometheus text: jobs by status, chunk run time, queue depth).

Figures come from Postgres at scrape time, not from counters in this process, so every API
replica reports the same numbers and worker processes need no metrics endpoint of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.deps import QueueDep, SessionDep, SettingsDep, StoreDep
from api.schemas import ErrorBody, Health
from emotrace import jobs
from emotrace.db import check_schema
from emotrace.errors import ServiceUnavailable
from emotrace.queue import JobQueue

router = APIRouter(tags=["health"])

CHUNK_BUCKETS_S = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Dependencies reachable: Postgres (migrated), Redis, storage",
    responses={503: {"model": ErrorBody, "description": "not_ready"}},
)
def readyz(session: SessionDep, settings: SettingsDep, queue: QueueDep, store: StoreDep) -> Health:
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable("the database is not reachable") from exc
    check_schema(settings)
    queue.check()
    store.check()
    return Health(status="ready")


class ServiceCollector(Collector):
    """Reads the figures from the database (and the broker) on every scrape."""

    def __init__(self, factory: sessionmaker[Session], queue: JobQueue) -> None:
        self._factory = factory
        self._queue = queue

    def collect(self) -> Iterator[Metric]:
        with self._factory() as session:
            by_status = jobs.count_by_status(session)
            buckets, count, total_s = jobs.chunk_latency_histogram(session, CHUNK_BUCKETS_S)
            pending = jobs.pending_chunks(session)
        gauge = GaugeMetricFamily("emotrace_jobs", "Jobs by status", labels=["status"])
        for name, value in by_status.items():
            gauge.add_metric([name], value)
        yield gauge
        histogram = HistogramMetricFamily(
            "emotrace_chunk_run_seconds", "Wall time of completed chunk analyses", unit=""
        )
        cumulative: list[tuple[str, float]] = [
            (f"{b:g}", float(n)) for b, n in zip(CHUNK_BUCKETS_S, buckets, strict=True)
        ]
        cumulative.append(("+Inf", float(count)))
        histogram.add_metric([], cumulative, sum_value=total_s)
        yield histogram
        yield GaugeMetricFamily("emotrace_chunks_unfinished", "Chunks of active jobs not yet done", value=pending)
        depth = GaugeMetricFamily("emotrace_queue_depth", "Messages waiting in the job queue", labels=["queue"])
        try:
            for name, value in self._queue.depth().items():
                depth.add_metric([name], value)
        except Exception:
            pass  # broker down: /readyz says so; the other figures are still worth having
        yield depth


def metrics_registry(factory: sessionmaker[Session], queue: JobQueue) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(factory, queue))
    return registry


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    registry: Any = request.app.state.metrics
    return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
