"""Markdown table of a PEER_MODE=batch run (bench/peers/run.sh): batch
latency (first delivery, redelivery), records per second, and the ratios the
batch helper is held to."""

import json
import os
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
peers = []
for r in rows:
    if r["peer"] not in peers:
        peers.append(r["peer"])
by = {p: {"first": [], "replay": [], "size": 0} for p in peers}
for r in rows:
    by[r["peer"]]["first"] += r["first_ms"]
    by[r["peer"]]["replay"] += r["replay_ms"]
    by[r["peer"]]["size"] = r["batch_size"]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def p50(p, k="first"):
    return statistics.median(by[p][k])


def rps(p, k="first"):
    return by[p]["size"] * len(by[p][k]) / (sum(by[p][k]) / 1e3)


names = {
    "raw-concurrent": "raw aws-sdk-dynamodb, records concurrently (`join_all`; the limit)",
    "idem-batch": "**idem-batch** `Batch::sqs` (concurrency 10) + `#[idempotent]`",
    "idem-sequential": "idem `#[idempotent]`, a sequential `for` loop",
    "powertools-python-batch": "Powertools Python `BatchProcessor` + `idempotent_function`",
}
size = next(iter(by.values()))["size"]
n = len(next(iter(by.values()))["first"])
print(f"One run of `PEER_MODE=batch bench/peers/run.sh` ({os.environ.get('PEER_DATE', '?')}; "
      f"{os.environ.get('PEER_ROUNDS', '?')} interleaved rounds, {n} batches of {size} SQS records "
      f"per peer, each delivered twice; one DynamoDB Local on the same 2-core host; "
      f"load at start {os.environ.get('PEER_LOAD_START', '?')}; Python {os.environ.get('PEER_PYTHON_VERSION', '?')}).")
print()
print("| peer | first delivery p50 / p99 (ms per batch) | redelivery p50 / p99 (ms per batch, all replays) | records/s, first delivery |")
print("|---|---|---|---|")
for p in peers:
    f, r = by[p]["first"], by[p]["replay"]
    print(f"| {names.get(p, p)} | {p50(p):.2f} / {pct(f, 0.99):.2f} | {p50(p, 'replay'):.2f} / {pct(r, 0.99):.2f} | {rps(p):.0f} |")
print()
checks = []
if {"idem-batch", "raw-concurrent"} <= set(by):
    checks.append(("idem-batch ÷ raw concurrent, first-delivery p50", p50("idem-batch") / p50("raw-concurrent"), "≤ 1.10"))
    checks.append(("idem-batch ÷ raw concurrent, redelivery p50", p50("idem-batch", "replay") / p50("raw-concurrent", "replay"), "—"))
if {"idem-batch", "idem-sequential"} <= set(by):
    checks.append(("idem-batch ÷ sequential loop, first-delivery p50", p50("idem-batch") / p50("idem-sequential"), "≤ 0.40"))
if {"idem-batch", "powertools-python-batch"} <= set(by):
    checks.append(("idem-batch records/s ÷ Powertools Python's", rps("idem-batch") / rps("powertools-python-batch"), "≥ 3"))
print("| ratio | value | target |")
print("|---|---|---|")
for label, value, target in checks:
    print(f"| {label} | {value:.2f} | {target} |")
