"""Token-bucket rate limits per caller: in memory for one process, in Redis for several replicas.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request takes one.
When empty the caller is told how long until the next token (HTTP 429 with ``Retry-After``).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: float  # seconds until a token is available (0 when allowed)


class RateLimiter(Protocol):
    async def hit(self, key: str) -> Decision: ...


class MemoryRateLimiter:
    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    async def hit(self, key: str) -> Decision:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
        return _decision(allowed, tokens, self.rate)


# Atomic refill-and-take; the clock is Redis's own so that replicas agree on time.
_TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
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
        self.client = redis.Redis.from_url(url)
        self._script = self.client.register_script(_TOKEN_BUCKET_LUA)

    async def hit(self, key: str) -> Decision:
        allowed, tokens = await self._script(keys=[self.prefix + key], args=[self.rate, self.burst])
        return _decision(bool(int(allowed)), float(tokens), self.rate)

    async def close(self) -> None:
        await self.client.aclose()


def _decision(allowed: bool, tokens: float, rate: float) -> Decision:
    retry = 0.0 if allowed else (1.0 - tokens) / rate
    return Decision(allowed, math.floor(tokens), retry)


def create_rate_limiter(*, rate: float, burst: int, redis_url: str = "") -> RateLimiter | None:
    if rate <= 0:
        return None
    burst = burst or max(1, math.ceil(rate))
    return RedisRateLimiter(redis_url, rate, burst) if redis_url else MemoryRateLimiter(rate, burst)
