"""Per-client limits on job creation: a token bucket per client, ``post_burst`` deep, refilled
at ``post_rate_per_minute``.

Every POST stores a recording and queues minutes of CPU, so one misbehaving client (a retry
loop, a leaked key) must not fill the disk or starve the others. With Redis the bucket lives
there, updated by one Lua script (atomic, shared by every API replica); embedded mode keeps it
in memory. If Redis cannot be reached the request is let through: a limiter outage must not
stop uploads, and Redis being down already shows on ``/readyz``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Protocol

from emotrace.settings import Settings

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV: capacity, refill per second, now (s), ttl (s). Returns the seconds to wait
# (0: allowed, one token taken). The caller's clock is used so replicas agree on refill.
TOKEN_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(wait)
"""


class RateLimiter(Protocol):
    def acquire(self, client: str) -> float:
        """Take one token for ``client``: 0.0 if allowed, else the seconds until one is free."""
        ...


class Unlimited:
    def acquire(self, client: str) -> float:
        return 0.0


class MemoryRateLimiter:
    """Buckets in this process (embedded mode: one process serves every request)."""

    def __init__(self, capacity: int, per_second: float) -> None:
        self._capacity, self._rate = float(capacity), per_second
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(client, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - at) * self._rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self._rate


class RedisRateLimiter:
    """Buckets in Redis, shared by every API process."""

    PREFIX = "emotrace:ratelimit:post:"

    def __init__(self, redis_url: str, capacity: int, per_second: float) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self._script = self._redis.register_script(TOKEN_BUCKET_LUA)
        self._capacity, self._rate = capacity, per_second
        self._ttl = math.ceil(capacity / per_second) + 60  # a full bucket needs no key

    def acquire(self, client: str) -> float:
        try:
            wait = self._script(keys=[self.PREFIX + client], args=[self._capacity, self._rate, time.time(), self._ttl])
        except Exception as exc:  # redis raises several families for "unreachable"
            log.warning("rate limiter unavailable (%s): request allowed", type(exc).__name__)
            return 0.0
        return float(wait)


def make_rate_limiter(settings: Settings) -> RateLimiter:
    if settings.post_rate_per_minute == 0:
        return Unlimited()
    per_second = settings.post_rate_per_minute / 60.0
    if settings.redis_url is None:
        return MemoryRateLimiter(settings.post_burst, per_second)
    return RedisRateLimiter(settings.redis_url, settings.post_burst, per_second)
