"""A webhook receiver for siaga's tests that checks every message with the official
Standard Webhooks library (the `standardwebhooks` package).

Usage: python3 webhook_receiver.py PORT SECRET FAILS OUTFILE

Answers the first FAILS requests with HTTP 500, then verifies each request's signature
and answers 204 (or 401 if it does not verify). Every request is appended to OUTFILE as a
JSON line: {"n", "status", "id", "verified", "payload"}. Prints "ready" when listening.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT, SECRET, FAILS, OUT = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
lock = threading.Lock()
count = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            count += 1
            n = count
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified, payload, status = False, None, 500
        if n > FAILS:
            try:
                payload = Webhook(SECRET).verify(body, headers)
                verified, status = True, 204
            except WebhookVerificationError:
                status = 401
        record = {"n": n, "status": status, "id": headers.get("webhook-id"),
                  "verified": verified, "payload": payload}
        with lock:
            with open(OUT, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
