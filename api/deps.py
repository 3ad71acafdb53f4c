"""Dependencies as ``Annotated`` aliases, so a route's signature lists what it needs.

``OwnedJob`` answers 404 whether the job is missing or belongs to another client: no response
ever reveals that an id exists. Everything here is sync and runs in FastAPI's thread pool.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
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


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed here on the event loop.

    A request must never hold a pooled connection while it waits for a worker thread: with more
    requests in flight than threads, every thread would wait for a connection held by a request
    that waits for a thread, until the pool's timeout. So each step that reads (the key check,
    the job lookup) commits before it returns, handing its connection back, and the last step's
    connection is released by this cleanup, which (unlike a sync dependency's cleanup) needs no
    thread. Routes commit their writes; anything left open is rolled back by the pool on return.
    """
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    try:
        yield session
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[RecordingStore, Depends(get_store)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
SessionDep = Annotated[Session, Depends(get_session)]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _authenticated(session: Session, credentials: HTTPAuthorizationCredentials | None) -> Client:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    client = keys.authenticate(session, credentials.credentials)
    if client is None:
        raise Unauthorized("invalid or revoked API key")
    return client


def current_client(session: SessionDep, credentials: Credentials) -> Client:
    try:
        return _authenticated(session, credentials)
    finally:
        session.commit()  # the connection goes back before the next step waits for a thread


CurrentClient = Annotated[Client, Depends(current_client)]


def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not declare: a misspelt ``strat=600`` would
    otherwise return the whole recording and look like an answer."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    unknown = sorted(set(request.query_params) - _declared_query(dependant))
    if unknown:
        raise InvalidParameter(f"unknown query parameter `{unknown[0][:40]}`")


def _declared_query(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared_query(sub)
    return frozenset(names)


def owned_job(job_id: str, session: SessionDep, credentials: Credentials) -> Job:
    """The key check and the job read in one step (one thread, one transaction): a status poll
    is the hottest request, and each step would otherwise hold and release a connection."""
    try:
        client = _authenticated(session, credentials)
        try:
            parsed = uuid.UUID(job_id)
        except ValueError as exc:
            raise JobNotFound("no such job") from exc
        return jobs.get_job(session, client.id, parsed)
    finally:
        session.commit()  # as in current_client


OwnedJob = Annotated[Job, Depends(owned_job)]
