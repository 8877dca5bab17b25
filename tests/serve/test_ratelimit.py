import asyncio
import uuid

import pytest
import redis

from deeptrust.serve.ratelimit import MemoryRateLimiter, RedisRateLimiter, create_rate_limiter

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
