"""The SQS example's job in Powertools for AWS Lambda (Python), for
scripts/cold-start.sh: init imports the idempotency and batch utilities and
builds a DynamoDBPersistenceLayer (which makes its boto3 DynamoDB client),
then a minimal Runtime API loop serves the invocations, each an SQS batch run
by BatchProcessor with `idempotent_function` per record (keyed on order_id).

The loop is plain urllib, lighter than the managed runtime's awslambdaric, so
the init it shows is a lower bound for Powertools on Lambda.
"""

import json
import os
import urllib.request

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

persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEM_TABLE"])
config = IdempotencyConfig(event_key_jmespath="order_id", expires_after_seconds=48 * 3600)
processor = BatchProcessor(event_type=EventType.SQS)
charges = 0


@idempotent_function(data_keyword_argument="payment", persistence_store=persistence, config=config)
def charge(payment):
    global charges
    charges += 1
    return {"order_id": payment["order_id"], "charged_cents": payment["amount_cents"]}


def record_handler(record):
    return charge(payment=json.loads(record.body))


class Context:
    def __init__(self, deadline_ms):
        self.deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        import time

        return max(0, self.deadline_ms - int(time.time() * 1000))


api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation"
while True:
    with urllib.request.urlopen(api + "/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        context = Context(int(r.headers["Lambda-Runtime-Deadline-Ms"]))
        event = json.loads(r.read())
    config.register_lambda_context(context)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    body = json.dumps(response).encode()
    urllib.request.urlopen(urllib.request.Request(api + f"/{request_id}/response", data=body)).read()
