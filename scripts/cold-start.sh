#!/usr/bin/env bash
# Cold start of the SQS example Lambda: stripped release binary size, init time
# (process start to the first poll of the Runtime API: no network call is made
# there) and the first invocation (a batch of 4 records against DynamoDB Local,
# with its cold connection). Runs a stand-in Runtime API on loopback.
#
#   scripts/cold-start.sh [RUNS]      (default 5 runs; prints a Markdown table)
set -euo pipefail
runs=${1:-5}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
work=$(mktemp -d)
state=$work/ddb
cleanup() {
    scripts/dynamodb-local.sh stop --state-dir "$state" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "building the SQS example (release)..." >&2
cargo build --release --quiet -p idem-examples --bin lambda_sqs
cp target/release/lambda_sqs "$work/bootstrap"
strip "$work/bootstrap"
size_bytes=$(stat -c %s "$work/bootstrap")

scripts/dynamodb-local.sh install >&2
eval "$(scripts/dynamodb-local.sh start --state-dir "$state")"
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
table=cold_start
curl -sf -X POST "$IDEM_DYNAMODB_ENDPOINT" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.CreateTable' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d "{\"TableName\":\"$table\",\"BillingMode\":\"PAY_PER_REQUEST\",\"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}]}" >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

results=()
for i in $(seq 1 "$runs"); do
    port=$(free_port)
    # Fresh order ids each run, so every run charges (first calls, not replays).
    sed "s/ord-100/run$i-ord-100/g" examples/fixtures/sqs_batch.json >"$work/event.json"
    python3 scripts/fake-lambda-runtime.py --port "$port" --event "$work/event.json" \
        --started-file "$work/started" >"$work/result.json" &
    runtime=$!
    sleep 0.3
    date +%s%N >"$work/started"
    AWS_LAMBDA_RUNTIME_API=127.0.0.1:$port AWS_LAMBDA_FUNCTION_NAME=cold-start \
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION=1 \
        AWS_LAMBDA_LOG_STREAM_NAME=local AWS_LAMBDA_LOG_GROUP_NAME=local \
        IDEM_TABLE=$table "$work/bootstrap" >"$work/function.log" 2>&1 &
    function=$!
    wait "$runtime" || { cat "$work/result.json" "$work/function.log" >&2; exit 1; }
    kill "$function" 2>/dev/null || true
    wait "$function" 2>/dev/null || true
    results+=("$(cat "$work/result.json")")
done

printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
size = int(sys.argv[1])
rows = [json.loads(l) for l in sys.stdin if l.strip()]
assert all(r["outcome"] == "response" for r in rows), rows
assert all("d9b5f3e2" in r["body"] for r in rows), "the malformed record must be the only batch item failure"
init = [r["init_ms"] for r in rows]
first = [r["first_invocation_ms"] for r in rows]
print("| figure | value |")
print("|---|---|")
print(f"| stripped release binary (`lambda_sqs`) | {size/1e6:.1f} MB |")
print(f"| init, process start to first Runtime API poll (median of {len(rows)}) | {statistics.median(init):.1f} ms (min {min(init):.1f}, max {max(init):.1f}) |")
print(f"| first invocation, 4 records, cold DynamoDB Local connection (median) | {statistics.median(first):.1f} ms (min {min(first):.1f}, max {max(first):.1f}) |")
' "$size_bytes"
