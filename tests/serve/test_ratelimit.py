import asyncio
import time
import uuid

import pytest
import redis

from deeptrust.serve.ratelimit import (
    MemoryRateLimiter,
    RateLimitUnavailableError,
    RedisRateLimiter,
    create_rate_limiter,
)

from .conftest import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


def burst_then_refuse(limiter, key):
    async def main():
        return [await limiter.hit(key) for _ in range(4)]

    return asyncio.run(main())


def test_memory_bucket_allows_the_burst_then_refuses_with_retry_after():
    decisions = burst_then_refuse(MemoryRateLimiter(rate=1.0, burst=3), "k")
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 0 < decisions[-1].retry_after <= 1.0
    assert decisions[0].remaining == 2


def test_memory_buckets_are_per_key():
    limiter = MemoryRateLimiter(rate=1.0, burst=1)

    async def main():
        return [
            (await limiter.hit("a")).allowed,
            (await limiter.hit("b")).allowed,
            (await limiter.hit("a")).allowed,
        ]

    assert asyncio.run(main()) == [True, True, False]


def test_buckets_refill_over_time():
    limiter = MemoryRateLimiter(rate=50.0, burst=1)

    async def main():
        first = await limiter.hit("k")
        refused = await limiter.hit("k")
        await asyncio.sleep(0.05)
        return first.allowed, refused.allowed, (await limiter.hit("k")).allowed

    assert asyncio.run(main()) == (True, False, True)


def take(limiter, key, costs):
    async def main():
        return [await limiter.hit(key, cost) for cost in costs]

    return asyncio.run(main())


def test_memory_bucket_takes_the_cost_all_or_nothing():
    first, short, rest = take(MemoryRateLimiter(rate=0.5, burst=5), "k", [3, 3, 2])
    assert first.allowed and first.remaining == 2
    assert not short.allowed and short.remaining == 2  # a refused cost takes nothing
    assert short.retry_after == pytest.approx((3 - 2) / 0.5, abs=0.01)
    assert rest.allowed and rest.remaining == 0


def test_zero_rate_means_no_limiter():
    assert create_rate_limiter(rate=0, burst=10) is None
    assert isinstance(create_rate_limiter(rate=2, burst=0), MemoryRateLimiter)


@pytest.fixture
def redis_url():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:  # CI starts Redis; say so loudly if it is not there
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


def test_redis_bucket_is_shared_between_limiters(redis_url):
    """Two limiters = two replicas: together they allow only one burst."""
    key = f"test-{uuid.uuid4().hex}"

    async def main():
        a = RedisRateLimiter(redis_url, rate=0.5, burst=3)
        b = RedisRateLimiter(redis_url, rate=0.5, burst=3)
        results = [await (a if i % 2 else b).hit(key) for i in range(5)]
        await a.close()
        await b.close()
        return results

    decisions = asyncio.run(main())
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert decisions[-1].retry_after > 0
    ttl = redis.Redis.from_url(redis_url).pttl(f"deeptrust:ratelimit:{key}")
    assert 0 < ttl <= 7000  # buckets expire once full again: nothing accumulates in Redis


def test_redis_bucket_takes_the_cost_all_or_nothing(redis_url):
    key = f"test-{uuid.uuid4().hex}"

    async def main():
        limiter = RedisRateLimiter(redis_url, rate=0.5, burst=5)
        try:
            return [await limiter.hit(key, cost) for cost in (3, 3, 2, 1)]
        finally:
            await limiter.close()

    decisions = asyncio.run(main())
    assert [d.allowed for d in decisions] == [True, False, True, False]
    assert decisions[1].remaining == 2 and decisions[1].retry_after == pytest.approx(2.0, abs=0.05)


def test_unreachable_redis_raises_a_clear_error_quickly():
    """A closed port: the limiter says so (the service decides fail-open or closed), without hanging."""
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def main():
        limiter = RedisRateLimiter(url, rate=1.0, burst=1)
        try:
            await limiter.hit("k")
        finally:
            await limiter.close()

    started = time.monotonic()
    with pytest.raises(RateLimitUnavailableError, match="Redis did not answer"):
        asyncio.run(main())
    assert time.monotonic() - started < 5
