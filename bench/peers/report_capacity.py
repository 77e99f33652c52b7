"""The capacity part of results.md: what each peer's calls cost in DynamoDB
capacity units and how big its stored item is, from the files run.sh's
capacity phase leaves (runs.jsonl from the harnesses, steps.json and
sizes-PEER.json from capacity_proxy.py). Standard library only.
"""

import json
from pathlib import Path

# On-demand, us-east-1, per million request units (AWS price page, since the
# November 2024 cut).
PRICE_WRITE = 0.625
PRICE_READ = 0.125

STEPS = [
    ("first", "first call"),
    ("duplicate", "duplicate"),
    ("cached_duplicate", "cached duplicate"),
    ("failed", "failed body (record deleted)"),
]
NO_WAIT = "n/a: raises IdempotencyAlreadyInProgressError"
# The limit sends only the claim and the save: it has no cache and no
# failure path.
NOT_IN_LIMIT = "n/a"


def load(directory):
    directory = Path(directory)
    if not (directory / "steps.json").exists():
        return None
    runs = {}
    for line in (directory / "runs.jsonl").read_text().splitlines():
        if line.strip():
            run = json.loads(line)
            runs[run["peer"]] = run
    steps = {(s["peer"], s["step"]): s for s in json.loads((directory / "steps.json").read_text())}
    sizes = {}
    for path in directory.glob("sizes-*.json"):
        sizes[path.stem.removeprefix("sizes-")] = json.loads(path.read_text())
    return runs, steps, sizes


def per_call(step):
    """(reported WCU, counted WCU, RCU) per call of a step."""
    n = step["calls"] or 1
    return step["wcu_reported"] / n, step["wcu_counted"] / n, step["rcu_reported"] / n


def units(wcu_reported, wcu_counted, rcu):
    """A cell: write units (a dagger on those counted by rule) and read units."""
    def num(x):
        return f"{x:.2f}".rstrip("0").rstrip(".")

    if wcu_counted and wcu_reported:
        w = f"{num(wcu_reported)} + {num(wcu_counted)}†"
    elif wcu_counted:
        w = f"{num(wcu_counted)}†"
    else:
        w = num(wcu_reported)
    return f"{w} W / {num(rcu)} R"


def dollars(step):
    rep, cnt, rcu = per_call(step)
    return (rep + cnt) * PRICE_WRITE + rcu * PRICE_READ


def render(directory, peers, names):
    loaded = load(directory)
    if loaded is None:
        return []
    runs, steps, sizes = loaded
    out = ["\n### Capacity per call (DynamoDB Local, through capacity_proxy.py)\n"]
    out.append(
        "| peer | " + " | ".join(label for _, label in STEPS)
        + " | waiting duplicate | item bytes (id / data) |"
    )
    out.append("|---|---|---|---|---|---|---|")
    for peer in peers:
        if peer not in runs:
            continue
        cells = []
        for key, _ in STEPS:
            step = steps.get((peer, key))
            if step:
                cells.append(units(*per_call(step)))
            else:
                cells.append(NOT_IN_LIMIT if peer == "raw" else "—")
        wait = steps.get((peer, "wait"))
        if wait:
            rep, cnt, rcu = per_call(wait)
            secs = runs[peer]["wait_secs"] / max(1, runs[peer]["wait_keys"])
            gets = wait["ops"].get("GetItem", 0) / wait["calls"]
            cells.append(
                f"{units(rep, cnt, rcu)} in {secs:.1f} s of wait ({gets:g} polls: "
                f"{rcu / secs:.1f} R/s on average, 1 R/s once polls reach 1 s)"
            )
        else:
            cells.append(NO_WAIT if peer.startswith("powertools") else "—")
        size = sizes.get(peer, {})
        attrs = size.get("attributes") or {}
        width = lambda a: attrs[a]["name_bytes"] + attrs[a]["value_bytes"] if a in attrs else 0
        cells.append(f"{size.get('max', '?')} ({width('id')} / {width('data')})")
        out.append(f"| {names.get(peer, peer)} | " + " | ".join(cells) + " |")
    keys = next(iter(runs.values()))["capacity_keys"]
    hold = f"{runs['idem']['hold_ms'] / 1000:g} s" if "hold_ms" in runs.get("idem", {}) else "a while"
    out.append(
        f"\nW = write capacity units, R = read capacity units, per call, over {keys} fresh keys "
        "per step. Plain figures are DynamoDB Local's own `ConsumedCapacity` "
        "(`ReturnConsumedCapacity=TOTAL`, added by the proxy); † marks writes that failed "
        "their condition, for which DynamoDB Local reports nothing, counted by AWS's rule "
        "(the larger of the existing and the written item, 1 WCU per KB rounded up, at least 1). "
        "The cached duplicate runs through idem's `Cached` / Powertools' `use_local_cache`, "
        "after a first call through the same wrapper. The waiting duplicate (idem, "
        "`InProgress::Wait`) arrives while an uncounted second client holds the key for "
        f"{hold}, and polls with consistent GetItem from 25 ms doubling to 1 s. "
        "Item bytes: the largest completed item of the peer's table, by AWS's rule "
        "(attribute names + values; numbers ≈ digits / 2 + 1), with the `id` and `data` "
        "attributes' share; the same order ids in every table."
    )
    out += sizes_table(peers, names, sizes)
    out += targets(steps)
    out += prices(steps, names)
    return out


