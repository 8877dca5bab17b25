import asyncio
import statistics
import threading
import time

import pytest

from deeptrust.serve.batching import BatcherClosedError, BatchStats, MicroBatcher, QueueFullError


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submits_form_batches_and_keep_order():
    sizes = []

    def double(items):
        sizes.append(len(items))
        return [x * 2 for x in items]

    async def main():
        b = MicroBatcher(double, max_batch_size=8, max_wait_ms=20, max_queue=100)
        await b.start()
        results = await asyncio.gather(*(b.submit(i) for i in range(20)))
        await b.stop()
        return results

    assert run(main()) == [i * 2 for i in range(20)]
    assert max(sizes) == 8 and sum(sizes) == 20 and len(sizes) < 20


def batch_waits(max_wait_ms: float, rounds: list[int], max_batch_size: int) -> list[tuple[int, float]]:
    """(batch size, the batcher's own wait for its first item) for each round of concurrent submits."""
    stats: list[BatchStats] = []

    async def main():
        b = MicroBatcher(
            lambda xs: xs, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue=64,
            on_batch=stats.append,
        )  # fmt: skip
        await b.start()
        for n in rounds:
            await asyncio.gather(*(b.submit(i) for i in range(n)))
        await b.stop()

    run(main())
    return [(s.size, max(s.waits)) for s in stats]


def test_a_lone_item_waits_max_wait_for_company_and_no_longer():
    """Measured by the batcher itself (submit → batch start), not the wall clock of the whole call; the
    median of five lone items, so that one descheduling on a loaded machine does not decide."""
    waits = batch_waits(40, [1] * 5, max_batch_size=8)
    assert [size for size, _ in waits] == [1] * 5
    median = statistics.median(w for _, w in waits)
    assert 0.038 <= median <= 0.040 + 0.020, waits  # waits for company, then at most 20 ms late


def test_a_full_batch_does_not_wait():
    waits = batch_waits(200, [8] * 3, max_batch_size=8)
    assert [size for size, _ in waits] == [8] * 3
    assert statistics.median(w for _, w in waits) < 0.050, waits  # far below max_wait (200 ms)


def test_batch_function_runs_off_the_event_loop():
    loop_threads = []

    def record(items):
        loop_threads.append(threading.current_thread().name)
        return items

    async def main():
        b = MicroBatcher(record, max_batch_size=2, max_wait_ms=1, max_queue=10)
        await b.start()
        await b.submit(0)
        await b.stop()

    run(main())
    assert loop_threads and loop_threads[0].startswith("batcher")


def test_errors_reach_every_caller_of_the_batch():
    def boom(items):
        raise ValueError("model failed")

    async def main():
        b = MicroBatcher(boom, max_batch_size=4, max_wait_ms=5, max_queue=10)
        await b.start()
        results = await asyncio.gather(*(b.submit(i) for i in range(3)), return_exceptions=True)
        await b.stop()
        return results

    assert all(isinstance(r, ValueError) for r in run(main()))


def test_full_queue_sheds_instead_of_waiting():
    gate = threading.Event()

    def slow(items):
        gate.wait(5)
        return items

    async def main():
        b = MicroBatcher(slow, max_batch_size=1, max_wait_ms=0, max_queue=2)
        await b.start()
        first = asyncio.create_task(b.submit(0))  # taken by the worker, blocks on the gate
        await asyncio.sleep(0.05)
        queued = [asyncio.create_task(b.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFullError):
            await b.submit(3)
        gate.set()
        done = await asyncio.gather(first, *queued)
        await b.stop()
        return done

    assert run(main()) == [0, 1, 2]


def test_stop_drains_queued_work_then_refuses_new_items():
    def slowish(items):
        time.sleep(0.02)
        return items

    async def main():
        b = MicroBatcher(slowish, max_batch_size=1, max_wait_ms=0, max_queue=50)
        await b.start()
        tasks = [asyncio.create_task(b.submit(i)) for i in range(5)]
        await asyncio.sleep(0)
        await b.stop()
        with pytest.raises(BatcherClosedError):
            await b.submit(99)
        return [t.result() for t in tasks]

    assert run(main()) == list(range(5))


def test_wrong_result_count_is_an_error_not_a_hang():
    async def main():
        b = MicroBatcher(lambda xs: xs[:-1], max_batch_size=4, max_wait_ms=5, max_queue=10)
        await b.start()
        results = await asyncio.gather(b.submit(1), b.submit(2), return_exceptions=True)
        await b.stop()
        return results

    assert all(isinstance(r, RuntimeError) for r in run(main()))


def test_settings_are_validated():
    with pytest.raises(ValueError):
        MicroBatcher(lambda xs: xs, max_batch_size=0)
