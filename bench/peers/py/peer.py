"""What the Powertools (Python) peers share: the Lambda context they run
under, the receipt every peer's handler returns, and the DynamoDB Local
client."""

import boto3
from botocore.config import Config


class FakeLambdaContext:
    """Powertools takes a claim's lease from the Lambda context's remaining
    time; without one it writes no lease at all. 5 min matches idem's
    default lease, so every peer writes the same item."""

    def get_remaining_time_in_millis(self):
        return 300_000


def receipt(order):
    """The handler's result, as every peer's handler builds it."""
    return {
        "order_id": order["order_id"],
        "receipt_id": "rcpt-" + order["order_id"],
        "amount_cents": order["amount_cents"],
        "status": "charged",
    }


def dynamodb_client(endpoint, pool=10):
    """A client of DynamoDB Local. Standard retries with 3 attempts, as the
    Rust and JS SDKs default to (botocore's legacy default is 5)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(
            max_pool_connections=pool,
            retries={"mode": "standard", "max_attempts": 3},
        ),
    )