def sizes_table(peers, names, sizes):
    attrs = sorted({a for s in sizes.values() for a in (s.get("attributes") or {})})
    if not attrs:
        return []
    out = ["\n#### Item size by attribute (name + value bytes)\n"]
    out.append("| peer | " + " | ".join(f"`{a}`" for a in attrs) + " | total |")
    out.append("|---|" + "---|" * (len(attrs) + 1))
    for peer in peers:
        parts = (sizes.get(peer) or {}).get("attributes")
        if not parts:
            continue
        cells = [
            f"{parts[a]['name_bytes']} + {parts[a]['value_bytes']}" if a in parts else "—" for a in attrs
        ]
        total = sum(p["name_bytes"] + p["value_bytes"] for p in parts.values())
        out.append(f"| {names.get(peer, peer)} | " + " | ".join(cells) + f" | {total} |")
    return out


def targets(steps):
    def total(peer, key):
        step = steps.get((peer, key))
        if not step:
            return None
        rep, cnt, rcu = per_call(step)
        return rep + cnt, rcu

    def verdict(ok):
        return "yes" if ok else "**no**"

    out = ["\n#### Capacity targets\n", "| target | measured | met |", "|---|---|---|"]
    for key, label, want in [("first", "first call", 2), ("duplicate", "duplicate", 1), ("cached_duplicate", "cached duplicate", 0)]:
        got = total("idem", key)
        if got:
            out.append(f"| idem {label} = {want} WCU, 0 RCU | {got[0]:g} WCU, {got[1]:g} RCU | {verdict(got == (want, 0))} |")
    wait = steps.get(("idem", "wait"))
    if wait:
        rep, cnt, rcu = per_call(wait)
        gets = wait["ops"].get("GetItem", 0) / wait["calls"]
        puts = sum(v for k, v in wait["ops"].items() if k.startswith("PutItem")) / wait["calls"]
        out.append(
            f"| idem waiting duplicate ≤ 1 RCU per poll, no WCU but its one claim | "
            f"{rcu:g} RCU over {gets:g} polls, {rep + cnt:g} WCU ({puts:g} PutItem) "
            f"| {verdict(gets and rcu / gets <= 1 and rep + cnt <= 1 and puts == 1)} |"
        )
    for key, label, _ in [(k, l, None) for k, l in STEPS]:
        idem, py = total("idem", key), total("powertools-python", key)
        if idem and py:
            out.append(f"| idem {label} = Powertools Python | {idem[0]:g} W {idem[1]:g} R vs {py[0]:g} W {py[1]:g} R | {verdict(idem == py)} |")
    return out


def prices(steps, names):
    out = [
        f"\n#### Dollars per million calls (on demand, us-east-1: ${PRICE_WRITE} per million write "
        f"request units, ${PRICE_READ} per million read request units)\n",
        "| peer | " + " | ".join(label for _, label in STEPS) + " |",
        "|---|" + "---|" * len(STEPS),
    ]
    for peer in ["idem", "powertools-python"]:
        if (peer, "first") not in steps:
            continue
        cells = [f"${dollars(steps[(peer, k)]):.3f}" if (peer, k) in steps else "—" for k, _ in STEPS]
        out.append(f"| {names.get(peer, peer)} | " + " | ".join(cells) + " |")
    return out
