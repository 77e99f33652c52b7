"""Powertools for AWS Lambda (Python) harness for the idem peer comparison.

Runs one slice of the workload described in bench/peers/rust/src/workload.rs
(same BENCH_* settings, same JSON line on stdout) with `@idempotent_function`
on a DynamoDBPersistenceLayer pointed at DynamoDB Local, or, with
BENCH_STORE=redis, on a RedisCachePersistenceLayer on the Redis URL in
BENCH_ENDPOINT (run-redis.sh). With BENCH_MODE=capacity it runs the
capacity steps of bench/peers/rust/src/capacity.rs instead, through
capacity_proxy.py (BENCH_ENDPOINT is the proxy).
"""

import json
import itertools
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from peer import FakeLambdaContext, dynamodb_client, receipt


def env(name, default=None):
    value = os.environ.get(name)
    if value is None:
        if default is None:
            sys.exit(f"{name} is not set")
        return default
    return value


def env_num(name, default):
    return int(env(name, str(default)))


class Counter:
    """A thread-safe counter (the concurrent phase runs 16 threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.value = 0

    def inc(self, **_kwargs):
        with self._lock:
            self.value += 1


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    endpoint = env("BENCH_ENDPOINT")
    table = env("BENCH_TABLE")
    prefix = env("BENCH_PREFIX")
    with open(env("BENCH_PAYLOAD")) as f:
        template = json.load(f)
    warmup_keys = env_num("BENCH_WARMUP_KEYS", 20)
    seq_keys = env_num("BENCH_SEQ_KEYS", 250)
    conc_keys = env_num("BENCH_CONC_KEYS", 250)
    concurrency = env_num("BENCH_CONCURRENCY", 16)
    side_keys = env_num("BENCH_SIDE_KEYS", 0)
    deliveries = env_num("BENCH_DELIVERIES", 8)
    body_s = env_num("BENCH_BODY_MS", 20) / 1000.0

    calls = Counter()
    if env("BENCH_MODE", "timed") == "capacity":
        return capacity(endpoint, table, prefix, template, env_num("BENCH_CAPACITY_KEYS", 10))
    if env("BENCH_STORE", "dynamodb") == "redis":
        persistence = redis_persistence(endpoint, table, calls)
    else:
        persistence = dynamodb_persistence(endpoint, table, calls, concurrency, deliveries)
    run(persistence, calls, template, prefix, warmup_keys, seq_keys, conc_keys, concurrency,
        side_keys, deliveries, body_s)


def redis_persistence(url, table, calls):
    """Powertools' Redis layer on a redis-py client (a thread-safe pool) that
    counts every command it sends. `table` is unused: keys are Powertools'
    own (`function#hash`), and every slice's order ids differ."""
    import redis
    from aws_lambda_powertools.utilities.idempotency.persistence.redis import (
        RedisCachePersistenceLayer,
    )

    class CountingRedis(redis.Redis):
        def execute_command(self, *args, **options):
            calls.inc()
            return super().execute_command(*args, **options)

    client = CountingRedis.from_url(url, decode_responses=True)
    # 3.x warns that the class takes its new name (CachePersistenceLayer) in
    # v4; the layer is the same.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return RedisCachePersistenceLayer(client=client)


def dynamodb_persistence(endpoint, table, calls, concurrency, deliveries):
    # A pool big enough that no thread waits for a connection.
    client = dynamodb_client(endpoint, pool=2 * max(concurrency, deliveries))
    # One event per API operation (before-send would count attempts).
    client.meta.events.register("before-call.dynamodb", calls.inc)
    return DynamoDBPersistenceLayer(table_name=table, boto3_client=client)


def capacity(proxy, table, prefix, template, keys):
    """The capacity steps: before each call, tell the proxy which step
    follows, so it charges that call's requests to it. Powertools has no
    waiting policy, so no wait step."""
    import urllib.request

    peer = env("BENCH_PEER", "powertools-python")

    def mark(step):
        with urllib.request.urlopen(f"{proxy}/__step?peer={peer}&step={step}", timeout=10) as r:
            r.read()

    def layer():
        # A layer per decorated function: Powertools configures a layer once,
        # with the config of the first function that uses it.
        return dynamodb_persistence(proxy, table, Counter(), 1, 1)

    def decorated(body, use_local_cache):
        config = IdempotencyConfig(
            event_key_jmespath="order_id",
            expires_after_seconds=3600,
            use_local_cache=use_local_cache,
        )
        config.register_lambda_context(FakeLambdaContext())
        # The id Powertools stores starts with module and qualified name:
        # a handler's, not this harness's nested function's.
        body.__qualname__ = "charge"
        return idempotent_function(
            data_keyword_argument="order", persistence_store=layer(), config=config
        )(body)

    def declined(order):
        raise RuntimeError("declined")

    def order_for(step, i):
        return {**template, "order_id": f"{prefix}-{step}-{i}"}

    charge = decorated(lambda order: receipt(order), use_local_cache=False)
    cached = decorated(lambda order: receipt(order), use_local_cache=True)
    failing = decorated(declined, use_local_cache=False)
    def first_and_duplicate(fn, step, first_mark, duplicate_mark):
        for i in range(keys):
            order = order_for(step, i)
            mark(first_mark)
            first = fn(order=order)
            mark(duplicate_mark)
            if fn(order=order) != first:
                raise RuntimeError(f"the {duplicate_mark} step returned another receipt")

    first_and_duplicate(charge, "plain", "first", "duplicate")
    first_and_duplicate(cached, "cache", "cached_first", "cached_duplicate")
    for i in range(keys):
        mark("failed")
        try:
            failing(order=order_for("failed", i))
            raise AssertionError("a failing body returned a receipt")
        except RuntimeError:
            pass
    mark("idle")
    print(json.dumps({"peer": peer, "capacity_keys": keys, "wait_keys": 0, "wait_secs": 0}))


