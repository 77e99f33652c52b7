"""PEER_MODE=batch for Powertools for AWS Lambda (Python): the same SQS batches
as bench/peers/rust/src/batch.rs, handled by BatchProcessor +
process_partial_response with `idempotent_function` per record (keyed on
order_id, on DynamoDB Local), each batch delivered twice. BatchProcessor runs
the records one after the other. Prints one JSON line.
"""

import json
import os
import time

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from peer import FakeLambdaContext, dynamodb_client, receipt


def main():
    env = os.environ
    with open(env["BENCH_PAYLOAD"]) as f:
        template = json.load(f)
    prefix = env["BENCH_PREFIX"]
    batches = int(env.get("BENCH_BATCHES", 100))
    size = int(env.get("BENCH_BATCH_SIZE", 10))
    warmup = int(env.get("BENCH_WARMUP_BATCHES", 5))
    client = dynamodb_client(env["BENCH_ENDPOINT"])
    persistence = DynamoDBPersistenceLayer(table_name=env["BENCH_TABLE"], boto3_client=client)
    config = IdempotencyConfig(event_key_jmespath="order_id", expires_after_seconds=3600)
    context = FakeLambdaContext()
    config.register_lambda_context(context)
    processor = BatchProcessor(event_type=EventType.SQS)
    effects = [0]

    @idempotent_function(data_keyword_argument="order", persistence_store=persistence, config=config)
    def charge(order):
        effects[0] += 1
        return receipt(order)

    def record_handler(record):
        return charge(order=json.loads(record.body))

    def event(b):
        records = []
        for i in range(size):
            order = dict(template, order_id=f"{prefix}-b{b}-{i}")
            records.append({
                "messageId": f"{prefix}-m{b}-{i}",
                "receiptHandle": "rh",
                "body": json.dumps(order),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
                "awsRegion": "us-east-1",
            })
        return {"Records": records}

    first_ms, replay_ms = [], []
    for b in range(warmup + batches):
        ev = event(b)
        for delivery, times in ((1, first_ms), (2, replay_ms)):
            started = time.perf_counter()
            response = process_partial_response(
                event=ev, record_handler=record_handler, processor=processor, context=context
            )
            ms = (time.perf_counter() - started) * 1e3
            if response["batchItemFailures"]:
                raise SystemExit(f"delivery {delivery} of batch {b} failed: {response}")
            if b >= warmup:
                times.append(ms)
    records = (warmup + batches) * size
    if effects[0] != records:
        raise SystemExit(f"{effects[0]} side effects for {records} records")
    print(json.dumps({
        "peer": "powertools-python-batch", "batch_size": size, "first_ms": first_ms,
        "replay_ms": replay_ms, "effects": effects[0], "records": records,
    }))


main()
