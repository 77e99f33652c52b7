#!/usr/bin/env python3
"""A stand-in for the AWS Lambda Runtime API, to time a function's cold start.

Serves one invocation of the event file given, then exits and prints JSON:
the time from `--started` (the spawn, unix ns) to the first `/next` poll
(init: process start, tokio, store construction) and from there to the
response (the first invocation, with its cold DynamoDB connection).
"""
import argparse
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--event", required=True)
ap.add_argument("--started-file", required=True, help="file holding the spawn time, unix ns")
args = ap.parse_args()
event = open(args.event, "rb").read()
marks = {}
request_id = str(uuid.uuid4())
done = threading.Event()


class Runtime(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.endswith("/invocation/next"):
            if "next" in marks:
                # The function polls again after responding; hold it until we exit.
                done.wait(5)
                return
            marks["next"] = time.time_ns()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:cold-start")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(event)))
            self.end_headers()
            self.wfile.write(event)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        marks["response"] = time.time_ns()
        marks["path"] = self.path
        marks["body"] = body.decode(errors="replace")
        self.send_response(202)
        self.end_headers()
        done.set()


server = ThreadingHTTPServer(("127.0.0.1", args.port), Runtime)
threading.Thread(target=server.serve_forever, daemon=True).start()
if not done.wait(120):
    print(json.dumps({"error": "no response within 120 s", "marks": list(marks)}))
    sys.exit(1)
started = int(open(args.started_file).read().strip())
print(json.dumps({
    "init_ms": round((marks["next"] - started) / 1e6, 1),
    "first_invocation_ms": round((marks["response"] - marks["next"]) / 1e6, 1),
    "outcome": "error" if marks["path"].endswith("/error") else "response",
    "body": marks["body"][:200],
}))