def run(persistence, calls, template, prefix, warmup_keys, seq_keys, conc_keys, concurrency,
        side_keys, deliveries, body_s):
    config = IdempotencyConfig(
        event_key_jmespath="order_id",
        expires_after_seconds=3600,
        # Off, as idem runs here without its cache: every duplicate reaches
        # the table.
        use_local_cache=False,
    )
    config.register_lambda_context(FakeLambdaContext())
    effects = Counter()

    @idempotent_function(
        data_keyword_argument="order", persistence_store=persistence, config=config
    )
    def charge(order, delay=0.0):
        effects.inc()
        if delay:
            time.sleep(delay)
        return {
            "order_id": order["order_id"],
            "receipt_id": "rcpt-" + order["order_id"],
            "amount_cents": order["amount_cents"],
            "status": "charged",
        }

    def order_for(phase, i):
        order = dict(template)
        order["order_id"] = f"{prefix}-{phase}-{i}"
        return order

    def first_and_duplicate(order):
        before = effects.value
        first = charge(order=order)
        dup = charge(order=order)
        if first != dup:
            raise RuntimeError(f"the duplicate of {order['order_id']} returned another receipt")
        if effects.value <= before:
            raise RuntimeError("the first call did not run the body")

    for i in range(warmup_keys):
        first_and_duplicate(order_for("warm", i))

    cpu_start = cpu_seconds()

    first_us, dup_us = [], []
    first_calls = dup_calls = 0
    effects_before = effects.value
    seq_start = time.perf_counter()
    for i in range(seq_keys):
        order = order_for("seq", i)
        c = calls.value
        t = time.perf_counter()
        first = charge(order=order)
        first_us.append((time.perf_counter() - t) * 1e6)
        first_calls += calls.value - c

        c = calls.value
        t = time.perf_counter()
        dup = charge(order=order)
        dup_us.append((time.perf_counter() - t) * 1e6)
        dup_calls += calls.value - c
        if first != dup:
            raise RuntimeError(f"the duplicate of {order['order_id']} returned another receipt")
    seq_secs = time.perf_counter() - seq_start
    if effects.value - effects_before != seq_keys:
        raise RuntimeError(f"{effects.value - effects_before} bodies ran for {seq_keys} keys")

    next_key = itertools.count()  # next() is atomic under the GIL

    def worker():
        while True:
            i = next(next_key)
            if i >= conc_keys:
                return
            first_and_duplicate(order_for("conc", i))

    effects_before = effects.value
    conc_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for fut in [pool.submit(worker) for _ in range(concurrency)]:
            fut.result()
    conc_secs = time.perf_counter() - conc_start
    if effects.value - effects_before != conc_keys:
        raise RuntimeError(f"{effects.value - effects_before} bodies ran for {conc_keys} keys")

    cpu_secs = cpu_seconds() - cpu_start

    side_ok = side_in_progress = side_errors = 0
    effects_before = effects.value
    if side_keys:
        with ThreadPoolExecutor(max_workers=deliveries) as pool:
            for k in range(side_keys):
                order = order_for("side", k)
                # Threads start one by one; the barrier releases the
                # deliveries together, as the async harnesses do.
                barrier = threading.Barrier(deliveries)

                def deliver(order=order, barrier=barrier):
                    barrier.wait()
                    return charge(order=order, delay=body_s)

                for fut in [pool.submit(deliver) for _ in range(deliveries)]:
                    try:
                        fut.result()
                        side_ok += 1
                    except IdempotencyAlreadyInProgressError:
                        side_in_progress += 1
                    except Exception as e:  # noqa: BLE001 - counted and reported
                        print(f"side-effect delivery failed: {e!r}", file=sys.stderr)
                        side_errors += 1
    side_effects = effects.value - effects_before

    report = {
        "peer": env("BENCH_PEER", "powertools-python"),
        "round": env_num("BENCH_ROUND", 1),
        "first_us": first_us,
        "dup_us": dup_us,
        "first_calls": first_calls,
        "dup_calls": dup_calls,
        "seq_ops": 2 * seq_keys,
        "seq_secs": seq_secs,
        "conc_ops": 2 * conc_keys,
        "conc_secs": conc_secs,
        "concurrency": concurrency,
        "cpu_secs": cpu_secs,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "side_keys": side_keys,
        "side_deliveries": deliveries,
        "side_effects": side_effects,
        "side_ok": side_ok,
        "side_in_progress": side_in_progress,
        "side_errors": side_errors,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
