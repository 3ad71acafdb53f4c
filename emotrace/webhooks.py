"""Completion callbacks: which URLs a client may register, and signed delivery.

A callback is only a nudge: it carries the job's id, status and error, never results, and the
receiver fetches the summary with its key. It is signed like Stripe's webhooks: header
``Emotrace-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the service's
``webhook_secret``, so receivers can reject forgeries and replays. Only hosts on the configured
allow list are ever called (no requests into the service's own network on a client's say-so).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

from emotrace.errors import CallbackNotAllowed, InvalidParameter
from emotrace.models import Job
from emotrace.settings import Settings

SIGNATURE_HEADER = "Emotrace-Signature"
MAX_URL_CHARS = 2000
REPLAY_TOLERANCE_S = 300


def _host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def check_callback_url(url: str, settings: Settings) -> str:
    """The URL if the client may register it; raises a 422 error naming the problem otherwise."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidParameter(f"callback_url is longer than {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter("callback_url must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise InvalidParameter("callback_url must not carry credentials")
    if settings.webhook_secret is None:
        raise CallbackNotAllowed("callbacks are not enabled on this service")
    if not _host_allowed(parts.hostname, settings.webhook_allowed_hosts):
        raise CallbackNotAllowed("callback_url host is not on the service's allow list")
    return url


def sign(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify(body: bytes, header: str, secret: str, *, tolerance_s: int = REPLAY_TOLERANCE_S) -> bool:
    """What a receiver runs: the signature matches and is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        ts = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    expected = sign(body, secret, timestamp=ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def payload(job: Job) -> bytes:
    body: dict[str, Any] = {
        "type": f"job.{job.status}",
        "job": {
            "id": str(job.id),
            "status": str(job.status),
            "external_id": job.external_id,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def deliver(settings: Settings, url: str, body: bytes) -> None:
    """POST once; raises on a network error or a non-2xx answer so the caller can retry."""
    import httpx

    if settings.webhook_secret is None:
        return
    check_callback_url(url, settings)  # the allow list may have shrunk since the job was created
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, settings.webhook_secret.get_secret_value()),
        "User-Agent": "emotrace-webhook",
    }
    response = httpx.post(url, content=body, headers=headers, timeout=settings.webhook_timeout_s)
    response.raise_for_status()
