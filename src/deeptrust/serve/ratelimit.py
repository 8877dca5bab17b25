"""Token-bucket rate limits per caller: in memory for one process, in Redis for several replicas.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request takes one
token per image it scores (``cost``), all or nothing. When the bucket is short the caller is told how
long until it holds enough (HTTP 429 with ``Retry-After``); a cost above ``burst`` can never be paid.

A Redis that cannot be reached raises ``RateLimitUnavailableError``: the caller decides whether that
refuses the request (fail closed, the default) or lets it through unlimited (fail open).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("deeptrust.serve")

REDIS_TIMEOUT_S = 0.5  # connect and reply; a rate-limit check must not hang a request on a dead Redis


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float  # seconds until the bucket holds the cost asked for (0 when allowed)


class RateLimitUnavailableError(RuntimeError):
    """The shared bucket store (Redis) did not answer; nothing was decided."""


class RateLimiter(Protocol):
    rate: float
    burst: int

    async def hit(self, key: str, cost: int = 1) -> Decision: ...


class MemoryRateLimiter:
    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    async def hit(self, key: str, cost: int = 1) -> Decision:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._buckets[key] = (tokens, now)
        return _decision(allowed, tokens, self.rate, cost)


# Atomic refill-and-take; the clock is Redis's own so that replicas agree on time.
_TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    def __init__(self, url: str, rate: float, burst: int, *, prefix: str = "deeptrust:ratelimit:"):
        import redis.asyncio as redis

        self.rate, self.burst, self.prefix = rate, max(1, burst), prefix
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
        )
        self._script = self.client.register_script(_TOKEN_BUCKET_LUA)
        self._down = False  # logged once per outage, not once per request

    async def hit(self, key: str, cost: int = 1) -> Decision:
        import redis

        try:
            allowed, tokens = await self._script(keys=[self.prefix + key], args=[self.rate, self.burst, cost])
        except (redis.RedisError, OSError) as exc:
            if not self._down:
                log.error(
                    "rate limits cannot be checked: Redis does not answer (%s: %s)", type(exc).__name__, exc
                )
            self._down = True
            raise RateLimitUnavailableError(f"Redis did not answer: {type(exc).__name__}: {exc}") from exc
        if self._down:
            self._down = False
            log.warning("Redis answers again: rate limits are checked")
        return _decision(bool(int(allowed)), float(tokens), self.rate, cost)

    async def close(self) -> None:
        await self.client.aclose()


def _decision(allowed: bool, tokens: float, rate: float, cost: int) -> Decision:
    retry = 0.0 if allowed else (cost - tokens) / rate
    return Decision(allowed, math.floor(tokens), retry)


def create_rate_limiter(*, rate: float, burst: int, redis_url: str = "") -> RateLimiter | None:
    if rate <= 0:
        return None
    burst = burst or max(1, math.ceil(rate))
    return RedisRateLimiter(redis_url, rate, burst) if redis_url else MemoryRateLimiter(rate, burst)
