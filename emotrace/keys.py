"""API keys: generate, store hashed, verify in constant time, list, revoke.

A key is 256 random bits, so a single SHA-256 is an adequate hash (no slow KDF is needed against
brute force of a random secret) and lets a request find its key by an indexed lookup. The
plaintext is shown once, by ``emotrace keys create`` (or, for the first key of an embedded
service, by ``emotrace serve``), and never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from emotrace.errors import KeyNotFound
from emotrace.models import ApiKey, Client, utcnow

KEY_PREFIX = "et_"
SHOWN_PREFIX_CHARS = 10


@dataclass(frozen=True)
class KeyInfo:
    id: uuid.UUID
    client: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create(session: Session, client_name: str) -> tuple[Client, str]:
    """A new key for ``client_name``, creating the client on first use (more keys = rotation)."""
    name = client_name.strip()
    if not name or len(name) > 200:
        raise ValueError("client name must be 1 to 200 characters")
    client = session.scalars(select(Client).where(Client.name == name)).one_or_none()
    if client is None:
        client = Client(id=uuid.uuid4(), name=name, created_at=utcnow())
        session.add(client)
        session.flush()
    key = generate_key()
    session.add(ApiKey(client_id=client.id, prefix=key[:SHOWN_PREFIX_CHARS], key_hash=hash_key(key)))
    session.flush()
    return client, key


def create_first(session: Session, client_name: str) -> str | None:
    """A key for ``client_name`` if the database holds no key at all (a first start), else None."""
    if session.scalar(select(ApiKey.id).limit(1)) is not None:
        return None
    return create(session, client_name)[1]


def authenticate(session: Session, key: str) -> Client | None:
    """The client owning an active ``key``, or None; the digest comparison is constant-time."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = hash_key(key)
    row = session.execute(
        select(ApiKey, Client).join(Client, Client.id == ApiKey.client_id).where(ApiKey.key_hash == digest)
    ).one_or_none()
    if row is None:
        return None
    api_key, client = row
    if api_key.revoked_at is not None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    return client


def list_keys(session: Session) -> list[KeyInfo]:
    rows = session.execute(
        select(ApiKey, Client.name).join(Client, Client.id == ApiKey.client_id).order_by(ApiKey.created_at)
    ).all()
    return [KeyInfo(key.id, name, key.prefix, key.created_at, key.revoked_at) for key, name in rows]


def revoke(session: Session, key_ref: str) -> KeyInfo:
    """Revoke by the key id `keys list` shows, or by the whole key; revoking twice is a no-op."""
    api_key: ApiKey | None = None
    try:
        api_key = session.get(ApiKey, uuid.UUID(key_ref))
    except ValueError:
        api_key = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key_ref))).one_or_none()
    if api_key is None:
        raise KeyNotFound("no API key with that id")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
    client = session.get(Client, api_key.client_id)
    session.flush()
    return KeyInfo(api_key.id, client.name if client else "", api_key.prefix, api_key.created_at, api_key.revoked_at)
