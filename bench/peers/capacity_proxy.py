"""A counting HTTP proxy in front of DynamoDB Local: what each peer's calls
cost in capacity units, measured the same way for every language.

    python3 capacity_proxy.py UPSTREAM_URL   (prints the port it listens on)

Every DynamoDB request gets `ReturnConsumedCapacity=TOTAL` added and is
forwarded unchanged otherwise; DynamoDB Local does not verify SigV4
signatures, so the changed body is accepted, and the response (whose
checksum botocore verifies) is passed back byte for byte.

Capacity comes from the response's `ConsumedCapacity` where DynamoDB Local
reports it (every successful PutItem, UpdateItem, DeleteItem, GetItem). A
write that fails its condition gets an error without `ConsumedCapacity`, yet
DynamoDB charges it: it is counted by AWS's rule, the larger of the existing
item and the written one, one WCU per KB rounded up, at least 1. The existing
item is read (unsigned side request, not counted) to size it.

Control endpoints, for the harnesses and run.sh:

    GET /__step?peer=P&step=S   count what follows as one call of step S
    GET /__sizes?table=T        size of the COMPLETED items of table T, the
                                largest one by attribute
    GET /__report               everything counted, as JSON

Requests signed with the access key `uncounted` are forwarded, not counted
(a harness's second client holding a key while another waits on it).
Standard library only.
"""

import json
import math
import re
import sys
import threading
import urllib.error
import urllib.request
from collections import defaultdict
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
READS = {"GetItem"}
UNCOUNTED_KEY = "uncounted"
# DynamoDB Local wants an Authorization header; it does not check it.
FAKE_AUTH = (
    "AWS4-HMAC-SHA256 Credential=uncounted/20240101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


def number_size(text):
    """DynamoDB's documented size of a number: about one byte per two
    significant digits, plus one."""
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def value_size(value):
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(v) * 3 // 4 - v.count("=")
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS"):
        return sum(value_size({kind[0]: x}) for x in v)
    if kind == "NS":
        return sum(number_size(x) for x in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + value_size(x) for k, x in v.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item):
    """Bytes of an item by AWS's rule: attribute name lengths + value sizes."""
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def write_units(size):
    return max(1, math.ceil(size / 1024))


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.current = None  # (peer, step) or None: not counted
        self.steps = defaultdict(
            lambda: {
                "calls": 0,
                "wcu_reported": 0.0,
                "wcu_counted": 0.0,
                "rcu_reported": 0.0,
                "ops": defaultdict(int),
            }
        )

    def step(self, peer, step):
        with self.lock:
            self.current = (peer, step) if step != "idle" else None
            if self.current:
                self.steps[self.current]["calls"] += 1

    def add(self, op, field, units):
        with self.lock:
            if self.current is None:
                return
            entry = self.steps[self.current]
            entry["ops"][op] += 1
            entry[field] += units

    def report(self):
        with self.lock:
            return [
                {"peer": p, "step": s, **{k: (dict(v) if k == "ops" else v) for k, v in e.items()}}
                for (p, s), e in self.steps.items()
            ]


def make_handler(upstream, tally):
    def post(target, body, auth=FAKE_AUTH):
        request = urllib.request.Request(
            upstream,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "DynamoDB_20120810." + target,
                "Authorization": auth,
            },
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())

    def existing_size(table, key):
        got = post("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
        return item_size(got["Item"]) if "Item" in got else 0

    def completed_sizes(table):
        sizes, sample, start = [], None, None
        while True:
            page = {"TableName": table, **({"ExclusiveStartKey": start} if start else {})}
            got = post("Scan", page)
            for item in got.get("Items", []):
                if item.get("status", {}).get("S") == "COMPLETED":
                    sizes.append(item_size(item))
                    # The largest, so its parts add up to the reported max.
                    if sample is None or sizes[-1] > item_size(sample):
                        sample = item
            start = got.get("LastEvaluatedKey")
            if not start:
                break
        parts = None
        if sample:
            parts = {
                name: {"name_bytes": len(name.encode()), "value_bytes": value_size(v)}
                for name, v in sorted(sample.items())
            }
        return {"table": table, "items": len(sizes), "min": min(sizes, default=0),
                "max": max(sizes, default=0), "attributes": parts}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args):
            pass

        def reply(self, status, body, headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/__step":
                tally.step(query.get("peer", "?"), query.get("step", "idle"))
                answer = {}
            elif url.path == "/__sizes":
                answer = completed_sizes(query["table"])
            elif url.path == "/__report":
                answer = tally.report()
            else:
                return self.reply(404, b"{}")
            self.reply(200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = self.headers.get("X-Amz-Target", "")
            op = target.rpartition(".")[2]
            auth = self.headers.get("Authorization", "")
            counted = not re.search(r"Credential=%s/" % UNCOUNTED_KEY, auth)
            request = json.loads(body) if body else {}
            if op in WRITES | READS:
                request["ReturnConsumedCapacity"] = "TOTAL"
            forward = urllib.request.Request(upstream, data=json.dumps(request).encode(), method="POST")
            for name, value in self.headers.items():
                if name.lower() not in ("content-length", "host", "connection", "accept-encoding"):
                    forward.add_header(name, value)
            try:
                with urllib.request.urlopen(forward, timeout=60) as r:
                    status, payload, headers = r.status, r.read(), r.headers
            except urllib.error.HTTPError as e:
                status, payload, headers = e.code, e.read(), e.headers
            if counted and op in WRITES | READS:
                self.count(op, request, status, payload)
            passed = [(k, v) for k, v in headers.items()
                      if k.lower() not in ("content-length", "connection", "transfer-encoding")]
            self.reply(status, payload, passed)

        def count(self, op, request, status, payload):
            answer = json.loads(payload) if payload else {}
            field = "wcu" if op in WRITES else "rcu"
            if status == 200:
                units = answer.get("ConsumedCapacity", {}).get("CapacityUnits")
                if units is None:
                    raise RuntimeError(f"DynamoDB Local reported no capacity for {op}")
                tally.add(op, field + "_reported", units)
            elif answer.get("__type", "").endswith("ConditionalCheckFailedException"):
                old = answer.get("Item")
                old_size = item_size(old) if old else existing_size(request["TableName"], request.get("Key") or key_of(request))
                new_size = item_size(request["Item"]) if op == "PutItem" else 0
                tally.add(op + " (condition failed)", "wcu_counted", write_units(max(old_size, new_size)))
            else:
                tally.add(op + f" (HTTP {status})", field + "_reported", 0)

    return Handler


def key_of(put_request):
    """The key of a PutItem's item: this bench's tables are keyed on `id`."""
    return {"id": put_request["Item"]["id"]}


def main():
    upstream = sys.argv[1]
    tally = Tally()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(upstream, tally))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
