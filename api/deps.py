"""Dependencies as ``Annotated`` aliases, so a route's signature lists what it needs.

``OwnedJob`` answers 404 whether the job is missing or belongs to another client: no response
ever reveals that an id exists. Everything here is sync and runs in FastAPI's thread pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from emotrace import jobs, keys
from emotrace.errors import InvalidParameter, JobNotFound, Unauthorized
from emotrace.models import Client, Job
from emotrace.queue import JobQueue
from emotrace.ratelimit import RateLimiter
from emotrace.settings import Settings
from emotrace.storage import RecordingStore

bearer = HTTPBearer(auto_error=False, description="an API key from `emotrace keys create NAME`")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> RecordingStore:
    return request.app.state.store


def get_queue(request: Request) -> JobQueue:
    return request.app.state.queue


def get_rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; routes commit their writes, anything else is rolled back."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[RecordingStore, Depends(get_store)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
SessionDep = Annotated[Session, Depends(get_session)]


def current_client(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Client:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    client = keys.authenticate(session, credentials.credentials)
    if client is None:
        raise Unauthorized("invalid or revoked API key")
    return client


CurrentClient = Annotated[Client, Depends(current_client)]


def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not declare: a misspelt ``strat=600`` would
    otherwise return the whole recording and look like an answer."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = _QUERY_NAMES.get(id(route))
    if allowed is None:
        allowed = _QUERY_NAMES[id(route)] = _declared_query(dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidParameter(f"unknown query parameter `{unknown[0][:40]}`")


_QUERY_NAMES: dict[int, frozenset[str]] = {}  # by route; routes live as long as the process


def _declared_query(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared_query(sub)
    return frozenset(names)


def owned_job(job_id: str, session: SessionDep, client: CurrentClient) -> Job:
    try:
        parsed = uuid.UUID(job_id)
    except ValueError as exc:
        raise JobNotFound("no such job") from exc
    return jobs.get_job(session, client.id, parsed)


OwnedJob = Annotated[Job, Depends(owned_job)]
