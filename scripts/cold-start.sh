#!/usr/bin/env bash
# Cold start of the SQS example Lambda: stripped release binary size, init time
# (process start to the first poll of the Runtime API: no network call is made
# there) and the first invocation (a batch of 4 records against DynamoDB Local,
# with its cold connection). Runs a stand-in Runtime API on loopback. Beside it,
# in the same run and interleaved, the same job in Powertools for AWS Lambda
# (Python): scripts/powertools-bootstrap.py (imports of the idempotency and
# batch utilities, a DynamoDBPersistenceLayer with its boto3 client), from the
# venv bench/peers/run.sh uses (installed here if missing).
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

# Powertools for Python: the peer bench's pinned venv.
venv=${IDEM_CACHE_DIR:-$root/.cache}/peers/py-venv
pins=$(sha256sum bench/peers/py/requirements.txt | cut -d' ' -f1)
if [[ ! -f $venv/.idem-stamp || $(<"$venv/.idem-stamp") != "$pins" ]]; then
    echo "installing Powertools for Python into $venv ..." >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        -r bench/peers/py/requirements.txt >&2
    printf '%s\n' "$pins" >"$venv/.idem-stamp"
fi

scripts/dynamodb-local.sh install >&2
eval "$(scripts/dynamodb-local.sh start --state-dir "$state")"
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
table=cold_start
curl -sf -X POST "$IDEM_DYNAMODB_ENDPOINT" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.CreateTable' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d "{\"TableName\":\"$table\",\"BillingMode\":\"PAY_PER_REQUEST\",\"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}]}" >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One cold start of FUNCTION (idem | powertools), run I; prints its JSON line.
cold_start() {
    local function=$1 i=$2 port
    port=$(free_port)
    # Fresh order ids each run, so every run charges (first calls, not replays).
    sed "s/ord-100/$function-run$i-ord-100/g" examples/fixtures/sqs_batch.json >"$work/event.json"
    python3 scripts/fake-lambda-runtime.py --port "$port" --event "$work/event.json" \
        --started-file "$work/started" >"$work/result.json" &
    runtime=$!
    # Until the stand-in Runtime API listens (a loaded machine starts Python slowly).
    for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    local env=(AWS_LAMBDA_RUNTIME_API=127.0.0.1:$port AWS_LAMBDA_FUNCTION_NAME=cold-start
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 AWS_LAMBDA_FUNCTION_VERSION=1
        AWS_LAMBDA_LOG_STREAM_NAME=local AWS_LAMBDA_LOG_GROUP_NAME=local IDEM_TABLE=$table
        AWS_ENDPOINT_URL_DYNAMODB=$IDEM_DYNAMODB_ENDPOINT)
    date +%s%N >"$work/started"
    case $function in
    idem) env "${env[@]}" "$work/bootstrap" >"$work/function.log" 2>&1 & ;;
    powertools) env "${env[@]}" "$venv/bin/python" scripts/powertools-bootstrap.py >"$work/function.log" 2>&1 & ;;
    esac
    local pid=$!
    wait "$runtime" || { cat "$work/result.json" "$work/function.log" >&2; exit 1; }
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["function"]=sys.argv[2]; print(json.dumps(r))' \
        "$work/result.json" "$function"
}

results=()
for i in $(seq 1 "$runs"); do
    results+=("$(cold_start idem "$i")")
    results+=("$(cold_start powertools "$i")")
done

printf '%s\n' "${results[@]}" >"$work/results.jsonl"
python3 - "$size_bytes" "$work/results.jsonl" <<'EOF'
import json, statistics, sys
size = int(sys.argv[1])
rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert all(r["outcome"] == "response" for r in rows), rows
assert all("d9b5f3e2" in r["body"] for r in rows), "the malformed record must be a batch item failure"
by = {f: [r for r in rows if r["function"] == f] for f in ("idem", "powertools")}

def med(f, k):
    return statistics.median(r[k] for r in by[f])

def cell(f, k):
    values = [r[k] for r in by[f]]
    return "%.1f ms (min %.1f, max %.1f)" % (med(f, k), min(values), max(values))

def row(label, k):
    ratio = med("idem", k) / med("powertools", k)
    return "| %s | %s | %s | %.3f |" % (label, cell("idem", k), cell("powertools", k), ratio)

print("| figure | idem (`lambda_sqs`) | Powertools Python | idem ÷ Powertools |")
print("|---|---|---|---|")
print("| stripped release binary | %.1f MB | — | — |" % (size / 1e6))
print(row("init, process start to first Runtime API poll (median of %d)" % len(by["idem"]), "init_ms"))
print(row("first invocation, 4 records, cold DynamoDB Local connection (median)", "first_invocation_ms"))
EOF
